"""IETF Token Status List (draft-ietf-oauth-status-list, "TSL"; text of 15 January 2026).

A Status List is a byte array holding one status of ``bits`` ∈ {1, 2, 4, 8} bits per
Referenced Token, DEFLATE-compressed in the ZLIB format (RFC 1950/1951) and base64url-encoded
in the ``lst`` member of a ``status_list`` object (§4.1, §4.2). It is signed as a Status
List Token, a JWT of ``typ`` ``statuslist+jwt`` whose ``sub`` is the list's URI (§5.1). A
Referenced Token (an SD-JWT VC, a JWT) points into it with
``"status": {"status_list": {"idx": …, "uri": …}}`` (§6.2).

Section numbers below are the draft's. The points where implementations go wrong:

* **Bit order** (§4.1 step 3): statuses are packed from the *least* significant bit of each
  byte: index 0 is bit 0 (value 0x01) of byte 0, index 7 its bit 7 — the opposite of the
  W3C Bitstring Status List (:mod:`ancre.trust.status.bitstring`).
* **Status values** (§7.1): 0x00 VALID, 0x01 INVALID, 0x02 SUSPENDED; 0x03 and 0x0C-0x0F
  are application-specific, the rest reserved.
* **Decompression is bounded**, as for any list an attacker may shape (zip bomb).
* ``sub`` MUST equal the Referenced Token's ``uri`` (§5.1, §8.3 step 4a): otherwise a
  Status Provider could answer for one list with another list of the same issuer.

Caching and fetching live in :class:`ancre.trust.status.checker.StatusListChecker`.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.did.document import DidResolver, RevokedKey, did_of
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.steps import (
    KeySource,
    check_not_revoked,
    check_window,
    media_type,
    numeric_date,
    parse_jws,
    resolve_key,
)
from ancre.trust.vcdm.model import is_url

__all__ = [
    "ALLOWED_BITS",
    "DEFAULT_MAX_DECODED_BYTES",
    "STATUS_LIST_TOKEN_TYP",
    "DecodedStatusList",
    "StatusListReference",
    "StatusListToken",
    "StatusType",
    "TokenStatusList",
    "decode_status_list",
    "issue_status_list_token",
    "parse_status_reference",
    "verify_status_list_token",
]

ALLOWED_BITS: Final = (1, 2, 4, 8)
DEFAULT_MAX_DECODED_BYTES: Final = 16 * 1024 * 1024
STATUS_LIST_TOKEN_TYP: Final = "statuslist+jwt"  # noqa: S105 - a media type
#: RFC 7519 NumericDate values past this are nonsense (the year 5138).
_MAX_NUMERIC_DATE: Final = 10**11
_DEFAULT_POLICY: Final = VerificationPolicy()


class StatusType(IntEnum):
    """§7.1 Status Type values."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02
    APPLICATION_SPECIFIC = 0x03


def _invalid(message: str) -> InvalidError:
    return InvalidError(Code.STATUS_LIST_INVALID, message)


# ------------------------------------------------------------------------------------------
# The Status List (§4)


class DecodedStatusList:
    """A decoded Status List with O(1) lookups (least significant bit first, §4.1)."""

    __slots__ = ("_data", "_mask", "_per_byte", "bits", "size")

    def __init__(self, data: bytes, bits: int) -> None:
        if bits not in ALLOWED_BITS:
            raise _invalid(f"`bits` must be one of {ALLOWED_BITS}, not {bits!r}")
        self._data = bytes(data)
        self.bits = bits
        self._per_byte = 8 // bits
        self._mask = (1 << bits) - 1
        #: number of Referenced Tokens the list has room for
        self.size = len(data) * self._per_byte

    @property
    def nbytes(self) -> int:
        return len(self._data)

    def status(self, idx: int) -> int:
        """The status value at ``idx`` (§8.3 step 6); out of bounds is
        ``InvalidError(status_index_out_of_range)``."""
        if idx < 0 or idx >= self.size:
            raise InvalidError(
                Code.STATUS_INDEX_OUT_OF_RANGE,
                f"status index {idx} is outside a list of {self.size} entries",
            )
        bits = self.bits
        per_byte = self._per_byte
        return (self._data[idx // per_byte] >> ((idx % per_byte) * bits)) & self._mask

    def to_bytes(self) -> bytes:
        return self._data

    def to_claim(self) -> dict[str, Any]:
        """The JSON ``status_list`` object (§4.2), ZLIB at the highest level (§4.1 step 4)."""
        return {"bits": self.bits, "lst": b64url_encode(zlib.compress(self._data, 9))}


def decode_status_list(
    status_list: Any, *, max_bytes: int = DEFAULT_MAX_DECODED_BYTES
) -> DecodedStatusList:
    """Decode a JSON ``status_list`` object (§4.2) with bounded inflation.

    Raises ``InvalidError``: ``status_list_invalid`` (not an object, ``bits`` not 1/2/4/8,
    ``lst`` not canonical base64url, not a complete ZLIB stream, trailing data);
    ``status_list_too_large`` when inflation would pass ``max_bytes``."""
    bits, lst, _ = _claim_parts(status_list)
    try:
        compressed = b64url_decode(lst, what="`lst`")
    except MalformedError as exc:
        raise _invalid(exc.message) from None
    # wbits 15: the ZLIB format only (§4.1 step 4), with its Adler-32 check.
    inflater = zlib.decompressobj(zlib.MAX_WBITS)
    try:
        out = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as exc:
        raise _invalid(f"`lst` is not a valid ZLIB stream: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise InvalidError(
            Code.STATUS_LIST_TOO_LARGE,
            f"the status list inflates past {max_bytes} bytes (zip bomb guard)",
        )
    if not inflater.eof:
        raise _invalid("`lst` is a truncated ZLIB stream")
    if inflater.unused_data:
        raise _invalid("`lst` has data after the ZLIB stream")
    return DecodedStatusList(out, bits)


def _claim_parts(status_list: Any) -> tuple[int, str, dict[str, Any]]:
    if not isinstance(status_list, dict):
        raise _invalid("`status_list` must be a JSON object")
    bits, lst = status_list.get("bits"), status_list.get("lst")
    if isinstance(bits, bool) or bits not in ALLOWED_BITS:
        raise _invalid(f"`bits` must be one of {ALLOWED_BITS}")
    if not isinstance(lst, str) or not lst:
        raise _invalid("`lst` must be a non-empty base64url string")
    uri = status_list.get("aggregation_uri")
    if uri is not None and not is_url(uri):
        raise _invalid("`aggregation_uri` must be a URI")
    return bits, lst, status_list


class TokenStatusList:
    """An issuer's Status List (§4.1): ``size`` statuses of ``bits`` bits, all VALID (0)
    initially (§13.3: the common value as default keeps the list compressible and hides how
    many indexes are in use). Thread-safe."""

    def __init__(self, size: int, bits: int = 1, *, data: bytes | None = None) -> None:
        if bits not in ALLOWED_BITS or isinstance(bits, bool):
            raise ConfigurationError(f"bits must be one of {ALLOWED_BITS}")
        if size < 1:
            raise ConfigurationError("size must be positive")
        nbytes = (size * bits + 7) // 8
        if data is not None and len(data) != nbytes:
            raise ConfigurationError(f"data must be {nbytes} bytes for {size} × {bits} bits")
        self._data = bytearray(data) if data is not None else bytearray(nbytes)
        self.bits = bits
        self.size = size
        self._lock = threading.Lock()

    def _locate(self, idx: int, value: int = 0) -> tuple[int, int]:
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < self.size:
            raise ConfigurationError(f"index {idx!r} is outside the list (0..{self.size - 1})")
        if isinstance(value, bool) or not 0 <= value < 1 << self.bits:
            raise ConfigurationError(f"a {self.bits}-bit status cannot be {value}")
        position = idx * self.bits
        return position >> 3, position & 7

    def set(self, idx: int, value: int) -> None:
        """Set the status of ``idx`` (a :class:`StatusType` or application value)."""
        byte, shift = self._locate(idx, value)
        mask = ((1 << self.bits) - 1) << shift
        with self._lock:
            self._data[byte] = (self._data[byte] & ~mask) | (value << shift)

    def get(self, idx: int) -> int:
        byte, shift = self._locate(idx)
        with self._lock:
            return (self._data[byte] >> shift) & ((1 << self.bits) - 1)

    def to_bytes(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def to_claim(self) -> dict[str, Any]:
        """The ``status_list`` claim: ``{"bits": …, "lst": base64url(zlib(bytes))}``."""
        return DecodedStatusList(self.to_bytes(), self.bits).to_claim()

    def reference(self, idx: int, uri: str) -> dict[str, Any]:
        """The ``status`` claim (§6.2) for a Referenced Token using index ``idx``."""
        self._locate(idx)
        return {"status_list": {"idx": idx, "uri": uri}}


def issue_status_list_token(
    status_list: TokenStatusList | DecodedStatusList,
    signer: Signer,
    *,
    kid: str,
    uri: str,
    clock: Clock,
    lifetime: timedelta | None = timedelta(days=1),
    ttl: timedelta | None = timedelta(hours=1),
    issuer: str | None = None,
    x5c: Sequence[str] | None = None,
) -> str:
    """Sign a Status List Token (§5.1): ``typ`` ``statuslist+jwt``, ``sub`` = ``uri``,
    ``iat`` now, ``exp`` after ``lifetime`` and ``ttl`` (both RECOMMENDED, §13.7).

    ``issuer`` adds an ``iss`` claim; with a DID-URL ``kid`` it must be that DID. ``x5c``
    (base64 DER certificates, leaf first) adds the X.509 chain certifying the key, as the
    Referenced Tokens it covers carry it."""
    if not is_url(uri):
        raise ConfigurationError(f"{uri!r} is not a URI")
    if issuer is not None and kid.startswith("did:") and did_of(kid) != issuer:
        raise ConfigurationError(f"kid {kid} is not a key of {issuer}")
    now = int(clock.now().timestamp())
    payload: dict[str, Any] = {"sub": uri, "iat": now}
    if issuer is not None:
        payload["iss"] = issuer
    if lifetime is not None:
        payload["exp"] = now + int(lifetime.total_seconds())
    if ttl is not None:
        if ttl.total_seconds() <= 0:
            raise ConfigurationError("ttl must be positive (§5.1)")
        payload["ttl"] = int(ttl.total_seconds())
    payload["status_list"] = status_list.to_claim()
    header: dict[str, Any] = {"kid": kid, "typ": STATUS_LIST_TOKEN_TYP}
    if x5c:
        if isinstance(x5c, str) or not all(isinstance(c, str) and c for c in x5c):
            raise ConfigurationError("`x5c` must be a list of base64 DER certificates")
        header["x5c"] = list(x5c)
    return sign_compact(header, dumps_compact(payload).encode("utf-8"), signer)


# ------------------------------------------------------------------------------------------
# Referenced Tokens (§6)


@dataclass(frozen=True, slots=True)
class StatusListReference:
    """``status.status_list`` of a Referenced Token (§6.2)."""

    idx: int
    uri: str


def parse_status_reference(claims: Mapping[str, Any]) -> StatusListReference:
    """The ``status.status_list`` reference of a Referenced Token's claims (§6.2, §8.3
    step 1).

    ``InvalidError(invalid_property)`` when ``status`` or ``status_list`` is malformed
    (``idx`` not a non-negative integer, ``uri`` not a URI);
    ``IndeterminateError(status_unavailable)`` when ``status`` names only other status
    mechanisms, which ancre cannot check."""
    status = claims.get("status")
    if not isinstance(status, dict) or not status:
        raise InvalidError(Code.INVALID_PROPERTY, "`status` must be a non-empty JSON object")
    if "status_list" not in status:
        raise IndeterminateError(
            Code.STATUS_UNCHECKED,
            f"unsupported status mechanism(s) {sorted(status)[:5]}: ancre checks status_list",
        )
    ref = status["status_list"]
    if not isinstance(ref, dict):
        raise InvalidError(Code.INVALID_PROPERTY, "`status.status_list` must be a JSON object")
    idx, uri = ref.get("idx"), ref.get("uri")
    if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < 2**63:
        raise InvalidError(
            Code.INVALID_PROPERTY, "`status.status_list.idx` must be a non-negative integer"
        )
    if not isinstance(uri, str) or not is_url(uri):
        raise InvalidError(Code.INVALID_PROPERTY, "`status.status_list.uri` must be a URI")
    return StatusListReference(idx=idx, uri=uri)


# ------------------------------------------------------------------------------------------
# Status List Token verification (§5.1, §8.3 steps 3-4)


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """A verified Status List Token; ``status_list`` is still encoded (decode it with
    :meth:`decode`, once per list version)."""

    uri: str
    #: the entity whose key signed the token (the ``iss`` claim, the ``kid``'s DID, or the
    #: Referenced Token's issuer the key was resolved for).
    issuer: str
    issued_at: datetime
    expires_at: datetime | None
    ttl: timedelta | None
    bits: int
    lst: str
    claim: Mapping[str, Any]

    def decode(self, *, max_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> DecodedStatusList:
        return decode_status_list(self.claim, max_bytes=max_bytes)


def _controller(
    header: Mapping[str, Any], payload: Mapping[str, Any], issuer: str, allowed: Collection[str]
) -> str:
    """Who must have signed: ``iss`` if present, else the DID of a DID-URL ``kid``, else the
    Referenced Token's issuer — and it must be one of ``allowed``."""
    iss = payload.get("iss")
    if iss is not None and (not isinstance(iss, str) or iss not in allowed):
        raise InvalidError(
            Code.STATUS_LIST_ISSUER_MISMATCH,
            f"the status list token was issued by {iss!r:.100}, not by {issuer}",
        )
    kid = header.get("kid")
    if isinstance(kid, str) and kid.startswith("did:"):
        signer = did_of(kid)
        if signer not in allowed or (iss is not None and signer != iss):
            raise InvalidError(
                Code.STATUS_LIST_ISSUER_MISMATCH,
                f"the status list token is signed by {signer}, not by {iss or issuer}",
            )
        return signer
    return iss if iss is not None else issuer


def verify_status_list_token(
    token: str | bytes,
    *,
    uri: str,
    issuer: str,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    also_trusted: Collection[str] = (),
) -> StatusListToken:
    """Verify a ``statuslist+jwt`` for the list at ``uri`` of a token issued by ``issuer``.

    Checks (§5.1, §8.3): compact JWS with an allowed asymmetric ``alg`` (never ``none`` or a
    MAC), ``typ`` ``statuslist+jwt``, signed by ``issuer`` (or one of ``also_trusted``:
    a separate Status Issuer the verifier accepts) with a key resolved through
    ``resolver``, ``sub`` equal to ``uri``, ``iat`` present, ``exp``/``nbf`` respected
    with the policy's skew, ``ttl`` a positive number, ``status_list`` well-formed (not
    yet inflated).

    Raises ``InvalidError(status_list_issuer_mismatch)`` for a token of another issuer,
    ``InvalidError(status_list_invalid)`` for a token that is not a conforming Status List
    Token, and the usual parse/key/signature/time errors otherwise."""
    allowed = {issuer, *also_trusted}
    parsed, payload = parse_jws(token, policy)
    typ = media_type(parsed.header.get("typ"))
    if typ != STATUS_LIST_TOKEN_TYP:
        raise InvalidError(
            Code.UNSUPPORTED_TYP, f"`typ` {parsed.header.get('typ')!r} is not statuslist+jwt"
        )
    controller = _controller(parsed.header, payload, issuer, allowed)
    key = resolve_key(parsed.header, controller, resolver)
    parsed.verify_with(key)
    sub = payload.get("sub")
    if sub != uri:
        raise _invalid(f"the status list token's `sub` {sub!r:.100} is not {uri}")
    iat = numeric_date(payload, "iat")
    if iat is None:
        raise _invalid("the status list token has no `iat`")
    if type(key) is RevokedKey:  # as the engine's time step does for credentials
        check_not_revoked(key, iat, "status list token")
    exp = numeric_date(payload, "exp")
    check_window(
        now=clock.now(),
        skew=policy.clock_skew,
        not_before=[("iat", iat), ("nbf", numeric_date(payload, "nbf"))],
        not_after=[("exp", exp)],
    )
    raw_ttl = payload.get("ttl")
    ttl = None
    if raw_ttl is not None:
        if (
            isinstance(raw_ttl, bool)
            or not isinstance(raw_ttl, int | float)
            or not math.isfinite(raw_ttl)
            or not 0 < raw_ttl < _MAX_NUMERIC_DATE
        ):
            raise _invalid("`ttl` must be a positive number of seconds")
        ttl = timedelta(seconds=raw_ttl)
    bits, lst, claim = _claim_parts(payload.get("status_list"))
    return StatusListToken(
        uri=uri,
        issuer=controller,
        issued_at=iat,
        expires_at=exp,
        ttl=ttl,
        bits=bits,
        lst=lst,
        claim=claim,
    )
