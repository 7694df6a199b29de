"""ancre.trust.status.bitstring: W3C Bitstring Status List v1.0 codec, entries, list
credentials and the issuer-side list.

Vectors: the Recommendation's examples and the W3C test suite's status list fixtures
(tests/vectors/bitstring-status-list.json). Bit order is MSB-first (§2.2, §7.1): the test
suite's list has index 201 set, which an LSB-first reader would miss.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _support import vectors
from hypothesis import given, settings
from hypothesis import strategies as st

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.errors import Code, ConfigurationError, IndeterminateError, InvalidError
from ancre.trust.jose.jws import parse_compact
from ancre.trust.status.bitstring import (
    MIN_ENTRIES,
    Bitstring,
    BitstringStatusList,
    decode_encoded_list,
    encode_bitstring,
    parse_entry,
    parse_status_list_credential,
)
from ancre.trust.vcdm.model import check_credential

W3C = vectors("bitstring-status-list.json")
SPEC_LIST = W3C["spec_status_list"]
URL = "https://example.com/credentials/status/3"


def msb_first(data: bytes, index: int, size: int) -> int:
    """Reference reader: bit i of the bitstring is bit (7 - i % 8) of byte i // 8."""
    value = 0
    for bit in range(index * size, index * size + size):
        value = (value << 1) | ((data[bit // 8] >> (7 - bit % 8)) & 1)
    return value


# --------------------------------------------------------------------------------------
# Vectors


def test_spec_example_list_is_the_all_zero_minimum_list() -> None:
    raw = decode_encoded_list(SPEC_LIST["credential"]["credentialSubject"]["encodedList"])
    assert len(raw) == SPEC_LIST["bitstring_bytes"] == MIN_ENTRIES // 8
    assert raw.count(0) == len(raw)  # "set_indexes": []
    bits = Bitstring(raw)
    assert bits.entries() == MIN_ENTRIES
    for case in W3C["spec_entries"]:
        assert bits.get(case["index"]) == 0
    assert bits.get(MIN_ENTRIES - 1) == 0  # §7.1: the last index of a 16 KB list is 131,071


def test_spec_example_credential_parses() -> None:
    data = parse_status_list_credential(SPEC_LIST["credential"])
    assert data.purposes == {"revocation"}
    assert data.credential_id == URL
    assert data.subject_id == "https://example.com/status/3#list"
    assert data.ttl is None
    assert data.decode().to_bytes() == bytes(16384)


def test_spec_jose_example_carries_the_same_status_list() -> None:
    parsed = parse_compact(SPEC_LIST["jose"], allowed_algs={"ES256"})
    assert parsed.header["alg"] == "ES256"
    payload = parsed.payload_json()
    assert payload["credentialSubject"] == SPEC_LIST["credential"]["credentialSubject"]
    assert parse_status_list_credential(payload).decode().nbits == MIN_ENTRIES


def test_our_encoding_of_the_all_zero_list_inflates_to_the_spec_example() -> None:
    ours = encode_bitstring(bytes(16384))
    spec = SPEC_LIST["credential"]["credentialSubject"]["encodedList"]
    assert decode_encoded_list(ours) == decode_encoded_list(spec)
    # Same DEFLATE stream; the GZIP headers differ only in XFL (RFC 1952: 2 = max compression).
    ours_raw, spec_raw = b64url_decode(ours[1:]), b64url_decode(spec[1:])
    assert ours_raw[10:] == spec_raw[10:]
    assert ours_raw[:8] == spec_raw[:8]


@pytest.mark.parametrize("case", W3C["spec_entries"], ids=lambda c: c["name"])
def test_spec_entries_parse_and_round_trip(case: dict[str, Any]) -> None:
    entry = parse_entry(case["entry"])
    assert entry.index == case["index"]
    assert entry.purpose == case["entry"]["statusPurpose"]
    assert entry.list_credential == case["entry"]["statusListCredential"]
    assert entry.size == 1
    assert entry.messages is None
    assert (entry.message(0), entry.message(1)) == ("unset", "set")  # §2.1 defaults
    assert entry.to_json() == case["entry"]


@pytest.mark.parametrize("case", W3C["test_suite"], ids=lambda c: c["name"])
def test_suite_fixtures(case: dict[str, Any]) -> None:
    entry = parse_entry(case["credential"]["credentialStatus"])
    data = parse_status_list_credential(case["list"])
    assert entry.purpose in data.purposes
    published = data.encoded_list
    # The suite published its lists without the multibase prefix; that is refused…
    with pytest.raises(InvalidError) as err:
        decode_encoded_list(published, min_bytes=0)
    assert err.value.code is Code.STATUS_LIST_INVALID
    # …and with the prefix the documented outcome follows.
    raw = decode_encoded_list("u" + published, min_bytes=0)
    assert len(raw) == case["bitstring_bytes"]
    if case["expected"] == "status_list_invalid":
        with pytest.raises(InvalidError) as err:
            decode_encoded_list("u" + published)
        assert err.value.code is Code.STATUS_LIST_INVALID
        return
    assert entry.index == 201
    assert Bitstring(raw).get(entry.index) == 1  # revoked / suspended
    assert (raw[201 // 8] >> (201 % 8)) & 1 == 0  # an LSB-first reader would say "valid"


@pytest.mark.parametrize("case", W3C["test_suite_purpose_mismatch"], ids=lambda c: c["list_file"])
def test_suite_purpose_mismatch_fixtures(case: dict[str, Any]) -> None:
    data = parse_status_list_credential(case["list"])
    assert not data.purposes & {"revocation", "suspension"}


# --------------------------------------------------------------------------------------
# Codec


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=8),
    statuses=st.dictionaries(
        st.integers(min_value=0, max_value=MIN_ENTRIES - 1), st.integers(min_value=0), max_size=40
    ),
    length=st.integers(min_value=1, max_value=3 * MIN_ENTRIES),
)
def test_round_trip(size: int, statuses: dict[int, int], length: int) -> None:
    messages = [f"m{i}" for i in range(1 << size)] if size > 1 else None
    issuer = BitstringStatusList(length=length, status_size=size, messages=messages)
    assert issuer.length >= max(length, MIN_ENTRIES)
    wanted = {i: v % (1 << size) for i, v in statuses.items()}
    for index, value in wanted.items():
        issuer.set(index, value)
    raw = decode_encoded_list(issuer.encode())
    assert raw == issuer.to_bytes()
    bits = Bitstring(raw)
    assert bits.entries(size) == issuer.length
    for index, value in wanted.items():
        assert bits.get(index, size) == value == issuer.get(index)
        assert msb_first(raw, index, size) == value
    for index in (0, issuer.length - 1, *(i + 1 for i in wanted if i + 1 < issuer.length)):
        assert bits.get(index, size) == wanted.get(index, 0)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=1, max_size=64), size=st.integers(1, 8), seed=st.integers(0))
def test_lookup_matches_reference_reader(data: bytes, size: int, seed: int) -> None:
    bits = Bitstring(data)
    index = seed % bits.entries(size) if bits.entries(size) else 0
    if bits.entries(size):
        assert bits.get(index, size) == msb_first(data, index, size)
    with pytest.raises(InvalidError) as err:
        bits.get(bits.entries(size), size)
    assert err.value.code is Code.STATUS_INDEX_OUT_OF_RANGE


def test_bit_order_is_msb_first() -> None:
    # §7.1: index 0 is the left-most bit of the first byte.
    bits = Bitstring(b"\x80\x01" + bytes(16382))
    assert [bits.get(i) for i in (0, 1, 7, 8, 15)] == [1, 0, 0, 0, 1]
    two = Bitstring(b"\xc9\x44")  # 11 00 10 01 | 01 00 01 00
    assert [two.get(i, 2) for i in range(8)] == [3, 0, 2, 1, 1, 0, 1, 0]
    three = Bitstring(b"\xff\x00\x00")  # entries cross byte boundaries
    assert [three.get(i, 3) for i in range(8)] == [7, 7, 6, 0, 0, 0, 0, 0]


def test_negative_index_is_out_of_range() -> None:
    with pytest.raises(InvalidError) as err:
        Bitstring(bytes(4)).get(-1)
    assert err.value.code is Code.STATUS_INDEX_OUT_OF_RANGE


def test_encoding_is_deterministic_and_padded_to_the_minimum() -> None:
    small = BitstringStatusList(length=10)
    assert small.length == MIN_ENTRIES
    assert small.encode() == BitstringStatusList(length=10).encode()
    assert len(decode_encoded_list(small.encode())) == 16384
    two_bits = BitstringStatusList(length=10, status_size=2, messages=["a", "b", "c", "d"])
    assert len(two_bits.to_bytes()) == 32768
    assert BitstringStatusList(length=MIN_ENTRIES + 1).length == MIN_ENTRIES + 8


def test_shorter_list_is_refused() -> None:
    encoded = encode_bitstring(bytes(16383))
    with pytest.raises(InvalidError) as err:
        decode_encoded_list(encoded)
    assert err.value.code is Code.STATUS_LIST_INVALID
    assert "131072 entries" in err.value.message
    assert len(decode_encoded_list(encoded, min_bytes=0)) == 16383


def _gzip_bomb(megabytes: int) -> bytes:
    """A real GZIP stream of `megabytes` MiB of zeros, built without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    return b"".join(compressor.compress(chunk) for _ in range(megabytes)) + compressor.flush()


def test_gzip_bomb_is_cut_short_with_bounded_memory() -> None:
    bomb = _gzip_bomb(64)
    assert len(bomb) < 100_000  # 64 MiB in under 100 KB
    encoded = "u" + b64url_encode(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidError) as err:
            decode_encoded_list(encoded, max_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.code is Code.STATUS_LIST_TOO_LARGE
    assert peak < 4 * 1024 * 1024  # the bound, not the 64 MiB
    with pytest.raises(InvalidError) as err:
        decode_encoded_list("u" + b64url_encode(_gzip_bomb(17)))  # default limit: 16 MiB
    assert err.value.code is Code.STATUS_LIST_TOO_LARGE


def non_canonical(data: bytes) -> str:
    """base64url of `data` with a spare bit of the last character set (RFC 4648 §3.5)."""
    text = b64url_encode(data)
    assert len(text) % 4 in (2, 3), "needs a length with spare bits"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[alphabet.index(text[-1]) | 1]


GOOD = gzip.compress(bytes(16384), mtime=0)


@pytest.mark.parametrize(
    "encoded",
    [
        None,
        42,
        "",
        "u",
        b64url_encode(GOOD),  # no multibase prefix
        "z" + b64url_encode(GOOD),  # another multibase base
        "U" + b64url_encode(GOOD),
        "u" + b64url_encode(GOOD) + "==",  # padding
        "u" + b64url_encode(GOOD).replace("-", "+"),  # standard alphabet
        "u" + non_canonical(GOOD[:-1]),
        "u" + b64url_encode(zlib.compress(bytes(16384))),  # zlib, not gzip
        "u" + b64url_encode(GOOD[:-6]),  # truncated
        "u" + b64url_encode(GOOD + GOOD),  # two members
        "u" + b64url_encode(GOOD + b"\0"),  # trailing garbage
        "u" + b64url_encode(b"\x1f\x8b\x08\x00junk"),
    ],
)
def test_malformed_encoded_lists(encoded: Any) -> None:
    with pytest.raises(InvalidError) as err:
        decode_encoded_list(encoded)
    assert err.value.code is Code.STATUS_LIST_INVALID


def test_good_reference_encoding_decodes() -> None:
    assert decode_encoded_list("u" + b64url_encode(GOOD)) == bytes(16384)


# --------------------------------------------------------------------------------------
# Entries (§2.1)

ENTRY = {
    "id": URL + "#94567",
    "type": "BitstringStatusListEntry",
    "statusPurpose": "revocation",
    "statusListIndex": "94567",
    "statusListCredential": URL,
}
MESSAGES = [
    {"status": "0x0", "message": "pending_review"},
    {"status": "0x1", "message": "accepted"},
    {"status": "0x2", "message": "rejected"},
    {"status": "0x3", "message": "undefined"},
]


def test_message_entry_with_two_bit_status() -> None:
    entry = parse_entry(
        {
            **ENTRY,
            "statusPurpose": "message",
            "statusSize": 2,
            "statusMessage": list(reversed(MESSAGES)),  # order does not matter
            "statusReference": "https://example.org/status-dictionary/",
        }
    )
    assert entry.size == 2
    assert entry.messages == ("pending_review", "accepted", "rejected", "undefined")
    assert entry.message(2) == "rejected"
    assert entry.reference == ("https://example.org/status-dictionary/",)
    assert parse_entry(entry.to_json()) == entry


def test_entry_type_may_be_an_array_and_references_a_list() -> None:
    entry = parse_entry(
        {
            **ENTRY,
            "type": ["BitstringStatusListEntry"],
            "statusReference": ["https://a.example/", "https://b.example/"],
        }
    )
    assert entry.reference == ("https://a.example/", "https://b.example/")
    assert entry.to_json()["statusReference"] == ["https://a.example/", "https://b.example/"]


@pytest.mark.parametrize(
    "change",
    [
        {"type": "StatusList2021Entry"},
        {"statusPurpose": ""},
        {"statusPurpose": 1},
        {"statusPurpose": "x" * 300},
        {"statusListIndex": 94567},  # §2.1: a string
        {"statusListIndex": "-1"},
        {"statusListIndex": "01"},
        {"statusListIndex": "1.0"},
        {"statusListIndex": " 1"},
        {"statusListIndex": "0x10"},
        {"statusListIndex": "1" * 21},
        {"statusListIndex": "١٢"},  # non-ASCII digits
        {"statusListIndex": ""},
        {"statusListCredential": "not a url"},
        {"statusListCredential": None},
        {"id": URL},  # §2.1: the entry id MUST NOT be the list's URL
        {"id": "no url"},
        {"statusSize": 0},
        {"statusSize": True},
        {"statusSize": "2"},
        {"statusSize": 1.5},
        {"statusSize": 2},  # statusMessage missing
        {"statusSize": 2, "statusMessage": MESSAGES[:3]},
        {"statusSize": 1, "statusMessage": MESSAGES},
        {"statusSize": 2, "statusMessage": [*MESSAGES[:3], {"status": "0x2", "message": "x"}]},
        {"statusSize": 2, "statusMessage": [*MESSAGES[:3], {"status": "3", "message": "x"}]},
        {"statusSize": 2, "statusMessage": [*MESSAGES[:3], {"status": "0x4", "message": "x"}]},
        {"statusSize": 2, "statusMessage": [*MESSAGES[:3], {"status": "0x3", "message": 3}]},
        {"statusSize": 2, "statusMessage": [*MESSAGES[:3], "0x3"]},
        {"statusSize": 2, "statusMessage": {"0x0": "a"}},
        {"statusReference": "no url"},
        {"statusReference": []},
    ],
)
def test_malformed_entries(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidError) as err:
        parse_entry({**ENTRY, **change})
    assert err.value.code is Code.INVALID_PROPERTY


@pytest.mark.parametrize("entry", [None, [], "BitstringStatusListEntry", {"statusPurpose": "x"}])
def test_non_entries(entry: Any) -> None:
    with pytest.raises(InvalidError) as err:
        parse_entry(entry)
    assert err.value.code is Code.INVALID_PROPERTY


def test_status_size_beyond_eight_bits_is_undecidable() -> None:
    with pytest.raises(IndeterminateError) as err:
        parse_entry({**ENTRY, "statusSize": 9, "statusMessage": []})
    assert err.value.code is Code.STATUS_UNAVAILABLE


# --------------------------------------------------------------------------------------
# Status list credentials (§2.2)


def _list_credential(**subject: Any) -> dict[str, Any]:
    document = json.loads(json.dumps(SPEC_LIST["credential"]))
    document["credentialSubject"].update(subject)
    return document


def test_multi_purpose_list_and_ttl() -> None:
    data = parse_status_list_credential(
        _list_credential(statusPurpose=["revocation", "suspension"], ttl=300000)
    )
    assert data.purposes == {"revocation", "suspension"}
    assert data.ttl is not None
    assert data.ttl.total_seconds() == 300


@pytest.mark.parametrize(
    "document",
    [
        {**SPEC_LIST["credential"], "type": ["VerifiableCredential"]},
        {**SPEC_LIST["credential"], "credentialSubject": [{}, {}]},
        {**SPEC_LIST["credential"], "credentialSubject": "x"},
        _list_credential(type="StatusList2021"),
        _list_credential(statusPurpose=[]),
        _list_credential(statusPurpose=["revocation", 3]),
        _list_credential(statusPurpose=None),
        _list_credential(encodedList=None),
        _list_credential(ttl=-1),
        _list_credential(ttl="60"),
        _list_credential(ttl=True),
    ],
)
def test_malformed_list_credentials(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidError) as err:
        parse_status_list_credential(document)
    assert err.value.code is Code.STATUS_LIST_INVALID


def test_subject_in_a_one_element_array_is_accepted() -> None:
    document = {**SPEC_LIST["credential"]}
    document["credentialSubject"] = [document["credentialSubject"]]
    assert parse_status_list_credential(document).purposes == {"revocation"}


# --------------------------------------------------------------------------------------
# Issuer side


def test_allocation_is_random_unique_and_bounded() -> None:
    lst = BitstringStatusList()
    picked = [lst.allocate() for _ in range(2000)]
    assert len(set(picked)) == 2000
    assert picked != sorted(picked)  # §2.1: random, not sequential
    assert all(0 <= i < MIN_ENTRIES for i in picked)
    assert lst.allocated == frozenset(picked)


def test_allocation_fills_a_nearly_full_list_then_refuses() -> None:
    lst = BitstringStatusList(allocated=range(MIN_ENTRIES - 3))
    last = {lst.allocate() for _ in range(3)}
    assert last == {MIN_ENTRIES - 3, MIN_ENTRIES - 2, MIN_ENTRIES - 1}
    with pytest.raises(ConfigurationError):
        lst.allocate()


def test_set_clear_get() -> None:
    lst = BitstringStatusList(purpose=["revocation", "suspension"])
    lst.set(9)
    assert lst.get(9) == 1
    assert Bitstring(lst.to_bytes()).get(9) == 1
    lst.clear(9)
    assert lst.get(9) == 0
    assert lst.to_bytes() == bytes(16384)
    restored = BitstringStatusList(bitstring=b"\x40" + bytes(16383), allocated=[1])
    assert restored.get(1) == 1
    assert restored.allocated == {1}


@pytest.mark.parametrize(
    ("index", "value"), [(-1, 1), (MIN_ENTRIES, 1), (0, 2), (0, -1), (True, 1), (0, True)]
)
def test_set_refuses_out_of_range(index: Any, value: Any) -> None:
    with pytest.raises(ConfigurationError):
        BitstringStatusList().set(index, value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status_size": 0},
        {"status_size": 9},
        {"status_size": 2},  # no messages
        {"status_size": 1, "messages": ["a"]},
        {"purpose": []},
        {"purpose": [""]},
        {"length": 0},
        {"bitstring": bytes(100)},
        {"allocated": [MIN_ENTRIES]},
    ],
)
def test_bad_list_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        BitstringStatusList(**kwargs)


def test_entry_and_credential_builders() -> None:
    lst = BitstringStatusList(
        status_size=2, purpose="message", messages=["pending", "accepted", "rejected", "other"]
    )
    index = lst.allocate()
    entry = lst.entry(index, status_list_credential=URL, reference="https://example.org/codes")
    parsed = parse_entry(entry)
    assert parsed.index == index
    assert parsed.purpose == "message"
    assert parsed.messages == ("pending", "accepted", "rejected", "other")
    assert entry["id"] == f"{URL}#{index}"
    with pytest.raises(ConfigurationError):
        lst.entry(index, status_list_credential=URL, purpose="revocation")
    start = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    document = lst.credential(
        id=URL,
        issuer="did:example:12345",
        valid_from=start,
        valid_until=start + timedelta(days=1),
        ttl=timedelta(minutes=5),
    )
    assert check_credential(document) == ()
    assert document["validFrom"] == "2026-01-01T12:00:00Z"
    data = parse_status_list_credential(document)
    assert data.purposes == {"message"}
    assert data.ttl == timedelta(minutes=5)
    assert data.decode().to_bytes() == lst.to_bytes()
    with pytest.raises(ConfigurationError):
        lst.credential(id="nope", issuer="did:example:1", valid_from=start)
