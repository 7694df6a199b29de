"""OpenID Connect relying party of the login bridge (ProConnect, or any OpenID provider).

Authorization code flow with PKCE S256 (OpenID Connect Core 1.0 §3.1, RFC 7636), built on
``joserfc`` for every JOSE check and on httpx for the three calls (discovery + JWKS through
:func:`ancre.trust.net.guard.fetch`, the token request, userinfo) — see docs/architecture.md for
why not authlib's client. What it enforces:

- ``state`` and ``nonce`` of 43 characters (ProConnect asks for ≥ 32), single use, bound to
  the browser: the server-side record (:class:`~ancre.issuer.db.LoginStateRow`, keyed by
  the state's hash) names the browser-binding cookie it was created for, and the callback
  consumes it with one conditional UPDATE — on whichever replica the redirect lands, once;
- one relying party per provider: several providers share the ``login_states`` table, each
  row naming its provider, and a callback is validated by the state's provider only
  (:class:`~ancre.issuer.bridge.LoginBridge` dispatches); RFC 9207's ``iss`` is checked, and
  required from a provider whose metadata says it sends it;
- ``client_secret_post`` client authentication (as ProConnect), or ``private_key_jwt``
  with an ES256 key (``ProviderConfig.client_key``: from a key file or the issuer's key
  store, docs/proconnect.md "Configuration"; its public part at ``/login/jwks.json``);
- ``claims_mapping`` renames a generic provider's claims to ProConnect's names;
- the ``acr`` is requested through the ``claims`` parameter (non-essential, so that a login
  at a lower level still comes back and is refused here with ``acr_too_low``) and always
  re-checked in the ID token;
- ID token (Core §3.1.3.7): signature with an algorithm both in the provider's
  ``id_token_signing_alg_values_supported`` and in ancre's asymmetric allow-list, ``iss``,
  ``aud`` (and ``azp`` when present or when ``aud`` has several values), ``exp``, ``iat``,
  ``nonce``, ``acr``;
- userinfo: a signed JWT (``application/jwt``: signature, ``iss``, ``aud``) or plain JSON,
  its ``sub`` the ID token's (Core §5.3.2);
- the subject key is the provider's name + ``idp_id`` + ``sub`` (ProConnect's ``sub`` is per
  identity provider; the same ``sub`` at two providers is two people), never the e-mail.

Every refusal is an :class:`~ancre.trust.errors.AncreError` with a stable code (docs/errors.md
"Login bridge"); once the state is consumed, :meth:`OidcRelyingParty.finish` still names the
pending authorization request so the wallet is told.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from ancre.issuer.authorize import pkce_s256
from ancre.issuer.db import LoginStateRow, LogoutSessionRow
from ancre.issuer.service import Issuer, _rowcount, _sha256
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
)
from ancre.trust.net.guard import NetworkPolicy, check_url, fetch

__all__ = [
    "CERTIFICATION_DIRIGEANT",
    "PROCONNECT_ACR_VALUES",
    "PROCONNECT_SCOPES",
    "LoginResult",
    "OidcRelyingParty",
    "ProviderConfig",
    "login_provider_of",
]

CERTIFICATION_DIRIGEANT: Final = "https://proconnect.gouv.fr/assurance/certification-dirigeant"
#: ProConnect's acr values (shared/reference/proconnect.md): eidas0 is below any level.
PROCONNECT_ACR_VALUES: Final = (
    "eidas1",
    "eidas1-mfa",
    "eidas2",
    "eidas3",
    CERTIFICATION_DIRIGEANT,
)
PROCONNECT_SCOPES: Final = (
    "openid",
    "given_name",
    "usual_name",
    "email",
    "uid",
    "siret",
    "siren",
    "idp_id",
    "organization_label",
    "roles",
    "organizational_unit",
    "belonging_population",
)
#: Asymmetric JWS algorithms only: never ``none`` nor a MAC keyed by the client secret.
SIGNING_ALGS: Final = frozenset({"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"})
_MAX_TOKEN_RESPONSE: Final = 64 * 1024
#: Members of a private JWK (RFC 7518 §6.2.2, §6.3.2) never published.
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_SKEW: Final = 60


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One OpenID provider the bridge logs users in with."""

    #: A short name (``proconnect``), recorded with each login.
    name: str
    issuer: str
    client_id: str
    client_secret: str
    #: The bridge's callback (``<issuer public URL>/login/callback``), registered with the
    #: provider.
    redirect_uri: str
    scopes: tuple[str, ...] = PROCONNECT_SCOPES
    #: Network policy for the provider's endpoints (tests allow loopback).
    policy: NetworkPolicy = field(default_factory=NetworkPolicy)
    #: How long a user has to come back from the provider.
    login_lifetime: int = 600
    #: An ID token older than this (``iat``) is refused.
    id_token_max_age: int = 600
    #: A private JWK (ES256): authenticate with ``private_key_jwt`` (RFC 7523 §2.2) instead
    #: of ``client_secret_post``; `client_secret` is then unused.
    client_key: Mapping[str, Any] | None = None
    #: Where the provider sends the browser after an RP-initiated logout (registered with
    #: it, exact match; ``<issuer public URL>/login/logged-out``). ``None``: a logout ends
    #: ancre's own session only.
    post_logout_redirect_uri: str | None = None
    #: How long a login's ID token is kept for the logout's ``id_token_hint``.
    session_lifetime: int = 12 * 3600
    #: The acr values this provider can deliver (ProConnect's by default): a login asks
    #: only for those, and a credential needing another level is refused ``acr_too_low``.
    acr_values: tuple[str, ...] = PROCONNECT_ACR_VALUES
    #: Provider claim → ancre's claim name (``family_name`` → ``usual_name``), applied to
    #: the validated claims; a mapped claim replaces one of that name.
    claims_mapping: Mapping[str, str] = field(default_factory=dict)
    #: What the landing page's button says; empty: the name.
    label: str = ""

    @property
    def is_proconnect(self) -> bool:
        """Whether the landing page shows ProConnect's official button for this provider
        (its name is ``proconnect`` or starts with ``proconnect-``)."""
        return self.name == "proconnect" or self.name.startswith("proconnect-")

    def public_jwk(self) -> dict[str, Any] | None:
        """The public part of the ``private_key_jwt`` key (with its ``kid``), or ``None``:
        what ``<public URL>/login/jwks.json`` publishes for the provider to fetch."""
        if self.client_key is None:
            return None
        return {k: v for k, v in self.client_key.items() if k not in _PRIVATE_JWK_MEMBERS}


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A validated login: who (``sub`` + ``idp_id``), how strongly (``acr``), and the
    provider's claims (ID token claims overlaid by userinfo)."""

    provider: str
    sub: str
    idp_id: str | None
    acr: str
    claims: Mapping[str, Any]

    @property
    def subject_key(self) -> str:
        """The stable subject key: ``sub`` is unique per identity provider, so the key pairs
        it with ``idp_id`` — never the e-mail, which changes and is reassigned."""
        return f"{self.provider}:{self.idp_id or '-'}:{self.sub}"


def login_provider_of(issuer: Issuer, browser: str) -> str | None:
    """The provider `browser`'s newest live login was made with (its logout goes there),
    or ``None`` when it has none."""
    now = issuer.clock.now()
    with issuer._transaction() as session:
        return session.scalars(
            select(LogoutSessionRow.provider).where(
                LogoutSessionRow.browser_sha256 == _sha256(browser),
                LogoutSessionRow.used_at.is_(None),
                LogoutSessionRow.expires_at > now,
            ).order_by(LogoutSessionRow.created_at.desc()).limit(1)
        ).first()  # fmt: skip


def _invalid(code: Code, message: str) -> InvalidError:
    return InvalidError(code, message)


def _numeric_date(claims: dict[str, Any], name: str) -> int | float:
    """An ID token's NumericDate claim (``exp``, ``iat``): a number, and not a bool (a bool
    is an int in Python)."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(Code.ID_TOKEN_INVALID, f"the ID token has no numeric {name}")
    return value


class OidcRelyingParty:
    """The relying party for one provider, keeping its login states in `issuer`'s
    database (module docstring)."""

    def __init__(self, config: ProviderConfig, issuer: Issuer, client: httpx.Client) -> None:
        if config.client_key is None and not config.client_secret:
            # A key store key not resolved (bridge.resolve_client_keys), or no secret: never
            # authenticate with an empty secret.
            raise ConfigurationError(
                f"provider {config.name} has neither a client secret nor a key"
            )
        self.config = config
        self._issuer = issuer
        self._client = client
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    # -- provider metadata ----------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        result = fetch(url, client=self._client, policy=self.config.policy)
        if result.status != 200:
            raise IndeterminateError(
                Code.LOGIN_PROVIDER_UNAVAILABLE, f"{what} answered HTTP {result.status}"
            )
        try:
            value = loads_strict(result.body, what=what)
        except AncreError as error:
            raise IndeterminateError(Code.LOGIN_PROVIDER_UNAVAILABLE, error.message) from None
        if not isinstance(value, dict):
            raise IndeterminateError(Code.LOGIN_PROVIDER_UNAVAILABLE, f"{what} is not an object")
        return value

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (OpenID Connect Discovery 1.0 §4), checked:
        its ``issuer`` is the configured one and every endpoint is on the issuer's origin."""
        if self._metadata is not None:
            return self._metadata
        issuer = self.config.issuer.rstrip("/")
        document = self._get_json(f"{issuer}/.well-known/openid-configuration", "discovery")
        if document.get("issuer") != self.config.issuer:
            raise IndeterminateError(
                Code.LOGIN_PROVIDER_UNAVAILABLE,
                "the discovery document names another issuer (Discovery §4.3)",
            )
        origin = urlsplit(issuer)[:2]
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            endpoint = document.get(name)
            if not isinstance(endpoint, str) or urlsplit(endpoint)[:2] != origin:
                raise IndeterminateError(
                    Code.LOGIN_PROVIDER_UNAVAILABLE,
                    f"the provider's {name} is missing or not on its issuer's origin",
                )
        self._metadata = document
        return document

    def _algs(self, member: str) -> list[str]:
        offered = self.metadata().get(member)
        if not isinstance(offered, list):
            return []
        return sorted(SIGNING_ALGS.intersection(a for a in offered if isinstance(a, str)))

    def _keyset(self, refresh: bool = False) -> KeySet:
        # Refetched at most every 10 s on an unknown kid: a provider's key rotation is
        # followed without letting forged kids hammer its JWKS endpoint.
        if self._keys is None or (refresh and time.monotonic() - self._keys_at > 10):
            document = self._get_json(self.metadata()["jwks_uri"], "jwks")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as error:
                raise IndeterminateError(
                    Code.LOGIN_PROVIDER_UNAVAILABLE, f"the provider's JWKS is unusable: {error}"
                ) from None
            self._keys_at = time.monotonic()
        return self._keys

    def _decode(self, token: str, algs: list[str], code: Code, what: str) -> jwt.Token:
        if not algs:
            raise _invalid(code, f"the provider offers no acceptable {what} signing algorithm")
        if len(token) > _MAX_TOKEN_RESPONSE:
            raise _invalid(code, f"the {what} is too large")
        for refresh in (False, True):
            try:
                return jwt.decode(token, self._keyset(refresh), algorithms=algs)
            except JoseError as error:
                if refresh or "key" not in type(error).__name__.lower():
                    raise _invalid(code, f"the {what} does not verify: {error}") from None
            except (ValueError, TypeError) as error:
                raise _invalid(code, f"the {what} is malformed: {error}") from None
        raise AssertionError("unreachable")

    # -- front channel --------------------------------------------------------------------

    def begin(self, request_id: str, browser: str, acr_values: tuple[str, ...]) -> str:
        """Record a login for `request_id` bound to `browser`, and return the provider's
        authorization URL (PKCE S256, ``state``, ``nonce``, acr through ``claims``)."""
        metadata = self.metadata()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        now = self._issuer.clock.now()
        with self._issuer._transaction() as session:
            session.add(
                LoginStateRow(
                    state_sha256=_sha256(state),
                    nonce=nonce,
                    code_verifier=verifier,
                    browser_sha256=_sha256(browser),
                    request_id=request_id,
                    provider=self.config.name,
                    acr_values=" ".join(acr_values),
                    expires_at=now + timedelta(seconds=self.config.login_lifetime),
                    used_at=None,
                )
            )
        claims = {"id_token": {"acr": {"essential": False, "values": list(acr_values)}}}
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.config.redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_s256(verifier),
            "code_challenge_method": "S256",
            "claims": json.dumps(claims, separators=(",", ":")),
        }
        if CERTIFICATION_DIRIGEANT in acr_values and len(acr_values) == 1:
            # The provider's single sign-on session may hold a lower acr from an earlier
            # login: ask it to authenticate again at the level asked for.
            query["prompt"] = "login"
        return f"{metadata['authorization_endpoint']}?{urlencode(query)}"

    # -- callback -------------------------------------------------------------------------

    def consume_state(self, params: Mapping[str, str], browser: str) -> LoginStateRow:
        """Consume the login state of a callback (one conditional UPDATE). Raises
        ``login_state_invalid`` when it is missing, unknown, used, expired, or was created
        in another browser."""
        state = params.get("state")
        if not state or not 32 <= len(state) <= 256:
            raise _invalid(Code.LOGIN_STATE_INVALID, "the login came back without a valid state")
        digest = _sha256(state)
        now = self._issuer.clock.now()
        with self._issuer._transaction() as session:
            consumed = _rowcount(
                session.execute(
                    update(LoginStateRow)
                    .where(
                        LoginStateRow.state_sha256 == digest,
                        LoginStateRow.used_at.is_(None),
                        LoginStateRow.expires_at > now,
                        LoginStateRow.browser_sha256 == _sha256(browser),
                    )
                    .values(used_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            row = session.get(LoginStateRow, digest) if consumed == 1 else None
        if row is None:
            raise _invalid(
                Code.LOGIN_STATE_INVALID,
                "the login state is unknown, already used, expired or from another browser",
            )
        return row

    def finish(self, row: LoginStateRow, params: Mapping[str, str]) -> LoginResult:
        """Complete the login whose state `row` was consumed: exchange the code, validate
        the ID token and userinfo. Raises ``AncreError`` with the refusal's code."""
        metadata = self.metadata()
        if "error" in params:
            raise _invalid(
                Code.LOGIN_PROVIDER_ERROR,
                f"the provider refused the login: {params['error'][:64]}",
            )
        # RFC 9207: an `iss` on the response must be this provider's (mix-up defence), and
        # a provider that says it sends one (§3) must have: without it, the response may be
        # another provider's (§2.4).
        if "iss" in params and params["iss"] != self.config.issuer:
            raise _invalid(Code.ID_TOKEN_WRONG_ISSUER, "the response comes from another issuer")
        if "iss" not in params and metadata.get("authorization_response_iss_parameter_supported"):
            raise _invalid(
                Code.ID_TOKEN_WRONG_ISSUER,
                "the response lacks the `iss` this provider sends (RFC 9207 §2.4)",
            )
        code = params.get("code")
        if not code or len(code) > 512:
            raise _invalid(Code.LOGIN_PROVIDER_ERROR, "the provider sent no authorization code")
        tokens = self._token_request(metadata["token_endpoint"], code, row.code_verifier)
        id_token = tokens.get("id_token")
        access_token = tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise _invalid(Code.LOGIN_PROVIDER_ERROR, "the token response lacks its tokens")
        claims = self.validate_id_token(
            id_token, nonce=row.nonce, acr_values=row.acr_values.split()
        )
        self._keep_for_logout(row, id_token)
        userinfo = self._userinfo(metadata["userinfo_endpoint"], access_token, claims["sub"])
        merged = {**claims, **userinfo}
        for theirs, ours in self.config.claims_mapping.items():
            if theirs in merged:
                merged[ours] = merged[theirs]
        idp_id = merged.get("idp_id")
        return LoginResult(
            self.config.name,
            claims["sub"],
            idp_id if isinstance(idp_id, str) else None,
            claims["acr"],
            merged,
        )

    # -- RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) -----------------------

    def _keep_for_logout(self, row: LoginStateRow, id_token: str) -> None:
        # The provider authenticated this browser: its ID token is the logout's
        # id_token_hint, kept server-side and bound to the browser, never sent to it.
        now = self._issuer.clock.now()
        with self._issuer._transaction() as session:
            session.add(
                LogoutSessionRow(
                    id=secrets.token_hex(16),
                    browser_sha256=row.browser_sha256,
                    provider=self.config.name,
                    id_token=id_token,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.config.session_lifetime),
                    used_at=None,
                    state_sha256=None,
                    returned_at=None,
                )
            )

    def end_session_endpoint(self) -> str | None:
        """The provider's ``end_session_endpoint`` (discovery), or ``None`` if it has none;
        one off the issuer's origin is refused ``login_provider_unavailable``."""
        endpoint = self.metadata().get("end_session_endpoint")
        if endpoint is None:
            return None
        if (
            not isinstance(endpoint, str)
            or urlsplit(endpoint)[:2] != urlsplit(self.config.issuer)[:2]
        ):
            raise IndeterminateError(
                Code.LOGIN_PROVIDER_UNAVAILABLE,
                "the provider's end_session_endpoint is not on its issuer's origin",
            )
        check_url(endpoint, self.config.policy)
        return endpoint

    def logout(self, browser: str) -> str | None:
        """End `browser`'s logins here (their ID tokens are consumed: single use, then
        erased) and return the provider's logout URL (``id_token_hint``, the configured
        ``post_logout_redirect_uri``, a fresh ``state``), or ``None`` when the provider has
        no ``end_session_endpoint`` or no post-logout URI is configured: ancre's own session
        only. Raises ``login_state_invalid`` when the browser has no login to end."""
        redirect = self.config.post_logout_redirect_uri
        endpoint = self.end_session_endpoint() if redirect else None
        state = secrets.token_urlsafe(32)
        now = self._issuer.clock.now()
        mine = (
            LogoutSessionRow.browser_sha256 == _sha256(browser),
            LogoutSessionRow.used_at.is_(None),
            LogoutSessionRow.expires_at > now,
        )
        with self._issuer._transaction() as session:
            newest = session.scalars(
                select(LogoutSessionRow).where(*mine).order_by(
                    LogoutSessionRow.created_at.desc()
                ).limit(1)
            ).first()  # fmt: skip
            id_token = newest.id_token if newest is not None else None
            consumed = 0
            if newest is not None:
                consumed = _rowcount(
                    session.execute(
                        update(LogoutSessionRow)
                        .where(LogoutSessionRow.id == newest.id, *mine)
                        .values(used_at=now, id_token="", state_sha256=_sha256(state))
                        .execution_options(synchronize_session=False)
                    )
                )
                # Every other login of this browser ends too (ancre's session is over).
                session.execute(
                    update(LogoutSessionRow)
                    .where(*mine)
                    .values(used_at=now, id_token="")
                    .execution_options(synchronize_session=False)
                )
        if consumed != 1 or not id_token:
            raise _invalid(Code.LOGIN_STATE_INVALID, "this browser has no login to log out of")
        if endpoint is None or redirect is None:
            return None
        query = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": redirect,
            "state": state,
            "client_id": self.config.client_id,
        }
        return f"{endpoint}?{urlencode(query)}"

    def logged_out(self, params: Mapping[str, str], browser: str) -> None:
        """The provider sent the browser back after its logout: the ``state`` must be the
        one this browser's logout sent, unused (one conditional UPDATE). Raises
        ``login_state_invalid`` otherwise."""
        state = params.get("state")
        if not state or not 32 <= len(state) <= 256:
            raise _invalid(Code.LOGIN_STATE_INVALID, "the logout came back without its state")
        now = self._issuer.clock.now()
        with self._issuer._transaction() as session:
            returned = _rowcount(
                session.execute(
                    update(LogoutSessionRow)
                    .where(
                        LogoutSessionRow.state_sha256 == _sha256(state),
                        LogoutSessionRow.browser_sha256 == _sha256(browser),
                        LogoutSessionRow.returned_at.is_(None),
                    )
                    .values(returned_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
        if returned != 1:
            raise _invalid(
                Code.LOGIN_STATE_INVALID,
                "the logout state is unknown, already used or from another browser",
            )

    def _token_request(self, endpoint: str, code: str, verifier: str) -> dict[str, Any]:
        check_url(endpoint, self.config.policy)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": verifier,
            "client_id": self.config.client_id,
        }
        form.update(self._client_authentication())
        try:
            with self._client.stream(
                "POST",
                endpoint,
                data=form,
                headers={"User-Agent": self.config.policy.user_agent, "Accept": "application/json"},
                timeout=self.config.policy.timeout,
                follow_redirects=False,
            ) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_TOKEN_RESPONSE:
                        raise _invalid(Code.LOGIN_PROVIDER_ERROR, "the token response is too large")
                status = response.status_code
        except httpx.HTTPError as error:
            raise IndeterminateError(
                Code.LOGIN_PROVIDER_UNAVAILABLE,
                f"the token endpoint failed: {type(error).__name__}",
            ) from None
        if status >= 500:
            raise IndeterminateError(
                Code.LOGIN_PROVIDER_UNAVAILABLE, f"the token endpoint answered HTTP {status}"
            )
        try:
            value = loads_strict(body, what="token response")
        except AncreError:
            raise _invalid(Code.LOGIN_PROVIDER_ERROR, "the token response is not JSON") from None
        if status != 200 or not isinstance(value, dict):
            reason = value.get("error") if isinstance(value, dict) else None
            raise _invalid(
                Code.LOGIN_PROVIDER_ERROR,
                f"the token endpoint refused the code: {str(reason)[:64]}",
            )
        return value

    def _client_authentication(self) -> dict[str, str]:
        if self.config.client_key is None:
            # client_secret_post (ProConnect's documented method): OAuth 2.0 §2.3.1.
            return {"client_secret": self.config.client_secret}
        # private_key_jwt (OpenID Connect Core §9, RFC 7523 §3): a short-lived, single-use
        # assertion whose audience is the provider (its issuer identifier).
        from joserfc.jwk import ECKey

        key = ECKey.import_key(dict(self.config.client_key))
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT"}
        if key.kid:
            header["kid"] = key.kid
        assertion = jwt.encode(
            header,
            {
                "iss": self.config.client_id,
                "sub": self.config.client_id,
                "aud": self.config.issuer,
                "jti": secrets.token_urlsafe(16),
                "iat": now,
                "exp": now + 60,
            },
            key,
        )
        return {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }

    def validate_id_token(self, token: str, *, nonce: str, acr_values: list[str]) -> dict[str, Any]:
        """The ID token's claims, after every check of Core §3.1.3.7 (module docstring)."""
        decoded = self._decode(
            token, self._algs("id_token_signing_alg_values_supported"), Code.ID_TOKEN_INVALID,
            "ID token",
        )  # fmt: skip
        claims = dict(decoded.claims)
        if claims.get("iss") != self.config.issuer:
            raise _invalid(Code.ID_TOKEN_WRONG_ISSUER, "the ID token comes from another issuer")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.config.client_id not in audiences:
            raise _invalid(Code.ID_TOKEN_WRONG_AUDIENCE, "the ID token is for another client")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self.config.client_id:
            raise _invalid(Code.ID_TOKEN_WRONG_AUDIENCE, "the ID token's azp is another client")
        now = self._issuer.clock.now().timestamp()
        exp, iat = _numeric_date(claims, "exp"), _numeric_date(claims, "iat")
        if exp <= now - _SKEW:
            raise _invalid(Code.ID_TOKEN_EXPIRED, "the ID token has expired")
        if iat > now + _SKEW or iat < now - self.config.id_token_max_age:
            raise _invalid(Code.ID_TOKEN_INVALID, "the ID token's iat is out of range")
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
            claims["nonce"], nonce
        ):
            raise _invalid(Code.LOGIN_NONCE_INVALID, "the ID token's nonce is not this login's")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise _invalid(Code.ID_TOKEN_INVALID, "the ID token has no usable sub")
        acr = claims.get("acr")
        if not isinstance(acr, str) or acr not in acr_values:
            raise _invalid(
                Code.ACR_TOO_LOW,
                f"the login's acr {str(acr)[:80]!r} is not one of {acr_values}",
            )
        return claims

    def _userinfo(self, endpoint: str, access_token: str, sub: str) -> dict[str, Any]:
        result = fetch(
            endpoint,
            client=self._client,
            policy=self.config.policy,
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if result.status != 200:
            raise IndeterminateError(
                Code.LOGIN_PROVIDER_UNAVAILABLE, f"userinfo answered HTTP {result.status}"
            )
        media = result.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/jwt":
            decoded = self._decode(
                result.body.decode("ascii", "replace").strip(),
                self._algs("userinfo_signing_alg_values_supported"),
                Code.USERINFO_INVALID,
                "userinfo",
            )
            claims = dict(decoded.claims)
            if claims.get("iss") != self.config.issuer:
                raise _invalid(Code.USERINFO_INVALID, "the signed userinfo has another issuer")
            aud = claims.get("aud")
            if self.config.client_id not in (aud if isinstance(aud, list) else [aud]):
                raise _invalid(Code.USERINFO_INVALID, "the signed userinfo is for another client")
        elif media == "application/json":
            try:
                value = loads_strict(result.body, what="userinfo")
            except AncreError as error:
                raise _invalid(Code.USERINFO_INVALID, error.message) from None
            if not isinstance(value, dict):
                raise _invalid(Code.USERINFO_INVALID, "userinfo is not an object")
            claims = value
        else:
            raise _invalid(Code.USERINFO_INVALID, f"userinfo has media type {media[:60]!r}")
        # Core §5.3.2: "The sub Claim in the UserInfo Response MUST be verified to exactly
        # match the sub Claim in the ID Token".
        if claims.get("sub") != sub:
            raise _invalid(Code.USERINFO_INVALID, "userinfo is about another subject")
        return claims
