"""ancre's wallet for organizations: an encrypted, crash-safe store of holder keys and
credentials; receiving over OpenID4VCI 1.0; presenting as `vp+jwt` or SD-JWT+KB.

Modules: `store` (the encrypted directory), `identities` (holder keys and DIDs), `oid4vci`
(receiving), `credentials` (checking, listing, status), `present` (presentations), `http`
(outbound requests through the SSRF guard). The wallet talks to issuers and verifiers over
HTTP only; it never imports `ancre.issuer` or `ancre.registry`.
"""
