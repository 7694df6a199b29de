"""W3C VCDM 2.0: the data model rules, JSON-LD with shipped contexts, schemas by credential type."""
