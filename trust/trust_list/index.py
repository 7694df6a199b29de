"""A verified trust list, indexed to answer "was this issuer trusted for this credential type
at time T" with a dict probe and a binary search over the entry's dated history.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ancre.trust.errors import Code, InvalidError
from ancre.trust.trust_list.model import (
    ClaimConstraint,
    EntryStatus,
    TrustListDocument,
    _stamp,
)

__all__ = ["TrustList"]


@dataclass(frozen=True, slots=True)
class _Timeline:
    times: tuple[float, ...]
    statuses: tuple[EntryStatus, ...]
    constraints: tuple[ClaimConstraint, ...]

    def at(self, when: float) -> EntryStatus | None:
        i = bisect.bisect_right(self.times, when) - 1
        return self.statuses[i] if i >= 0 else None


class TrustList:
    """A verified trust list, indexed for fast `is_trusted` lookups (a dict probe and a
    binary search over the entry's history)."""

    def __init__(self, document: TrustListDocument) -> None:
        self.document = document
        index: dict[tuple[str, str], _Timeline] = {}
        for entity in document.entities:
            for service in entity.services:
                history = sorted(service.history, key=lambda p: p.since)
                timeline = _Timeline(
                    tuple(p.since.timestamp() for p in history),
                    tuple(p.status for p in history),
                    service.constraints,
                )
                for ident in service.digital_ids or (entity.id,):
                    index[(ident, service.service_type)] = timeline
        self._index = index

    @property
    def sequence(self) -> int:
        return self.document.sequence

    def status_at(self, issuer: str, credential_type: str, at: datetime) -> EntryStatus | None:
        """The issuer's status for `credential_type` at `at`; None if it was not listed."""
        timeline = self._index.get((issuer, credential_type))
        return None if timeline is None else timeline.at(at.timestamp())

    def is_trusted(self, issuer: str, credential_type: str, at: datetime) -> bool:
        timeline = self._index.get((issuer, credential_type))
        return timeline is not None and timeline.at(at.timestamp()) is EntryStatus.ACTIVE

    def check(
        self,
        issuer: str,
        credential_types: Iterable[str],
        *,
        issued_at: datetime,
        now: datetime,
        credential: Mapping[str, Any] | None = None,
    ) -> str:
        """Raise `issuer_not_trusted` unless, for every type, the issuer was active at
        `issued_at`, is not withdrawn at `now`, and the credential meets the constraints."""
        checked = []
        for ctype in credential_types:
            timeline = self._index.get((issuer, ctype))
            then = timeline.at(issued_at.timestamp()) if timeline else None
            if timeline is None:
                raise InvalidError(Code.ISSUER_NOT_TRUSTED, f"{issuer} is not listed for {ctype}")
            if then is None:
                # Listed now but not yet then: say both, or the verdict reads as a bad list.
                first = datetime.fromtimestamp(timeline.times[0], UTC)
                raise InvalidError(
                    Code.ISSUER_NOT_TRUSTED,
                    f"{issuer} is not listed for {ctype} at issuance time {_stamp(issued_at)} "
                    f"(listed from {_stamp(first)})",
                )
            if then is not EntryStatus.ACTIVE:
                raise InvalidError(
                    Code.ISSUER_NOT_TRUSTED,
                    f"{issuer} was {then} for {ctype} at {_stamp(issued_at)}",
                )
            if timeline.at(now.timestamp()) is EntryStatus.WITHDRAWN:
                raise InvalidError(
                    Code.ISSUER_NOT_TRUSTED, f"{issuer} has since been withdrawn for {ctype}"
                )
            for constraint in timeline.constraints:
                if credential is None or not constraint.satisfied_by(credential):
                    raise InvalidError(
                        Code.ISSUER_NOT_TRUSTED,
                        f"{issuer} may issue {ctype} only with {constraint.claim} in "
                        f"{list(constraint.allowed)}",
                    )
            checked.append(ctype)
        if not checked:
            raise InvalidError(Code.ISSUER_NOT_TRUSTED, "the credential names no type to check")
        return f"{issuer} is trusted for {', '.join(checked)} (trust list #{self.sequence})"
