"""Storage helpers shared by the services that keep a database (issuer, registry, OpenID4VP):
SQL engines and column types, the hash-chained audit log.
"""
