"""The verification pipeline. Today: format detection over the trust core's verifiers
(`vc+jwt`, VCDM 1.1 JWT, `vp+jwt`, enveloped credentials). The VC-API and OpenID4VP
services come later (see the issues)."""
