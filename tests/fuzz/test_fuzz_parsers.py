"""Every parser under hostile bytes: it parses, or refuses with a stable, documented code;
never another exception, never a hang (issue 17). Random bytes, mutations of well-formed
seeds, and JSON-shaped inputs for the parsers that take decoded JSON. Round trips where the
parser has a writer. The same targets run under atheris (`make fuzz`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _fuzz import FUZZ, parses_or_refuses
from _targets import SEEDS, TARGETS
from hypothesis import given
from hypothesis import strategies as st

from ancre.trust.codec.multibase import (
    base58btc_decode,
    base58btc_encode,
    multicodec_split,
    varint_encode,
)
from ancre.trust.data_integrity.ecdsa_sd import (
    BaseProofValue,
    DerivedProofValue,
    parse_proof_value,
    serialize_base_proof_value,
    serialize_derived_proof_value,
)
from ancre.trust.errors import AncreError, Code
from ancre.trust.sd_jwt.disclosure import Disclosure
from ancre.trust.trust_list.model import TrustListDocument
from ancre.verifier.openid4vp.dcql import parse_dcql
from ancre.wallet.oid4vci import parse_offer

NAMES = sorted(TARGETS)


def _mutate(seed: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Byte edits at positions: 0 flip, 1 insert, 2 delete, 3 truncate, 4 duplicate a run."""
    data = bytearray(seed)
    for kind, where, value in edits:
        at = where % (len(data) + 1)
        if kind == 0 and data:
            data[at % len(data)] ^= 1 << (value % 8)
        elif kind == 1:
            data[at:at] = bytes([value % 256])
        elif kind == 2 and data:
            del data[at % len(data)]
        elif kind == 3:
            del data[at:]
        elif kind == 4:
            data[at:at] = data[at : at + value % 64]
    return bytes(data)


_EDITS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 1 << 16), st.integers(0, 255)),
    min_size=1,
    max_size=8,
)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.binary(max_size=512))
def test_random_bytes_parse_or_refuse(name: str, data: bytes) -> None:
    parses_or_refuses(TARGETS[name], data)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(choice=st.data(), edits=_EDITS)
def test_mutated_seeds_parse_or_refuse(name: str, choice: st.DataObject, edits: Any) -> None:
    seed = choice.draw(st.sampled_from(SEEDS[name]))
    parses_or_refuses(TARGETS[name], _mutate(seed, edits))


#: Targets whose seeds stop at a deep check by design (the signature cannot be forged; the
#: request_uri of the seed invocation answers 404): the code they stop at.
_SEEDS_STOP_AT = {
    "openid4vp_request": Code.SIGNATURE_INVALID,
    "openid4vp_invocation": Code.OFFER_INVALID,
}


@pytest.mark.parametrize("name", NAMES)
def test_every_target_has_a_seed_that_gets_through(name: str) -> None:
    """The seeds are worth mutating: one parses (or reaches the deep check it must stop at)."""
    outcomes = []
    for seed in SEEDS[name]:
        try:
            TARGETS[name](seed)
            outcomes.append(None)
        except AncreError as error:
            outcomes.append(error.code)
    assert _SEEDS_STOP_AT.get(name) in outcomes, (name, outcomes)


# ------------------------------------------------------------------------------------------
# JSON-shaped inputs: a seed document with one member replaced by any JSON value

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_JSON_TARGETS = [n for n in NAMES if SEEDS[n][0][:1] == b"{"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _replace(node: Any, path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        copy = dict(node)
        if drop and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(node[head], rest, value, drop)
        return copy
    copy_list = list(node)
    if drop and not rest:
        del copy_list[head]
    else:
        copy_list[head] = _replace(node[head], rest, value, drop)
    return copy_list


def test_json_targets_are_the_object_parsers() -> None:
    assert set(_JSON_TARGETS) >= {
        "credential_offer",
        "dcql",
        "did_document",
        "status_list_credential",
        "token_status_list",
        "trust_list_json",
    }


@pytest.mark.parametrize("name", _JSON_TARGETS)
@FUZZ
@given(choice=st.data(), value=_JSON, drop=st.booleans())
def test_json_member_replaced_parse_or_refuse(
    name: str, choice: st.DataObject, value: Any, drop: bool
) -> None:
    seed = json.loads(choice.draw(st.sampled_from([s for s in SEEDS[name] if s[:1] == b"{"])))
    path = choice.draw(st.sampled_from(_paths(seed)))
    document = _replace(seed, path, value, drop and bool(path))
    parses_or_refuses(TARGETS[name], json.dumps(document).encode())


@pytest.mark.parametrize("parser", [parse_offer, parse_dcql])
@FUZZ
@given(value=_JSON)
def test_any_json_value_parse_or_refuse(parser: Any, value: Any) -> None:
    parses_or_refuses(parser, value)


# ------------------------------------------------------------------------------------------
# round trips


@FUZZ
@given(data=st.binary(max_size=300))
def test_base58btc_round_trip(data: bytes) -> None:
    text = base58btc_encode(data)
    if not text:
        assert not data  # the empty value has no encoding, and decoding "" is refused
        return
    assert base58btc_decode(text) == data


@FUZZ
@given(code=st.integers(0, 2**21 - 1), payload=st.binary(max_size=40))
def test_multicodec_round_trip(code: int, payload: bytes) -> None:
    assert multicodec_split(varint_encode(code) + payload) == (code, payload)


_CLAIM_NAMES = st.text(min_size=1, max_size=12).filter(lambda n: n not in ("_sd", "..."))


@FUZZ
@given(salt=st.text(min_size=1, max_size=30), name=_CLAIM_NAMES | st.none(), value=_JSON)
def test_disclosure_round_trip(salt: str, name: str | None, value: Any) -> None:
    made = parses_or_refuses(Disclosure.create, salt, name, value)
    if made is None:
        return
    again = Disclosure.decode(made.encoded)
    assert (again.salt, again.name, again.value) == (made.salt, made.name, made.value)
    assert again.digest() == made.digest()


_NOW = datetime(2026, 3, 1, tzinfo=UTC)


@FUZZ
@given(
    sequence=st.integers(1, 2**53),
    hours=st.integers(1, 10_000),
    operator=st.text(min_size=1, max_size=40),
    scheme=st.text(min_size=1, max_size=40),
)
def test_trust_list_round_trip(sequence: int, hours: int, operator: str, scheme: str) -> None:
    document = parses_or_refuses(
        TrustListDocument,
        sequence,
        _NOW,
        _NOW + timedelta(hours=hours),
        operator,
        scheme,
        (),
    )
    again = parses_or_refuses(TrustListDocument.from_json, document.to_json())
    if again is not None:
        assert again == document


_SIG = st.binary(min_size=64, max_size=64)


@FUZZ
@given(
    base=_SIG,
    key=st.binary(min_size=35, max_size=35),
    hmac=st.binary(min_size=32, max_size=32),
    signatures=st.lists(_SIG, max_size=4),
    pointers=st.lists(st.text(max_size=10).map(lambda t: "/" + t), max_size=4),
)
def test_ecdsa_sd_base_proof_value_round_trip(
    base: bytes, key: bytes, hmac: bytes, signatures: list[bytes], pointers: list[str]
) -> None:
    value = BaseProofValue(base, key, hmac, tuple(signatures), tuple(pointers))
    assert parses_or_refuses(parse_proof_value, serialize_base_proof_value(value)) == value


@FUZZ
@given(
    base=_SIG,
    key=st.binary(min_size=35, max_size=35),
    signatures=st.lists(_SIG, max_size=4),
    labels=st.dictionaries(st.integers(0, 50), st.binary(min_size=32, max_size=32), max_size=4),
    indexes=st.lists(st.integers(0, 50), max_size=4),
)
def test_ecdsa_sd_derived_proof_value_round_trip(
    base: bytes,
    key: bytes,
    signatures: list[bytes],
    labels: dict[int, bytes],
    indexes: list[int],
) -> None:
    from ancre.trust.codec.b64 import b64url_encode

    label_map = {f"c14n{k}": "u" + b64url_encode(v) for k, v in labels.items()}
    value = DerivedProofValue(base, key, tuple(signatures), label_map, tuple(indexes))
    again = parses_or_refuses(parse_proof_value, serialize_derived_proof_value(value))
    assert again is not None
    assert (again.base_signature, again.public_key, again.signatures) == (
        base,
        key,
        tuple(signatures),
    )
    assert dict(again.label_map) == label_map
    assert tuple(again.mandatory_indexes) == tuple(indexes)


@FUZZ
@given(value=_JSON)
def test_dcql_accepted_query_keeps_its_json(value: Any) -> None:
    seed = json.loads(SEEDS["dcql"][0])
    seed["credentials"][0]["claims"][0]["values"] = (
        [value] if not isinstance(value, list) else value
    )
    query = parses_or_refuses(parse_dcql, seed)
    if query is not None:
        assert query.raw == seed
        assert parse_dcql(json.loads(json.dumps(query.raw))) == query
