"""The issuer service: templates of the Gaia-X participant credentials, OpenID4VCI 1.0
(`oid4vci`, `authorize`), the W3C VC-API issue and status endpoints (`vc_api`), hosted status
lists and did:web (`service`, `api`), several issuers in one deployment (`platform`),
storage with Alembic migrations (`db`), and the login bridge: an OpenID Connect relying
party for ProConnect (`login`, `bridge`, `pages`) with company-register checks
(`registers`, `register_match`)."""
