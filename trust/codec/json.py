"""Strict JSON for hostile input.

RFC 8259 leaves duplicate member names undefined; parsers disagree on which one wins, which is
a classic signature-bypass (the signer sees one value, the verifier another), so ancre
refuses them. Also refused: NaN/Infinity, invalid UTF-8, lone UTF-16 surrogates (`\\ud800`
escapes: RFC 8259 §8.2 leaves them unpredictable, and no UTF-8 encoder can write them back),
nesting deeper than a limit, and oversized documents.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Final

import orjson

from ancre.trust.errors import Code, MalformedError

__all__ = ["DEFAULT_MAX_DEPTH", "dumps_compact", "loads_strict"]

DEFAULT_MAX_DEPTH = 64
_WS = " \t\n\r"
# A surrogate escape (`\\ud800`…`\\udfff`) in the text, or a raw surrogate in a `str` given
# by a caller: cheap evidence that the parsed value may hold a lone surrogate.
_MAYBE_SURROGATE: Final = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")
_MAYBE_SURROGATE_BYTES: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")
# Depth from the text of a document that parsed: strings removed, each bracket mapped to +1
# or -1 as a signed byte, the running sum's maximum is the nesting depth. All of it runs in
# C: a Python walk of a 3,000-object document cost ~7 ms per request on the event loop.
_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"{}[]")
_BRACKET_STEPS: Final = bytes.maketrans(b"{[}]", b"\x01\x01\xff\xff")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedError(Code.DUPLICATE_JSON_KEY, f"duplicate JSON member {key!r}")
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    raise MalformedError(Code.MALFORMED_JSON, f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def depth_of_text(data: bytes | str) -> int:
    """The nesting depth of JSON text that parses (not checked here)."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    steps = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_BRACKET_STEPS)
    return max(accumulate(memoryview(steps).cast("b")), default=0)


_NOT_FAST: Any = object()


def _loads_fast(data: bytes | str) -> Any:
    """orjson's parse, kept only when re-serialising it gives back exactly `data`.

    orjson (Rust) parses 3x faster than the standard library but, like it, silently keeps the
    last of duplicate members. The round trip proves there were none: the re-serialisation has
    each member once, so if it equals the input byte for byte, so does the input. It holds for
    compact JSON with UTF-8 text, which is what JOSE payloads are; anything else (whitespace,
    `\\u` escapes, exponents, integers beyond 64 bits, invalid JSON) goes to the strict parser,
    which decides. The fast path can only accept text the strict parser accepts, with the
    same value."""
    try:
        value = orjson.loads(data)
        same = orjson.dumps(value) == (data if isinstance(data, bytes) else data.encode("utf-8"))
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, UnicodeEncodeError):
        return _NOT_FAST
    return value if same else _NOT_FAST


def loads_strict(
    data: bytes | str,
    *,
    what: str = "JSON",
    max_bytes: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Parse JSON, refusing duplicates, non-finite numbers, bad UTF-8 and deep nesting."""
    if max_bytes is not None and len(data) > max_bytes:
        raise MalformedError(
            Code.INPUT_TOO_LARGE, f"{what} is {len(data)} bytes, the limit is {max_bytes}"
        )
    value = _loads_fast(data)
    if value is _NOT_FAST:
        value = _loads_stdlib(data, what, max_depth)
    # Cheap bound first: depth can never exceed the number of opening brackets (counting on
    # UTF-8 bytes is counting on the text: ASCII bytes never occur inside a multi-byte one).
    if isinstance(data, bytes):
        brackets = data.count(b"{") + data.count(b"[")
    else:
        brackets = data.count("{") + data.count("[")
    if brackets > max_depth and depth_of_text(data) > max_depth:
        raise MalformedError(Code.JSON_TOO_DEEP, f"{what} nests deeper than {max_depth} levels")
    maybe = (
        _MAYBE_SURROGATE_BYTES.search(data)
        if isinstance(data, bytes)
        else _MAYBE_SURROGATE.search(data)
    )
    if maybe is not None and _has_lone_surrogate(value):
        # A paired escape decodes to one astral character; what is left is a lone half,
        # which is not Unicode text: every later encoder (the response, a log line, a hash
        # input) would fail on it or replace it, so it is refused here, at the edge.
        raise MalformedError(
            Code.MALFORMED_JSON, f"{what} holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
        )
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node) is not None:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _loads_stdlib(data: bytes | str, what: str, max_depth: int) -> Any:
    """The strict parser: the standard library's, refusing duplicate members and constants."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError(Code.MALFORMED_JSON, f"{what} is not valid UTF-8") from None
    else:
        text = data
    try:
        # RFC 8259 whitespace only (str.strip() would also eat e.g. U+00A0).
        start = len(text) - len(text.lstrip(_WS))
        value, end = _DECODER.raw_decode(text, start)
        if text[end:].strip(_WS):
            raise MalformedError(Code.MALFORMED_JSON, f"{what} has trailing data")
    except json.JSONDecodeError as exc:
        raise MalformedError(Code.MALFORMED_JSON, f"{what} is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise MalformedError(
            Code.JSON_TOO_DEEP, f"{what} nests deeper than {max_depth} levels"
        ) from None
    except ValueError as exc:  # e.g. an integer longer than sys.get_int_max_str_digits()
        raise MalformedError(Code.MALFORMED_JSON, f"{what} is not acceptable JSON: {exc}") from None
    return value


def dumps_compact(value: Any) -> str:
    """Serialize with no insignificant whitespace, keeping non-ASCII as UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
