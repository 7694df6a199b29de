"""W3C Bitstring Status List v1.0 (W3C Recommendation, 15 May 2025).

A status list is a bitstring, GZIP-compressed (RFC 1952) and multibase-encoded as base64url
without padding (prefix ``u``), carried in the ``encodedList`` of a
``BitstringStatusListCredential``. A credential points into it with a
``BitstringStatusListEntry`` (``statusListIndex``, ``statusListCredential``,
``statusPurpose``, optionally ``statusSize``/``statusMessage``).

Section numbers below are the Recommendation's. The points where implementations go wrong:

* **Bit order** (§2.2, §7.1): index 0 is the *left-most* bit of the bitstring, i.e. the most
  significant bit of the first byte. An entry of ``statusSize`` bits starts at bit
  ``statusListIndex × statusSize`` and is read most significant bit first. (The IETF Token
  Status List packs bits the other way round: see :mod:`ancre.trust.status.token`.)
* **Herd privacy** (§2.2, §3.2 step 9, §6.1): the uncompressed bitstring is at least 16 KB
  and holds at least 131,072 entries; the encoder pads up, the decoder refuses shorter lists.
* **Decompression is bounded**: a few kilobytes of GZIP can inflate to gigabytes (a "zip
  bomb"), so inflation stops at a limit (16 MiB by default) with ``status_list_too_large``.

:class:`BitstringStatusList` is the issuer side (allocate random indexes, set and clear
statuses, build the unsigned status list credential); :func:`parse_entry`,
:func:`parse_status_list_credential` and :func:`decode_encoded_list` are the verifier side,
used by :class:`ancre.trust.status.checker.StatusListChecker`.
"""

from __future__ import annotations

import gzip
import re
import secrets
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.steps import iso
from ancre.trust.vcdm.model import VCDM2_CONTEXT, is_url, types_of

__all__ = [
    "DEFAULT_MAX_DECODED_BYTES",
    "ENTRY_TYPE",
    "LIST_CREDENTIAL_TYPE",
    "LIST_TYPE",
    "MAX_STATUS_SIZE",
    "MIN_ENTRIES",
    "PURPOSES",
    "Bitstring",
    "BitstringStatusList",
    "BitstringStatusListEntry",
    "StatusListCredentialData",
    "decode_encoded_list",
    "encode_bitstring",
    "parse_entry",
    "parse_status_list_credential",
]

#: §3.2 step 2: "minimumNumberOfEntries be 131,072 unless a different lower bound is
#: established by a specific ecosystem specification" (= 16 KB of 1-bit entries).
MIN_ENTRIES: Final = 131_072
#: How far a decoder inflates before giving up (128 Mi one-bit entries).
DEFAULT_MAX_DECODED_BYTES: Final = 16 * 1024 * 1024
#: §2.1 puts no upper bound on ``statusSize``, but ``statusMessage`` needs 2**statusSize
#: entries, so anything past 8 bits (256 messages) is not a real list; ancre supports 1..8.
MAX_STATUS_SIZE: Final = 8
ENTRY_TYPE: Final = "BitstringStatusListEntry"
LIST_TYPE: Final = "BitstringStatusList"
LIST_CREDENTIAL_TYPE: Final = "BitstringStatusListCredential"
#: §2.1 / §2.2: the purposes whose meaning the Recommendation fixes. Others are allowed
#: ("the value of the string is arbitrary") but ancre cannot interpret a set status for them.
PURPOSES: Final = frozenset({"refresh", "revocation", "suspension", "message"})

# §2.1: "an arbitrary size integer greater than or equal to 0, expressed as a string in base
# 10". Canonical decimal only (no sign, no leading zeros: one index, one spelling) and at
# most 20 digits, far beyond any list a decoder accepts.
_INDEX_RE: Final = re.compile(r"0|[1-9][0-9]{0,19}")
# §2.1 statusMessage.status: "a string representing the hexadecimal value of the status
# prefixed with 0x".
_HEX_STATUS_RE: Final = re.compile(r"0x[0-9a-fA-F]{1,2}")
_MAX_PURPOSE_LENGTH: Final = 256
_MAX_MESSAGE_LENGTH: Final = 4096


def _invalid(message: str) -> InvalidError:
    return InvalidError(Code.STATUS_LIST_INVALID, message)


def _entry_error(message: str) -> InvalidError:
    # The entry is part of the credential: a malformed one is a data-model violation of the
    # credential itself (VCDM 2.0 §4.10 defers its shape to this specification).
    return InvalidError(Code.INVALID_PROPERTY, f"`credentialStatus`: {message}")


# ------------------------------------------------------------------------------------------
# encodedList codec


def encode_bitstring(bitstring: bytes) -> str:
    """§3.3 step 3: GZIP the bitstring, base64url it without padding, multibase prefix ``u``.

    Deterministic (GZIP ``mtime`` 0, level 9) so that republishing unchanged statuses gives
    a byte-identical ``encodedList``. The caller is responsible for the minimum length
    (:class:`BitstringStatusList` pads up)."""
    return "u" + b64url_encode(gzip.compress(bytes(bitstring), compresslevel=9, mtime=0))


def decode_encoded_list(
    encoded: Any,
    *,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    min_bytes: int = MIN_ENTRIES // 8,
) -> bytes:
    """§3.4 Bitstring Expansion: multibase-decode, then GUNZIP with a bound on the output.

    Raises ``InvalidError``: ``status_list_invalid`` for anything that is not a multibase
    base64url GZIP stream (other multibase prefixes, non-canonical base64url, corrupt,
    truncated or multi-member GZIP) or that inflates to fewer than ``min_bytes``;
    ``status_list_too_large`` as soon as the output would pass ``max_bytes`` (the
    decompressor is never asked for more than ``max_bytes + 1`` bytes, so a GZIP bomb costs
    at most that much memory)."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        # §2.2: "Multibase-encoded base64url (with no padding)": the prefix must be `u`.
        raise _invalid("`encodedList` must be a multibase base64url string starting with 'u'")
    try:
        compressed = b64url_decode(encoded[1:], what="`encodedList`")
    except MalformedError as exc:
        raise _invalid(exc.message) from None
    return _gunzip(compressed, max_bytes=max_bytes, min_bytes=min_bytes)


def _gunzip(compressed: bytes, *, max_bytes: int, min_bytes: int) -> bytes:
    # wbits 16+15: GZIP framing only (RFC 1952 header and CRC-32 checked); a zlib or raw
    # DEFLATE stream is refused, as the Recommendation names GZIP.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as exc:
        raise _invalid(f"`encodedList` is not valid GZIP: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise InvalidError(
            Code.STATUS_LIST_TOO_LARGE,
            f"the status list inflates past {max_bytes} bytes (zip bomb guard)",
        )
    if not inflater.eof:
        raise _invalid("`encodedList` is a truncated GZIP stream")
    if inflater.unused_data:
        # A second GZIP member would be concatenated by some decoders and ignored by others.
        raise _invalid("`encodedList` has data after the GZIP stream")
    if len(out) < min_bytes:
        raise _invalid(
            f"the status list is {len(out)} bytes; at least {min_bytes} bytes "
            f"({min_bytes * 8} entries) are required for herd privacy"
        )
    return out


class Bitstring:
    """A decoded, read-only bitstring with O(1) lookups, most significant bit first."""

    __slots__ = ("_data", "nbits")

    def __init__(self, data: bytes) -> None:
        # One zero byte of padding: a 2-byte window read never needs a bounds check.
        self._data = bytes(data) + b"\0"
        self.nbits = len(data) * 8

    @property
    def nbytes(self) -> int:
        return len(self._data) - 1

    def entries(self, status_size: int = 1) -> int:
        """How many entries of ``status_size`` bits the bitstring holds."""
        return self.nbits // status_size

    def get(self, index: int, status_size: int = 1) -> int:
        """The ``status_size``-bit value of entry ``index`` (§3.2 step 10).

        Raises ``InvalidError(status_index_out_of_range)`` when the entry does not fit in the
        bitstring (§3.2 step 10: a RANGE_ERROR)."""
        start = index * status_size
        if index < 0 or start + status_size > self.nbits:
            raise InvalidError(
                Code.STATUS_INDEX_OUT_OF_RANGE,
                f"status index {index} is outside a list of {self.nbits // status_size} entries",
            )
        data = self._data
        if status_size == 1:
            return (data[start >> 3] >> (7 - (start & 7))) & 1
        byte = start >> 3
        # statusSize <= 8, so an entry spans at most two bytes.
        window = (data[byte] << 8) | data[byte + 1]
        return (window >> (16 - (start & 7) - status_size)) & ((1 << status_size) - 1)

    def to_bytes(self) -> bytes:
        return self._data[:-1]


# ------------------------------------------------------------------------------------------
# BitstringStatusListEntry (§2.1)


@dataclass(frozen=True, slots=True)
class BitstringStatusListEntry:
    """A parsed ``credentialStatus`` entry of type ``BitstringStatusListEntry``."""

    purpose: str
    index: int
    list_credential: str
    size: int = 1
    #: ``messages[value]`` is the message for status ``value``; None when the entry has no
    #: ``statusMessage`` (then §2.1 says 1 means "set" and 0 "unset").
    messages: tuple[str, ...] | None = None
    reference: tuple[str, ...] = ()
    id: str | None = None

    def message(self, value: int) -> str:
        """The message for a status value (§2.1 statusMessage, "set"/"unset" by default)."""
        if self.messages is not None:
            return self.messages[value]
        return "set" if value else "unset"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out.update(
            {
                "type": ENTRY_TYPE,
                "statusPurpose": self.purpose,
                "statusListIndex": str(self.index),
                "statusListCredential": self.list_credential,
            }
        )
        if self.size != 1:
            out["statusSize"] = self.size
        if self.messages is not None:
            out["statusMessage"] = [
                {"status": f"0x{value:x}", "message": text}
                for value, text in enumerate(self.messages)
            ]
        if self.reference:
            out["statusReference"] = (
                self.reference[0] if len(self.reference) == 1 else list(self.reference)
            )
        return out


def parse_entry(entry: Any) -> BitstringStatusListEntry:
    """Check a ``credentialStatus`` entry against §2.1 and return it typed.

    Raises ``InvalidError(invalid_property)`` for a malformed entry: ``type`` not
    ``BitstringStatusListEntry``, ``statusListIndex`` not a canonical base-10 string,
    ``statusListCredential`` not a URL (or equal to the entry ``id``), ``statusSize`` not a
    positive integer, ``statusMessage`` missing for ``statusSize > 1`` or without exactly one
    message per possible value, ``statusReference`` not URL(s). A ``statusSize`` over
    :data:`MAX_STATUS_SIZE` is ``IndeterminateError(status_unavailable)``: legal, but ancre
    cannot check it."""
    if not isinstance(entry, dict):
        raise _entry_error("each entry must be an object")
    if ENTRY_TYPE not in types_of(entry):
        raise _entry_error(f"`type` must be {ENTRY_TYPE}")
    purpose = entry.get("statusPurpose")
    if not isinstance(purpose, str) or not purpose or len(purpose) > _MAX_PURPOSE_LENGTH:
        raise _entry_error("`statusPurpose` must be a non-empty string")
    raw_index = entry.get("statusListIndex")
    if not isinstance(raw_index, str) or not _INDEX_RE.fullmatch(raw_index):
        raise _entry_error(
            f"`statusListIndex` must be a base-10 integer in a string, not {raw_index!r:.40}"
        )
    url = entry.get("statusListCredential")
    if not isinstance(url, str) or not is_url(url):
        raise _entry_error("`statusListCredential` must be a URL")
    entry_id = entry.get("id")
    if entry_id is not None and (not is_url(entry_id) or entry_id == url):
        # §2.1: the entry `id` "MUST NOT be the URL for the status list".
        raise _entry_error("`id` must be a URL other than the status list's")
    size = _status_size(entry.get("statusSize", 1))
    messages = _status_messages(entry.get("statusMessage"), size)
    return BitstringStatusListEntry(
        purpose=purpose,
        index=int(raw_index),
        list_credential=url,
        size=size,
        messages=messages,
        reference=_urls(entry.get("statusReference"), "statusReference"),
        id=entry_id,
    )


def _status_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _entry_error("`statusSize` must be an integer greater than zero")
    if value > MAX_STATUS_SIZE:
        raise IndeterminateError(
            Code.STATUS_UNAVAILABLE,
            f"`statusSize` {value} is not supported (ancre reads entries of 1 to "
            f"{MAX_STATUS_SIZE} bits)",
        )
    return value


def _status_messages(value: Any, size: int) -> tuple[str, ...] | None:
    if value is None:
        if size > 1:
            raise _entry_error("`statusMessage` is required when `statusSize` is over 1")
        return None
    count = 1 << size
    # §2.1: "the length of which MUST equal the number of possible status messages".
    if not isinstance(value, list) or len(value) != count:
        raise _entry_error(f"`statusMessage` must be an array of {count} objects")
    messages: list[str | None] = [None] * count
    for item in value:
        if not isinstance(item, dict):
            raise _entry_error("each `statusMessage` must be an object")
        status, text = item.get("status"), item.get("message")
        if not isinstance(status, str) or not _HEX_STATUS_RE.fullmatch(status):
            raise _entry_error("`statusMessage.status` must be a hexadecimal string like 0x1")
        if not isinstance(text, str) or len(text) > _MAX_MESSAGE_LENGTH:
            raise _entry_error("`statusMessage.message` must be a string")
        number = int(status, 16)
        if number >= count or messages[number] is not None:
            raise _entry_error(f"`statusMessage` must list each status 0x0..0x{count - 1:x} once")
        messages[number] = text
    return tuple(m for m in messages if m is not None)


def _urls(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items or not all(is_url(u) for u in items):
        raise _entry_error(f"`{name}` must be a URL or an array of URLs")
    return tuple(items)


# ------------------------------------------------------------------------------------------
# BitstringStatusListCredential (§2.2)


@dataclass(frozen=True, slots=True)
class StatusListCredentialData:
    """The status-list part of a (verified) ``BitstringStatusListCredential``: its
    ``credentialSubject`` with ``encodedList`` still encoded (decoding is the expensive step
    a cache wants to do once per list version)."""

    purposes: frozenset[str]
    encoded_list: str
    #: §2.2 ``ttl``: how long before a refresh SHOULD be attempted.
    ttl: timedelta | None
    credential_id: str | None
    subject_id: str | None

    def decode(
        self, *, max_bytes: int = DEFAULT_MAX_DECODED_BYTES, min_entries: int = MIN_ENTRIES
    ) -> Bitstring:
        return Bitstring(
            decode_encoded_list(self.encoded_list, max_bytes=max_bytes, min_bytes=min_entries // 8)
        )


def parse_status_list_credential(credential: Mapping[str, Any]) -> StatusListCredentialData:
    """Check the §2.2 shape of a status list credential (whose securing was already
    verified) and return its status-list data, ``encodedList`` not yet decoded.

    Raises ``InvalidError(status_list_invalid)``: ``type`` without
    ``BitstringStatusListCredential``, not exactly one subject, subject ``type`` not
    ``BitstringStatusList``, ``statusPurpose`` not one or more strings, no ``encodedList``
    string, ``ttl`` not a non-negative number."""
    if LIST_CREDENTIAL_TYPE not in types_of(credential):
        raise _invalid(f"the status list credential's `type` must include {LIST_CREDENTIAL_TYPE}")
    subject = credential.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    if not isinstance(subject, dict):
        raise _invalid("a status list credential has exactly one `credentialSubject` object")
    if LIST_TYPE not in types_of(subject):
        raise _invalid(f"the status list's `type` must be {LIST_TYPE}")
    raw = subject.get("statusPurpose")
    items = raw if isinstance(raw, list) else [raw]
    purposes = [p for p in items if isinstance(p, str) and p]
    if not purposes or len(purposes) != len(items):
        raise _invalid("`statusPurpose` must be one or more strings")
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise _invalid("the status list has no `encodedList` string")
    ttl = subject.get("ttl")
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 <= ttl < 2**53
    ):
        raise _invalid("`ttl` must be a number of milliseconds")
    credential_id = credential.get("id")
    subject_id = subject.get("id")
    return StatusListCredentialData(
        purposes=frozenset(purposes),
        encoded_list=encoded,
        ttl=None if ttl is None else timedelta(milliseconds=ttl),
        credential_id=credential_id if isinstance(credential_id, str) else None,
        subject_id=subject_id if isinstance(subject_id, str) else None,
    )


# ------------------------------------------------------------------------------------------
# Issuer side


class BitstringStatusList:
    """An issuer's status list: allocates indexes, records statuses, publishes.

    Thread-safe. ``length`` is a number of entries, padded up to :data:`MIN_ENTRIES` (§3.3
    step 1: "a minimum size of 16KB") and to whole bytes. ``purpose`` may name several
    purposes (§2.2 "one or more strings", Appendix A.4). With ``status_size > 1``,
    ``messages`` gives one message per possible value (§2.1 ``statusMessage``), written
    into every :meth:`entry`.

    Indexes are allocated at random (§2.1: implementations SHOULD assign indexes randomly so
    that the position says nothing about recency or group size). Persisting the list and
    its allocations is the caller's job (:meth:`to_bytes`, ``allocated`` on construction).
    """

    def __init__(
        self,
        *,
        length: int = MIN_ENTRIES,
        status_size: int = 1,
        purpose: str | Sequence[str] = "revocation",
        messages: Sequence[str] | None = None,
        bitstring: bytes | None = None,
        allocated: Iterable[int] = (),
    ) -> None:
        if isinstance(status_size, bool) or not 1 <= status_size <= MAX_STATUS_SIZE:
            raise ConfigurationError(f"status_size must be 1..{MAX_STATUS_SIZE}")
        purposes = (purpose,) if isinstance(purpose, str) else tuple(purpose)
        if not purposes or not all(isinstance(p, str) and p for p in purposes):
            raise ConfigurationError("purpose must be one or more non-empty strings")
        if messages is not None and len(messages) != 1 << status_size:
            raise ConfigurationError(f"messages must have {1 << status_size} entries")
        if status_size > 1 and messages is None:
            raise ConfigurationError("status_size > 1 needs one message per value (§2.1)")
        if length < 1:
            raise ConfigurationError("length must be positive")
        entries = max(length, MIN_ENTRIES)
        nbytes = (entries * status_size + 7) // 8
        if bitstring is not None:
            if len(bitstring) < nbytes:
                raise ConfigurationError(f"bitstring must have at least {nbytes} bytes")
            nbytes = len(bitstring)
        self._bits = bytearray(bitstring) if bitstring is not None else bytearray(nbytes)
        self.status_size = status_size
        self.length = nbytes * 8 // status_size
        self.purposes = purposes
        self.messages = tuple(messages) if messages is not None else None
        self._allocated = set(allocated)
        if any(not 0 <= i < self.length for i in self._allocated):
            raise ConfigurationError("an allocated index is outside the list")
        self._lock = threading.Lock()

    # -- indexes

    def allocate(self) -> int:
        """Reserve and return a random unused index; ``ConfigurationError`` when full."""
        with self._lock:
            free = self.length - len(self._allocated)
            if free <= 0:
                raise ConfigurationError("the status list is full")
            # Rejection sampling stays fast while the list has room; a nearly full list
            # falls back to a scan from a random start (still not sequential from 0).
            for _ in range(64):
                index = secrets.randbelow(self.length)
                if index not in self._allocated:
                    break
            else:
                start = secrets.randbelow(self.length)
                index = next(
                    i % self.length
                    for i in range(start, start + self.length)
                    if i % self.length not in self._allocated
                )
            self._allocated.add(index)
            return index

    @property
    def allocated(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._allocated)

    # -- statuses

    def _check(self, index: int, value: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.length:
            raise ConfigurationError(f"index {index!r} is outside the list (0..{self.length - 1})")
        if isinstance(value, bool) or not 0 <= value < 1 << self.status_size:
            raise ConfigurationError(f"a status of {self.status_size} bit(s) cannot be {value}")

    def set(self, index: int, value: int = 1) -> None:
        """Set entry ``index`` to ``value`` (1: revoked/suspended for 1-bit lists)."""
        self._check(index, value)
        size = self.status_size
        start = index * size
        shift = 16 - (start & 7) - size
        mask = ((1 << size) - 1) << shift
        byte = start >> 3
        with self._lock:
            bits = self._bits
            second = bits[byte + 1] if byte + 1 < len(bits) else 0
            window = (((bits[byte] << 8) | second) & ~mask) | (value << shift)
            bits[byte] = window >> 8
            if byte + 1 < len(bits):
                bits[byte + 1] = window & 0xFF

    def clear(self, index: int) -> None:
        """Reset entry ``index`` to 0 (e.g. lift a suspension)."""
        self.set(index, 0)

    def get(self, index: int) -> int:
        self._check(index, 0)
        size = self.status_size
        start = index * size
        byte = start >> 3
        with self._lock:
            bits = self._bits
            window = (bits[byte] << 8) | (bits[byte + 1] if byte + 1 < len(bits) else 0)
        return (window >> (16 - (start & 7) - size)) & ((1 << size) - 1)

    def to_bytes(self) -> bytes:
        """The uncompressed bitstring (for storage)."""
        with self._lock:
            return bytes(self._bits)

    # -- publication

    def encode(self) -> str:
        """The ``encodedList`` value (§3.3)."""
        return encode_bitstring(self.to_bytes())

    def entry(
        self,
        index: int,
        *,
        status_list_credential: str,
        purpose: str | None = None,
        reference: str | Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The ``credentialStatus`` entry (§2.1) for ``index`` in a credential to issue."""
        self._check(index, 0)
        chosen = purpose or self.purposes[0]
        if chosen not in self.purposes:
            raise ConfigurationError(f"this list is for {list(self.purposes)}, not {chosen!r}")
        refs = (reference,) if isinstance(reference, str) else tuple(reference or ())
        entry = BitstringStatusListEntry(
            purpose=chosen,
            index=index,
            list_credential=status_list_credential,
            size=self.status_size,
            messages=self.messages,
            reference=refs,
            id=f"{status_list_credential}#{index}",
        )
        return entry.to_json()

    def credential(
        self,
        *,
        id: str,
        issuer: str,
        valid_from: datetime,
        valid_until: datetime | None = None,
        ttl: timedelta | None = None,
    ) -> dict[str, Any]:
        """The unsigned ``BitstringStatusListCredential`` (§2.2) to secure and publish at
        ``id`` (which every entry's ``statusListCredential`` names)."""
        if not is_url(id) or not is_url(issuer):
            raise ConfigurationError("id and issuer must be URLs")
        subject: dict[str, Any] = {
            "id": f"{id}#list",
            "type": LIST_TYPE,
            "statusPurpose": self.purposes[0] if len(self.purposes) == 1 else list(self.purposes),
            "encodedList": self.encode(),
        }
        if ttl is not None:
            subject["ttl"] = int(ttl.total_seconds() * 1000)
        document: dict[str, Any] = {
            "@context": [VCDM2_CONTEXT],
            "id": id,
            "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
            "issuer": issuer,
            "validFrom": iso(valid_from.replace(microsecond=0)),
        }
        if valid_until is not None:
            document["validUntil"] = iso(valid_until.replace(microsecond=0))
        document["credentialSubject"] = subject
        return document
