"""The ProConnect login bridge: the user-authentication step of the authorization code grant
(:class:`~ancre.issuer.authorize.UserAuthentication`) that logs the user in with an OpenID
provider (:mod:`ancre.issuer.login`), re-checks what the login claims against a company
register (:mod:`ancre.issuer.registers`), and turns the result into the claims of the
credential the wallet asked for.

What a login yields (docs/proconnect.md):

- ``LocalRegistrationNumber`` (the SIRET) and ``LegalPerson``: the register confirms the
  SIRET (check digits, known, establishment and unit active, diffusible);
- ``DirectorCertification``: additionally the ``certification-dirigeant`` acr (ProConnect
  matched the person against the RNE) *and* the person among the register's directors;
- ``VatID``: the register confirms the SIRET and VIES says the French VAT number derived
  from its SIREN is valid (VIES invalid: ``vat_not_registered``; VIES or the member state
  unreachable: ``register_unavailable``); offered only when a VIES client is configured;
- ``Mandate``: the person is among the register's directors, or a director of the
  organization approved a delegation to them (:mod:`ancre.issuer.delegation`): a
  non-director's login records a delegation request and shows its approval link; a
  director's separate login approves it; the requester's next login yields the Mandate
  (``full_powers`` false, the delegation and the director's register check as evidence).

The SIRET the provider sends is only a hint: nothing is issued unless the register confirms
it now; an unreachable register is indeterminate (``register_unavailable``), never a guess.
Each register consultation becomes VCDM ``evidence`` (in ``vc+jwt`` credentials; in SD-JWT
VCs a selectively disclosable ``evidence`` claim with the same content).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from ancre.issuer.authorize import (
    Approved,
    AuthorizationServer,
    Outcome,
    PendingAuthorization,
    Redirect,
    Refused,
)
from ancre.issuer.delegation import (
    DEFAULT_ROLES,
    DELEGATION_LIFETIME,
    LOGIN_PREFIX,
    REVIEW_PATH,
    Delegations,
    delegation_lifetime,
    delegation_roles,
    status_url,
)
from ancre.issuer.fr_identifiers import fr_vat_from_siren, parse_siret
from ancre.issuer.login import (
    CERTIFICATION_DIRIGEANT,
    PROCONNECT_ACR_VALUES,
    PROCONNECT_SCOPES,
    OidcRelyingParty,
    ProviderConfig,
    login_provider_of,
)
from ancre.issuer.register_match import Person
from ancre.issuer.registers import (
    CompanyRegister,
    EstablishmentRecord,
    OrganizationRecord,
    Vies,
    check_director,
    check_establishment,
    check_public_body,
    check_vat,
)
from ancre.issuer.templates import Authorization
from ancre.trust.errors import AncreError, Code, InvalidError

__all__ = [
    "CHOOSE_PATH",
    "LoginBridge",
    "LoginSettings",
    "build_login_bridge",
    "claims_for",
    "load_login_settings",
    "resolve_client_keys",
]

#: Where a wallet's request goes when several providers are configured: the user picks one
#: (a page of ``ancre.issuer.authorize_api``, posting to ``/login/provider``).
CHOOSE_PATH: Final = "/login/choose"
#: Credential configurations the bridge can fill, and the acr values each accepts.
_ACR: Final[Mapping[str, tuple[str, ...]]] = {
    "LocalRegistrationNumber": PROCONNECT_ACR_VALUES,
    "LegalPerson": PROCONNECT_ACR_VALUES,
    "Mandate": PROCONNECT_ACR_VALUES,
    "DirectorCertification": (CERTIFICATION_DIRIGEANT,),
    "AdministrativeService": PROCONNECT_ACR_VALUES,
    "VatID": PROCONNECT_ACR_VALUES,
}
_EVIDENCE_OF: Final[Mapping[str, str]] = {
    "LocalRegistrationNumber": "gx:LocalRegistrationNumber",
    "LegalPerson": "gx:LegalPerson",
    "Mandate": "ancre:Mandate",
    "DirectorCertification": "ancre:DirectorCertification",
    "AdministrativeService": "ancre:AdministrativeService",
    "VatID": "gx:VatID",
}


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidError(Code.LOGIN_CLAIM_MISSING, f"the login did not give `{name}`")
    return value.strip()


def _person(claims: Mapping[str, Any]) -> Person:
    return Person(family_name=_text(claims, "usual_name"), given_names=_text(claims, "given_name"))


def _administrative_service(
    login: Mapping[str, Any], record: EstablishmentRecord
) -> dict[str, Any]:
    # A public agent (ProConnect `roles` agent_public*) of a public body by its legal
    # category in the register (check_public_body: 7xxx, or 4xxx flagged a public service).
    roles = login.get("roles")
    agent_roles = (
        [r for r in roles if isinstance(r, str) and r.startswith("agent_public")]
        if isinstance(roles, list)
        else []
    )
    if not agent_roles:
        raise InvalidError(
            Code.NOT_PUBLIC_AGENT, "the login does not say the person is a public agent"
        )
    organization = check_public_body(record)
    unit = login.get("organizational_unit")
    label = unit.strip() if isinstance(unit, str) and unit.strip() else organization.name
    return {
        "ancre:publicBodyName": organization.name,
        "ancre:siret": record.establishment.siret,
        "ancre:siren": organization.siren,
        "ancre:legalCategory": organization.legal_form,
        "ancre:serviceLabel": label[:256],
        "ancre:agentRoles": agent_roles[:8],
    }


def claims_for(
    configuration_id: str,
    login: Mapping[str, Any],
    record: EstablishmentRecord,
    *,
    acr: str,
    issuing_authority: str,
) -> dict[str, Any]:
    """The claims of `configuration_id` from a validated login and a confirmed register
    record. Raises ``AncreError`` (``director_not_matched``, ``directors_unavailable``,
    ``acr_too_low``…)."""
    organization = record.organization
    siret = record.establishment.siret
    if configuration_id == "LocalRegistrationNumber":
        return {"gx:local": siret}
    if configuration_id == "LegalPerson":
        address: dict[str, Any] = {"type": "gx:Address", "gx:countryCode": "FR"}
        return {
            "schema:name": organization.name,
            "gx:registrationNumber": {"id": f"urn:ancre:siret:{siret}"},
            "gx:legalAddress": address,
            "gx:headquartersAddress": dict(address),
        }
    if configuration_id == "AdministrativeService":
        return _administrative_service(login, record)
    person = _person(login)
    if configuration_id == "DirectorCertification" and acr != CERTIFICATION_DIRIGEANT:
        raise InvalidError(
            Code.ACR_TOO_LOW, "a director certification needs certification-dirigeant"
        )
    match = check_director(record, person)
    if match.director is None:  # check_director refuses an unmatched person
        raise InvalidError(Code.DIRECTOR_NOT_MATCHED, "no director matched the login")
    role = match.director.role or "dirigeant"
    if configuration_id == "DirectorCertification":
        return {
            "siren": organization.siren,
            "legal_name": organization.name,
            "given_name": person.given_names,
            "family_name": person.family_name,
            "role": role[:150],
        }
    if configuration_id == "Mandate":
        return {
            "legal_person_identifier": organization.siren,
            "legal_name": organization.name[:150],
            "full_powers": True,
            "effective_from_date": record.consultation.queried_at.date().isoformat(),
            "issuing_authority": issuing_authority[:150],
            "issuing_country": "FR",
            "given_name": person.given_names,
            "family_name": person.family_name,
            "role": role[:150],
        }
    raise InvalidError(
        Code.UNKNOWN_CREDENTIAL_CONFIGURATION, f"a login does not yield {configuration_id}"
    )


@dataclass
class LoginBridge:
    """The user-authentication step backed by OpenID providers and a company register."""

    relying_party: OidcRelyingParty
    register: CompanyRegister
    server: AuthorizationServer
    #: The VIES client; without it a login does not yield ``VatID``.
    vies: Vies | None = None
    #: Further providers: the landing page offers one button each, `relying_party` first.
    more_parties: tuple[OidcRelyingParty, ...] = ()
    #: Delegation requests (a Mandate approved by a director); ``None``: kept in the
    #: server's database with the defaults (7 days).
    delegation_store: Delegations | None = None

    @property
    def delegations(self) -> Delegations:
        if self.delegation_store is None:
            self.delegation_store = Delegations(self.server.issuer)
        return self.delegation_store

    @property
    def parties(self) -> dict[str, OidcRelyingParty]:
        """The relying parties by provider name, in the configuration's order."""
        return {p.config.name: p for p in (self.relying_party, *self.more_parties)}

    @property
    def providers(self) -> tuple[tuple[str, str, bool], ...]:
        """For the landing page: each provider's name, button label, and whether it is
        ProConnect (its official button)."""
        return tuple(
            (p.config.name, p.config.label or p.config.name, p.config.is_proconnect)
            for p in self.parties.values()
        )

    @property
    def jwks(self) -> dict[str, Any]:
        """The public keys of the providers using ``private_key_jwt`` (``/login/jwks.json``,
        the ``jwks_uri`` registered with them)."""
        keys: dict[str, dict[str, Any]] = {}
        for party in self.parties.values():
            jwk = party.config.public_jwk()
            if jwk is not None:
                keys[str(jwk.get("kid"))] = jwk
        return {"keys": list(keys.values())}

    @property
    def configurations(self) -> tuple[str, ...]:
        """The credential configurations a login can yield (the landing page offers them)."""
        return tuple(c for c in _ACR if c != "VatID" or self.vies is not None)

    @property
    def form_targets(self) -> tuple[str, ...]:
        """Origins the pages' forms may lead to (CSP ``form-action``): the providers', as
        the login form redirects there."""
        from urllib.parse import urlsplit

        origins = (urlsplit(p.config.issuer) for p in self.parties.values())
        return tuple(dict.fromkeys(f"{o.scheme}://{o.netloc}" for o in origins))

    def _party(self, provider: str) -> OidcRelyingParty:
        party = self.parties.get(provider)
        if party is None:
            raise InvalidError(Code.LOGIN_STATE_INVALID, "the login names no configured provider")
        return party

    def start(
        self, pending: PendingAuthorization, browser: str, provider: str | None = None
    ) -> Outcome:
        """Send the browser to `provider` (by name; ``None``: the first configured)."""
        acr_values = _ACR.get(pending.configuration_id)
        if acr_values is None or pending.configuration_id not in self.configurations:
            return Refused(
                Code.UNKNOWN_CREDENTIAL_CONFIGURATION,
                f"a login does not yield {pending.configuration_id}",
            )
        if provider is None and self.more_parties:
            # Several providers and none chosen (a wallet's request): the user picks one.
            return Redirect(f"{self.server.issuer.public_url}{CHOOSE_PATH}?request={pending.id}")
        party = self.relying_party if provider is None else self.parties.get(provider)
        if party is None:
            return Refused(Code.INVALID_REQUEST, "no such login provider")
        # "Any level" (every ProConnect acr) takes whatever the provider delivers; a named
        # level (certification-dirigeant) only from a provider that delivers it.
        delivered = party.config.acr_values
        if acr_values != PROCONNECT_ACR_VALUES:
            delivered = tuple(a for a in delivered if a in acr_values)
        if not delivered:
            return Refused(
                Code.ACR_TOO_LOW,
                f"{party.config.name} cannot deliver the login level "
                f"{pending.configuration_id} needs",
            )
        try:
            return Redirect(party.begin(pending.id, browser, delivered))
        except AncreError as error:
            return Refused(error.code, error.message)

    def resume(self, params: Mapping[str, str], browser: str) -> tuple[str, Outcome]:
        # No state, a replayed one or another browser's: nothing to tie the return to, so
        # this raises (the user sees the refusal; no wallet is told). The state is a row of
        # the shared table: any relying party consumes it; the row names its provider.
        row = self.relying_party.consume_state(params, browser)
        if row.request_id.startswith(LOGIN_PREFIX):
            # A director's login approving a delegation: no authorization request behind
            # it, so a refusal raises (shown to the director).
            return row.request_id, self._approver_login(row, params, browser)
        try:
            pending = self.server.pending(row.request_id)
            return row.request_id, self._decide(pending, row, params)
        except AncreError as error:
            return row.request_id, Refused(error.code, error.message)

    def _decide(
        self, pending: PendingAuthorization, row: Any, params: Mapping[str, str]
    ) -> Outcome:
        # Only the provider the state was issued for: its issuer, keys and client_id (the
        # mix-up defence: another provider's answer is refused as from a wrong issuer).
        login = self._party(row.provider).finish(row, params)
        siret = parse_siret(_text(login.claims, "siret"))
        record = self.register.lookup_siret(siret)
        check_establishment(record)
        evidence = [record.consultation.evidence(_EVIDENCE_OF[pending.configuration_id])]
        if pending.configuration_id == "VatID":
            claims, vies_evidence = self._vat_id(record)
            evidence.append(vies_evidence)
        else:
            try:
                claims = claims_for(
                    pending.configuration_id,
                    login.claims,
                    record,
                    acr=login.acr,
                    issuing_authority=self.server.issuer.did,
                )
            except AncreError as error:
                if (
                    pending.configuration_id != "Mandate"
                    or error.code is not Code.DIRECTOR_NOT_MATCHED
                ):
                    raise
                return self._delegated(login, record, evidence)
        authorization = Authorization(
            method="login",
            actor=login.subject_key,
            acr=login.acr,
            register_checked=True,
            evidence=tuple(evidence),
        )
        return Approved(authorization, claims)

    # -- delegation (ancre.issuer.delegation) ----------------------------------------------

    def _delegated(self, login: Any, record: EstablishmentRecord, evidence: list[Any]) -> Outcome:
        """A Mandate for a person the register does not list as a director: issued on a
        director's approved delegation (spent now), else a delegation request is recorded
        and the browser goes to its page (the approval link to pass on)."""
        person = _person(login.claims)
        organization = record.organization
        spent = self.delegations.spend_approved(login.subject_key, organization.siren)
        if spent is None:
            shown, code = self.delegations.request(
                requester_key=login.subject_key,
                requester_name=f"{person.given_names} {person.family_name}",
                siren=organization.siren,
                organization_name=organization.name,
            )
            return Redirect(status_url(self.server.issuer.public_url, shown.id, code))
        claims = {
            "legal_person_identifier": organization.siren,
            "legal_name": organization.name[:150],
            "full_powers": False,
            "effective_from_date": spent.decided_at.date().isoformat(),
            "issuing_authority": self.server.issuer.did[:150],
            "issuing_country": "FR",
            "given_name": person.given_names,
            "family_name": person.family_name,
            "role": spent.role[:150],
        }
        authorization = Authorization(
            method="login",
            actor=login.subject_key,
            acr=login.acr,
            register_checked=True,
            evidence=(*evidence, *spent.evidence),
        )
        return Approved(authorization, claims)

    def start_approval(self, code: str, browser: str, provider: str | None = None) -> str:
        """A director follows a delegation's approval link: the login URL of `provider`
        (by name; ``None``: the only one configured — with several, the approval page lets
        the director choose, so none named is ``invalid_request``). The login state names
        the delegation. Raises ``delegation_unknown``, ``delegation_expired``,
        ``delegation_already_decided``, ``invalid_request``."""
        shown = self.delegations.by_code(code)
        if provider is None and self.more_parties:
            raise InvalidError(Code.INVALID_REQUEST, "choose the login provider")
        party = self.relying_party if provider is None else self.parties.get(provider)
        if party is None:
            raise InvalidError(Code.INVALID_REQUEST, "no such login provider")
        return party.begin(LOGIN_PREFIX + shown.id, browser, party.config.acr_values)

    def _approver_login(self, row: Any, params: Mapping[str, str], browser: str) -> Outcome:
        """Check a director's login for a delegation (not the requester; the register
        confirms the SIRET, of the delegation's organization, and lists the person among its
        directors); the browser may then decide (:meth:`Delegations.for_review`). Raises
        ``AncreError`` with the refusal's code."""
        delegation_id = row.request_id[len(LOGIN_PREFIX) :]
        self.delegations.pending(delegation_id)
        login = self._party(row.provider).finish(row, params)
        if login.subject_key == self.delegations.requester_of(delegation_id):
            raise InvalidError(
                Code.DELEGATION_SELF_APPROVAL, "the requester cannot approve their own delegation"
            )
        record = self.register.lookup_siret(parse_siret(_text(login.claims, "siret")))
        check_establishment(record)
        shown = self.delegations.pending(delegation_id)
        if record.organization.siren != shown.siren:
            raise InvalidError(
                Code.DELEGATION_ORGANIZATION_MISMATCH,
                "the director logged in for another organization than the delegation's",
            )
        self._check_approver(record, _person(login.claims))
        self.delegations.approver_checked(
            delegation_id,
            approver_key=login.subject_key,
            browser=browser,
            evidence=[record.consultation.evidence("ancre:DelegationApprover")],
        )
        return Redirect(f"{self.server.issuer.public_url}{REVIEW_PATH}?id={delegation_id}")

    @staticmethod
    def _check_approver(record: EstablishmentRecord | OrganizationRecord, person: Person) -> None:
        try:
            check_director(record, person)
        except AncreError as error:
            if error.code is Code.DIRECTOR_NOT_MATCHED:
                raise InvalidError(
                    Code.DELEGATION_NOT_DIRECTOR,
                    "the person approving is not among the organization's directors",
                ) from None
            raise

    def logout(self, browser: str) -> str | None:
        """RP-initiated logout: the provider's logout URL, or ``None`` when only ancre's own
        session ends (:meth:`OidcRelyingParty.logout`)."""
        provider = login_provider_of(self.server.issuer, browser)
        party = self.parties.get(provider or "", self.relying_party)
        return party.logout(browser)

    def logged_out(self, params: Mapping[str, str], browser: str) -> None:
        """The provider's redirect back after its logout (``state`` checked, single use)."""
        self.relying_party.logged_out(params, browser)

    def _vat_id(self, record: EstablishmentRecord) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``VatID`` claims and the VIES consultation as evidence: the VAT number derived
        from the confirmed SIREN, issued only when VIES says it is valid now. VIES
        unreachable raises ``register_unavailable``; VIES invalid ``vat_not_registered``."""
        if self.vies is None:  # start() refuses VatID without VIES; never reached
            raise InvalidError(
                Code.UNKNOWN_CREDENTIAL_CONFIGURATION, "no VIES client is configured"
            )
        vat = fr_vat_from_siren(record.organization.siren)
        answer = check_vat(self.vies.check(vat))
        claims = {"gx:vatID": answer.vat_number, "gx:countryCode": "FR"}
        return claims, answer.consultation.evidence(_EVIDENCE_OF["VatID"])


#: The login configuration file: `ancre issuer serve --login FILE`.
_LOGIN_KEYS: Final = frozenset({"provider", "providers", "register", "delegation"})
_PROVIDER_KEYS: Final = frozenset(
    {
        "name",
        "label",
        "issuer",
        "client_id",
        "client_auth",
        "client_secret_env",
        "client_key",
        "client_key_file",
        "scopes",
        "acr_values",
        "claims_mapping",
        "redirect_uri",
        "post_logout_redirect_uri",
    }
)
_REGISTER_KEYS: Final = frozenset({"base_url", "vies_url"})
_PROVIDER_NAME: Final = re.compile(r"[a-z0-9-]{1,32}")
_KEY_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MAX_PROVIDERS: Final = 16
_MAX_KEY_FILE: Final = 64 * 1024
#: Claims the relying party itself checks: a mapping may neither read nor overwrite them.
_RESERVED_CLAIMS: Final = frozenset(
    {"sub", "iss", "aud", "azp", "acr", "amr", "nonce", "exp", "iat", "auth_time", "at_hash"}
)
#: A generic provider's default scopes (OpenID Connect Core §5.4); ProConnect's are its own.
_OIDC_SCOPES: Final = ("openid", "profile", "email")


@dataclass(frozen=True, slots=True)
class LoginSettings:
    """A parsed login configuration (docs/proconnect.md "Configuration")."""

    providers: tuple[ProviderConfig, ...]
    register_url: str
    #: The VIES REST API; ``None``: no VIES client, so no ``VatID`` from a login.
    vies_url: str | None = None
    #: How long a delegation request waits (``delegation.lifetime_days``, default 7).
    delegation_lifetime: timedelta = DELEGATION_LIFETIME
    #: The roles a delegation requester chooses from (``delegation.roles``), first the default.
    delegation_roles: tuple[str, ...] = DEFAULT_ROLES
    #: Provider name → the issuer key store's key it authenticates with
    #: (``private_key_jwt``), resolved by :func:`build_login_bridge`.
    key_store_keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def provider(self) -> ProviderConfig:
        """The first provider (the only one in the single ``"provider"`` form)."""
        return self.providers[0]


def _private_es256_jwk(data: Mapping[str, Any] | bytes, what: str) -> dict[str, Any]:
    """A private P-256 key (JWK, or PEM bytes) as a JWK with ``kid`` (its RFC 7638
    thumbprint when it has none), ``alg`` ES256 and ``use`` sig. Raises ``ConfigurationError``."""
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey

    from ancre.trust.errors import ConfigurationError

    try:
        key = ECKey.import_key(data if isinstance(data, bytes) else dict(data))
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise ConfigurationError(f"{what} is not an EC private key: {error}") from None
    if key.curve_name != "P-256" or not key.is_private:
        raise ConfigurationError(f"{what} must be a private P-256 key (ES256)")
    jwk = key.as_dict(private=True)
    jwk.setdefault("kid", key.thumbprint())
    jwk.update(alg="ES256", use="sig")
    return jwk


def _read_key_file(path: Path, what: str) -> dict[str, Any]:
    """A ``client_key_file``: only its owner may read it (mode 0600 or stricter)."""
    import stat

    from ancre.trust.codec.json import loads_strict
    from ancre.trust.errors import ConfigurationError

    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigurationError(f"{what}: {path} is not a file")
        if mode & 0o077:
            raise ConfigurationError(
                f"{what}: {path} is too open (mode {stat.S_IMODE(mode):04o}): "
                "a private key must be readable by its owner only (chmod 600)"
            )
        with path.open("rb") as handle:
            raw = handle.read(_MAX_KEY_FILE + 1)
    except OSError as error:
        raise ConfigurationError(f"{what}: cannot read {path}: {error.strerror}") from None
    if len(raw) > _MAX_KEY_FILE:
        raise ConfigurationError(f"{what}: {path} is larger than {_MAX_KEY_FILE} bytes")
    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            jwk = loads_strict(raw, what="private JWK")
        except AncreError as error:
            raise ConfigurationError(f"{what}: {error.message}") from None
        if not isinstance(jwk, dict):
            raise ConfigurationError(f"{what}: the JWK is not an object")
        return _private_es256_jwk(jwk, what)
    return _private_es256_jwk(raw, what)


def _strings(value: Any, where: str, *, limit: int = 32) -> tuple[str, ...]:
    from ancre.trust.errors import ConfigurationError

    if (
        not isinstance(value, list)
        or not value
        or len(value) > limit
        or not all(isinstance(v, str) and 0 < len(v) <= 256 and " " not in v for v in value)
    ):
        raise ConfigurationError(
            f"{where} must be a list of 1 to {limit} non-empty strings without spaces"
        )
    return tuple(value)


def _provider(
    entry: Any, where: str, *, base: Path, public_url: str, env: Mapping[str, str],
    default_name: str | None,
) -> tuple[ProviderConfig, str | None]:  # fmt: skip
    """One provider object of the configuration, and the key store key it names (if any)."""
    from ancre.trust.errors import ConfigurationError

    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} must be an object")
    unknown = sorted(set(entry) - _PROVIDER_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown member {unknown[0]!r}; the members are {sorted(_PROVIDER_KEYS)}"
        )
    name = entry.get("name", default_name)
    if not isinstance(name, str) or not _PROVIDER_NAME.fullmatch(name):
        raise ConfigurationError(f"{where}.name (required) must match [a-z0-9-]{{1,32}}")
    for member in ("issuer", "client_id"):
        value = entry.get(member)
        if not isinstance(value, str) or not value or len(value) > 255:
            raise ConfigurationError(f"{where}.{member} (a string) is required")
    if not entry["issuer"].startswith("https://"):
        raise ConfigurationError(f"{where}.issuer must be an https URL")
    auth = entry.get("client_auth", "client_secret_post")
    secret, client_key, key_name = "", None, None
    if auth == "client_secret_post":
        for member in ("client_key", "client_key_file"):
            if member in entry:
                raise ConfigurationError(f"{where}.{member} needs client_auth private_key_jwt")
        variable = entry.get("client_secret_env")
        if not isinstance(variable, str) or not variable:
            raise ConfigurationError(f"{where}.client_secret_env (a string) is required")
        secret = env.get(variable, "")
        if not secret:
            raise ConfigurationError(
                f"{where}: the client secret is read from ${variable}, which is unset"
            )
    elif auth == "private_key_jwt":
        if "client_secret_env" in entry:
            raise ConfigurationError(f"{where}.client_secret_env: private_key_jwt uses no secret")
        if ("client_key" in entry) == ("client_key_file" in entry):
            raise ConfigurationError(
                f"{where}: private_key_jwt needs exactly one of client_key (a key store name) "
                "and client_key_file"
            )
        if "client_key" in entry:
            key_name = entry["client_key"]
            if not isinstance(key_name, str) or not _KEY_NAME.fullmatch(key_name):
                raise ConfigurationError(f"{where}.client_key must be a key store key's name")
        else:
            file = entry["client_key_file"]
            if not isinstance(file, str) or not file:
                raise ConfigurationError(f"{where}.client_key_file must be a path")
            client_key = _read_key_file(base / file, f"{where}.client_key_file")
    else:
        raise ConfigurationError(
            f"{where}.client_auth must be client_secret_post or private_key_jwt"
        )
    proconnect = name == "proconnect" or name.startswith("proconnect-")
    scopes = _strings(
        entry.get("scopes", list(PROCONNECT_SCOPES if proconnect else _OIDC_SCOPES)),
        f"{where}.scopes",
    )
    if "openid" not in scopes:
        raise ConfigurationError(f"{where}.scopes must be a list with openid")
    acr_values = _strings(entry.get("acr_values", list(PROCONNECT_ACR_VALUES)),
                          f"{where}.acr_values")  # fmt: skip
    mapping = entry.get("claims_mapping", {})
    if not isinstance(mapping, dict) or len(mapping) > 32:
        raise ConfigurationError(f"{where}.claims_mapping must be an object (at most 32)")
    for theirs, ours in mapping.items():
        if not isinstance(ours, str) or not 0 < len(ours) <= 64 or not 0 < len(theirs) <= 64:
            raise ConfigurationError(f"{where}.claims_mapping maps claim names to claim names")
        if theirs in _RESERVED_CLAIMS or ours in _RESERVED_CLAIMS:
            raise ConfigurationError(
                f"{where}.claims_mapping may not map {theirs!r} to {ours!r}: "
                f"{sorted(_RESERVED_CLAIMS)} are checked by the relying party"
            )
    label = entry.get("label", "")
    if not isinstance(label, str) or len(label) > 80 or ("label" in entry and not label.strip()):
        raise ConfigurationError(f"{where}.label must be a non-empty string of at most 80")
    uris = {}
    for member, default in (("redirect_uri", "/login/callback"),
                            ("post_logout_redirect_uri", "/login/logged-out")):  # fmt: skip
        uri = entry.get(member, f"{public_url}{default}")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise ConfigurationError(f"{where}.{member} must be a URL")
        uris[member] = uri
    config = ProviderConfig(
        name=name,
        issuer=entry["issuer"],
        client_id=entry["client_id"],
        client_secret=secret,
        redirect_uri=uris["redirect_uri"],
        scopes=scopes,
        post_logout_redirect_uri=uris["post_logout_redirect_uri"],
        client_key=client_key,
        acr_values=acr_values,
        claims_mapping=dict(mapping),
        label=label.strip(),
    )
    return config, key_name


def load_login_settings(
    path: Path, *, public_url: str, environ: Mapping[str, str] | None = None
) -> LoginSettings:
    """Read a login configuration file (strict JSON, known members only): one provider
    (``"provider": {...}``) or several (``"providers": [...]``). A client secret is never in
    the file: it names an environment variable (``client_secret_env``); a ``private_key_jwt``
    key is a key store name or a file only its owner can read. Raises ``ConfigurationError``
    naming the wrong member."""
    import os

    from ancre.issuer.registers import DEFAULT_RECHERCHE_URL
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.errors import ConfigurationError

    env = os.environ if environ is None else environ
    try:
        data = loads_strict(path.read_bytes(), what="login configuration")
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from None
    except AncreError as error:  # not JSON, a duplicate member, too deep…
        raise ConfigurationError(f"{path}: {error.message}") from None
    if not isinstance(data, dict) or set(data) - _LOGIN_KEYS:
        raise ConfigurationError(
            f"{path}: expected {sorted(_LOGIN_KEYS)} with a `provider` or `providers`"
        )
    if ("provider" in data) == ("providers" in data):
        raise ConfigurationError(
            f"{path}: give either `provider` (one) or `providers` (a list), not both or neither"
        )
    if "provider" in data:
        entries, names = [data["provider"]], ["provider"]
    else:
        entries = data["providers"]
        if not isinstance(entries, list) or not 0 < len(entries) <= _MAX_PROVIDERS:
            raise ConfigurationError(
                f"{path}: `providers` must be a list of 1 to {_MAX_PROVIDERS} provider objects"
            )
        names = [f"providers[{i}]" for i in range(len(entries))]
    register = data.get("register", {})
    if not isinstance(register, dict) or set(register) - _REGISTER_KEYS:
        raise ConfigurationError(f"{path}: `register` members are {sorted(_REGISTER_KEYS)}")
    configs: list[ProviderConfig] = []
    key_store_keys: dict[str, str] = {}
    for entry, where in zip(entries, names, strict=True):
        config, key_name = _provider(
            entry, f"{path}: {where}", base=path.parent, public_url=public_url, env=env,
            default_name="proconnect" if where == "provider" else None,
        )  # fmt: skip
        if any(c.name == config.name for c in configs):
            raise ConfigurationError(f"{path}: {where}: duplicate provider name {config.name!r}")
        configs.append(config)
        if key_name is not None:
            key_store_keys[config.name] = key_name
    vies_url = register.get("vies_url")
    if vies_url is not None and (
        not isinstance(vies_url, str) or not vies_url.startswith("https://")
    ):
        raise ConfigurationError(f"{path}: `register.vies_url` must be an https URL")
    return LoginSettings(
        tuple(configs), str(register.get("base_url", DEFAULT_RECHERCHE_URL)), vies_url,
        key_store_keys=key_store_keys,
        delegation_lifetime=delegation_lifetime(path, data.get("delegation")),
        delegation_roles=delegation_roles(path, data.get("delegation")),
    )  # fmt: skip


def resolve_client_keys(settings: LoginSettings, store: Any) -> tuple[ProviderConfig, ...]:
    """The providers with their ``client_key`` taken from the issuer's key store (the keys
    `settings` names by key store name). Raises ``ConfigurationError``."""
    from dataclasses import replace

    from ancre.trust.errors import ConfigurationError

    resolved = []
    for config in settings.providers:
        name = settings.key_store_keys.get(config.name)
        if name is not None:
            what = f"provider {config.name}: client_key {name!r}"
            try:
                jwk = store.export_private_jwk(name)
            except AncreError as error:
                raise ConfigurationError(f"{what}: {error.message}") from None
            config = replace(config, client_key=_private_es256_jwk(jwk, what))
        resolved.append(config)
    return tuple(resolved)


def build_login_bridge(issuer: Any, settings: LoginSettings) -> LoginBridge:
    """The production bridge: the providers and Recherche d'entreprises over the public
    network (default network policy: no loopback, no private addresses, https only)."""
    import httpx

    from ancre.issuer.registers import RechercheEntreprises

    client = httpx.Client(trust_env=False)
    parties = [
        OidcRelyingParty(c, issuer, client) for c in resolve_client_keys(settings, issuer.store)
    ]
    register = RechercheEntreprises(client, base_url=settings.register_url, clock=issuer.clock)
    vies = (
        Vies(client, base_url=settings.vies_url, clock=issuer.clock) if settings.vies_url else None
    )
    delegations = Delegations(
        issuer, lifetime=settings.delegation_lifetime, roles=settings.delegation_roles
    )
    return LoginBridge(
        parties[0], register, AuthorizationServer(issuer), vies=vies,
        more_parties=tuple(parties[1:]), delegation_store=delegations,
    )  # fmt: skip
