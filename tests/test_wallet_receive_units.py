"""The receiving pieces one by one, on hostile input: the loopback listener of the
authorization code grant (a real listener on 127.0.0.1, hit by a real HTTP client), the
deferred answer, the credential response, the offer's code grant, batch limits, QR
pictures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ancre.trust.errors import AncreError, Code
from ancre.wallet.authcode import LoopbackAuthorizer, pkce_pair
from ancre.wallet.http import Http, make_client, network_policy
from ancre.wallet.oid4vci import (
    _check_batch,
    credentials_of,
    parse_offer,
    transaction_of,
)
from ancre.wallet.qr import decode_qr

AS_METADATA = {
    "issuer": "https://as.example",
    "authorization_endpoint": "https://as.example/authorize",
    "token_endpoint": "https://as.example/token",
    "authorization_response_iss_parameter_supported": True,
}
OFFER = parse_offer(
    {
        "credential_issuer": "https://issuer.example",
        "credential_configuration_ids": ["LegalPerson"],
        "grants": {"authorization_code": {"issuer_state": "st-1"}},
    }
)


def _http() -> Http:
    return Http(make_client(None), network_policy(insecure_loopback=True))


def _run(browse: Callable[[str, dict[str, str], httpx.Client], None], timeout: float = 10) -> Any:
    """Run the authorizer; `browse` plays the browser (gets the authorization URL, its
    query, and a client) in a thread. Returns the error raised."""
    threads: list[threading.Thread] = []

    def show(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

        def play() -> None:
            with httpx.Client(trust_env=False, timeout=5) as client:
                browse(query["redirect_uri"], query, client)

        threads.append(threading.Thread(target=play, daemon=True))
        threads[0].start()

    authorizer = LoopbackAuthorizer(_http(), show, timeout=timeout)
    with pytest.raises(AncreError) as caught:
        authorizer(OFFER, AS_METADATA, "LegalPerson")
    threads[0].join(10)
    return caught.value


def test_pkce_pair_is_s256_of_a_fresh_verifier() -> None:
    from ancre.issuer.authorize import pkce_s256

    verifier, challenge = pkce_pair()
    assert len(verifier) == 43
    assert challenge == pkce_s256(verifier)
    assert pkce_pair()[0] != verifier


def test_the_listener_turns_away_wrong_hits_then_takes_the_refusal() -> None:
    seen: list[int] = []

    def browse(redirect: str, query: dict[str, str], client: httpx.Client) -> None:
        state = query["state"]
        base = redirect.rsplit("/", 1)[0]
        seen.append(client.get(f"{base}/other?state={state}").status_code)
        seen.append(client.get(f"{redirect}?state={state}&state={state}").status_code)
        seen.append(client.get(f"{redirect}?state=wrong&code=c").status_code)
        seen.append(
            client.get(
                f"{redirect}?state={state}&error=access_denied&iss=https%3A%2F%2Fas.example"
            ).status_code
        )

    error = _run(browse)
    assert seen == [400, 400, 400, 200]
    assert error.code == Code.ISSUER_REFUSED
    assert "access_denied" in error.message


def test_the_authorization_request_carries_pkce_state_and_the_offer() -> None:
    captured: dict[str, str] = {}

    def browse(redirect: str, query: dict[str, str], client: httpx.Client) -> None:
        captured.update(query)
        client.get(f"{redirect}?state={query['state']}&code=c1")  # no iss: mix-up refused

    error = _run(browse)
    assert error.code == Code.ISSUER_REFUSED
    assert "RFC 9207" in error.message
    assert captured["response_type"] == "code"
    assert captured["code_challenge_method"] == "S256"
    assert len(captured["code_challenge"]) == 43
    assert captured["issuer_state"] == "st-1"
    assert captured["client_id"] == "ancre-wallet"
    assert urlsplit(captured["redirect_uri"]).hostname == "127.0.0.1"
    assert len(captured["state"]) >= 32


def test_a_silent_browser_times_out() -> None:
    error = _run(lambda redirect, query, client: None, timeout=0.5)
    assert error.code == Code.NETWORK_TIMEOUT


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({}, "transaction_id"),
        ({"transaction_id": ""}, "transaction_id"),
        ({"transaction_id": "t", "interval": -1}, "interval"),
        ({"transaction_id": "t", "interval": True}, "interval"),
        ([], "not a JSON object"),
    ],
)
def test_a_malformed_deferred_answer_is_refused(body: Any, why: str) -> None:
    with pytest.raises(AncreError) as caught:
        transaction_of(body)
    assert caught.value.code == Code.ISSUER_REFUSED
    assert why in caught.value.message


def test_a_huge_interval_is_capped_at_a_day() -> None:
    assert transaction_of({"transaction_id": "t", "interval": 10**9}) == ("t", 86400)


@pytest.mark.parametrize(
    "body",
    [
        {"credentials": [{"credential": "a"}]},
        {"credentials": [{"credential": "a"}, {"credential": 3}]},
        {"credentials": [{"credential": "a"}, {"credential": "b"}, {"credential": "c"}]},
        {"credential": "a"},
    ],
)
def test_a_credential_response_must_carry_exactly_what_was_asked(body: Any) -> None:
    with pytest.raises(AncreError) as caught:
        credentials_of(body, 2)
    assert caught.value.code == Code.ISSUER_REFUSED


def test_batch_needs_the_issuers_batch_issuance() -> None:
    with pytest.raises(AncreError, match="does not offer batch"):
        _check_batch({}, 2)
    with pytest.raises(AncreError, match="at most 3"):
        _check_batch({"batch_credential_issuance": {"batch_size": 3}}, 4)
    _check_batch({"batch_credential_issuance": {"batch_size": 3}}, 3)


@pytest.mark.parametrize(
    "grant",
    [
        {"issuer_state": 7},
        {"issuer_state": "x" * 3000},
        {"authorization_server": ["https://a.example"]},
    ],
)
def test_a_malformed_code_grant_is_refused(grant: dict[str, Any]) -> None:
    with pytest.raises(AncreError) as caught:
        parse_offer(
            {
                "credential_issuer": "https://issuer.example",
                "credential_configuration_ids": ["LegalPerson"],
                "grants": {"authorization_code": grant},
            }
        )
    assert caught.value.code == Code.OFFER_INVALID


def test_a_picture_with_two_different_qr_codes_is_refused(tmp_path: Path) -> None:
    import segno
    from PIL import Image

    first, second = tmp_path / "a.png", tmp_path / "b.png"
    segno.make("openid-credential-offer://?a=1", error="m").save(str(first), scale=6)
    segno.make("openid-credential-offer://?b=2", error="m").save(str(second), scale=6)
    with Image.open(first) as a, Image.open(second) as b:
        both = Image.new("L", (a.width + b.width + 40, max(a.height, b.height)), 255)
        both.paste(a.convert("L"), (0, 0))
        both.paste(b.convert("L"), (a.width + 40, 0))
    picture = tmp_path / "both.png"
    both.save(picture)
    with pytest.raises(AncreError, match="2 different QR codes"):
        decode_qr(picture)
    assert decode_qr(first) == "openid-credential-offer://?a=1"


@pytest.mark.parametrize(
    ("command", "examples"),
    [
        (["receive"], ["offer-qr.png --tx-code", "--no-browser", "--count 3"]),
        (["pending"], ["ancre wallet pending --retry --wait 120 --json"]),
    ],
)
def test_help_has_worked_examples(tmp_path: Path, command: list[str], examples: list[str]) -> None:
    from _wallet_support import wallet_cli

    shown = wallet_cli(tmp_path / "none", *command, "--help")
    assert shown.returncode == 0, shown.stderr
    for example in examples:
        assert example in shown.stdout
    assert "--json" in shown.stdout
