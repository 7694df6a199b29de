"""CompositeResolver's key memory for pure DID methods (did:key, did:jwk)."""

from __future__ import annotations

import pytest
from _support import Issuer, StaticResolver

from ancre.trust.did.document import CompositeResolver
from ancre.trust.did.key import DidKeyResolver
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import AncreError


def test_pure_method_keys_are_remembered_and_equal() -> None:
    issuer = Issuer.new()
    resolver = default_resolver()
    first = resolver.verification_key(issuer.did, issuer.kid, authentication=False)
    again = resolver.verification_key(issuer.did, issuer.kid, authentication=False)
    assert again is first
    assert first.to_jwk() == issuer.key.public_key.to_jwk()


def test_failures_are_not_remembered() -> None:
    issuer = Issuer.new()
    resolver = default_resolver()
    for _ in range(2):
        with pytest.raises(AncreError) as info:
            resolver.verification_key(issuer.did, f"{issuer.did}#nope", authentication=False)
        assert info.value.code == "verification_method_not_found"


def test_non_pure_methods_are_asked_every_time() -> None:
    issuer = Issuer.new()
    document = {
        "id": "did:example:a",
        "verificationMethod": [
            {
                "id": "#k",
                "type": "JsonWebKey",
                "controller": "did:example:a",
                "publicKeyJwk": issuer.key.public_key.to_jwk(),
            }
        ],
        "assertionMethod": ["#k"],
    }
    static = StaticResolver({"did:example:a": document})
    resolver = CompositeResolver({"example": static, "key": DidKeyResolver()})
    resolver.verification_key("did:example:a", "did:example:a#k", authentication=False)
    # The document changes (key rotation): the next call must see it, not a remembered key.
    static._docs["did:example:a"] = {**document, "assertionMethod": []}
    with pytest.raises(AncreError) as info:
        resolver.verification_key("did:example:a", "did:example:a#k", authentication=False)
    assert info.value.code == "key_not_assertion_method"


def test_the_memory_is_bounded() -> None:
    resolver = default_resolver()
    for _ in range(3):
        issuer = Issuer.new()
        resolver.verification_key(issuer.did, issuer.kid, authentication=False)
    assert len(resolver._keys) == 3
    resolver.KEY_CACHE_SIZE = 2  # type: ignore[misc]
    issuer = Issuer.new()
    resolver.verification_key(issuer.did, issuer.kid, authentication=False)
    assert len(resolver._keys) == 1
