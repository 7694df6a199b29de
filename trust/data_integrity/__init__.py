"""W3C Data Integrity proofs: every W3C cryptosuite (eddsa-rdfc-2022, eddsa-jcs-2022,
ecdsa-rdfc-2019, ecdsa-jcs-2019, ecdsa-sd-2023), proof sets and chains, and the legacy
Linked Data proof types (`docs/data-integrity.md`)."""
