"""A malicious verifier against the wallet (issue 17): a DCQL query asking for more than the
user is shown, a `response_uri` on another origin than the verifier's did:web. The Request
Object's signature (an unrelated key, a kid of another DID) is checked before any of this:
`tests/test_wallet_respond.py::test_a_forged_invocation_is_refused` and the `kid`/DID checks
in `ancre.wallet.oid4vp.fetch_request`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ancre.trust.errors import AncreError, Code
from ancre.wallet.oid4vp import Request, build_answer, check_response_uri
from ancre.wallet.store import WalletStore

CLIENT = "decentralized_identifier:did:web:verifier.example"


def _request(path: Any) -> Request:
    query = {
        "credentials": [
            {
                "id": "pid",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": ["urn:x"]},
                "claims": [{"path": path}],
            }
        ]
    }
    claims = {
        "nonce": "n",
        "response_uri": "https://verifier.example/r",
        "response_mode": "direct_post",
        "dcql_query": query,
    }
    return Request(CLIENT, "did:web:verifier.example", claims)


@pytest.fixture
def store(tmp_path: Path) -> WalletStore:
    return WalletStore.create(tmp_path / "wallet", "pass phrase", scrypt_n=2**14)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ([], "the empty path: the whole credential, shown as ''"),
        (["*"], "a claim named '*', shown as the wildcard"),
        ([""], "an empty claim name"),
        ([True], "a boolean"),
        ([1.5], "a float"),
        ([-1], "a negative index"),
        ([{"a": 1}], "an object"),
        ("name", "not an array"),
        ([None] * 17, "too deep"),
    ],
)
def test_a_dcql_path_that_would_disclose_more_than_shown_is_refused(
    store: WalletStore, path: Any, why: str
) -> None:
    with pytest.raises(AncreError) as refused:
        build_answer(store, _request(path))
    assert refused.value.code is Code.OFFER_INVALID, why
    assert "path" in refused.value.message, why


def test_a_well_formed_path_reaches_the_credential_match(store: WalletStore) -> None:
    """The refusal above is the path's: a good one goes on to look for a credential."""
    with pytest.raises(AncreError) as refused:
        build_answer(store, _request(["address", None, 0]))
    assert refused.value.code is Code.NO_MATCHING_CREDENTIAL


@pytest.mark.parametrize(
    ("did", "uri"),
    [
        ("did:web:verifier.example", "https://evil.example/r"),
        ("did:web:verifier.example", "https://verifier.example.evil.example/r"),
        ("did:web:verifier.example", "https://verifier.example@evil.example/r"),
        ("did:web:verifier.example", "https://verifier.example:8443/r"),
        ("did:web:localhost%3A8443", "https://localhost:9443/r"),
        ("did:web:verifier.example", "https://verifier.example/r#x"),
        ("did:jwk:eyJ9", "ftp://verifier.example/r"),
        ("did:jwk:eyJ9", "https:///r"),
    ],
)
def test_a_response_uri_off_the_verifiers_origin_is_refused(did: str, uri: str) -> None:
    with pytest.raises(AncreError) as refused:
        check_response_uri(did, uri)
    assert refused.value.code is Code.OFFER_INVALID


@pytest.mark.parametrize(
    ("did", "uri"),
    [
        ("did:web:verifier.example", "https://verifier.example/openid4vp/responses/1"),
        ("did:web:verifier.example:tenants:a", "https://VERIFIER.example/r"),
        ("did:web:localhost%3A8443", "https://localhost:8443/r"),
        ("did:jwk:eyJ9", "https://anywhere.example/r"),  # no origin to bind: shown instead
    ],
)
def test_a_response_uri_on_the_verifiers_origin_is_accepted(did: str, uri: str) -> None:
    check_response_uri(did, uri)
