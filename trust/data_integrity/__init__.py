"""W3C Data Integrity proofs (eddsa-rdfc-2022 and friends)."""
