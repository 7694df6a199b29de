"""JOSE: compact JWS over an explicit algorithm allow-list, and VC-JOSE-COSE (vc+jwt, vp+jwt)."""
