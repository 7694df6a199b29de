"""Issue 12, point 15: a lone UTF-16 surrogate escape (`\\ud800`) in a request body made
the verifier answer 500 (UnicodeEncodeError while rendering `returnCredential`). It is not
Unicode text: refused when the body is parsed, 400 `malformed_json`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _asgi_server import serve
from _support import NOW

from ancre.trust.clock import FixedClock
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import MalformedError
from ancre.trust.policy import VerificationPolicy
from ancre.verifier.service import VerifierSettings, create_app

BODY = (
    b'{"verifiableCredential": {"@context": ["https://www.w3.org/ns/credentials/v2"], '
    b'"type": ["VerifiableCredential"], "issuer": "did:key:\\ud800", '
    b'"credentialSubject": {"id": "did:example:x"}, "proof": {"type": "DataIntegrityProof"}}, '
    b'"options": {"returnCredential": true}}'
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    settings = VerifierSettings(
        clock=FixedClock(NOW), policy=VerificationPolicy(trusted_issuers=frozenset())
    )
    with (
        serve(create_app(settings)) as base,
        httpx.Client(base_url=base, trust_env=False) as client,
    ):
        yield client


@pytest.mark.parametrize(
    "body",
    [
        BODY,
        BODY.replace(b"\\ud800", b"\\uDC00"),  # a lone low half, upper-case hex
        BODY.replace(b'"issuer"', b'"\\ud83d"'),  # in a member name
    ],
)
@pytest.mark.parametrize("path", ["/credentials/verify", "/presentations/verify"])
def test_lone_surrogate_is_400_malformed_json(http: httpx.Client, body: bytes, path: str) -> None:
    if path == "/presentations/verify":
        body = body.replace(b"verifiableCredential", b"verifiablePresentation", 1)
        body = body.replace(b"returnCredential", b"returnPresentation")
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "malformed_json"
    assert "surrogate" in problem["detail"]


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    assert loads_strict(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    # An escaped backslash followed by "ud800" is text, not an escape.
    assert loads_strict(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}


@pytest.mark.parametrize("data", [b'["\\ud800"]', '["\ud800"]', b'{"\\udfff": 1}'])
def test_library_parser_refuses_lone_surrogates(data: bytes | str) -> None:
    with pytest.raises(MalformedError) as raised:
        loads_strict(data)
    assert raised.value.code.value == "malformed_json"
