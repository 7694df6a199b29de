"""SD-JWT (RFC 9901) and SD-JWT VC: disclosures, issuance, presentation, verification."""
