"""Delegation of a Mandate by a director (issue 14): "the organization's directors approve a
delegation (a second login by a director approving a pending request is enough here)".

A person logs in for a ``Mandate``; the register confirms their SIRET but does not list them
among the organization's directors. Instead of refusing, the login bridge
(:mod:`ancre.issuer.bridge`) records a **delegation request** here (table ``delegations``):
the organization (SIREN and name, from the register), the requester's subject key and
displayed name, the requested role, an expiry (7 days by default) and a single-use,
unguessable **approval code**, kept hashed. The requester's page shows the approval link to
pass on to a director.

A director opens the link and logs in through the same provider (a separate login). The
bridge checks that login as for a ``DirectorCertification`` — SIRET confirmed by the
register, for the same organization (SIREN), the person among the register's directors —
and records here the director's subject key as a digest (never their name or e-mail), the
browser they logged in with, and the register check. Then, in that browser only, the
director sees the request (who asks, for which organization and role) and approves or
rejects it: one conditional ``UPDATE … WHERE state = 'pending'``, so on any number of
replicas the first decision wins and the approval link is spent.

The requester then logs in again for a Mandate: the bridge finds the approved delegation for
that subject key and organization, spends it (``approved → used``, one conditional UPDATE:
one Mandate per approval) and issues a Mandate whose ``evidence`` records the delegation
(:func:`delegation_evidence`).

Refusals (docs/errors.md "Login bridge"): ``delegation_unknown``, ``delegation_not_director``,
``delegation_expired``, ``delegation_already_decided``, ``delegation_organization_mismatch``,
``delegation_self_approval``; a rejection shows ``delegation_rejected``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete, select, update

from ancre.issuer.db import DelegationRow
from ancre.issuer.service import IssuerError, _rowcount, _sha256
from ancre.storage.audit import canonical
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import Code

if TYPE_CHECKING:
    from ancre.issuer.authorize_api import LoginFlow
    from ancre.issuer.service import Issuer

__all__ = [
    "APPROVE_PATH",
    "DELEGATION_LIFETIME",
    "LOGIN_PREFIX",
    "REVIEW_PATH",
    "STATUS_PATH",
    "Delegation",
    "Delegations",
    "delegation_evidence",
    "delegation_lifetime",
    "delegation_router",
]

#: The requester's page (``?id=…&code=…``), the director's approval link (``?code=…``), and
#: the page where a logged-in director decides (``?id=…``), under the issuer's URL.
STATUS_PATH: Final = "/login/delegation"
APPROVE_PATH: Final = "/login/delegation/approve"
REVIEW_PATH: Final = "/login/delegation/review"
#: How long a delegation request waits for a director, and an approval for the requester.
DELEGATION_LIFETIME: Final = timedelta(days=7)
#: The role a delegation asks for by default (the Mandate's ``role``).
DEFAULT_ROLE: Final = "Mandataire (délégation d'un dirigeant)"
#: The roles a requester may choose from when the login configuration names none
#: (``delegation.roles``): the first is the default; with one role there is no choice.
DEFAULT_ROLES: Final = (
    DEFAULT_ROLE,
    "Responsable des achats",
    "Responsable administratif et financier",
    "Délégué à la protection des données",
)
#: At most this many roles, each at most 150 characters (the Mandate's ``role`` limit).
MAX_ROLES: Final = 12
#: A director's login is good for deciding during this long.
APPROVER_LOGIN_LIFETIME: Final = timedelta(minutes=15)
#: The provider login of a director names its delegation with this prefix (the login state's
#: request id): the login callback tells it from a pending authorization request.
LOGIN_PREFIX: Final = "dlg:"
#: The evidence type of a delegation approval in a Mandate.
EVIDENCE_TYPE: Final = "ancre:DelegationApproval"
_CODE_BYTES: Final = 32

State = Literal["pending", "approved", "rejected", "used", "expired"]


def delegation_lifetime(path: Any, section: Any) -> timedelta:
    """The ``delegation`` section of the login configuration file: ``{"lifetime_days": N}``
    (1 to 90; default 7). Raises ``ConfigurationError`` otherwise."""
    from ancre.trust.errors import ConfigurationError

    if section is None:
        return DELEGATION_LIFETIME
    if not isinstance(section, dict) or set(section) - {"lifetime_days", "roles"}:
        raise ConfigurationError(f"{path}: `delegation` members are ['lifetime_days', 'roles']")
    days = section.get("lifetime_days", DELEGATION_LIFETIME.days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
        raise ConfigurationError(f"{path}: `delegation.lifetime_days` must be 1 to 90")
    return timedelta(days=days)


def delegation_roles(path: Any, section: Any) -> tuple[str, ...]:
    """The ``delegation.roles`` of the login configuration file: the roles a requester may
    choose from, the first the default (1 to 12 distinct non-empty strings of at most 150
    printable characters; default :data:`DEFAULT_ROLES`). Raises ``ConfigurationError``."""
    from ancre.trust.errors import ConfigurationError

    if not isinstance(section, dict) or "roles" not in section:
        return DEFAULT_ROLES
    roles = section["roles"]
    what = f"{path}: `delegation.roles` must be 1 to {MAX_ROLES} distinct non-empty strings"
    if not isinstance(roles, list) or not 1 <= len(roles) <= MAX_ROLES:
        raise ConfigurationError(what)
    for role in roles:
        if (
            not isinstance(role, str)
            or not role.strip()
            or role != role.strip()
            or len(role) > 150
            or not role.isprintable()
        ):
            raise ConfigurationError(what + " of at most 150 printable characters")
    if len(set(roles)) != len(roles):
        raise ConfigurationError(what)
    return tuple(roles)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def subject_digest(subject_key: str) -> str:
    """How a delegation names the approving director: a digest of their subject key (the
    provider's ``sub`` + ``idp_id``), never their name or e-mail."""
    return "sha256:" + hashlib.sha256(subject_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Delegation:
    """A delegation request as the pages show it."""

    id: str
    siren: str
    organization_name: str
    requester_name: str
    role: str
    state: State
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    #: A director logged in for it: its role can no longer change (the director sees it).
    director_checked: bool = False


@dataclass(frozen=True, slots=True)
class SpentDelegation:
    """An approved delegation just spent for a Mandate: its role and its evidence."""

    id: str
    role: str
    decided_at: datetime
    evidence: tuple[Mapping[str, Any], ...]


def _shown(row: DelegationRow, now: datetime) -> Delegation:
    state = row.state
    if state in ("pending", "approved") and row.expires_at <= now:
        state = "expired"
    return Delegation(
        id=row.id,
        siren=row.siren,
        organization_name=row.organization_name,
        requester_name=row.requester_name,
        role=row.role,
        state=state,  # type: ignore[arg-type]
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        director_checked=row.approver_checked_at is not None,
    )


def delegation_evidence(
    delegation_id: str, approver_sha256: str, decided_at: datetime, checked_at: datetime
) -> dict[str, Any]:
    """The VCDM ``evidence`` entry of a delegation in a Mandate: which request, the
    approving director as a digest of their subject key, when they approved, and when the
    register found them a director (that register check is a separate entry)."""
    return {
        "type": [EVIDENCE_TYPE],
        "gx:evidenceOf": "ancre:Mandate",
        "ancre:delegation": delegation_id,
        "ancre:approvedBy": approver_sha256,
        "gx:executionDate": _stamp(decided_at),
        "ancre:approverCheckedAt": _stamp(checked_at),
    }


def _unknown() -> IssuerError:
    return IssuerError(Code.DELEGATION_UNKNOWN, "no such delegation request", 404)


class Delegations:
    """The delegation requests of one issuer (module docstring)."""

    def __init__(
        self, issuer: Issuer, *, lifetime: timedelta = DELEGATION_LIFETIME,
        roles: Sequence[str] = DEFAULT_ROLES,
    ) -> None:  # fmt: skip
        self.issuer = issuer
        self.lifetime = lifetime
        #: The roles a requester may choose from; the first is the request's default.
        self.roles = tuple(r[:150] for r in roles) or (DEFAULT_ROLE,)
        self.role = self.roles[0]

    # -- the requester ----------------------------------------------------------------------

    def request(
        self, *, requester_key: str, requester_name: str, siren: str, organization_name: str
    ) -> tuple[Delegation, str]:
        """Record a pending request (or renew the approval code of this requester's live
        pending request for the organization: the previous link stops working). Returns it
        and its approval code, which only the requester's page shows. Expired requests are
        deleted first."""
        if len(requester_key) > 512:
            raise IssuerError(Code.LOGIN_CLAIM_MISSING, "the login's subject key is too long")
        requester_name = requester_name[:512]
        now = self.issuer.clock.now()
        code = secrets.token_urlsafe(_CODE_BYTES)
        with self.issuer._transaction() as session:
            # Expired requests go (whatever their state: the audit log keeps the decisions),
            # so the table holds live requests only.
            session.execute(delete(DelegationRow).where(DelegationRow.expires_at <= now))
            live = session.scalars(
                select(DelegationRow).where(
                    DelegationRow.requester_key == requester_key,
                    DelegationRow.siren == siren,
                    DelegationRow.state == "pending",
                    DelegationRow.expires_at > now,
                ).limit(1)
            ).first()  # fmt: skip
            if live is not None:
                renewed = _rowcount(
                    session.execute(
                        update(DelegationRow)
                        .where(DelegationRow.id == live.id, DelegationRow.state == "pending")
                        .values(approval_sha256=_sha256(code), requester_name=requester_name)
                        .execution_options(synchronize_session=False)
                    )
                )
                if renewed == 1:
                    row = session.get(DelegationRow, live.id)
                    if row is not None:
                        session.refresh(row)
                        return _shown(row, now), code
            row = DelegationRow(
                id=secrets.token_urlsafe(16),
                siren=siren,
                organization_name=organization_name[:256],
                requester_key=requester_key,
                requester_name=requester_name,
                role=self.role,
                approval_sha256=_sha256(code),
                state="pending",
                created_at=now,
                expires_at=now + self.lifetime,
            )
            session.add(row)
            self.issuer._audit(
                session, requester_key, "delegation_request", row.id, {"siren": siren}
            )
        return _shown(row, now), code

    def status(self, delegation_id: str, code: str) -> Delegation:
        """The requester's view: the request whose approval code is `code`."""
        with self.issuer._read() as session:
            row = session.get(DelegationRow, delegation_id) if len(delegation_id) <= 32 else None
        if (
            row is None
            or len(code) > 128
            or not secrets.compare_digest(row.approval_sha256, _sha256(code))
        ):
            raise _unknown()
        return _shown(row, self.issuer.clock.now())

    def choose_role(self, delegation_id: str, code: str, role: str) -> Delegation:
        """The requester (holding the approval code) picks the role asked for, among
        :attr:`roles`, while the request is pending and no director has logged in for it
        (the director then sees the role they approve). A role not in the list raises
        ``invalid_request``; a director already deciding ``delegation_already_decided``."""
        if role not in self.roles:
            raise IssuerError(Code.INVALID_REQUEST, "this role is not offered for a delegation")
        shown = self.status(delegation_id, code)
        self._check_pending(shown)
        requester = self.requester_of(shown.id)
        now = self.issuer.clock.now()
        with self.issuer._transaction() as session:
            done = _rowcount(
                session.execute(
                    update(DelegationRow)
                    .where(
                        DelegationRow.id == shown.id,
                        DelegationRow.state == "pending",
                        DelegationRow.expires_at > now,
                        DelegationRow.approver_checked_at.is_(None),
                    )
                    .values(role=role)
                    .execution_options(synchronize_session=False)
                )
            )
            if done == 1:
                self.issuer._audit(session, requester, "delegation_role", shown.id, {"role": role})
        if done != 1:
            self._check_pending(self.status(delegation_id, code))
            raise IssuerError(
                Code.DELEGATION_ALREADY_DECIDED,
                "a director is already deciding on this request: its role is fixed",
                409,
            )
        return self.status(delegation_id, code)

    def spend_approved(self, requester_key: str, siren: str) -> SpentDelegation | None:
        """The live approved delegation of this requester for this organization, spent now
        (one conditional UPDATE: one Mandate per approval), or ``None`` if there is none."""
        now = self.issuer.clock.now()
        with self.issuer._transaction() as session:
            row = session.scalars(
                select(DelegationRow).where(
                    DelegationRow.requester_key == requester_key,
                    DelegationRow.siren == siren,
                    DelegationRow.state == "approved",
                    DelegationRow.expires_at > now,
                ).order_by(DelegationRow.decided_at.desc()).limit(1)
            ).first()  # fmt: skip
            if row is None:
                return None
            spent = _rowcount(
                session.execute(
                    update(DelegationRow)
                    .where(DelegationRow.id == row.id, DelegationRow.state == "approved")
                    .values(state="used", used_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            if spent != 1:
                raise IssuerError(
                    Code.DELEGATION_ALREADY_DECIDED, "this delegation was used already", 409
                )
            self.issuer._audit(session, requester_key, "delegation_used", row.id, {})
        if (
            row.approver_sha256 is None
            or row.decided_at is None
            or row.approver_checked_at is None
            or row.approver_evidence_json is None
        ):  # an approval always records its director
            raise IssuerError(Code.DELEGATION_UNKNOWN, "the approval lacks its director", 500)
        register = loads_strict(row.approver_evidence_json, what="approver evidence")
        entries: Sequence[Mapping[str, Any]] = register if isinstance(register, list) else []
        evidence = (
            delegation_evidence(
                row.id, row.approver_sha256, row.decided_at, row.approver_checked_at
            ),
            *entries,
        )
        return SpentDelegation(row.id, row.role, row.decided_at, tuple(evidence))

    # -- the director ------------------------------------------------------------------------

    def by_code(self, code: str) -> Delegation:
        """The pending request of an approval link. Raises ``delegation_unknown``,
        ``delegation_expired`` or ``delegation_already_decided``."""
        if not code or len(code) > 128:
            raise _unknown()
        with self.issuer._read() as session:
            row = session.scalars(
                select(DelegationRow).where(DelegationRow.approval_sha256 == _sha256(code))
            ).first()
        if row is None:
            raise _unknown()
        shown = _shown(row, self.issuer.clock.now())
        self._check_pending(shown)
        return shown

    @staticmethod
    def _check_pending(shown: Delegation) -> None:
        if shown.state == "expired":
            raise IssuerError(Code.DELEGATION_EXPIRED, "the delegation request has expired", 410)
        if shown.state != "pending":
            raise IssuerError(
                Code.DELEGATION_ALREADY_DECIDED, f"the delegation request is {shown.state}", 409
            )

    def requester_of(self, delegation_id: str) -> str:
        """The requester's subject key (to refuse a self-approval)."""
        with self.issuer._read() as session:
            row = session.get(DelegationRow, delegation_id)
        if row is None:
            raise _unknown()
        return row.requester_key

    def pending(self, delegation_id: str) -> Delegation:
        with self.issuer._read() as session:
            row = session.get(DelegationRow, delegation_id) if len(delegation_id) <= 32 else None
        if row is None:
            raise _unknown()
        shown = _shown(row, self.issuer.clock.now())
        self._check_pending(shown)
        return shown

    def approver_checked(
        self, delegation_id: str, *, approver_key: str, browser: str,
        evidence: Sequence[Mapping[str, Any]],
    ) -> None:  # fmt: skip
        """A director of the organization logged in (checked by the bridge) in `browser`:
        that browser may now decide on the request."""
        now = self.issuer.clock.now()
        with self.issuer._transaction() as session:
            done = _rowcount(
                session.execute(
                    update(DelegationRow)
                    .where(
                        DelegationRow.id == delegation_id,
                        DelegationRow.state == "pending",
                        DelegationRow.expires_at > now,
                    )
                    .values(
                        approver_sha256=subject_digest(approver_key),
                        approver_browser_sha256=_sha256(browser),
                        approver_checked_at=now,
                        approver_evidence_json=canonical([dict(e) for e in evidence]),
                    )
                    .execution_options(synchronize_session=False)
                )
            )
        if done != 1:
            self.pending(delegation_id)  # raises the reason
            raise _unknown()

    def for_review(self, delegation_id: str, browser: str) -> Delegation:
        """The request a director checked in this browser may decide on (pending, live, the
        director's login recent). Raises ``delegation_unknown`` otherwise."""
        now = self.issuer.clock.now()
        with self.issuer._read() as session:
            row = session.get(DelegationRow, delegation_id) if len(delegation_id) <= 32 else None
        if (
            row is None
            or not secrets.compare_digest(row.approver_browser_sha256 or "", _sha256(browser))
            or row.approver_checked_at is None
            or row.approver_checked_at <= now - APPROVER_LOGIN_LIFETIME
        ):
            raise _unknown()
        shown = _shown(row, now)
        self._check_pending(shown)
        return shown

    def decide(
        self, delegation_id: str, decision: Literal["approve", "reject"], browser: str,
        role: str | None = None,
    ) -> Delegation:  # fmt: skip
        """The director's decision, taken once (one conditional UPDATE on ``pending``, on
        whichever replica comes first), on the role the director saw (`role`; ``None``: the
        request's). Raises ``delegation_already_decided``, ``delegation_expired``,
        ``delegation_unknown`` or ``invalid_request`` (not the role shown)."""
        reviewed = self.for_review(delegation_id, browser)
        if role is not None and role != reviewed.role:
            raise IssuerError(Code.INVALID_REQUEST, "the role decided on is not the request's")
        role = reviewed.role
        now = self.issuer.clock.now()
        state = "approved" if decision == "approve" else "rejected"
        with self.issuer._transaction() as session:
            done = _rowcount(
                session.execute(
                    update(DelegationRow)
                    .where(
                        DelegationRow.id == delegation_id,
                        DelegationRow.state == "pending",
                        DelegationRow.expires_at > now,
                        DelegationRow.approver_browser_sha256 == _sha256(browser),
                        DelegationRow.approver_checked_at > now - APPROVER_LOGIN_LIFETIME,
                        DelegationRow.role == role,
                    )
                    .values(state=state, decided_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            row = session.get(DelegationRow, delegation_id)
            if done == 1 and row is not None:
                self.issuer._audit(
                    session, row.approver_sha256 or "director", f"delegation_{state}",
                    delegation_id, {"siren": row.siren, "role": row.role},
                )  # fmt: skip
        if row is None:
            raise _unknown()
        if done != 1:
            self._check_pending(_shown(row, now))
            raise _unknown()
        return self.pending_or_decided(delegation_id)

    def pending_or_decided(self, delegation_id: str) -> Delegation:
        with self.issuer._read() as session:
            row = session.get(DelegationRow, delegation_id)
        if row is None:
            raise _unknown()
        return _shown(row, self.issuer.clock.now())


# -- pages ------------------------------------------------------------------------------------


def _approval_link(public_url: str, code: str) -> str:
    from urllib.parse import urlencode

    return f"{public_url}{APPROVE_PATH}?{urlencode({'code': code})}"


def status_url(public_url: str, delegation_id: str, code: str) -> str:
    """The requester's page of a delegation request."""
    from urllib.parse import urlencode

    return f"{public_url}{STATUS_PATH}?{urlencode({'id': delegation_id, 'code': code})}"


def _summary(delegation: Delegation, *, with_requester: bool) -> dict[str, Any]:
    # Names from the register and the provider, shown to a director deciding: hidden
    # characters made visible, mixed-script words flagged (`ancre.trust.display`).
    from ancre.trust.display import shown

    requester = delegation.requester_name
    return {
        "organization": shown(delegation.organization_name),
        "siren": delegation.siren,
        "role": shown(delegation.role),
        "requester": shown(requester) if with_requester else None,
        "expires": delegation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        "state": delegation.state,
    }


def delegation_router(flow: LoginFlow) -> APIRouter:
    """The delegation pages: the requester's (``GET /login/delegation``), the director's
    approval link (``GET /login/delegation/approve``) and login (``POST
    /login/delegation/login``), and the director's decision (``GET /login/delegation/review``,
    ``POST /login/delegation/decide``)."""
    from ancre.issuer.api import _NO_STORE, _call
    from ancre.trust.errors import AncreError

    bridge: Any = flow.authentication
    delegations: Delegations = bridge.delegations
    router = APIRouter()
    prefix, public = flow.served.prefix, flow.issuer.public_url

    def _query(request: Request, name: str) -> str:
        values = request.query_params.getlist(name)
        if len(values) != 1 or len(values[0]) > 128:
            raise _unknown()
        return values[0]

    @router.get(prefix + STATUS_PATH)
    async def status(request: Request) -> Response:
        lang = flow.lang_of(request)
        browser, cookie = flow.browser_of(request)
        try:
            code = _query(request, "code")
            shown = await _call(delegations.status, _query(request, "id"), code)
        except AncreError as error:
            return flow.refused(error, lang)
        choosing = (
            shown.state == "pending" and not shown.director_checked
            and len(delegations.roles) > 1
        )  # fmt: skip
        return flow.page(
            "delegation_status", lang, cookie=cookie, csrf=flow.binding.csrf(browser),
            approval_link=_approval_link(public, code) if shown.state == "pending" else None,
            roles=delegations.roles if choosing else (), role_value=shown.role,
            delegation_id=shown.id, code=code, **_summary(shown, with_requester=True),
        )  # fmt: skip

    @router.post(prefix + STATUS_PATH + "/role")
    async def choose_role(request: Request) -> Response:
        posted = await flow.read_post(request)
        if isinstance(posted, Response):
            return posted
        lang, form = posted.lang, posted.form
        try:
            delegation_id, code = form.get("id", ""), form.get("code", "")
            role = form.get("role", "")
            if len(delegation_id) > 32 or len(code) > 128 or len(role) > 150:
                raise IssuerError(Code.INVALID_REQUEST, "the role form is malformed")
            shown = await _call(delegations.choose_role, delegation_id, code, role)
        except AncreError as error:
            return flow.refused(error, lang)
        url = status_url(public, shown.id, code) + f"&lang={lang}"
        return RedirectResponse(url, 303, headers=_NO_STORE)

    @router.get(prefix + APPROVE_PATH)
    async def approve_link(request: Request) -> Response:
        lang = flow.lang_of(request)
        browser, cookie = flow.browser_of(request)
        try:
            code = _query(request, "code")
            shown = await _call(delegations.by_code, code)
        except AncreError as error:
            return flow.refused(error, lang)
        # Before the director's login: the organization only, not who asks. With several
        # providers, the director chooses which to log in with (as on a wallet's request).
        providers = bridge.providers if len(bridge.providers) > 1 else ()
        return flow.page(
            "delegation_approve", lang, cookie=cookie, csrf=flow.binding.csrf(browser),
            code=code, providers=providers, **_summary(shown, with_requester=False),
        )  # fmt: skip

    @router.post(prefix + APPROVE_PATH.rsplit("/", 1)[0] + "/login")
    async def approver_login(request: Request) -> Response:
        posted = await flow.read_post(request)
        if isinstance(posted, Response):
            return posted
        lang = posted.lang
        try:
            provider = posted.form.get("provider")
            if provider is not None and len(provider) > 64:
                raise IssuerError(Code.INVALID_REQUEST, "no such login provider")
            url = await _call(
                bridge.start_approval, posted.form.get("code", ""), posted.browser, provider
            )
        except AncreError as error:
            return flow.refused(error, lang)
        return RedirectResponse(url, 303, headers=_NO_STORE)

    @router.get(prefix + REVIEW_PATH)
    async def review(request: Request) -> Response:
        lang = flow.lang_of(request)
        try:
            browser = flow.binding.read(request.cookies.get(flow.binding.cookie))
            if browser is None:
                raise _unknown()
            delegation_id = _query(request, "id")
            shown = await _call(delegations.for_review, delegation_id, browser)
        except AncreError as error:
            return flow.refused(error, lang)
        return flow.page(
            "delegation_review", lang, csrf=flow.binding.csrf(browser),
            delegation_id=delegation_id, role_value=shown.role,
            **_summary(shown, with_requester=True),
        )  # fmt: skip

    @router.post(prefix + REVIEW_PATH.rsplit("/", 1)[0] + "/decide")
    async def decide(request: Request) -> Response:
        posted = await flow.read_post(request)
        if isinstance(posted, Response):
            return posted
        lang, form, browser = posted.lang, posted.form, posted.browser
        try:
            decision = form.get("decision")
            if decision not in ("approve", "reject"):
                raise IssuerError(Code.INVALID_REQUEST, "no decision")
            role = form.get("role")
            if role is not None and len(role) > 150:
                raise IssuerError(Code.INVALID_REQUEST, "the role decided on is malformed")
            shown = await _call(
                delegations.decide, form.get("delegation", ""), decision, browser, role
            )
        except AncreError as error:
            return flow.refused(error, lang)
        return flow.page("delegation_decided", lang, **_summary(shown, with_requester=True))

    return router
