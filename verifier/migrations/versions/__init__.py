"""Alembic migrations of the verifier database (the OpenID4VP transaction store)."""
