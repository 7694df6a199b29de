"""DIDs: the document model and resolver interface, did:key, did:jwk, did:web, resolver assembly."""
