"""Offers in bulk from a CSV file: one credential offer per row, all rows checked first.

The header row names the claims (``ancre:scheme,ancre:scope,…``); a cell holding a JSON
object or array (starting with ``{`` or ``[``) is parsed strictly, any other cell is a
string, an empty cell leaves the claim out. An optional ``key`` column names each row; without
it a row's key is the SHA-256 of its claims. Every row goes through the checks an offer runs
(claims, template requirement, a dry run of issuance) before any offer is created: with one
bad row nothing is created, unless the caller skips invalid rows explicitly.

Re-running the same file creates nothing new: a row key maps to its offer
(``csv_offer_rows``). While that offer is live, the same offer is returned (its
``tx_code`` cannot be shown again: only a hash of it is kept); once its credential is issued
the row reports it; an offer that expired unredeemed is replaced by a fresh one.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from ancre.issuer.db import CsvOfferRow, OfferRow
from ancre.issuer.service import Issuer, IssuerError
from ancre.issuer.templates import Authorization, template
from ancre.storage.audit import canonical
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code

__all__ = [
    "MAX_CSV_BYTES",
    "MAX_ROWS",
    "CsvOfferRow",
    "CsvRow",
    "RowError",
    "RowOffer",
    "check_rows",
    "create_offers",
    "parse_rows",
]

MAX_CSV_BYTES: Final = 10 * 1024 * 1024
MAX_ROWS: Final = 10_000
_MAX_CELL: Final = 64 * 1024
_KEY_COLUMN: Final = "key"


@dataclass(frozen=True, slots=True)
class CsvRow:
    """A parsed row: its line number in the file, its key and its claims."""

    line: int
    key: str
    claims: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row (by line number; 1 is the header) cannot be offered."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class RowOffer:
    """What a row produced: `state` is ``created``, ``existing`` (the same live offer),
    ``renewed`` (the previous one expired unredeemed) or ``issued`` (nothing to offer)."""

    line: int
    key: str
    state: str
    offer_id: str
    offer_uri: str | None
    tx_code: str | None
    expires_at: datetime | None
    credential_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "key": self.key,
            "state": self.state,
            "offer_id": self.offer_id,
            "offer_uri": self.offer_uri,
            "tx_code": self.tx_code,
            "expires_at": None
            if self.expires_at is None
            else self.expires_at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "credential_id": self.credential_id,
        }


def _cell(value: str) -> Any:
    if value[:1] in ("{", "["):
        return loads_strict(value, what="cell")
    return value


def parse_rows(data: bytes) -> tuple[list[CsvRow], list[RowError]]:
    """The rows of a CSV file and the errors of those that cannot be read (a row with the
    wrong number of cells, a JSON cell that is not strict JSON, a repeated key). A header
    that cannot be read is one error on line 1 and no rows."""
    if len(data) > MAX_CSV_BYTES:
        return [], [RowError(1, f"the file is over {MAX_CSV_BYTES} bytes")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return [], [RowError(1, f"the file is not UTF-8 ({error.reason})")]
    csv.field_size_limit(_MAX_CELL)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(1, "the file is empty: a header row of claim names is needed")]
    except csv.Error as error:
        return [], [RowError(1, f"the header cannot be read: {error}")]
    names = [h.strip() for h in header]
    if not names or any(not n for n in names) or len(set(names)) != len(names):
        return [], [RowError(1, "the header must name each column once, none empty")]
    if names == [_KEY_COLUMN]:
        return [], [RowError(1, "the header names no claim")]
    rows: list[CsvRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.append(RowError(reader.line_num, f"unreadable: {error}"))
            break  # the reader cannot resynchronize after a broken quote
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(rows) + len(errors) >= MAX_ROWS:
            errors.append(RowError(line, f"more than {MAX_ROWS} rows: split the file"))
            break
        if len(cells) != len(names):
            errors.append(RowError(line, f"{len(cells)} cells, the header has {len(names)}"))
            continue
        claims: dict[str, Any] = {}
        key = ""
        try:
            for name, value in zip(names, cells, strict=True):
                if name == _KEY_COLUMN:
                    key = value.strip()
                elif value != "":
                    claims[name] = _cell(value)
        except AncreError as error:
            errors.append(RowError(line, f"a JSON cell is not strict JSON: {error.message}"))
            continue
        key = key or hashlib.sha256(canonical(claims).encode()).hexdigest()
        if key in seen:
            errors.append(RowError(line, f"the row key {key[:64]!r} repeats line {seen[key]}"))
            continue
        seen[key] = line
        rows.append(CsvRow(line, key, claims))
    return rows, errors


def _row_key(configuration_id: str, key: str) -> str:
    return hashlib.sha256(f"{configuration_id}\x00{key}".encode()).hexdigest()


def check_rows(
    issuer: Issuer, configuration_id: str, rows: Iterable[CsvRow], authorization: Authorization
) -> list[RowError]:
    """Every check an offer of each row would run, creating nothing; also a row key that
    was already used for other claims, and (for an ``AccreditedIssuer``) the accreditation
    for the type, reported once on line 1."""
    chosen = template(configuration_id)
    now = issuer.clock.now().replace(microsecond=0)
    accreditation = getattr(issuer, "accreditation", None)  # an AccreditedIssuer's
    if accreditation is not None:
        try:
            accreditation.require(chosen.credential_type)
        except IssuerError as error:
            return [RowError(1, f"{error.code}: {error.message}")]
    errors = []
    with issuer._read() as session:
        for row in rows:
            try:
                applied = issuer.template_for(configuration_id, row.claims)
                applied.requirement.check(authorization)
                checked = applied.check_claims(row.claims)
                issuer._dry_run(applied, checked, authorization, now)
            except AncreError as error:
                errors.append(RowError(row.line, f"{error.code}: {error.message}"))
                continue
            known = session.get(CsvOfferRow, _row_key(configuration_id, row.key))
            if known is not None and known.claims_sha256 != _claims_hash(row.claims):
                errors.append(
                    RowError(
                        row.line,
                        f"the row key {row.key[:64]!r} was offered before with other claims",
                    )
                )
    return errors


def _claims_hash(claims: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(claims).encode()).hexdigest()


def create_offers(
    issuer: Issuer,
    configuration_id: str,
    rows: list[CsvRow],
    *,
    authorization: Authorization,
    tx_code: bool = False,
    approval: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[RowOffer]:
    """One offer per row (rows already checked by :func:`check_rows`), idempotent by row
    key; with `approval`, each wallet request waits for an operator (deferred issuance).
    `progress` is called after each row with the number done."""
    results = []
    for done, row in enumerate(rows, 1):
        results.append(_offer_row(issuer, configuration_id, row, authorization, tx_code, approval))
        if progress is not None:
            progress(done)
    return results


def _offer_row(
    issuer: Issuer,
    configuration_id: str,
    row: CsvRow,
    authorization: Authorization,
    tx_code: bool,
    approval: bool,
) -> RowOffer:
    key = _row_key(configuration_id, row.key)
    now = issuer.clock.now()
    with issuer._read() as session:
        known = session.get(CsvOfferRow, key)
        offer = session.get(OfferRow, known.offer_id) if known is not None else None
    state = "created"
    if known is not None and offer is not None:
        if offer.credential_id is not None:
            return RowOffer(
                row.line, row.key, "issued", offer.id, None, None, None, offer.credential_id
            )
        if offer.expires_at > now:
            reference = f"{issuer.public_url}/offers/{offer.id}"
            uri = "openid-credential-offer://?" + urlencode({"credential_offer_uri": reference})
            return RowOffer(row.line, row.key, "existing", offer.id, uri, None, offer.expires_at)
        state = "renewed"
    created = issuer.create_offer(
        configuration_id,
        row.claims,
        authorization=authorization,
        tx_code=tx_code,
        approval=approval,
    )
    with issuer._transaction() as session:
        mapped = session.get(CsvOfferRow, key, with_for_update=True)
        if mapped is None:
            session.add(
                CsvOfferRow(
                    row_key=key,
                    claims_sha256=_claims_hash(row.claims),
                    offer_id=created.id,
                    created_at=now,
                )
            )
        elif state == "renewed" and mapped.offer_id == (offer.id if offer else None):
            mapped.offer_id = created.id
        else:
            # Another run mapped this row in between: its offer stands, ours is abandoned
            # (it expires unredeemed and the purge forgets its claims).
            raise IssuerError(
                Code.CONFLICT, f"line {row.line}: offered concurrently by another run", 409
            )
    return RowOffer(
        row.line,
        row.key,
        state,
        created.id,
        issuer.offer_uri(created),
        created.tx_code,
        created.expires_at,
    )
