"""Inputs the fuzzers found crashing a parser (issue 17): each must now be refused with its
stable code. Add one test per crash, named after the parser, with the input verbatim."""

from __future__ import annotations

import pytest
from _fuzz import check_refusal
from _targets import CLOCK, FixedHttp

from ancre.trust.errors import AncreError, Code
from ancre.verifier.openid4vp.dcql import parse_dcql
from ancre.wallet.http import HttpAnswer
from ancre.wallet.oid4vci import parse_offer, resolve_offer
from ancre.wallet.oid4vp import fetch_request

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
