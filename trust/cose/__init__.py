"""COSE (RFC 9052) for verifiable credentials: COSE_Sign1 and VC-JOSE-COSE §3.3."""
