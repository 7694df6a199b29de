"""The CLI wallet (OpenID4VCI/OpenID4VP client). Not built yet."""
