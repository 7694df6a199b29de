"""Inputs the fuzzers found crashing a parser (issue 17): each must now be refused with its
stable code. Add one test per crash, named after the parser, with the input verbatim."""

from __future__ import annotations

import json

import pytest
from _fuzz import check_refusal
from _targets import CLOCK, SEEDS, FixedHttp, wallet_dcql

from ancre.trust.errors import AncreError, Code
from ancre.verifier.openid4vp.dcql import parse_dcql
from ancre.wallet.http import HttpAnswer
from ancre.wallet.oid4vci import parse_offer, resolve_offer
from ancre.wallet.oid4vp import check_response_uri, fetch_request

_NO_HTTP = FixedHttp(HttpAnswer(500, "text/plain", b""))


@pytest.mark.parametrize("invocation", ["openid4vp://[", "openid4vp://a]b[?client_id=x"])
def test_openid4vp_invocation_with_an_unbalanced_ipv6_bracket(invocation: str) -> None:
    # atheris: urlsplit's ValueError("Invalid IPv6 URL") escaped wallet.oid4vp.fetch_request.
    with pytest.raises(AncreError) as caught:
        fetch_request(invocation, http=_NO_HTTP, clock=CLOCK)
    check_refusal(caught.value)
    assert caught.value.code is Code.OFFER_INVALID


@pytest.mark.parametrize("text", ["openid-credential-offer://[", "https://[::1"])
def test_credential_offer_uri_with_an_unbalanced_ipv6_bracket(text: str) -> None:
    # The same urlsplit ValueError in wallet.oid4vci.resolve_offer.
    with pytest.raises(AncreError) as caught:
        resolve_offer(text, _NO_HTTP)
    assert caught.value.code is Code.OFFER_INVALID


def test_credential_issuer_with_an_unbalanced_ipv6_bracket() -> None:
    # parse_offer accepted it, and well_known() raised ValueError when the wallet went on.
    offer = {"credential_issuer": "https://[issuer", "credential_configuration_ids": ["x"]}
    with pytest.raises(AncreError) as caught:
        parse_offer(offer)
    assert caught.value.code is Code.OFFER_INVALID


@pytest.mark.parametrize("fmt", [["dc+sd-jwt"], {"a": 1}])
def test_dcql_format_that_is_not_a_string(fmt: object) -> None:
    # atheris: `fmt not in FORMATS` raised TypeError (unhashable) in verifier.openid4vp.dcql.
    query = {"credentials": [{"id": "pid", "format": fmt, "claims": [{"path": ["a"]}]}]}
    with pytest.raises(AncreError) as caught:
        parse_dcql(query)
    check_refusal(caught.value)
    assert caught.value.code is Code.INVALID_DCQL_QUERY


@pytest.mark.parametrize(
    ("fmt", "meta"),
    [
        ("dc+sd-jwt", {"vct_values": 5}),  # TypeError: int is not iterable
        ("jwt_vc_json", {"type_values": [[["X"]]]}),  # TypeError: unhashable list
        # A string matched by substring: this vct is not the held credential's.
        ("dc+sd-jwt", {"vct_values": "https://e.example/pid-and-more"}),
    ],
)
def test_wallet_dcql_meta_of_the_wrong_shape(fmt: str, meta: dict[str, object]) -> None:
    # Hypothesis/atheris on wallet.oid4vp.build_answer (a malicious verifier's DCQL query).
    query = {"credentials": [{"id": "x", "format": fmt, "meta": meta}]}
    with pytest.raises(AncreError) as caught:
        wallet_dcql(json.dumps(query).encode())
    check_refusal(caught.value)
    assert caught.value.code is Code.OFFER_INVALID
    assert "must be a list" in caught.value.message


def test_wallet_dcql_still_matches_a_well_formed_query() -> None:
    query = {"credentials": [{"id": "x", "format": "dc+sd-jwt", "meta": {"vct_values": []}}]}
    with pytest.raises(AncreError) as caught:  # an empty list matches nothing: refused cleanly
        wallet_dcql(json.dumps(query).encode())
    assert caught.value.code is Code.NO_MATCHING_CREDENTIAL
    for seed in SEEDS["wallet_dcql"]:
        wallet_dcql(seed)  # the wallet holds a match for each seed


@pytest.mark.parametrize(
    "did", ["decentralized_identifier:DID", "did:web:verifier.example", "did:jwk:e30"]
)
def test_response_uri_with_an_unbalanced_ipv6_bracket(did: str) -> None:
    """Found by `make fuzz-ci` once the wallet checked the response_uri's origin (a bare
    ValueError from urlsplit)."""
    with pytest.raises(AncreError) as refused:
        check_response_uri(did, "https://].example/response")
    check_refusal(refused.value)
    assert refused.value.code is Code.OFFER_INVALID


@pytest.mark.parametrize("exp", [10**55, -1, 0, True, 1.9e9, "1900000000"])
def test_request_object_exp_that_is_no_numeric_date(exp: object) -> None:
    """Found by `make fuzz-ci`: an `exp` of 56 digits overflowed `datetime.fromtimestamp`
    in `fetch_request` (OverflowError). Every non-NumericDate is refused the same way."""
    from _targets import openid4vp_signed_request

    request = json.loads(SEEDS["openid4vp_signed_request"][0])
    request["exp"] = exp
    with pytest.raises(AncreError) as caught:
        openid4vp_signed_request(json.dumps(request).encode())
    check_refusal(caught.value)
    assert caught.value.code is Code.OFFER_INVALID
    assert "exp" in caught.value.message
