"""Every parser ancre points at hostile input, as a byte-level fuzz target.

Shared by the Hypothesis properties (tests/fuzz/test_fuzz_*.py) and the atheris runner
(tests/fuzz/atheris_run.py, `make fuzz`). A target either returns or raises `AncreError`
(the verifier's wallet-facing `RefusedError` too, for the form parser): any other exception
is a crash. `SEEDS` are well-formed inputs the mutations start from.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import cbor2

from ancre.issuer.csv_offers import parse_rows
from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import loads_strict
from ancre.trust.codec.multibase import base58btc_decode, base58btc_encode, multicodec_split
from ancre.trust.data_integrity.ecdsa_sd import parse_proof_value
from ancre.trust.did.document import DidDocument, did_of, parse_did, public_key_from_multikey
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.did.web import did_web_to_url
from ancre.trust.errors import AncreError
from ancre.trust.jose.jws import parse_compact, sign_compact, unverified_header
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.sd_jwt.disclosure import Disclosure
from ancre.trust.sd_jwt.verify import parse_sd_jwt
from ancre.trust.status.bitstring import (
    Bitstring,
    decode_encoded_list,
    parse_entry,
    parse_status_list_credential,
)
from ancre.trust.status.token import decode_status_list, parse_status_reference
from ancre.trust.trust_list.model import TrustListDocument
from ancre.verifier.openid4vp.dcql import parse_dcql, select_claims
from ancre.verifier.openid4vp.errors import RefusedError
from ancre.verifier.openid4vp.response import parse_form, parse_wallet_nonce
from ancre.wallet.http import Http, HttpAnswer
from ancre.wallet.oid4vci import parse_offer, resolve_offer
from ancre.wallet.oid4vp import Request, build_answer, describe, fetch_request

Target = Callable[[bytes], None]
CLOCK = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
ED_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
ED_MULTIKEY = ED_DID.removeprefix("did:key:")
_RESOLVER = default_resolver()


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _json(data: bytes) -> Any:
    """The input as strict JSON (the parsers below take decoded JSON): malformed JSON is a
    refusal of the JSON layer, not of the parser under test."""
    return loads_strict(data, what="fuzz input")


class FixedHttp(Http):
    """The wallet's HTTP at the machine's edge: every GET or POST answers `answer`."""

    __slots__ = ("answer",)

    def __init__(self, answer: HttpAnswer) -> None:
        object.__setattr__(self, "network", NetworkPolicy())
        object.__setattr__(self, "client", None)
        object.__setattr__(self, "answer", answer)

    def get(self, url: str, *, accept: str = "application/json") -> HttpAnswer:
        return self.answer  # type: ignore[no-any-return, attr-defined]

    def post(self, url: str, **_: Any) -> HttpAnswer:  # type: ignore[override]
        return self.answer  # type: ignore[no-any-return, attr-defined]


# ------------------------------------------------------------------------------------------
# the targets


def compact_jws(data: bytes) -> None:
    parsed = parse_compact(data, allowed_algs=("ES256", "EdDSA", "ES384", "PS256"))
    parsed.payload_json()
    unverified_header(_text(data))


def sd_jwt(data: bytes) -> None:
    parse_sd_jwt(data)


def sd_jwt_disclosure(data: bytes) -> None:
    Disclosure.decode(_text(data))


def base64url(data: bytes) -> None:
    b64url_decode(data)


def multibase(data: bytes) -> None:
    text = _text(data)
    try:
        decoded = base58btc_decode(text)
    except AncreError:
        decoded = data
    multicodec_split(decoded)
    public_key_from_multikey(text)


def did_url(data: bytes) -> None:
    text = _text(data)
    did = did_of(text)
    try:
        parse_did(did)
    finally:
        if did.startswith("did:web:"):
            did_web_to_url(did)
        elif did.startswith(("did:key:", "did:jwk:")):
            _RESOLVER.resolve(did).method(text)


def did_document(data: bytes) -> None:
    document = DidDocument.from_json(_json(data))
    for kid in list(document.verification_methods)[:4]:
        document.method(kid)


def bitstring_status_list(data: bytes) -> None:
    decoded = decode_encoded_list(_text(data), min_bytes=1)
    bits = Bitstring(decoded)
    for size in (1, 2, 8):
        if bits.entries(size):
            bits.get(bits.entries(size) - 1, size)


def status_list_credential(data: bytes) -> None:
    document = _json(data)
    if isinstance(document, Mapping) and "credentialSubject" in document:
        parse_status_list_credential(document).decode()
    else:
        parse_entry(document)


def token_status_list(data: bytes) -> None:
    document = _json(data)
    if isinstance(document, dict) and "status" in document:
        parse_status_reference(document)
    else:
        decode_status_list(document, max_bytes=1 << 16)


def trust_list_json(data: bytes) -> None:
    document = TrustListDocument.from_json(_json(data))
    document.to_json()


def credential_offer(data: bytes) -> None:
    """The offer object, and the offer URI (by value, or by reference through the wallet's
    HTTP, whose answer is the same bytes)."""
    text = _text(data)
    http = FixedHttp(HttpAnswer(200, "application/json", data))
    if text.lstrip().startswith("{"):
        parse_offer(_json(data))
    else:
        resolve_offer(text, http)


def openid4vp_request(data: bytes) -> None:
    """The wallet's side: an `openid4vp://` invocation whose request_uri answers `data` as a
    Request Object (a compact JWS signed by the did:key of the client id)."""
    http = FixedHttp(HttpAnswer(200, "application/oauth-authz-req+jwt", data))
    invocation = (
        f"openid4vp://?client_id=decentralized_identifier:{ED_DID}&request_uri=https://v.example/r"
    )
    fetch_request(invocation, http=http, clock=CLOCK)


_SIGNER: list[Any] = []


def openid4vp_signed_request(data: bytes) -> None:
    """The wallet's checks past the signature: `data` is the payload of a Request Object
    properly signed by the client id's did:key (a key made once per process)."""
    if not _SIGNER:
        _SIGNER.append(PrivateKey.generate("ed25519"))
    key = _SIGNER[0]
    did = did_key_from_public_key(key.public_key)
    client_id = f"decentralized_identifier:{did}"
    header = {"alg": "EdDSA", "typ": "oauth-authz-req+jwt", "kid": f"{did}#{did[8:]}"}
    # The seeds name the client `…:DID`: the key, hence the DID, is new in each process.
    payload = data.replace(b"decentralized_identifier:DID", client_id.encode())
    token = sign_compact(header, payload, key)
    http = FixedHttp(HttpAnswer(200, "application/oauth-authz-req+jwt", token.encode()))
    invocation = f"openid4vp://?client_id={client_id}&request_uri=https://v.example/r"
    request = fetch_request(invocation, http=http, clock=CLOCK)
    assert request.verifier == did


def openid4vp_invocation(data: bytes) -> None:
    http = FixedHttp(HttpAnswer(404, "text/plain", b""))
    fetch_request(_text(data), http=http, clock=CLOCK)


_WALLET: list[Any] = []


def _wallet() -> Any:
    """A wallet holding one valid SD-JWT VC and one vc+jwt (records only: build_answer
    matches on their listing fields), made once per process in a temporary folder."""
    if not _WALLET:
        import atexit
        import shutil
        import tempfile

        from ancre.wallet.credentials import KIND, SD_JWT, VC_JWT, HeldCredential
        from ancre.wallet.store import WalletStore, new_record_id

        folder = tempfile.mkdtemp(prefix="ancre-fuzz-wallet-")
        atexit.register(shutil.rmtree, folder, True)
        store = WalletStore.create(f"{folder}/w", "fuzz", scrypt_n=2**14)
        for fmt, types in (
            (SD_JWT, ("https://e.example/pid",)),
            (VC_JWT, ("VerifiableCredential", "X")),
        ):
            held = HeldCredential(
                new_record_id(KIND), fmt, types, ED_DID, None, None, "valid", None,
                "2026-01-01T00:00:00+00:00", "id", "t",
            )  # fmt: skip
            with store.writing():
                store.put(held.id, held.record())
        _WALLET.append(store)
    return _WALLET[0]


def wallet_dcql(data: bytes) -> None:
    """The wallet's side of DCQL: a checked Request Object's `dcql_query` matched against
    the wallet's credentials."""
    query = _json(data)
    if not isinstance(query, dict):  # fetch_request refuses a Request Object without one
        return
    claims = {
        "client_id": f"decentralized_identifier:{ED_DID}",
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "response_uri": "https://v.example/response",
        "nonce": "n",
        "dcql_query": query,
    }
    request = Request(claims["client_id"], ED_DID, claims)
    describe(build_answer(_wallet(), request))


def dcql(data: bytes) -> None:
    query = parse_dcql(_json(data))
    for credential in query.credentials:
        for claim in credential.claims or ():
            try:
                select_claims({"a": [1, {"b": 2}], "c": {"d": "e"}}, claim.path)
            except Exception as error:  # select_claims' own _PathError: no match
                if type(error).__name__ != "_PathError":
                    raise


def openid4vp_response_form(data: bytes) -> None:
    parse_wallet_nonce(parse_form("application/x-www-form-urlencoded", data))


def csv_rows(data: bytes) -> None:
    rows, errors = parse_rows(data)
    assert all(error.line >= 1 for error in errors)
    del rows


def ecdsa_sd_proof_value(data: bytes) -> None:
    """The `proofValue` string as sent, or (for inputs that are not `u…`) its CBOR bytes."""
    if data.startswith(b"u"):
        parse_proof_value(_text(data))
    else:
        parse_proof_value("u" + b64url_encode(data))


TARGETS: dict[str, Target] = {
    "compact_jws": compact_jws,
    "sd_jwt": sd_jwt,
    "sd_jwt_disclosure": sd_jwt_disclosure,
    "base64url": base64url,
    "multibase": multibase,
    "did_url": did_url,
    "did_document": did_document,
    "bitstring_status_list": bitstring_status_list,
    "status_list_credential": status_list_credential,
    "token_status_list": token_status_list,
    "trust_list_json": trust_list_json,
    "credential_offer": credential_offer,
    "openid4vp_request": openid4vp_request,
    "openid4vp_invocation": openid4vp_invocation,
    "openid4vp_signed_request": openid4vp_signed_request,
    "dcql": dcql,
    "wallet_dcql": wallet_dcql,
    "openid4vp_response_form": openid4vp_response_form,
    "csv_rows": csv_rows,
    "ecdsa_sd_proof_value": ecdsa_sd_proof_value,
}

_ORDER = sorted(TARGETS)


def every_parser(data: bytes) -> None:
    """All targets in one: the first byte picks the parser (one process for CI's short run)."""
    if data:
        TARGETS[_ORDER[data[0] % len(_ORDER)]](data[1:])


#: Refusals a target may raise: ancre's own, and the verifier's wallet-facing refusal.
REFUSALS: tuple[type[Exception], ...] = (AncreError, RefusedError)


def _b64(value: Any) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _seeds() -> dict[str, list[bytes]]:
    jws = ".".join(
        (
            _b64({"alg": "ES256", "typ": "JWT", "kid": f"{ED_DID}#{ED_MULTIKEY}"}),
            _b64({"iss": "x"}),
            "c2ln",
        )
    )
    disclosure = _b64(["c2FsdA", "given_name", "Ada"])
    sd_payload = {"_sd": ["x" * 43], "_sd_alg": "sha-256", "iss": "https://i.example"}
    sd = ".".join((_b64({"alg": "ES256", "typ": "dc+sd-jwt"}), _b64(sd_payload), "c2ln"))
    bits = "u" + base64.urlsafe_b64encode(gzip.compress(b"\0" * 2048)).decode().rstrip("=")
    offer = {
        "credential_issuer": "https://issuer.example",
        "credential_configuration_ids": ["employee"],
        "grants": {
            "urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": "abc",
                "tx_code": {"length": 6, "input_mode": "numeric"},
            }
        },
    }
    dcql_query = {
        "credentials": [
            {
                "id": "pid",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": ["https://e.example/pid"]},
                "claims": [{"path": ["a", 1, "b"]}, {"path": ["c", None], "values": ["e"]}],
            }
        ]
    }
    trust_list = TrustListDocument(
        sequence=1,
        issued_at=CLOCK.now(),
        next_update=CLOCK.now(),
        operator_name="Operator",
        scheme_name="Scheme",
        entities=(),
    ).to_json()
    entry = {
        "id": "https://s.example/1#5",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "5",
        "statusListCredential": "https://s.example/1",
    }
    base_proof = cbor2.dumps([b"\0" * 64, b"\2" + b"\0" * 32, b"\0" * 32, [b"\0" * 64], ["/a"]])
    return {
        "compact_jws": [jws.encode(), b"a.b.c"],
        "sd_jwt": [f"{sd}~{disclosure}~".encode()],
        "sd_jwt_disclosure": [disclosure.encode()],
        "base64url": [b"AQID", b"_-8"],
        "multibase": [ED_MULTIKEY.encode(), base58btc_encode(b"\x80\x24" + b"\2" * 33).encode()],
        "did_url": [f"{ED_DID}#{ED_MULTIKEY}".encode(), b"did:web:example.com%3A8443:u:alice#k"],
        "did_document": [
            json.dumps({"id": "did:web:a.example", "verificationMethod": []}).encode()
        ],
        "bitstring_status_list": [bits.encode()],
        "status_list_credential": [json.dumps(entry).encode()],
        "token_status_list": [
            json.dumps({"bits": 1, "lst": "eNrbuRgAAhcBXQ"}).encode(),
            json.dumps(
                {"status": {"status_list": {"idx": 0, "uri": "https://s.example/1"}}}
            ).encode(),
        ],
        "trust_list_json": [json.dumps(trust_list).encode()],
        "credential_offer": [
            json.dumps(offer).encode(),
            b"openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fi.example%2Fo",
        ],
        "openid4vp_request": [
            ".".join(
                (
                    _b64(
                        {
                            "alg": "EdDSA",
                            "typ": "oauth-authz-req+jwt",
                            "kid": f"{ED_DID}#{ED_MULTIKEY}",
                        }
                    ),
                    _b64({"client_id": f"decentralized_identifier:{ED_DID}", "aud": "x"}),
                    b64url_encode(b"\1" * 64),
                )
            ).encode()
        ],
        "openid4vp_signed_request": [
            json.dumps(
                {
                    "client_id": "decentralized_identifier:DID",
                    "aud": "https://self-issued.me/v2",
                    "response_type": "vp_token",
                    "response_mode": "direct_post",
                    "response_uri": "https://v.example/response",
                    "nonce": "n",
                    "exp": 1900000000,
                    "dcql_query": dcql_query,
                }
            ).encode()
        ],
        "openid4vp_invocation": [
            f"openid4vp://?client_id=decentralized_identifier:{ED_DID}&request_uri=https://v/r".encode()
        ],
        "dcql": [json.dumps(dcql_query).encode()],
        "wallet_dcql": [
            json.dumps(dcql_query).encode(),
            json.dumps(
                {
                    "credentials": [
                        {
                            "id": "x",
                            "format": "jwt_vc_json",
                            "meta": {"type_values": [["X"]]},
                            "claims": [{"path": ["credentialSubject", "name"]}],
                        }
                    ]
                }
            ).encode(),
        ],
        "openid4vp_response_form": [b"vp_token=%7B%7D&state=s&wallet_nonce=abc"],
        "csv_rows": [b'email,given_name,address\na@b.example,Ada,"{""city"": ""Paris""}"\n'],
        "ecdsa_sd_proof_value": [
            ("u" + b64url_encode(b"\xd9\x5d\x00" + base_proof)).encode(),
            b"\xd9\x5d\x00" + base_proof,
        ],
    }


SEEDS = _seeds()
SEEDS_ALL = [bytes([i]) + seed for i, name in enumerate(_ORDER) for seed in SEEDS[name]]
