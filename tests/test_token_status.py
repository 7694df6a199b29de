"""ancre.trust.status.token: IETF Token Status List codec, Status List Tokens and
Referenced Token status claims.

Vectors: the draft's §4.1/§4.2 examples, Appendix C test vectors and the signed §8.2 Status
List Token (tests/vectors/token-status-list.json). Bit order is LSB-first (§4.1).
"""

from __future__ import annotations

import json
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _support import Issuer, forge, vectors
from hypothesis import given, settings
from hypothesis import strategies as st

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.did.document import CompositeResolver
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.status.token import (
    ALLOWED_BITS,
    DecodedStatusList,
    StatusType,
    TokenStatusList,
    decode_status_list,
    issue_status_list_token,
    parse_status_reference,
    verify_status_list_token,
)
from ancre.trust.steps import PinnedKeys

TSL = vectors("token-status-list.json")
URI = "https://status.example/lists/7"


def lsb_first(data: bytes, idx: int, bits: int) -> int:
    """Reference reader (§4.1 step 3): statuses fill each byte from bit 0 upwards."""
    value = 0
    for k in range(bits):
        bit = idx * bits + k
        value |= ((data[bit // 8] >> (bit % 8)) & 1) << k
    return value


# --------------------------------------------------------------------------------------
# Vectors


@pytest.mark.parametrize("case", TSL["section_4"], ids=lambda c: c["name"])
def test_section_4_examples(case: dict[str, Any]) -> None:
    decoded = decode_status_list({"bits": case["bits"], "lst": case["lst"]})
    assert decoded.to_bytes().hex() == case["byte_array"]
    assert b64url_decode(case["lst"]).hex() == case["compressed_hex"]
    assert [decoded.status(i) for i in range(len(case["statuses"]))] == case["statuses"]
    # Our encoder reproduces the draft's compressed bytes exactly (ZLIB, level 9).
    issuer_list = TokenStatusList(len(case["statuses"]), case["bits"])
    for idx, value in enumerate(case["statuses"]):
        issuer_list.set(idx, value)
    assert issuer_list.to_claim() == {"bits": case["bits"], "lst": case["lst"]}


@pytest.mark.parametrize("case", TSL["appendix_c"], ids=lambda c: c["name"])
def test_appendix_c_vectors(case: dict[str, Any]) -> None:
    decoded = decode_status_list({"bits": case["bits"], "lst": case["lst"]})
    assert decoded.size == case["entries"] == 2**20
    for idx, value in case["statuses"].items():
        assert decoded.status(int(idx)) == value
    # "All values that are not mentioned … can be assumed to be 0": the decoded bytes are
    # exactly the list holding the listed statuses and nothing else.
    expected = TokenStatusList(case["entries"], case["bits"])
    for idx, value in case["statuses"].items():
        expected.set(int(idx), value)
    assert decoded.to_bytes() == expected.to_bytes()
    assert expected.to_claim()["lst"] == case["lst"]


def test_section_8_2_signed_status_list_token() -> None:
    case = TSL["status_list_token_8_2"]
    keys = PinnedKeys({case["issuer"]: [case["public_jwk"]]})
    token = verify_status_list_token(
        case["token"],
        uri=case["uri"],
        issuer=case["issuer"],
        resolver=keys,
        clock=FixedClock(datetime(2026, 1, 15, tzinfo=UTC)),
    )
    assert token.issuer == case["issuer"]
    assert token.issued_at == datetime.fromtimestamp(case["iat"], UTC)
    assert token.expires_at == datetime.fromtimestamp(case["exp"], UTC)
    assert token.ttl == timedelta(seconds=case["ttl"])
    decoded = token.decode()
    assert [decoded.status(i) for i in range(16)] == case["statuses"]


def test_section_8_2_token_for_another_uri_or_issuer_or_after_exp() -> None:
    case = TSL["status_list_token_8_2"]
    keys = PinnedKeys({case["issuer"]: [case["public_jwk"]]})
    clock = FixedClock(datetime(2026, 1, 15, tzinfo=UTC))
    kwargs: dict[str, Any] = {"resolver": keys, "clock": clock}
    with pytest.raises(InvalidError) as err:
        verify_status_list_token(
            case["token"], uri=case["uri"] + "0", issuer=case["issuer"], **kwargs
        )
    assert err.value.code is Code.STATUS_LIST_INVALID
    with pytest.raises(InvalidError) as err:
        verify_status_list_token(
            case["token"], uri=case["uri"], issuer="https://other.example", **kwargs
        )
    assert err.value.code is Code.STATUS_LIST_ISSUER_MISMATCH
    with pytest.raises(InvalidError) as err:
        verify_status_list_token(
            case["token"],
            uri=case["uri"],
            issuer=case["issuer"],
            resolver=keys,
            clock=FixedClock(datetime.fromtimestamp(case["exp"] + 3600, UTC)),
        )
    assert err.value.code is Code.EXPIRED


def test_section_6_2_reference() -> None:
    ref = parse_status_reference(TSL["referenced_token_6_2"])
    assert (ref.idx, ref.uri) == (0, "https://example.com/statuslists/1")


# --------------------------------------------------------------------------------------
# Codec


@settings(max_examples=80, deadline=None)
@given(
    bits=st.sampled_from(ALLOWED_BITS),
    size=st.integers(min_value=1, max_value=5000),
    statuses=st.dictionaries(st.integers(min_value=0), st.integers(min_value=0), max_size=30),
)
def test_round_trip(bits: int, size: int, statuses: dict[int, int]) -> None:
    lst = TokenStatusList(size, bits)
    wanted = {i % size: v % (1 << bits) for i, v in statuses.items()}
    for idx, value in wanted.items():
        lst.set(idx, value)
    decoded = decode_status_list(lst.to_claim())
    assert decoded.bits == bits
    assert decoded.size >= size
    raw = decoded.to_bytes()
    assert raw == lst.to_bytes()
    for idx in {0, size - 1, *wanted}:
        assert decoded.status(idx) == wanted.get(idx, 0) == lst.get(idx)
        assert lsb_first(raw, idx, bits) == wanted.get(idx, 0)


def test_out_of_range_index() -> None:
    decoded = DecodedStatusList(b"\x01", 2)
    assert decoded.size == 4
    assert decoded.status(0) == 1
    for idx in (4, -1):
        with pytest.raises(InvalidError) as err:
            decoded.status(idx)
        assert err.value.code is Code.STATUS_INDEX_OUT_OF_RANGE


def test_zlib_bomb_is_cut_short_with_bounded_memory() -> None:
    compressor = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(32)) + compressor.flush()
    claim = {"bits": 1, "lst": b64url_encode(bomb)}
    tracemalloc.start()
    try:
        with pytest.raises(InvalidError) as err:
            decode_status_list(claim, max_bytes=512 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.code is Code.STATUS_LIST_TOO_LARGE
    assert peak < 3 * 1024 * 1024
    assert decode_status_list(claim, max_bytes=32 * 1024 * 1024).size == 2**28  # a real bomb


def non_canonical(data: bytes) -> str:
    """base64url of `data` with a spare bit of the last character set (RFC 4648 §3.5)."""
    text = b64url_encode(data)
    assert len(text) % 4 in (2, 3), "needs a length with spare bits"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[alphabet.index(text[-1]) | 1]


GOOD = zlib.compress(bytes(4), 9)


@pytest.mark.parametrize(
    "claim",
    [
        None,
        [],
        {"lst": b64url_encode(GOOD)},
        {"bits": 3, "lst": b64url_encode(GOOD)},
        {"bits": 0, "lst": b64url_encode(GOOD)},
        {"bits": True, "lst": b64url_encode(GOOD)},
        {"bits": "1", "lst": b64url_encode(GOOD)},
        {"bits": 1.0000001, "lst": b64url_encode(GOOD)},
        {"bits": 1},
        {"bits": 1, "lst": ""},
        {"bits": 1, "lst": 5},
        {"bits": 1, "lst": b64url_encode(GOOD) + "="},
        {"bits": 1, "lst": non_canonical(GOOD + b"\0")},
        {"bits": 1, "lst": b64url_encode(zlib.compress(bytes(4), 9, wbits=31))},  # gzip
        {"bits": 1, "lst": b64url_encode(zlib.compress(bytes(4), 9, wbits=-15))},  # raw
        {"bits": 1, "lst": b64url_encode(GOOD[:-2])},  # truncated (no Adler-32)
        {"bits": 1, "lst": b64url_encode(GOOD + b"x")},
        {"bits": 1, "lst": b64url_encode(GOOD), "aggregation_uri": "no uri"},
    ],
)
def test_malformed_status_lists(claim: Any) -> None:
    with pytest.raises(InvalidError) as err:
        decode_status_list(claim)
    assert err.value.code is Code.STATUS_LIST_INVALID


def test_issuer_list_api() -> None:
    lst = TokenStatusList(10, 2)
    lst.set(3, StatusType.SUSPENDED)
    lst.set(3, StatusType.INVALID)  # overwrite clears the old bits
    assert lst.get(3) == 1
    assert lst.to_bytes() == b"\x40\x00\x00"
    assert lst.reference(3, URI) == {"status_list": {"idx": 3, "uri": URI}}
    restored = TokenStatusList(10, 2, data=lst.to_bytes())
    assert restored.get(3) == 1
    for bad in ((10, 1), (-1, 1), (0, 4), (True, 1), (0, -1)):
        with pytest.raises(ConfigurationError):
            lst.set(*bad)
    with pytest.raises(ConfigurationError):
        lst.reference(10, URI)
    for kwargs in ({"size": 10, "bits": 3}, {"size": 0}, {"size": 10, "data": b"\0"}):
        with pytest.raises(ConfigurationError):
            TokenStatusList(**kwargs)
    with pytest.raises(InvalidError):
        DecodedStatusList(b"", 3)


# --------------------------------------------------------------------------------------
# Referenced tokens (§6.2)


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"status": None},
        {"status": {}},
        {"status": []},
        {"status": {"status_list": []}},
        {"status": {"status_list": {"uri": URI}}},
        {"status": {"status_list": {"idx": -1, "uri": URI}}},
        {"status": {"status_list": {"idx": True, "uri": URI}}},
        {"status": {"status_list": {"idx": "0", "uri": URI}}},
        {"status": {"status_list": {"idx": 1.0, "uri": URI}}},
        {"status": {"status_list": {"idx": 2**63, "uri": URI}}},
        {"status": {"status_list": {"idx": 0}}},
        {"status": {"status_list": {"idx": 0, "uri": "not a uri"}}},
        {"status": {"status_list": {"idx": 0, "uri": 7}}},
    ],
)
def test_malformed_references(claims: dict[str, Any]) -> None:
    with pytest.raises(InvalidError) as err:
        parse_status_reference(claims)
    assert err.value.code is Code.INVALID_PROPERTY


def test_other_status_mechanisms_are_undecidable() -> None:
    with pytest.raises(IndeterminateError) as err:
        parse_status_reference({"status": {"ocsp": {"url": "https://x.example"}}})
    assert err.value.code is Code.STATUS_UNCHECKED


# --------------------------------------------------------------------------------------
# Status List Tokens (§5.1)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _token(signer: Issuer, lst: TokenStatusList | None = None, **kwargs: Any) -> str:
    return issue_status_list_token(
        lst or TokenStatusList(16),
        signer.key,
        kid=signer.kid,
        uri=URI,
        clock=FixedClock(NOW),
        **kwargs,
    )


def _verify(token: str, issuer: str, resolver: Any, **kwargs: Any) -> Any:
    return verify_status_list_token(
        token, uri=URI, issuer=issuer, resolver=resolver, clock=FixedClock(NOW), **kwargs
    )


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))


def test_issue_and_verify(issuer: Issuer, resolver: CompositeResolver) -> None:
    lst = TokenStatusList(100, 2)
    lst.set(42, StatusType.SUSPENDED)
    token = _token(issuer, lst, issuer=issuer.did)
    header, payload = _parts(token)
    assert header == {"alg": issuer.key.alg, "kid": issuer.kid, "typ": "statuslist+jwt"}
    assert payload["sub"] == URI
    assert payload["iss"] == issuer.did
    assert payload["exp"] - payload["iat"] == 86400
    assert payload["ttl"] == 3600
    verified = _verify(token, issuer.did, resolver)
    assert verified.issuer == issuer.did
    assert verified.ttl == timedelta(hours=1)
    assert verified.decode().status(42) == StatusType.SUSPENDED


def test_token_without_iss_is_checked_against_the_referenced_issuer(
    ed_issuer: Issuer, resolver: CompositeResolver
) -> None:
    token = _token(ed_issuer, lifetime=None, ttl=None)
    _, payload = _parts(token)
    assert set(payload) == {"sub", "iat", "status_list"}
    verified = _verify(token, ed_issuer.did, resolver)
    assert verified.expires_at is None
    assert verified.ttl is None


def test_signed_by_a_stranger(ed_issuer: Issuer, resolver: CompositeResolver) -> None:
    stranger = Issuer.new()
    for token in (_token(stranger), _token(stranger, issuer=stranger.did)):
        with pytest.raises(InvalidError) as err:
            _verify(token, ed_issuer.did, resolver)
        assert err.value.code is Code.STATUS_LIST_ISSUER_MISMATCH
    # …unless the verifier accepts that Status Issuer for this issuer (§13.5).
    verified = _verify(_token(stranger), ed_issuer.did, resolver, also_trusted=[stranger.did])
    assert verified.issuer == stranger.did


def test_iss_and_kid_must_agree(ed_issuer: Issuer, resolver: CompositeResolver) -> None:
    stranger = Issuer.new()
    header = {"alg": "EdDSA", "kid": stranger.kid, "typ": "statuslist+jwt"}
    payload = {"iss": ed_issuer.did, "sub": URI, "iat": int(NOW.timestamp())}
    payload["status_list"] = TokenStatusList(8).to_claim()
    with pytest.raises(InvalidError) as err:
        _verify(forge(header, payload, stranger.key), ed_issuer.did, resolver)
    assert err.value.code is Code.STATUS_LIST_ISSUER_MISMATCH


def _forged(issuer: Issuer, header: dict[str, Any] | None = None, **claims: Any) -> str:
    payload: dict[str, Any] = {
        "sub": URI,
        "iat": int(NOW.timestamp()),
        "status_list": TokenStatusList(8).to_claim(),
    }
    payload.update(claims)
    for name in [k for k, v in payload.items() if v is None]:
        del payload[name]
    merged = {"alg": "EdDSA", "kid": issuer.kid, "typ": "statuslist+jwt", **(header or {})}
    return forge({k: v for k, v in merged.items() if v is not None}, payload, issuer.key)


@pytest.mark.parametrize(
    ("header", "claims", "error", "code"),
    [
        ({"typ": "JWT"}, {}, InvalidError, Code.UNSUPPORTED_TYP),
        ({"typ": None}, {}, InvalidError, Code.UNSUPPORTED_TYP),
        ({"alg": "HS256"}, {}, InvalidError, Code.ALG_NOT_ALLOWED),
        ({"alg": "none"}, {}, InvalidError, Code.ALG_NOT_ALLOWED),
        ({}, {"sub": "https://status.example/lists/8"}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"sub": None}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"iat": None}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"iat": "now"}, InvalidError, Code.INVALID_DATETIME),
        ({}, {"iat": int(NOW.timestamp()) + 3600}, InvalidError, Code.NOT_YET_VALID),
        ({}, {"exp": int(NOW.timestamp()) - 3600}, InvalidError, Code.EXPIRED),
        ({}, {"ttl": 0}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"ttl": -5}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"ttl": True}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"ttl": "60"}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"status_list": None}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"status_list": {"bits": 3, "lst": "eNo"}}, InvalidError, Code.STATUS_LIST_INVALID),
        ({}, {"iss": 5}, InvalidError, Code.STATUS_LIST_ISSUER_MISMATCH),
    ],
)
def test_bad_status_list_tokens(
    ed_issuer: Issuer,
    resolver: CompositeResolver,
    header: dict[str, Any],
    claims: dict[str, Any],
    error: type[Exception],
    code: Code,
) -> None:
    token = _forged(ed_issuer, header, **claims)
    with pytest.raises(error) as err:
        _verify(token, ed_issuer.did, resolver)
    assert err.value.code is code  # type: ignore[attr-defined]


def test_bad_signature_and_garbage(ed_issuer: Issuer, resolver: CompositeResolver) -> None:
    head, body, _ = _token(ed_issuer).split(".")
    other = _token(Issuer.new())
    with pytest.raises(InvalidError) as err:
        _verify(f"{head}.{body}.{other.split('.')[2]}", ed_issuer.did, resolver)
    assert err.value.code is Code.SIGNATURE_INVALID
    with pytest.raises(MalformedError):
        _verify("not.a.token", ed_issuer.did, resolver)


def test_issue_refuses_bad_arguments(ed_issuer: Issuer) -> None:
    clock = FixedClock(NOW)
    lst = TokenStatusList(8)
    with pytest.raises(ConfigurationError):
        issue_status_list_token(lst, ed_issuer.key, kid=ed_issuer.kid, uri="nope", clock=clock)
    with pytest.raises(ConfigurationError):
        issue_status_list_token(
            lst, ed_issuer.key, kid=ed_issuer.kid, uri=URI, clock=clock, issuer="did:key:other"
        )
    with pytest.raises(ConfigurationError):
        issue_status_list_token(
            lst, ed_issuer.key, kid=ed_issuer.kid, uri=URI, clock=clock, ttl=timedelta(0)
        )
