"""OpenID4VCI 1.0 authorization code grant (§5, RFC 6749 §4.1, PKCE RFC 7636 S256 only),
with a pluggable user-authentication step.

The wallet sends the user's browser to ``/authorize`` with its ``client_id``,
``redirect_uri``, a PKCE S256 ``code_challenge`` and the credential configuration it wants
(``authorization_details`` of type ``openid_credential``, or the configuration's ``scope``),
optionally the ``issuer_state`` of an offer. The request is stored (pending) and handed to a
:class:`UserAuthentication`, which either decides at once or sends the browser away (to an
OpenID provider, for the login bridge) and decides when it comes back. On approval the
claims become an offer row (as for the pre-authorized grant, without a pre-authorized code)
and an authorization code bound to the request's ``client_id``, ``redirect_uri`` and PKCE
challenge goes back to the wallet; on refusal the wallet gets ``access_denied`` with the
refusal's stable code, and nothing is stored that could be redeemed.

Every single-use value lives in the database: the pending request is completed by one
conditional ``UPDATE … WHERE completed_at IS NULL``, the code consumed by one conditional
``UPDATE … WHERE used_at IS NULL AND client_id = … AND redirect_uri = … AND code_challenge =
S256(code_verifier)`` — whichever replica matches first wins, every other one refuses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol, overload
from urllib.parse import urlencode, urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ancre.issuer.db import (
    AuthorizationCodeRow,
    AuthorizationRequestRow,
    IssuerStateRow,
    LoginStateRow,
    LogoutSessionRow,
    OfferRow,
)
from ancre.issuer.service import AccessGrant, Issuer, IssuerError, _rowcount, _sha256
from ancre.issuer.templates import TEMPLATES, Authorization, template
from ancre.storage.audit import canonical
from ancre.trust.errors import AncreError, Code, InternalError

__all__ = [
    "AUTHORIZATION_CODE_GRANT",
    "Approved",
    "AuthorizationServer",
    "Outcome",
    "PendingAuthorization",
    "Redirect",
    "Refused",
    "StaticAuthentication",
    "UserAuthentication",
    "pkce_s256",
]

AUTHORIZATION_CODE_GRANT: Final = "authorization_code"
#: RFC 6749 §4.1.2 recommends at most 10 minutes; a wallet exchanges at once.
CODE_LIFETIME: Final = timedelta(seconds=60)
#: How long a user has to log in and consent.
REQUEST_LIFETIME: Final = timedelta(minutes=10)
ISSUER_STATE_LIFETIME: Final = timedelta(minutes=10)
_PURGE_EVERY: Final = timedelta(minutes=1)
_UNSAFE_SCHEMES: Final = frozenset({"javascript", "data", "file", "vbscript", "blob", "about"})
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_MAX_PARAM: Final = 2048
#: The client id of requests started from the bridge's own pages (landing → login →
#: consent → offer page): they end in a pre-authorized offer, not in a code.
PAGES_CLIENT: Final = "ancre-pages"


def pkce_s256(verifier: str) -> str:
    """RFC 7636 §4.2: ``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """A wallet's authorization request waiting for the user: what the authentication step
    sees (never the PKCE challenge nor the wallet's secrets)."""

    id: str
    client_id: str
    redirect_uri: str
    configuration_id: str


@dataclass(frozen=True, slots=True)
class Approved:
    """The user is authenticated: what the credential may say and on what authority."""

    authorization: Authorization
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    """No credential: `code` is the stable reason (shown to the user and sent to the wallet
    as ``error_description``)."""

    code: Code
    message: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the browser to `url` first (an identity provider); the step decides later."""

    url: str


Outcome = Approved | Refused | Redirect


class UserAuthentication(Protocol):
    """The pluggable user-authentication step of the authorization code grant.

    `browser` is the opaque browser-binding value the service keeps in a signed cookie:
    an implementation that leaves and comes back (an OpenID Connect login) must only accept
    the return in the browser that left."""

    def start(self, pending: PendingAuthorization, browser: str) -> Outcome:
        """Decide on `pending`, or redirect the browser to authenticate the user."""
        ...

    def resume(self, params: Mapping[str, str], browser: str) -> tuple[str, Outcome]:
        """The browser came back (``GET /login/callback`` with `params`): the id of the
        pending request it serves and the decision (never a :class:`Redirect`). Raises
        ``AncreError`` when the return cannot be tied to a pending request at all."""
        ...


@dataclass(frozen=True, slots=True)
class StaticAuthentication:
    """A test (and operator-demo) step: every request gets `outcome` for its configuration
    (claims per configuration id), or a refusal when none is configured."""

    claims: Mapping[str, Mapping[str, Any]]
    authorization: Authorization
    refusal: Refused | None = None

    def start(self, pending: PendingAuthorization, browser: str) -> Outcome:
        if self.refusal is not None:
            return self.refusal
        claims = self.claims.get(pending.configuration_id)
        if claims is None:
            return Refused(
                Code.AUTHORIZATION_INSUFFICIENT,
                f"nothing to certify for {pending.configuration_id}",
            )
        return Approved(self.authorization, claims)

    def resume(self, params: Mapping[str, str], browser: str) -> tuple[str, Outcome]:
        raise IssuerError(Code.INVALID_REQUEST, "this authentication step never redirects")


def _invalid(message: str) -> IssuerError:
    return IssuerError(Code.INVALID_REQUEST, message)


def _check_redirect_uri(uri: str) -> None:
    """Wallets are public clients without registration (OpenID4VCI §5.1, client_id only):
    accept a redirect URI a wallet can own — https, http on loopback (RFC 8252 §7.3), or a
    private-use scheme (§7.1) — never a script or data URL, never a fragment (RFC 6749
    §3.1.2)."""
    if len(uri) > _MAX_PARAM:
        raise _invalid("`redirect_uri` is too long")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise _invalid("`redirect_uri` is not a URL") from None
    scheme = parts.scheme.lower()
    if not scheme or parts.fragment or "#" in uri:
        raise _invalid("`redirect_uri` must be an absolute URI without a fragment")
    if scheme in _UNSAFE_SCHEMES:
        raise _invalid(f"`redirect_uri` may not use the {scheme} scheme")
    if scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise _invalid("an http `redirect_uri` must be on loopback (RFC 8252)")
    if scheme == "https" and not parts.hostname:
        raise _invalid("`redirect_uri` needs a host")


@overload
def _single(params: Mapping[str, list[str]], name: str, *, required: Literal[True]) -> str: ...


@overload
def _single(
    params: Mapping[str, list[str]], name: str, *, required: Literal[False]
) -> str | None: ...


def _single(params: Mapping[str, list[str]], name: str, *, required: bool) -> str | None:
    values = params.get(name)
    if not values:
        if required:
            raise _invalid(f"`{name}` is required")
        return None
    if len(values) != 1:
        # RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
        raise _invalid(f"`{name}` is repeated")
    value = values[0]
    if len(value) > _MAX_PARAM:
        raise _invalid(f"`{name}` is too long")
    return value


def _configuration_from(details: str | None, scope: str | None) -> str:
    """The one credential configuration asked for (§5.1.1 ``authorization_details`` or
    §5.1.2 ``scope``)."""
    if details is not None:
        try:
            parsed = json.loads(details)
        except ValueError:
            raise _invalid("`authorization_details` is not JSON") from None
        if not isinstance(parsed, list) or len(parsed) != 1 or not isinstance(parsed[0], dict):
            raise _invalid("`authorization_details` must hold exactly one object")
        entry = parsed[0]
        if entry.get("type") != "openid_credential":
            raise _invalid("`authorization_details` type must be openid_credential")
        configuration = entry.get("credential_configuration_id")
        if not isinstance(configuration, str) or configuration not in TEMPLATES:
            raise IssuerError(Code.INVALID_REQUEST, "unknown `credential_configuration_id`")
        return configuration
    if scope is not None:
        wanted = [s for s in scope.split(" ") if s in TEMPLATES]
        if len(wanted) != 1:
            raise IssuerError(
                Code.INVALID_REQUEST, "`scope` must name one credential configuration"
            )
        return wanted[0]
    raise _invalid("`authorization_details` or `scope` is required")


@dataclass(frozen=True, slots=True)
class WalletRedirect:
    """Where the browser goes back to the wallet, and what happened (for the pages)."""

    url: str
    refused: Refused | None = None
    #: The request came from the bridge's pages: on approval, make an offer (`approved`).
    pages: bool = False
    approved: Approved | None = None
    configuration_id: str = ""


class AuthorizationServer:
    """The authorization code grant of one :class:`Issuer` (module docstring)."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self._last_purge = issuer.clock.now()

    def purge_expired(self) -> int:
        """Forget expired single-use values: login states, issuer states, authorization
        codes and pending requests (with any approval held for consent). Anyone may start
        an authorization request, so these tables must not grow without bound. Returns the
        number of rows removed."""
        now = self.issuer.clock.now()
        self._last_purge = now
        with self.issuer._transaction() as session:
            removed = 0
            for table, column in (
                (LoginStateRow, LoginStateRow.expires_at),
                (LogoutSessionRow, LogoutSessionRow.expires_at),
                (IssuerStateRow, IssuerStateRow.expires_at),
                (AuthorizationCodeRow, AuthorizationCodeRow.expires_at),
            ):
                removed += _rowcount(session.execute(delete(table).where(column <= now)))
            # Codes go first: a request still referenced by a live code stays.
            live = select(AuthorizationCodeRow.request_id)
            removed += _rowcount(
                session.execute(
                    delete(AuthorizationRequestRow).where(
                        AuthorizationRequestRow.expires_at <= now,
                        AuthorizationRequestRow.id.not_in(live),
                    )
                )
            )
        return removed

    def _maybe_purge(self) -> None:
        if self.issuer.clock.now() - self._last_purge > _PURGE_EVERY:
            self.purge_expired()

    def create_issuer_state(self, configuration_id: str) -> tuple[str, str]:
        """An offer of `configuration_id` for the authorization code grant: its
        ``issuer_state`` and its ``openid-credential-offer://`` URI (offer by value)."""
        template(configuration_id)
        state = secrets.token_urlsafe(32)
        now = self.issuer.clock.now()
        with self.issuer._transaction() as session:
            session.add(
                IssuerStateRow(
                    state_sha256=_sha256(state),
                    configuration_id=configuration_id,
                    expires_at=now + ISSUER_STATE_LIFETIME,
                )
            )
        document = {
            "credential_issuer": self.issuer.public_url,
            "credential_configuration_ids": [configuration_id],
            "grants": {"authorization_code": {"issuer_state": state}},
        }
        uri = "openid-credential-offer://?" + urlencode({"credential_offer": canonical(document)})
        return state, uri

    def begin(self, params: Mapping[str, list[str]], browser: str) -> PendingAuthorization:
        """Check an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID4VCI §5.1)
        and store it pending. Raises ``IssuerError(invalid_request)``: the caller shows it
        to the user, it does not redirect to an unchecked ``redirect_uri``."""
        if _single(params, "response_type", required=True) != "code":
            raise IssuerError(Code.INVALID_REQUEST, "`response_type` must be code")
        client_id = _single(params, "client_id", required=True)
        if len(client_id) > 256 or not client_id.isprintable():
            raise _invalid("`client_id` is malformed")
        redirect_uri = _single(params, "redirect_uri", required=True)
        _check_redirect_uri(redirect_uri)
        method = _single(params, "code_challenge_method", required=True)
        if method != "S256":
            raise _invalid("PKCE `code_challenge_method` must be S256")
        challenge = _single(params, "code_challenge", required=True)
        if len(challenge) != 43 or not all(c.isalnum() or c in "-_" for c in challenge):
            raise _invalid("`code_challenge` must be a base64url SHA-256 (43 characters)")
        configuration = _configuration_from(
            _single(params, "authorization_details", required=False),
            _single(params, "scope", required=False),
        )
        self._maybe_purge()
        now = self.issuer.clock.now()
        issuer_state = _single(params, "issuer_state", required=False)
        if issuer_state is not None:
            with self.issuer._read() as session:
                row = session.get(IssuerStateRow, _sha256(issuer_state))
            if row is None or row.expires_at <= now:
                raise _invalid("unknown or expired `issuer_state`")
            if row.configuration_id != configuration:
                raise _invalid("the `issuer_state` is for another credential configuration")
        wallet_state = _single(params, "state", required=False)
        if wallet_state is not None and len(wallet_state) > 512:
            raise _invalid("`state` is too long")
        pending = PendingAuthorization(
            secrets.token_urlsafe(24), client_id, redirect_uri, configuration
        )
        with self.issuer._transaction() as session:
            session.add(
                AuthorizationRequestRow(
                    id=pending.id,
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    code_challenge=challenge,
                    configuration_id=configuration,
                    wallet_state=wallet_state,
                    browser_sha256=_sha256(browser),
                    created_at=now,
                    expires_at=now + REQUEST_LIFETIME,
                    completed_at=None,
                )
            )
        return pending

    def begin_page(self, configuration_id: str, browser: str) -> PendingAuthorization:
        """A pending request started from the bridge's landing page (no wallet yet: it
        ends in a pre-authorized offer shown on the offer page)."""
        template(configuration_id)
        self._maybe_purge()
        now = self.issuer.clock.now()
        pending = PendingAuthorization(
            secrets.token_urlsafe(24), PAGES_CLIENT, "", configuration_id
        )
        with self.issuer._transaction() as session:
            session.add(
                AuthorizationRequestRow(
                    id=pending.id,
                    client_id=PAGES_CLIENT,
                    redirect_uri="",
                    code_challenge="",
                    configuration_id=configuration_id,
                    wallet_state=None,
                    browser_sha256=_sha256(browser),
                    created_at=now,
                    expires_at=now + REQUEST_LIFETIME,
                    completed_at=None,
                )
            )
        return pending

    def hold(self, request_id: str, approved: Approved, browser: str) -> None:
        """Keep a login's approval while the user reads the consent page."""
        data = {"authorization": approved.authorization.to_json(), "claims": dict(approved.claims)}
        with self.issuer._transaction() as session:
            done = _rowcount(
                session.execute(
                    update(AuthorizationRequestRow)
                    .where(
                        AuthorizationRequestRow.id == request_id,
                        AuthorizationRequestRow.completed_at.is_(None),
                        AuthorizationRequestRow.browser_sha256 == _sha256(browser),
                    )
                    .values(approved_json=canonical(data))
                    .execution_options(synchronize_session=False)
                )
            )
        if done != 1:
            raise _invalid("no such pending authorization request")

    def held(self, request_id: str, browser: str) -> Approved:
        """The approval kept for `request_id` in this browser (``invalid_request`` if none)."""
        from ancre.trust.codec.json import loads_strict

        with self.issuer._read() as session:
            row = session.get(AuthorizationRequestRow, request_id)
        if (
            row is None
            or row.completed_at is not None
            or row.expires_at <= self.issuer.clock.now()
            or row.approved_json is None
            or not secrets.compare_digest(row.browser_sha256 or "", _sha256(browser))
        ):
            raise _invalid("no approval waits for consent here (used, expired or another browser)")
        data = loads_strict(row.approved_json, what="held approval")
        return Approved(Authorization.from_json(data["authorization"]), data["claims"])

    def pending(self, request_id: str) -> PendingAuthorization:
        """The live pending request `request_id` (``invalid_request`` otherwise)."""
        with self.issuer._read() as session:
            row = session.get(AuthorizationRequestRow, request_id)
        if row is None or row.completed_at is not None or row.expires_at <= self.issuer.clock.now():
            raise _invalid("no such pending authorization request (used or expired)")
        return PendingAuthorization(row.id, row.client_id, row.redirect_uri, row.configuration_id)

    def complete(
        self, request_id: str, outcome: Approved | Refused, browser: str
    ) -> WalletRedirect:
        """Finish a pending request once: an authorization code on approval (after the
        template's requirement and the claims are checked), ``access_denied`` otherwise.
        The request must be completed in the browser it started in."""
        now = self.issuer.clock.now()
        if isinstance(outcome, Approved):
            outcome = self._vetted(request_id, outcome, now)
        with self.issuer._transaction() as session:
            row = self._close(session, request_id, browser, now)
            if row.client_id == PAGES_CLIENT:
                if isinstance(outcome, Refused):
                    self._audit_refusal(session, row, outcome)
                    return WalletRedirect("", outcome, pages=True)
                return WalletRedirect(
                    "", None, pages=True, approved=outcome, configuration_id=row.configuration_id
                )
            query: dict[str, str]
            if isinstance(outcome, Refused):
                query = {"error": "access_denied", "error_description": str(outcome.code)}
                self._audit_refusal(session, row, outcome)
            else:
                query = {"code": self._grant_code(session, row, outcome, now)}
            url = self._wallet_url(row, query)
        return WalletRedirect(url, outcome if isinstance(outcome, Refused) else None)

    def _vetted(self, request_id: str, approved: Approved, now: datetime) -> Approved | Refused:
        """`approved`, or the refusal of everything issuance will check (requirement,
        claims, schema), now: a code the wallet cannot redeem for a credential is never
        handed out."""
        try:
            chosen = None
            with self.issuer._read() as session:
                found = session.get(AuthorizationRequestRow, request_id)
                if found is not None:
                    chosen = self.issuer.template_for(found.configuration_id, approved.claims)
            if chosen is not None:
                chosen.requirement.check(approved.authorization)
                checked = chosen.check_claims(dict(approved.claims))
                self.issuer._dry_run(chosen, checked, approved.authorization, now)
        except AncreError as error:
            return Refused(error.code, error.message)
        return approved

    def _close(
        self, session: Session, request_id: str, browser: str, now: datetime
    ) -> AuthorizationRequestRow:
        """Mark the live request `request_id` of this browser completed (one conditional
        UPDATE: whichever replica comes first wins) and return its row."""
        done = _rowcount(
            session.execute(
                update(AuthorizationRequestRow)
                .where(
                    AuthorizationRequestRow.id == request_id,
                    AuthorizationRequestRow.completed_at.is_(None),
                    AuthorizationRequestRow.expires_at > now,
                    AuthorizationRequestRow.browser_sha256 == _sha256(browser),
                )
                .values(completed_at=now, approved_json=None)
                .execution_options(synchronize_session=False)
            )
        )
        if done != 1:
            raise _invalid(
                "no such pending authorization request (used, expired or "
                "started in another browser)"
            )
        row = session.get(AuthorizationRequestRow, request_id)
        if row is None:
            raise InternalError(f"authorization request {request_id} vanished mid-update")
        return row

    def _audit_refusal(
        self, session: Session, row: AuthorizationRequestRow, refused: Refused
    ) -> None:
        self.issuer._audit(
            session, "login", "authorization_refused", row.id,
            {"code": str(refused.code), "configuration": row.configuration_id},
        )  # fmt: skip

    def _grant_code(
        self, session: Session, row: AuthorizationRequestRow, approved: Approved, now: datetime
    ) -> str:
        """Store the approved claims as an offer (without a pre-authorized code) and a
        single-use code bound to the request's client, redirect URI and PKCE challenge;
        the code."""
        code = secrets.token_urlsafe(32)
        offer_id = secrets.token_urlsafe(16)
        session.add(
            OfferRow(
                id=offer_id,
                configuration_id=row.configuration_id,
                claims_json=canonical(dict(approved.claims)),
                code=None,
                tx_code_length=None,
                authorization_json=canonical(approved.authorization.to_json()),
                created_at=now,
                expires_at=now + REQUEST_LIFETIME,
                created_by=approved.authorization.actor,
            )
        )
        session.flush()
        session.add(
            AuthorizationCodeRow(
                code_sha256=_sha256(code),
                request_id=row.id,
                offer_id=offer_id,
                client_id=row.client_id,
                redirect_uri=row.redirect_uri,
                code_challenge=row.code_challenge,
                expires_at=now + CODE_LIFETIME,
                used_at=None,
            )
        )
        self.issuer._audit(
            session, approved.authorization.actor, "authorize", offer_id,
            {"configuration": row.configuration_id, "client_id": row.client_id},
        )  # fmt: skip
        return code

    def _wallet_url(self, row: AuthorizationRequestRow, query: dict[str, str]) -> str:
        """The wallet's `redirect_uri` with the response `query`, its `state` and `iss`."""
        if row.wallet_state is not None:
            query["state"] = row.wallet_state
        # RFC 9207: the issuer identifier on the response, against mix-up attacks.
        query["iss"] = self.issuer.public_url
        separator = "&" if urlsplit(row.redirect_uri).query else "?"
        return row.redirect_uri + separator + urlencode(query)

    def exchange(self, form: Mapping[str, str]) -> AccessGrant:
        """The token request of the authorization code grant (RFC 6749 §4.1.3, RFC 7636
        §4.5): one conditional UPDATE consumes the code only if the client, redirect URI and
        PKCE verifier all match, unused and unexpired."""
        code = form.get("code")
        verifier = form.get("code_verifier")
        client_id = form.get("client_id")
        redirect_uri = form.get("redirect_uri")
        if not code or len(code) > 256:
            raise _invalid("`code` is required")
        if not client_id:
            raise _invalid("`client_id` is required (a public client)")
        if not redirect_uri:
            raise _invalid("`redirect_uri` is required")
        if (
            not verifier
            or not 43 <= len(verifier) <= 128
            or not verifier.isascii()
            or not all(c.isalnum() or c in "-._~" for c in verifier)
        ):
            raise IssuerError(
                Code.INVALID_GRANT, "a PKCE `code_verifier` (RFC 7636 §4.1) is required"
            )
        now = self.issuer.clock.now()
        digest = _sha256(code)
        with self.issuer._transaction() as session:
            consumed = _rowcount(
                session.execute(
                    update(AuthorizationCodeRow)
                    .where(
                        AuthorizationCodeRow.code_sha256 == digest,
                        AuthorizationCodeRow.used_at.is_(None),
                        AuthorizationCodeRow.expires_at > now,
                        AuthorizationCodeRow.client_id == client_id,
                        AuthorizationCodeRow.redirect_uri == redirect_uri,
                        AuthorizationCodeRow.code_challenge == pkce_s256(verifier),
                    )
                    .values(used_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            if consumed == 1:
                row = session.get(AuthorizationCodeRow, digest)
                if row is None:
                    raise InternalError("an authorization code vanished mid-update")
                offer = session.get(OfferRow, row.offer_id)
                if offer is None:  # a foreign key
                    raise InternalError(f"offer {row.offer_id} of an authorization code is gone")
                return self.issuer._grant_access(session, offer, "redeem_code", now)
        raise IssuerError(
            Code.INVALID_GRANT,
            "the authorization code is unknown, used, expired, or was issued to another "
            "client, redirect URI or PKCE challenge",
        )


#: The browser-binding cookie: ``__Host-`` so that it is Secure, host-only and Path=/
#: (RFC 6265bis §4.1.3.2) — no sibling host can plant one. An issuer under a path (one of a
#: platform's) adds a suffix of its own: the issuers of one host would otherwise overwrite
#: each other's cookie, and a login at one would break a login under way at another.
BROWSER_COOKIE: Final = "__Host-ancre-browser"
_SECRET_KEY: Final = "browser_cookie_secret"  # noqa: S105 - a row name, not a secret


class BrowserBinding:
    """Signed browser-binding cookies (``HttpOnly; Secure; SameSite=Lax``).

    The value is a random id and its HMAC-SHA256 under a secret kept in the issuer's
    database (created once; every replica reads the same), so a replica accepts a cookie
    another one set, and a client cannot forge one bound to someone else's login."""

    def __init__(self, issuer: Issuer) -> None:
        from urllib.parse import urlsplit

        from sqlalchemy.exc import IntegrityError

        from ancre.issuer.db import MetaRow

        path = urlsplit(issuer.public_url).path.rstrip("/")
        #: The cookie's name: `BROWSER_COOKIE`, with a suffix naming the issuer's path if any.
        self.cookie = BROWSER_COOKIE
        if path:
            self.cookie += "-" + hashlib.sha256(path.encode()).hexdigest()[:12]

        with issuer._read() as session:
            row = session.get(MetaRow, _SECRET_KEY)
        if row is None:
            try:
                with issuer._transaction() as session:
                    session.add(MetaRow(key=_SECRET_KEY, value=secrets.token_hex(32)))
            except IntegrityError:
                pass  # another replica created it first
            with issuer._read() as session:
                row = session.get(MetaRow, _SECRET_KEY)
        if row is None:
            raise InternalError("the bridge's secret key was neither found nor created")
        self._secret = bytes.fromhex(row.value)

    def _mac(self, value: str) -> str:
        import hmac

        mac = hmac.new(self._secret, value.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def new(self) -> tuple[str, str]:
        """A fresh binding: (the browser id, the cookie value)."""
        value = secrets.token_urlsafe(32)
        return value, f"{value}.{self._mac(value)}"

    def read(self, cookie: str | None) -> str | None:
        """The browser id of a genuine cookie, else None."""
        import hmac

        if not cookie or len(cookie) > 200 or cookie.count(".") != 1:
            return None
        value, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(value)):
            return None
        return value

    def csrf(self, browser: str) -> str:
        """The CSRF token of this browser's forms: a MAC of its binding id, so a page of
        another site (which cannot read the cookie) cannot forge it."""
        return self._mac("csrf:" + browser)

    def check_csrf(self, browser: str, token: str) -> bool:
        import hmac

        return bool(token) and hmac.compare_digest(token, self.csrf(browser))

    def header(self, cookie_value: str) -> str:
        """The ``Set-Cookie`` header value (a session cookie)."""
        return f"{self.cookie}={cookie_value}; Path=/; HttpOnly; Secure; SameSite=Lax"
