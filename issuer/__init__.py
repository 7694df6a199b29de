"""Credential issuance (OIDC login bridge, company register, OpenID4VCI). Not built yet."""
