"""Keys: JWK import/export, signers, thumbprints (jwk) and the encrypted key store (keystore)."""
