"""Strict base64url and JSON: the parsing edge every token goes through."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ancre.trust.codec import json as _json
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import loads_strict
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


# ---- the orjson fast path must agree with the strict parser ----------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _strict_only(data: bytes | str) -> object:
    """What the standard-library strict parser alone says (the fast path switched off)."""
    try:
        _json._loads_fast, saved = (lambda _data: _json._NOT_FAST), _json._loads_fast
        return loads_strict(data)
    except MalformedError as error:
        return error.code
    finally:
        _json._loads_fast = saved


def _typed(value: object) -> object:
    """`value` with each scalar's type kept, so 1 and 1.0 and True do not compare equal."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


@given(_JSON)
def test_fast_json_path_gives_the_strict_value(value: object) -> None:
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for data in (compact, compact.encode("utf-8")):
        assert _typed(loads_strict(data)) == _typed(_strict_only(data))


@given(st.dictionaries(st.text(), _JSON, min_size=1, max_size=4), st.data())
def test_fast_json_path_never_lets_a_duplicate_through(
    obj: dict[str, object], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(obj)))
    members = [
        json.dumps(k, ensure_ascii=False)
        + ":"
        + json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        for k, v in obj.items()
    ]
    members.insert(
        data.draw(st.integers(0, len(members))), json.dumps(name, ensure_ascii=False) + ":0"
    )
    text = "{" + ",".join(members) + "}"
    with pytest.raises(MalformedError) as err:
        loads_strict(text.encode("utf-8"))
    assert err.value.code is Code.DUPLICATE_JSON_KEY


@given(st.binary(max_size=64) | st.text(alphabet='{}[]":,0123456789.eE+-tfnrulasx\\ ', max_size=64))
def test_fast_json_path_accepts_nothing_the_strict_parser_refuses(data: bytes | str) -> None:
    try:
        got: object = _typed(loads_strict(data))
    except MalformedError as error:
        got = error.code
    strict = _strict_only(data)
    assert got == (strict if isinstance(strict, Code) else _typed(strict))


@pytest.mark.parametrize("depth", [64, 65])
def test_compact_nesting_is_bounded_on_the_fast_path(depth: int) -> None:
    data = (b"[" * depth) + (b"]" * depth)
    if depth <= 64:
        assert loads_strict(data) is not None
    else:
        with pytest.raises(MalformedError) as err:
            loads_strict(data)
        assert err.value.code is Code.JSON_TOO_DEEP


def test_bytes_refusals_match_text_refusals() -> None:
    for text in ('{"a":1,"a":2}', '{"a":NaN}', "[" * 200 + "]" * 200, '{"a":' + "1" * 5000 + "}"):
        with pytest.raises(MalformedError):
            loads_strict(text.encode("utf-8"))


def test_fast_json_path_is_taken_for_compact_utf8_and_left_otherwise() -> None:
    compact = '{"a":[1,"é",null,true,1.5],"b":{"c":"d"}}'.encode()
    assert _json._loads_fast(compact) == json.loads(compact)
    for other in (b'{"a":1,"a":1}', b'{"a": 1}', b'{"a":"\\u00e9"}', b'{"a":1e5}', b"[1]x"):
        assert _json._loads_fast(other) is _json._NOT_FAST
