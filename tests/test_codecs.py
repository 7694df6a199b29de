"""Strict base64url and JSON: the parsing edge every token goes through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ancre.trust._b64 import b64url_decode, b64url_encode
from ancre.trust._json import loads_strict
from ancre.trust.errors import Code, MalformedError


@given(st.binary(max_size=200))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "QQ==",  # padding
        "QR",  # non-canonical: spare bits set (canonical is "QQ")
        "QUI",  # ok length 3 but…
        "A",  # impossible length
        "a+b/",  # standard alphabet
        "QU I",  # whitespace
        "QUJD\n",
    ],
)
def test_b64url_refuses_non_canonical(text: str) -> None:
    if text == "QUI":  # 'I' = 8: low 2 bits are zero, so this one is canonical
        assert b64url_decode(text) == b"AB"
        return
    with pytest.raises(MalformedError) as err:
        b64url_decode(text)
    assert err.value.code is Code.NON_CANONICAL_BASE64URL


@given(st.binary(min_size=1, max_size=64))
def test_every_alternative_encoding_is_refused(data: bytes) -> None:
    text = b64url_encode(data)
    if len(text) % 4 == 0:
        return  # no spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(text[-1])
    spare = 0x0F if len(text) % 4 == 2 else 0x03
    for bits in range(1, spare + 1):
        if bits & spare:
            variant = text[:-1] + alphabet[last | bits]
            if variant == text:
                continue
            with pytest.raises(MalformedError):
                b64url_decode(variant)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"a":1,"a":2}', Code.DUPLICATE_JSON_KEY),
        ('{"a":{"b":1,"b":1}}', Code.DUPLICATE_JSON_KEY),
        ('{"a":NaN}', Code.MALFORMED_JSON),
        ('{"a":Infinity}', Code.MALFORMED_JSON),
        ('{"a":1} x', Code.MALFORMED_JSON),
        ("[" * 200 + "]" * 200, Code.JSON_TOO_DEEP),
        ("[" * 100_000 + "]" * 100_000, Code.JSON_TOO_DEEP),
        ('{"a":' + "1" * 5000 + "}", Code.MALFORMED_JSON),
        ("", Code.MALFORMED_JSON),
    ],
)
def test_strict_json_refusals(text: str, code: Code) -> None:
    with pytest.raises(MalformedError) as err:
        loads_strict(text)
    assert err.value.code is code


def test_strict_json_accepts_whitespace_and_depth_at_limit() -> None:
    assert loads_strict(' \n{"a":[1,2]}\n ') == {"a": [1, 2]}
    assert loads_strict("[" * 64 + "]" * 64) is not None


def test_strict_json_refuses_invalid_utf8_and_size() -> None:
    with pytest.raises(MalformedError) as err:
        loads_strict(b'{"a":"\xff"}')
    assert err.value.code is Code.MALFORMED_JSON
    with pytest.raises(MalformedError) as err:
        loads_strict(b"[1]", max_bytes=2)
    assert err.value.code is Code.INPUT_TOO_LARGE
