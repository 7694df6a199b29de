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

from collections.abc import Mapping
from dataclasses import dataclass
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
    DELEGATION_LIFETIME,
    LOGIN_PREFIX,
    REVIEW_PATH,
    Delegations,
    delegation_lifetime,
    status_url,
)
from ancre.issuer.fr_identifiers import fr_vat_from_siren, parse_siret
from ancre.issuer.login import (
    CERTIFICATION_DIRIGEANT,
    PROCONNECT_ACR_VALUES,
    PROCONNECT_SCOPES,
    OidcRelyingParty,
    ProviderConfig,
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
    "LoginBridge",
    "LoginSettings",
    "build_login_bridge",
    "claims_for",
    "load_login_settings",
]

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
    """The user-authentication step backed by an OpenID provider and a company register."""

    relying_party: OidcRelyingParty
    register: CompanyRegister
    server: AuthorizationServer
    #: The VIES client; without it a login does not yield ``VatID``.
    vies: Vies | None = None
    #: Delegation requests (a Mandate approved by a director); ``None``: kept in the
    #: server's database with the defaults (7 days).
    delegation_store: Delegations | None = None

    @property
    def delegations(self) -> Delegations:
        if self.delegation_store is None:
            self.delegation_store = Delegations(self.server.issuer)
        return self.delegation_store

    @property
    def configurations(self) -> tuple[str, ...]:
        """The credential configurations a login can yield (the landing page offers them)."""
        return tuple(c for c in _ACR if c != "VatID" or self.vies is not None)

    @property
    def form_targets(self) -> tuple[str, ...]:
        """Origins the pages' forms may lead to (CSP ``form-action``): the provider's, as
        the login form redirects there."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.relying_party.config.issuer)
        return (f"{parts.scheme}://{parts.netloc}",)

    def start(self, pending: PendingAuthorization, browser: str) -> Outcome:
        acr_values = _ACR.get(pending.configuration_id)
        if acr_values is None or pending.configuration_id not in self.configurations:
            return Refused(
                Code.UNKNOWN_CREDENTIAL_CONFIGURATION,
                f"a login does not yield {pending.configuration_id}",
            )
        try:
            return Redirect(self.relying_party.begin(pending.id, browser, acr_values))
        except AncreError as error:
            return Refused(error.code, error.message)

    def resume(self, params: Mapping[str, str], browser: str) -> tuple[str, Outcome]:
        # No state, a replayed one or another browser's: nothing to tie the return to, so
        # this raises (the user sees the refusal; no wallet is told).
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
        login = self.relying_party.finish(row, params)
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

    def start_approval(self, code: str, browser: str) -> str:
        """A director follows a delegation's approval link: the provider's login URL (the
        login state names the delegation). Raises ``delegation_unknown``,
        ``delegation_expired``, ``delegation_already_decided``."""
        shown = self.delegations.by_code(code)
        return self.relying_party.begin(LOGIN_PREFIX + shown.id, browser, PROCONNECT_ACR_VALUES)

    def _approver_login(self, row: Any, params: Mapping[str, str], browser: str) -> Outcome:
        """Check a director's login for a delegation (not the requester; the register
        confirms the SIRET, of the delegation's organization, and lists the person among its
        directors); the browser may then decide (:meth:`Delegations.for_review`). Raises
        ``AncreError`` with the refusal's code."""
        delegation_id = row.request_id[len(LOGIN_PREFIX) :]
        self.delegations.pending(delegation_id)
        login = self.relying_party.finish(row, params)
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
        return self.relying_party.logout(browser)

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
_LOGIN_KEYS: Final = frozenset({"provider", "register", "delegation"})
_PROVIDER_KEYS: Final = frozenset(
    {
        "name",
        "issuer",
        "client_id",
        "client_secret_env",
        "scopes",
        "redirect_uri",
        "post_logout_redirect_uri",
    }
)
_REGISTER_KEYS: Final = frozenset({"base_url", "vies_url"})


@dataclass(frozen=True, slots=True)
class LoginSettings:
    """A parsed login configuration (docs/proconnect.md "Configuration")."""

    provider: ProviderConfig
    register_url: str
    #: The VIES REST API; ``None``: no VIES client, so no ``VatID`` from a login.
    vies_url: str | None = None
    #: How long a delegation request waits (``delegation.lifetime_days``, default 7).
    delegation_lifetime: timedelta = DELEGATION_LIFETIME


def load_login_settings(
    path: Path, *, public_url: str, environ: Mapping[str, str] | None = None
) -> LoginSettings:
    """Read a login configuration file (strict JSON, known members only). The client secret
    is never in the file: it names an environment variable (``client_secret_env``)."""
    import os

    from ancre.issuer.registers import DEFAULT_RECHERCHE_URL
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.errors import ConfigurationError

    env = os.environ if environ is None else environ
    try:
        data = loads_strict(path.read_bytes(), what="login configuration")
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from None
    if not isinstance(data, dict) or set(data) - _LOGIN_KEYS or "provider" not in data:
        raise ConfigurationError(f"{path}: expected {sorted(_LOGIN_KEYS)} with a `provider`")
    provider = data["provider"]
    register = data.get("register", {})
    if not isinstance(provider, dict) or set(provider) - _PROVIDER_KEYS:
        raise ConfigurationError(f"{path}: `provider` members are {sorted(_PROVIDER_KEYS)}")
    if not isinstance(register, dict) or set(register) - _REGISTER_KEYS:
        raise ConfigurationError(f"{path}: `register` members are {sorted(_REGISTER_KEYS)}")
    for name in ("issuer", "client_id", "client_secret_env"):
        if not isinstance(provider.get(name), str) or not provider[name]:
            raise ConfigurationError(f"{path}: `provider.{name}` (a string) is required")
    if not provider["issuer"].startswith("https://"):
        raise ConfigurationError(f"{path}: the provider's issuer must be an https URL")
    secret = env.get(provider["client_secret_env"])
    if not secret:
        raise ConfigurationError(
            f"the client secret is read from ${provider['client_secret_env']}, which is unset"
        )
    scopes = provider.get("scopes", list(PROCONNECT_SCOPES))
    if not isinstance(scopes, list) or "openid" not in scopes:
        raise ConfigurationError(f"{path}: `provider.scopes` must be a list with openid")
    config = ProviderConfig(
        name=str(provider.get("name", "proconnect")),
        issuer=provider["issuer"],
        client_id=provider["client_id"],
        client_secret=secret,
        redirect_uri=str(provider.get("redirect_uri", f"{public_url}/login/callback")),
        scopes=tuple(str(s) for s in scopes),
        post_logout_redirect_uri=str(
            provider.get("post_logout_redirect_uri", f"{public_url}/login/logged-out")
        ),
    )
    vies_url = register.get("vies_url")
    if vies_url is not None and (
        not isinstance(vies_url, str) or not vies_url.startswith("https://")
    ):
        raise ConfigurationError(f"{path}: `register.vies_url` must be an https URL")
    return LoginSettings(
        config, str(register.get("base_url", DEFAULT_RECHERCHE_URL)), vies_url,
        delegation_lifetime=delegation_lifetime(path, data.get("delegation")),
    )  # fmt: skip


def build_login_bridge(issuer: Any, settings: LoginSettings) -> LoginBridge:
    """The production bridge: the provider and Recherche d'entreprises over the public
    network (default network policy: no loopback, no private addresses, https only)."""
    import httpx

    from ancre.issuer.registers import RechercheEntreprises

    client = httpx.Client(trust_env=False)
    relying_party = OidcRelyingParty(settings.provider, issuer, client)
    register = RechercheEntreprises(client, base_url=settings.register_url, clock=issuer.clock)
    vies = (
        Vies(client, base_url=settings.vies_url, clock=issuer.clock) if settings.vies_url else None
    )
    delegations = Delegations(issuer, lifetime=settings.delegation_lifetime)
    return LoginBridge(
        relying_party, register, AuthorizationServer(issuer), vies=vies,
        delegation_store=delegations,
    )  # fmt: skip
