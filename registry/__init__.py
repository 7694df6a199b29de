"""The trust-list registry: trust anchors and trusted issuers with their history, two-person
changes, a hash-chained audit log, and the signed trust list it publishes (`service`, `api`,
`db`, with Alembic migrations)."""
