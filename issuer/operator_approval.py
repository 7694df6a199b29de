"""Operator approval: a user-authentication step of the authorization code grant
(:class:`ancre.issuer.authorize.UserAuthentication`) where a person of the issuer decides.

``ancre issuer serve --operator-approval`` uses it. :meth:`OperatorApproval.start` records
the wallet's pending authorization request in ``login_approvals`` (bound to the browser that
started it, expiring with the request) and sends the browser to a waiting page under the
issuer (``GET /login/wait?login=ID``, server-rendered, no script: it reloads itself with
``<meta http-equiv="refresh">``). An operator lists the waiting logins (``ancre issuer
logins``) and approves one with the claims the credential will carry (``ancre issuer
login-approve ID --claims FILE.json``) or rejects it (``ancre issuer login-reject ID``);
both audited. The waiting page, reloaded in the same browser, then takes the decision once
(:meth:`OperatorApproval.poll`): an approval completes the code grant (redirect to the
wallet's ``redirect_uri`` with the code), a rejection sends ``access_denied``.

Every transition is one conditional UPDATE on the database row (pending → approved or
rejected → resumed), so any replica may serve the waiting page, and a decision is taken,
and resumed, once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy import delete, select, update

from ancre.issuer.authorize import (
    REQUEST_LIFETIME,
    Approved,
    Outcome,
    PendingAuthorization,
    Redirect,
    Refused,
)
from ancre.issuer.db import AuthorizationRequestRow, LoginApprovalRow
from ancre.issuer.service import IssuerError
from ancre.issuer.templates import Authorization
from ancre.storage.audit import canonical
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import Code

if TYPE_CHECKING:
    from ancre.issuer.service import Issuer

__all__ = ["WAIT_PATH", "LoginApproval", "OperatorApproval", "decide_login", "waiting_logins"]

#: The waiting page, under the issuer's URL.
WAIT_PATH: Final = "/login/wait"
#: How often the waiting page reloads itself (seconds).
REFRESH_SECONDS: Final = 2

Decision = Literal["approve", "reject"]


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _stamp(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class LoginApproval:
    """A login as the operator sees it: which credential, for which wallet, since when."""

    id: str
    configuration_id: str
    client_id: str
    redirect_uri: str
    state: str
    created_at: datetime
    expires_at: datetime
    decided_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "configuration": self.configuration_id,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "requested_at": _stamp(self.created_at),
            "expires_at": _stamp(self.expires_at),
            "decided_by": self.decided_by,
        }


def _shown_state(row: LoginApprovalRow, now: datetime) -> str:
    if row.state in ("pending", "approved", "rejected") and row.expires_at <= now:
        return "expired"
    return row.state


class OperatorApproval:
    """The operator-approval step (module docstring)."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer

    def start(self, pending: PendingAuthorization, browser: str) -> Outcome:
        """Record `pending` for the operator and send the browser to the waiting page."""
        now = self.issuer.clock.now()
        login_id = secrets.token_hex(8)  # typed by operators: never starting with "-"
        with self.issuer._transaction() as session:
            session.execute(delete(LoginApprovalRow).where(LoginApprovalRow.expires_at <= now))
            request = session.get(AuthorizationRequestRow, pending.id)
            expires = request.expires_at if request is not None else now + REQUEST_LIFETIME
            session.add(
                LoginApprovalRow(
                    id=login_id,
                    request_id=pending.id,
                    browser_sha256=_sha256(browser),
                    configuration_id=pending.configuration_id,
                    client_id=pending.client_id,
                    redirect_uri=pending.redirect_uri,
                    state="pending",
                    created_at=now,
                    expires_at=expires,
                )
            )
            self.issuer._audit(
                session, "login", "login_wait", login_id,
                {"configuration": pending.configuration_id, "client_id": pending.client_id},
            )  # fmt: skip
        return Redirect(f"{self.issuer.public_url}{WAIT_PATH}?login={login_id}")

    def resume(self, params: Mapping[str, str], browser: str) -> tuple[str, Outcome]:
        raise IssuerError(Code.INVALID_REQUEST, "operator approval has no login callback")

    def poll(self, login_id: str, browser: str) -> tuple[str, Approved | Refused] | None:
        """The waiting page's reload: None while the operator has not decided; once decided,
        the pending request's id and the decision — taken once (the login is spent). Raises
        ``IssuerError(login_state_invalid)`` for an unknown, spent or expired login, or one
        started in another browser."""
        now = self.issuer.clock.now()
        with self.issuer._read() as session:
            row = session.get(LoginApprovalRow, login_id) if len(login_id) <= 32 else None
        if (
            row is None
            or not secrets.compare_digest(row.browser_sha256 or "", _sha256(browser))
            or _shown_state(row, now) in ("expired", "resumed")
        ):
            raise IssuerError(
                Code.LOGIN_STATE_INVALID,
                "no such login waiting in this browser (used, expired or another browser)",
                403,
            )
        if row.state == "pending":
            return None
        with self.issuer._transaction() as session:
            taken = session.execute(
                update(LoginApprovalRow)
                .where(
                    LoginApprovalRow.id == login_id,
                    LoginApprovalRow.state == row.state,
                    LoginApprovalRow.expires_at > now,
                )
                .values(state="resumed", decision_json=None)
                .execution_options(synchronize_session=False)
            )
            if int(getattr(taken, "rowcount", 0)) != 1:
                raise IssuerError(Code.LOGIN_STATE_INVALID, "this login was resumed already", 403)
        return row.request_id, _outcome(row)


def _outcome(row: LoginApprovalRow) -> Approved | Refused:
    if row.state != "approved" or row.decision_json is None:
        return Refused(Code.LOGIN_REJECTED, f"rejected by {row.decided_by}")
    data = loads_strict(row.decision_json, what="login decision")
    return Approved(Authorization.from_json(data["authorization"]), data["claims"])


def waiting_logins(
    issuer: Issuer, *, everything: bool = False, limit: int = 100
) -> list[LoginApproval]:
    """The logins waiting for a decision (live, pending), oldest first; with `everything`,
    every login still recorded, newest first."""
    now = issuer.clock.now()
    query = select(LoginApprovalRow)
    if everything:
        query = query.order_by(LoginApprovalRow.created_at.desc())
    else:
        query = query.where(
            LoginApprovalRow.state == "pending", LoginApprovalRow.expires_at > now
        ).order_by(LoginApprovalRow.created_at)
    with issuer._read() as session:
        rows = session.scalars(query.limit(limit)).all()
    return [
        LoginApproval(
            id=row.id,
            configuration_id=row.configuration_id,
            client_id=row.client_id,
            redirect_uri=row.redirect_uri,
            state=_shown_state(row, now),
            created_at=row.created_at,
            expires_at=row.expires_at,
            decided_by=row.decided_by,
        )
        for row in rows
    ]


def decide_login(
    issuer: Issuer,
    login_id: str,
    decision: Decision,
    *,
    actor: str,
    claims: Mapping[str, Any] | None = None,
    authorization: Authorization | None = None,
) -> str:
    """Approve (with the credential's `claims`, on `authorization`) or reject a waiting
    login (audited with `actor`); returns the new state. An approval is checked now as
    issuance will check it (template, requirement, claims). Refused (``IssuerError``): an
    unknown id (404), a login decided already or expired (409)."""
    now = issuer.clock.now()
    with issuer._read() as session:
        row = session.get(LoginApprovalRow, login_id)
    if row is None:
        raise IssuerError(Code.NOT_FOUND, f"no login {login_id!r}", 404)
    values: dict[str, Any] = {"state": "rejected", "decided_at": now, "decided_by": actor}
    if decision == "approve":
        if claims is None or authorization is None:
            raise IssuerError(Code.INVALID_REQUEST, "an approval needs claims")
        issuer._checked(row.configuration_id, dict(claims), authorization)
        data = {"authorization": authorization.to_json(), "claims": dict(claims)}
        values = {**values, "state": "approved", "decision_json": canonical(data)}
    with issuer._transaction() as session:
        decided = session.execute(
            update(LoginApprovalRow)
            .where(
                LoginApprovalRow.id == login_id,
                LoginApprovalRow.state == "pending",
                LoginApprovalRow.expires_at > now,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(decided, "rowcount", 0)) != 1:
            current = session.get(LoginApprovalRow, login_id)
            shown = _shown_state(current, now) if current is not None else "gone"
            raise IssuerError(Code.CONFLICT, f"login {login_id} is {shown} already", 409)
        issuer._audit(
            session, actor, f"login_{decision}", login_id,
            {"configuration": row.configuration_id, "client_id": row.client_id},
        )  # fmt: skip
    return str(values["state"])
