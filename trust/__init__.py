"""ancre's trust core, split by concern.

- ``codec``: base64url, strict JSON, multibase
- ``jose``: compact JWS, VC-JOSE-COSE
- ``keys``: JWKs, signers, the encrypted key store
- ``did``: DID documents, did:key, did:jwk, did:web, resolvers
- ``x509``: certificate chains
- ``net``: the SSRF-guarded fetch
- ``vcdm``: the VCDM 2.0 data model, JSON-LD contexts, schemas
- ``sd_jwt``: SD-JWT and SD-JWT VC
- ``data_integrity``: Data Integrity proofs
- ``status``: Bitstring and Token status lists
- ``trust_list``: the signed trust list and its client
- ``steps``: the fail-closed steps every format runs; ``errors``, ``result``, ``policy``, ``clock``

Third-party libraries only; nothing here does I/O at import time.
"""
