"""COSE_Sign1 (RFC 9052 §4.2), strict, over `cbor2` and the keys of `ancre.trust.keys.jwk`.

Why not a general COSE library: the same reasons as ancre's compact JWS reader — parse once,
strictly (size limit, one CBOR item, definite types), and check the protected `alg` against an
explicit per-call allow-list *and* the key type before any cryptography runs. Signatures use
the JOSE encodings COSE shares (RFC 9053 §2.1: ECDSA is `r || s`, each the curve's size), so
`PublicKey.verify` checks them under the JOSE name of the algorithm.

Only attached payloads: VC-JOSE-COSE §3.3 makes the unsecured credential the COSE_Sign1
payload, so a detached payload (`nil`) is refused. Header parameters the verifier relies on
(`alg`, `typ`, content type, `crit`) must be protected; `kid` may be either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import cbor2

from ancre.trust.errors import Code, ConfigurationError, InvalidError, MalformedError
from ancre.trust.keys.jwk import ALG_KEY_TYPES, PublicKey, Signer

__all__ = [
    "COSE_ALGS",
    "DEFAULT_MAX_COSE_BYTES",
    "ParsedSign1",
    "parse_sign1",
    "sign1",
]

DEFAULT_MAX_COSE_BYTES: Final = 256 * 1024
#: RFC 9052 §4.2: the CBOR tag of a COSE_Sign1.
SIGN1_TAG: Final = 18
#: Header labels (RFC 9052 §3.1; `typ` RFC 9596).
ALG, CRIT, CONTENT_TYPE, KID, TYP = 1, 2, 3, 4, 16
#: COSE algorithm identifiers (IANA COSE Algorithms) and their JOSE names.
COSE_ALGS: Final[Mapping[int, str]] = {
    -7: "ES256",
    -35: "ES384",
    -36: "ES512",
    -47: "ES256K",
    -8: "EdDSA",
    -19: "Ed25519",
}
_JOSE_TO_COSE: Final = {name: ident for ident, name in COSE_ALGS.items() if name != "Ed25519"}
#: Labels that must sit in the protected bucket when present.
_MUST_PROTECT: Final = frozenset({ALG, CRIT, CONTENT_TYPE, TYP})


@dataclass(frozen=True, slots=True)
class ParsedSign1:
    """A COSE_Sign1 decoded, *not yet verified*."""

    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    protected_bytes: bytes
    payload: bytes
    signature: bytes
    #: The JOSE name of the protected `alg`.
    alg: str

    @property
    def kid(self) -> str | None:
        """The `kid` (protected first) as text: VC-JOSE-COSE names keys by URL or thumbprint."""
        kid = self.protected.get(KID, self.unprotected.get(KID))
        if kid is None:
            return None
        if isinstance(kid, bytes):
            try:
                return kid.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError(Code.INVALID_HEADER, "COSE `kid` is not UTF-8 text") from None
        if isinstance(kid, str):
            return kid
        raise MalformedError(Code.INVALID_HEADER, "COSE `kid` must be a byte or text string")

    def header_text(self, label: int) -> str | None:
        value = self.protected.get(label)
        if value is None:
            return None
        if not isinstance(value, str):
            raise MalformedError(
                Code.INVALID_HEADER, f"COSE header {label} must be a text string here"
            )
        return value

    def jose_header(self) -> dict[str, Any]:
        """The headers as a JOSE-style map (`alg`, `kid`, `typ`, `cty`), for key resolution
        and results."""
        header: dict[str, Any] = {"alg": self.alg}
        for name, value in (
            ("kid", self.kid),
            ("typ", self.header_text(TYP)),
            ("cty", self.header_text(CONTENT_TYPE)),
        ):
            if value is not None:
                header[name] = value
        return header

    def to_be_signed(self) -> bytes:
        # RFC 9052 §4.4: Sig_structure, with empty external AAD.
        return cbor2.dumps(["Signature1", self.protected_bytes, b"", self.payload])

    def verify_with(self, key: PublicKey) -> None:
        if not key.verify(self.alg, self.to_be_signed(), self.signature):
            raise InvalidError(
                Code.SIGNATURE_INVALID, "the COSE signature does not verify with the issuer's key"
            )


def _loads(data: bytes, what: str) -> Any:
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError, OverflowError):
        raise MalformedError(Code.MALFORMED_TOKEN, f"{what} is not well-formed CBOR") from None


def _map_size(encoded: bytes) -> int | None:
    """The entry count a definite-length CBOR map declares (None: indefinite or not a map)."""
    head = encoded[0]
    if head >> 5 != 5:
        return None
    info = head & 0x1F
    if info < 24:
        return info
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    return None if width is None else int.from_bytes(encoded[1 : 1 + width], "big")


def parse_sign1(
    data: bytes,
    *,
    allowed_algs: Collection[str],
    understood_crit: Collection[Any] = (),
    max_bytes: int = DEFAULT_MAX_COSE_BYTES,
) -> ParsedSign1:
    """Decode a (tagged or untagged) COSE_Sign1 strictly and check its protected header.

    Raises `MalformedError` for what is not a COSE_Sign1 with an attached payload, and
    `InvalidError` for a header ancre refuses (`alg` not allowed, unknown `crit`)."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedError(Code.MALFORMED_TOKEN, "a COSE_Sign1 is bytes")
    if len(data) > max_bytes:
        raise MalformedError(
            Code.INPUT_TOO_LARGE, f"COSE_Sign1 is {len(data)} bytes, the limit is {max_bytes}"
        )
    item = _loads(bytes(data), "COSE_Sign1")
    if isinstance(item, cbor2.CBORTag):
        if item.tag != SIGN1_TAG:
            raise MalformedError(
                Code.MALFORMED_TOKEN, f"CBOR tag {item.tag} is not a COSE_Sign1 (18)"
            )
        item = item.value
    # cbor2 may hand back a tuple (and frozendicts) for an array inside a tag.
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise MalformedError(Code.MALFORMED_TOKEN, "a COSE_Sign1 is an array of 4 items")
    protected_bytes, unprotected, payload, signature = item
    if not isinstance(protected_bytes, bytes):
        raise MalformedError(Code.INVALID_HEADER, "COSE protected header must be a byte string")
    protected = _loads(protected_bytes, "COSE protected header") if protected_bytes else {}
    if not isinstance(protected, Mapping) or not isinstance(unprotected, Mapping):
        raise MalformedError(Code.INVALID_HEADER, "COSE headers must be maps")
    if protected_bytes and _map_size(protected_bytes) != len(protected):
        # RFC 9052 §3: labels are unique; a decoder keeps one of two, which one differs.
        raise MalformedError(Code.INVALID_HEADER, "the COSE protected header repeats a label")
    protected, unprotected = dict(protected), dict(unprotected)
    if set(protected).intersection(unprotected):
        # RFC 9052 §3: a label MUST NOT occur in both buckets.
        raise MalformedError(Code.INVALID_HEADER, "a COSE header label is in both buckets")
    exposed = _MUST_PROTECT.intersection(unprotected)
    if exposed:
        raise InvalidError(
            Code.INVALID_HEADER, f"COSE header labels {sorted(exposed)} must be protected"
        )
    if payload is None:
        raise MalformedError(
            Code.MALFORMED_TOKEN,
            "detached COSE payload: VC-JOSE-COSE secures the credential as the attached payload",
        )
    if not isinstance(payload, bytes) or not isinstance(signature, bytes) or not signature:
        raise MalformedError(
            Code.MALFORMED_TOKEN, "COSE payload and signature must be byte strings"
        )
    ident = protected.get(ALG)
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise MalformedError(Code.INVALID_HEADER, "COSE protected header has no integer `alg`")
    alg = COSE_ALGS.get(ident)
    if alg is None or alg not in allowed_algs or alg not in ALG_KEY_TYPES:
        raise InvalidError(Code.ALG_NOT_ALLOWED, f"COSE algorithm {ident} is not allowed")
    if CRIT in protected:
        crit = protected[CRIT]
        if not isinstance(crit, list) or not crit:
            raise MalformedError(Code.INVALID_HEADER, "COSE `crit` must be a non-empty array")
        for label in crit:
            if label not in understood_crit:
                raise InvalidError(
                    Code.UNKNOWN_CRIT, f"critical COSE header {label!r} is not understood"
                )
    return ParsedSign1(protected, unprotected, protected_bytes, payload, signature, alg)


def sign1(
    payload: bytes,
    signer: Signer,
    *,
    kid: str | None = None,
    typ: str | None = None,
    content_type: str | None = None,
) -> bytes:
    """A tagged COSE_Sign1 over `payload`; `alg` comes from the signer, every header is
    protected."""
    ident = _JOSE_TO_COSE.get(signer.alg)
    if ident is None:
        raise ConfigurationError(f"no COSE algorithm for {signer.alg}")
    protected: dict[int, Any] = {ALG: ident}
    if content_type is not None:
        protected[CONTENT_TYPE] = content_type
    if kid is not None:
        protected[KID] = kid.encode("utf-8")
    if typ is not None:
        protected[TYP] = typ
    protected_bytes = cbor2.dumps(protected)
    tbs = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    signature = signer.sign(tbs)
    return cbor2.dumps(cbor2.CBORTag(SIGN1_TAG, [protected_bytes, {}, payload, signature]))
