"""What the wallet does with what an issuer returns: verify every credential before storing
any (a batch is stored whole or not at all), and keep deferred requests (OpenID4VCI §9) as
pending records — encrypted like every record, since they hold an access token — polled
later by ``ancre wallet pending --retry``.

A pending record (kind ``pend``) holds the issuer, the deferred credential endpoint, the
``transaction_id``, the access token, the identities the key proofs were made with, and
when it may next be polled (``not_before``: the issuer's ``interval`` honoured). A poll
answered with credentials stores them (after verification) and drops the record; 202 keeps
it with a new ``not_before``; ``credential_request_denied`` or ``invalid_transaction_id``
(rejected, expired, already delivered) drops it with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.errors import AncreError, Code, IndeterminateError, InvalidError
from ancre.trust.result import Status

from .credentials import (
    Checker,
    HeldCredential,
    check_binding,
    credential_state,
    store_credential,
)
from .http import Http
from .identities import Identity, list_identities
from .oid4vci import Deferred, credentials_of, json_or_none, transaction_of
from .store import WalletStore, new_record_id

__all__ = [
    "PendingRecord",
    "accept",
    "forget_identities",
    "list_pending",
    "refusal_text",
    "retry_pending",
    "save_pending",
]

KIND: Final = "pend"


def accept(
    store: WalletStore,
    checker: Checker,
    tokens: Sequence[str],
    holders: Sequence[Identity],
    now: datetime,
) -> list[HeldCredential]:
    """Verify every credential (and its binding to its holder), then store them all; the
    first that fails raises ``credential_refused`` and nothing is written."""
    if len(tokens) != len(holders):
        raise InvalidError(Code.ISSUER_REFUSED, "the issuer returned too many or too few")
    checked = []
    for index, (token, holder) in enumerate(zip(tokens, holders, strict=True)):
        result = checker.verify(token)
        if result.status is not Status.VALID:
            reasons = "; ".join(f"{e.code}: {e.message}" for e in result.errors) or "not valid"
            which = f"credential {index + 1} of {len(tokens)}: " if len(tokens) > 1 else ""
            kind = IndeterminateError if result.status is Status.INDETERMINATE else InvalidError
            raise kind(
                Code.CREDENTIAL_REFUSED,
                f"({credential_state(result)}): {which}{reasons}; nothing was stored",
            )
        check_binding(token, result, holder)
        checked.append((token, result, holder))
    return [store_credential(store, t, r, h, now) for t, r, h in checked]


def refusal_text(error: AncreError) -> str:
    """An error as shown: ``credential_refused (invalid): …`` for a refused credential."""
    if error.code == Code.CREDENTIAL_REFUSED and error.message.startswith("("):
        return f"{error.code} {error.message}"
    return str(error)


def forget_identities(store: WalletStore, identity_ids: Sequence[str]) -> None:
    """Remove identities made for a batch that brought nothing (no credential names them)."""
    if not identity_ids:
        return
    with store.writing():
        for identity_id in identity_ids:
            try:
                store.delete(identity_id)
            except AncreError:
                continue


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A deferred request waiting at its issuer (never shown with its access token)."""

    id: str
    credential_issuer: str
    configuration_id: str
    format: str
    endpoint: str
    transaction_id: str
    access_token: str
    interval: int
    not_before: str
    created_at: str
    identities: tuple[str, ...]
    #: Identities made for this batch: forgotten with the record if nothing arrives.
    batch_identities: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "credential_issuer": self.credential_issuer,
            "configuration_id": self.configuration_id,
            "format": self.format,
            "count": len(self.identities),
            "identities": list(self.identities),
            "interval": self.interval,
            "not_before": self.not_before,
            "created_at": self.created_at,
        }

    def record(self) -> dict[str, Any]:
        return {
            **self.to_json(),
            "endpoint": self.endpoint,
            "transaction_id": self.transaction_id,
            "access_token": self.access_token,
            "batch_identities": list(self.batch_identities),
        }

    @classmethod
    def from_record(cls, record_id: str, data: dict[str, Any]) -> PendingRecord:
        try:
            return cls(
                id=record_id,
                credential_issuer=str(data["credential_issuer"]),
                configuration_id=str(data["configuration_id"]),
                format=str(data["format"]),
                endpoint=str(data["endpoint"]),
                transaction_id=str(data["transaction_id"]),
                access_token=str(data["access_token"]),
                interval=int(data["interval"]),
                not_before=str(data["not_before"]),
                created_at=str(data["created_at"]),
                identities=tuple(str(i) for i in data["identities"]),
                batch_identities=tuple(str(i) for i in data.get("batch_identities", [])),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidError(
                Code.RECORD_TAMPERED, f"record {record_id} is not a pending request"
            ) from None


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _not_before(now: datetime, interval: int) -> str:
    """`interval` seconds from `now`, rounded up to the second (never early)."""
    moment = now + timedelta(seconds=interval)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return _stamp(moment)


def save_pending(
    store: WalletStore,
    deferred: Deferred,
    holders: Sequence[Identity],
    batch_identities: Sequence[str],
    now: datetime,
) -> PendingRecord:
    """Keep a deferred request (encrypted) for ``pending --retry``."""
    pending = PendingRecord(
        id=new_record_id(KIND),
        credential_issuer=deferred.credential_issuer,
        configuration_id=deferred.configuration_id,
        format=deferred.format,
        endpoint=deferred.endpoint,
        transaction_id=deferred.transaction_id,
        access_token=deferred.access_token,
        interval=deferred.interval,
        not_before=_not_before(now, deferred.interval),
        created_at=_stamp(now),
        identities=tuple(h.id for h in holders),
        batch_identities=tuple(batch_identities),
    )
    with store.writing():
        store.put(pending.id, pending.record())
    return pending


def list_pending(store: WalletStore) -> tuple[list[PendingRecord], list[str]]:
    """The pending requests (oldest first) and the ids of damaged pending records."""
    found: list[PendingRecord] = []
    damaged: list[str] = []
    for entry in store.entries(KIND):
        if entry.data is None:
            damaged.append(entry.id)
            continue
        try:
            found.append(PendingRecord.from_record(entry.id, entry.data))
        except InvalidError:
            damaged.append(entry.id)
    found.sort(key=lambda p: (p.created_at, p.id))
    return found, damaged


def _drop(store: WalletStore, pending: PendingRecord, *, forget: bool) -> None:
    with store.writing():
        store.delete(pending.id)
    if forget:
        forget_identities(store, pending.batch_identities)


def _poll_one(
    store: WalletStore, pending: PendingRecord, http: Http, checker: Checker, clock: Clock
) -> dict[str, Any]:
    """One poll of the deferred credential endpoint (§9.1) and what became of the record."""
    outcome: dict[str, Any] = {**pending.to_json()}
    answer = http.post(
        pending.endpoint,
        json_body={"transaction_id": pending.transaction_id},
        headers={"Authorization": f"Bearer {pending.access_token}"},
    )
    body = json_or_none(answer.body)
    now = clock.now()
    if answer.status == 202:
        try:
            extra = body if isinstance(body, dict) else {}
            _, interval = transaction_of({**extra, "transaction_id": pending.transaction_id})
        except AncreError:
            interval = pending.interval
        kept = replace(pending, interval=interval, not_before=_not_before(now, interval))
        with store.writing():
            store.put(kept.id, kept.record())
        return {**outcome, "outcome": "pending", "not_before": kept.not_before}
    if answer.status != 200:
        error = body.get("error") if isinstance(body, dict) else None
        if error in ("credential_request_denied", "invalid_transaction_id"):
            _drop(store, pending, forget=True)
            return {**outcome, "outcome": "dropped", "reason": str(error)}
        detail = str(error)[:80] if isinstance(error, str) else f"HTTP {answer.status}"
        return {**outcome, "outcome": "error", "reason": f"the issuer answered {detail}"}
    by_id = {i.id: i for i in list_identities(store)}
    holders = [by_id.get(i) for i in pending.identities]
    try:
        tokens = credentials_of(body, len(pending.identities))
        if any(h is None for h in holders):
            raise InvalidError(
                Code.CREDENTIAL_REFUSED, "an identity the credentials were asked for is gone"
            )
        held = accept(store, checker, tokens, [h for h in holders if h is not None], now)
    except AncreError as error:
        # Delivered once: the transaction is spent at the issuer, nothing more will come.
        _drop(store, pending, forget=True)
        return {**outcome, "outcome": "refused", "reason": refusal_text(error)}
    _drop(store, pending, forget=False)
    return {**outcome, "outcome": "stored", "credentials": [h.to_json() for h in held]}


def retry_pending(
    store: WalletStore,
    http: Http,
    checker: Checker,
    clock: Clock,
    *,
    wait: float = 0.0,
    sleep: Any = None,
) -> list[dict[str, Any]]:
    """Poll every pending request that is due (its ``not_before`` passed); with `wait`
    seconds, keep polling — sleeping until the next one is due — until none is left or the
    time is up. Returns what became of each request (its last outcome)."""
    import time

    sleep = sleep or time.sleep
    deadline = time.monotonic() + wait
    outcomes: dict[str, dict[str, Any]] = {}
    while True:
        pending, _ = list_pending(store)
        now = clock.now()
        due = [p for p in pending if datetime.fromisoformat(p.not_before) <= now]
        for item in due:
            try:
                outcomes[item.id] = _poll_one(store, item, http, checker, clock)
            except AncreError as error:  # network: kept, tried again next time
                outcomes[item.id] = {**item.to_json(), "outcome": "error", "reason": str(error)}
        left, _ = list_pending(store)
        for item in left:
            outcomes.setdefault(item.id, {**item.to_json(), "outcome": "not_due"})
        if not left:
            break
        next_due = min(datetime.fromisoformat(p.not_before) for p in left)
        pause = max((next_due - clock.now()).total_seconds(), 0.0) + 0.05
        if time.monotonic() + pause > deadline:
            break
        sleep(pause)
    return list(outcomes.values())
