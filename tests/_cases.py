"""The cross-interface table: every case is one input, one verifier configuration and the one
answer (status and error codes) that the library, the VC-API service and the `ancre verify`
command must all give for it. Run by tests/test_cross_interface.py.

The inputs are built once per session by a `World`: fixed issuers (did:key, did:jwk and a
did:web hosted on a loopback server), W3C Bitstring and IETF Token status lists, signed
trust lists (one good, one forged, one stale), didkit- and `sd_jwt`-package-issued
credentials. Every interface is configured alike: the same clock (`NOW`), network policy
(loopback over plain HTTP allowed), status checking, trusted issuers and trust list.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from _http_server import LoopbackServer, Route, free_port
from _negative import NEGATIVE
from _support import NOW, Issuer, b64json, credential, forge

from ancre.issuer.builders import Address, legal_person_credential
from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.cose.vc_cose import envelope_cose, issue_vc_cose
from ancre.trust.data_integrity.proofs import add_proof
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.jose.jws import sign_compact
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt, issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.result import Status
from ancre.trust.sd_jwt.disclosure import Disclosure
from ancre.trust.sd_jwt.issue import SdJwt, issue_sd_jwt
from ancre.trust.sd_jwt.present import present
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc
from ancre.trust.sd_jwt.vcdm import issue_vc_sd_jwt, issue_vp_sd_jwt
from ancre.trust.status.bitstring import BitstringStatusList
from ancre.trust.status.token import StatusType, TokenStatusList, issue_status_list_token
from ancre.trust.trust_list.model import (
    ANCHOR_SERVICE,
    ClaimConstraint,
    EntryStatus,
    StatusPeriod,
    TrustedEntity,
    TrustedService,
    TrustListDocument,
)
from ancre.trust.trust_list.signed import sign_trust_list

AT = "2026-01-15T12:00:00Z"
assert datetime.fromisoformat(AT) == NOW
AUD = "https://connector.example"
NONCE = "c-7Hq2xK"
VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
VCT = "https://credentials.example/membership"
T0 = datetime(2025, 1, 1, tzinfo=UTC)

LIBRARY, SERVICE, CLI, OPENID4VP = "library", "service", "cli", "openid4vp"
#: The VC-API service run with `failure_status=400` (`--failure-status 400`): the same
#: verdicts, a failed verification answered 400 with the same body.
SERVICE_400 = "service --failure-status 400"
INTERFACES = (LIBRARY, SERVICE, SERVICE_400, CLI, OPENID4VP)

Input = str | dict[str, Any]


# ------------------------------------------------------------------------------------------
# verifier configurations (the same for the three interfaces)


@dataclass(frozen=True)
class Profile:
    """What the verifier trusts. `trusted` names World issuers (policy.trusted_issuers /
    --trusted-issuer); `trust_list` names a World trust-list source (trust_list_url +
    registry_did / --trust-list + --registry-key)."""

    name: str
    trusted: tuple[str, ...] | None = None
    trust_list: str | None = None
    #: A policy file (JSON text): `ancre verify --policy`, the service's and library's policy.
    policy_file: str | None = None


OPEN = Profile("open")
TRUSTED = Profile("trusted-issuers", trusted=("ed", "didkit"))
LISTED = Profile("trust-list", trust_list="main")
LIST_DOWN = Profile("trust-list-down", trust_list="down")
LIST_FORGED = Profile("trust-list-forged", trust_list="forged")
LIST_STALE = Profile("trust-list-stale", trust_list="stale")
LEGAL_PERSONS_ONLY = Profile(
    "policy: gx:LegalPerson, ES256/EdDSA, at most 30 days old, VCDM 2.0 only",
    policy_file=json.dumps(
        {
            "required_types": ["gx:LegalPerson"],
            "algorithms": ["ES256", "EdDSA"],
            "max_credential_age_seconds": 30 * 86400,
            "accept_vcdm11": False,
        }
    ),
)
NO_STATUS = Profile("policy: status not checked", policy_file='{"check_status": false}')
JOSE_ONLY_TRUST_REQUIRED = Profile(
    "policy: vc+jwt and vp+jwt only, a trust decision required",
    policy_file='{"formats": ["vc+jwt", "vp+jwt"], "require_trust": true}',
)
REQUIRE_HOLDER = Profile(
    "policy: presentations name their holder", policy_file='{"require_holder": true}'
)
PROFILES = (
    OPEN,
    TRUSTED,
    LISTED,
    LIST_DOWN,
    LIST_FORGED,
    LIST_STALE,
    LEGAL_PERSONS_ONLY,
    NO_STATUS,
    JOSE_ONLY_TRUST_REQUIRED,
    REQUIRE_HOLDER,
)


# ------------------------------------------------------------------------------------------
# the world the inputs live in


@dataclass(frozen=True)
class WebIssuer:
    key: PrivateKey
    did: str
    kid: str


def _did_document(did: str, kid: str, key: PrivateKey, *, relationships: tuple[str, ...]) -> bytes:
    method = {
        "id": kid,
        "type": "JsonWebKey2020",
        "controller": did,
        "publicKeyJwk": key.public_key.to_jwk(),
    }
    document: dict[str, Any] = {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": [method],
    }
    for relationship in relationships:
        document[relationship] = [kid]
    return json.dumps(document).encode()


class World:
    """Issuers, holders, hosted documents and the third-party-issued credentials."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.clock = FixedClock(NOW)
        #: What the holder binds presentations to (KB-JWT, vp+jwt, DI proof): the table's
        #: AUD and NONCE, or an OpenID4VP transaction's Client Identifier and nonce.
        self.aud, self.nonce = AUD, NONCE
        self.ed = Issuer.new("ed25519")
        self.p256 = Issuer.new("p256")
        self.p384 = Issuer.new("p384")
        self.stranger = Issuer.new("ed25519")
        self.di_holder = Issuer.new("ed25519")
        self.holder_key = PrivateKey.generate("p256")
        self.holder = did_jwk_from_public_key(self.holder_key.public_key)
        self.holder_kid = f"{self.holder}#0"
        self.other_holder_key = PrivateKey.generate("p256")
        host = f"did:web:127.0.0.1%3A{server.port}"
        self.base = server.base
        self.dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        self.web = self._web(host, "/.well-known/did.json", ("assertionMethod",))
        self.authonly = self._web(f"{host}:authonly", "/authonly/did.json", ("authentication",))
        self.missing_did = f"{host}:missing"  # no document: 404
        self.broken_did = f"{host}:broken"
        server.routes["/broken/did.json"] = Route(status=500, body=b"internal error")
        self.registry = self._web(f"{host}:registry", "/registry/did.json", ("assertionMethod",))
        self._status_lists()
        self._trust_lists()
        self._didkit()
        self._sd_jwt_package()
        self._inputs: dict[str, Input] = {}

    @contextmanager
    def bound_to(self, audience: str, nonce: str) -> Iterator[None]:
        """Build inputs whose holder binding names `audience` and `nonce` instead."""
        saved = self.aud, self.nonce
        self.aud, self.nonce = audience, nonce
        try:
            yield
        finally:
            self.aud, self.nonce = saved

    def issuer(self, name: str) -> str:
        return {"didkit": self.didkit_did}.get(name) or getattr(self, name).did

    def input(self, case: Case) -> Input:
        if case.name not in self._inputs:
            self._inputs[case.name] = case.build(self)
        return self._inputs[case.name]

    def trust_list_source(self, name: str) -> str:
        if name == "down":
            return f"{self.dead}/trust-list"
        return f"{self.base}/trust-list/{name}"

    # -- hosting

    def host(self, path: str, body: bytes, media: str) -> str:
        self.server.routes[path] = Route(body=body, headers={"Content-Type": media})
        return f"{self.base}{path}"

    def _web(self, did: str, path: str, relationships: tuple[str, ...]) -> WebIssuer:
        key = PrivateKey.generate("ed25519")
        kid = f"{did}#key-1"
        self.host(
            path, _did_document(did, kid, key, relationships=relationships), "application/json"
        )
        return WebIssuer(key, did, kid)

    # -- status lists: W3C Bitstring (vc+jwt) and IETF Token Status List (statuslist+jwt)

    REVOKED_INDEX, GOOD_INDEX, SUSPENDED_INDEX = 3, 4, 9
    TOKEN_VALID, TOKEN_REVOKED, TOKEN_SUSPENDED = 5, 6, 7

    def _status_lists(self) -> None:
        valid_from = datetime(2026, 1, 10, tzinfo=UTC)
        revocation = BitstringStatusList()
        revocation.set(self.REVOKED_INDEX)
        suspension = BitstringStatusList(purpose="suspension")
        suspension.set(self.SUSPENDED_INDEX)
        self.revocation_list, self.suspension_list = revocation, suspension
        for path, lst, signer in (
            ("/status/revocation", revocation, self.ed),
            ("/status/suspension", suspension, self.ed),
            ("/status/stranger", revocation, self.stranger),
        ):
            url = f"{self.base}{path}"
            unsigned = lst.credential(id=url, issuer=signer.did, valid_from=valid_from)
            self.host(
                path, issue_vc_jwt(unsigned, signer.key, signer.kid).encode(), "application/vc+jwt"
            )
        tokens = TokenStatusList(1024, bits=2)
        tokens.set(self.TOKEN_REVOKED, StatusType.INVALID)
        tokens.set(self.TOKEN_SUSPENDED, StatusType.SUSPENDED)
        url = f"{self.base}/status/token"
        token = issue_status_list_token(
            tokens,
            self.ed.key,
            kid=self.ed.kid,
            uri=url,
            clock=FixedClock(NOW - timedelta(hours=1)),
            issuer=self.ed.did,
        )
        self.host("/status/token", token.encode(), "application/statuslist+jwt")

    def bitstring_entry(self, index: int, path: str = "/status/revocation", **extra: Any) -> Any:
        lst = self.suspension_list if path == "/status/suspension" else self.revocation_list
        entry = lst.entry(index, status_list_credential=f"{self.base}{path}")
        entry.update(extra)
        return entry

    # -- trust lists: the registry (a did:web on loopback) signs them

    def _trust_lists(self) -> None:
        def active(*extra: StatusPeriod) -> tuple[StatusPeriod, ...]:
            return (StatusPeriod(EntryStatus.ACTIVE, T0), *extra)

        anchor = "did:web:association.example"
        fr_only = (ClaimConstraint("credentialSubject.gx:legalAddress.gx:countryCode", ("FR",)),)
        entities = (
            TrustedEntity(anchor, "Association", (TrustedService(ANCHOR_SERVICE, active()),)),
            TrustedEntity(
                self.ed.did,
                "Agence (did:key)",
                (
                    TrustedService("ExampleMembership", active()),
                    TrustedService("gx:LegalPerson", active(), constraints=fr_only),
                ),
                accredited_by=anchor,
            ),
            TrustedEntity(
                self.web.did,
                "Agence (did:web)",
                (TrustedService("ExampleMembership", active()),),
                accredited_by=anchor,
            ),
            TrustedEntity(
                self.p256.did,
                "Suspended before issuing",
                (
                    TrustedService(
                        "ExampleMembership",
                        active(
                            StatusPeriod(EntryStatus.SUSPENDED, datetime(2025, 12, 20, tzinfo=UTC))
                        ),
                    ),
                ),
                accredited_by=anchor,
            ),
            TrustedEntity(
                self.p384.did,
                "Withdrawn since",
                (
                    TrustedService(
                        "ExampleMembership",
                        active(
                            StatusPeriod(EntryStatus.WITHDRAWN, datetime(2026, 1, 10, tzinfo=UTC))
                        ),
                    ),
                ),
                accredited_by=anchor,
            ),
        )

        def document(sequence: int, issued_at: datetime) -> TrustListDocument:
            return TrustListDocument(
                sequence=sequence,
                issued_at=issued_at,
                next_update=issued_at + timedelta(days=30),
                operator_name="Loire data space",
                scheme_name="Trusted credential issuers",
                entities=entities,
            )

        current = document(7, datetime(2026, 1, 14, tzinfo=UTC))
        reg = self.registry
        for name, doc, signer in (
            ("main", current, reg.key),
            # Claims the registry's key (kid, iss) but is signed by someone else.
            ("forged", current, self.stranger.key),
            # NextUpdate (2025-12-31) is before NOW: nothing current to decide with.
            ("stale", document(3, datetime(2025, 12, 1, tzinfo=UTC)), reg.key),
        ):
            token = sign_trust_list(doc, signer, kid=reg.kid, issuer=reg.did)
            self.host(f"/trust-list/{name}", token.encode(), "application/trust-list+jwt")

    # -- third-party issuers (issued once per session: didkit is slowish)

    def _didkit(self) -> None:
        async def issue() -> None:
            import didkit

            ed = PrivateKey.generate("ed25519")
            p256 = PrivateKey.generate("p256")
            key = json.dumps(ed.export_private_jwk())
            p256_key = json.dumps(p256.export_private_jwk())
            did = didkit.key_to_did("key", key)
            vm = await didkit.key_to_verification_method("key", key)
            p256_did = didkit.key_to_did("key", p256_key)
            p256_vm = await didkit.key_to_verification_method("key", p256_key)

            def vc(issuer: str) -> str:
                return json.dumps(
                    {
                        "@context": [VC_V1],
                        "type": ["VerifiableCredential"],
                        "issuer": issuer,
                        "issuanceDate": "2026-01-01T00:00:00Z",
                        "expirationDate": "2027-01-01T00:00:00Z",
                        "credentialSubject": {"id": "did:example:holder"},
                    }
                )

            ldp = {"proofFormat": "ldp", "proofPurpose": "assertionMethod"}
            created = {"created": "2026-01-02T00:00:00Z"}
            self.didkit_did = did
            self.didkit_jwt = await didkit.issue_credential(
                vc(did), json.dumps({"proofFormat": "jwt", "verificationMethod": vm}), key
            )
            self.didkit_ld2018 = json.loads(
                await didkit.issue_credential(
                    vc(did), json.dumps({**ldp, **created, "verificationMethod": vm}), key
                )
            )
            self.didkit_ld2020 = json.loads(
                await didkit.issue_credential(
                    vc(did),
                    json.dumps(
                        {**ldp, **created, "verificationMethod": vm, "type": "Ed25519Signature2020"}
                    ),
                    key,
                )
            )
            # didkit signs P-256 keys with EcdsaSecp256r1Signature2019 unless told otherwise.
            self.didkit_p256_ld = json.loads(
                await didkit.issue_credential(
                    vc(p256_did),
                    json.dumps({**ldp, **created, "verificationMethod": p256_vm}),
                    p256_key,
                )
            )
            presentation = {
                "@context": [VC_V1],
                "type": ["VerifiablePresentation"],
                "holder": did,
                "verifiableCredential": [self.didkit_ld2018],
            }
            vp_options = {
                "proofFormat": "ldp",
                "verificationMethod": vm,
                "proofPurpose": "authentication",
                "challenge": NONCE,
                "domain": AUD,
                "created": "2026-01-15T11:59:00Z",
            }
            self.didkit_vp = json.loads(
                await didkit.issue_presentation(
                    json.dumps(presentation), json.dumps(vp_options), key
                )
            )

        asyncio.run(issue())

    def _sd_jwt_package(self) -> None:
        """An SD-JWT VC issued and presented (with a KB-JWT) by the `sd_jwt` package."""
        from jwcrypto import jwk as jwc_jwk
        from sd_jwt.common import SDObj
        from sd_jwt.issuer import SDJWTIssuer

        # The package signs and checks KB-JWTs with ES256 only.
        issuer = self.p256
        claims = {
            "iss": issuer.did,
            "vct": VCT,
            "iat": int((NOW - timedelta(days=1)).timestamp()),
            "exp": int((NOW + timedelta(days=365)).timestamp()),
            SDObj("given_name"): "Marie",
            SDObj("memberOf"): "Data space Loire",
        }
        package_issuer = SDJWTIssuer(
            claims,
            jwc_jwk.JWK(**issuer.key.export_private_jwk()),
            holder_key=jwc_jwk.JWK(**self.holder_key.export_private_jwk()),
            sign_alg="ES256",
            add_decoy_claims=True,
            extra_header_parameters={"typ": "dc+sd-jwt", "kid": issuer.kid},
        )
        self._package_issuance: str = package_issuer.sd_jwt_issuance

    def package_sd_jwt(self) -> str:
        """The `sd_jwt` package's presentation (KB-JWT bound to the current binding)."""
        from unittest import mock

        from jwcrypto import jwk as jwc_jwk
        from sd_jwt.holder import SDJWTHolder

        holder = SDJWTHolder(self._package_issuance)
        # The package stamps the KB-JWT with time.time(): pin it to the verification time.
        with mock.patch("sd_jwt.holder.time", return_value=NOW.timestamp()):
            holder.create_presentation(
                {"given_name": True},
                nonce=self.nonce,
                aud=self.aud,
                holder_key=jwc_jwk.JWK(**self.holder_key.export_private_jwk()),
                sign_alg="ES256",
            )
        presentation: str = holder.sd_jwt_presentation
        return presentation


# ------------------------------------------------------------------------------------------
# the case table


@dataclass(frozen=True)
class Case:
    """One row. `codes` are the expected error codes in order (empty when valid)."""

    name: str
    build: Callable[[World], Input]
    status: Status
    codes: tuple[str, ...] = ()
    profile: Profile = OPEN
    #: A presentation: POSTed to /presentations/verify.
    presentation: bool = False
    #: What the verifier requires the holder to have bound the input to.
    audience: str | None = None
    nonce: str | None = None
    #: The input cannot be parsed at all (`ancre verify` exits 65; `result.malformed`).
    malformed: bool = False
    interfaces: tuple[str, ...] = INTERFACES
    #: The service's HTTP status: 200 for every completed verification.
    service_http: int = 200
    #: Known product bug: the case asserts the correct answer and is a strict xfail.
    bug: str | None = None
    #: For `invalid_presentation`: the first code of the presented credential that decided
    #: it (every interface names it in the error's message).
    reason: str | None = None
    #: Why OpenID4VP cannot carry this case (None: it runs through OpenID4VP too).
    not_openid4vp: str | None = None

    @property
    def id(self) -> str:
        return self.name


# Why a case has no OpenID4VP rendition. OpenID4VP (docs/openid4vp.md) carries dc+sd-jwt
# (an SD-JWT+KB) and jwt_vc_json (a VP JWT holding one vc+jwt), always bound to the
# transaction's nonce and Client Identifier.
UNBOUND = (
    "the verifier asks for no nonce/audience binding (a bare credential or a bearer SD-JWT):"
    " OpenID4VP binds every presentation to its transaction, so it cannot carry this input"
)
NO_LDP = (
    "Data Integrity: ancre's OpenID4VP carries dc+sd-jwt and jwt_vc_json only (ldp_vc is not"
    " supported, docs/openid4vp.md)"
)
NOT_ONE_HOLDER_CREDENTIAL = (
    "jwt_vc_json: the VP must carry exactly one credential whose subject is the holder"
    " (OpenID4VP §2, §B.1.3), a rule only OpenID4VP applies"
)
NOT_JWT_VC_JSON = "an SD-JWT VC inside a VP JWT is neither dc+sd-jwt nor jwt_vc_json"

CASES: list[Case] = []


def case(
    name: str, build: Callable[[World], Input], status: Status, *codes: str, **kw: Any
) -> None:
    """Add a row. A row without a nonce/audience binding is `UNBOUND` for OpenID4VP; other
    exclusions are stated with `not_openid4vp=`."""
    assert all(c.name != name for c in CASES), name
    if kw.get("nonce") is None and kw.get("audience") is None:
        kw.setdefault("not_openid4vp", UNBOUND)
    if kw.get("not_openid4vp") is not None:
        kw.setdefault("interfaces", tuple(i for i in INTERFACES if i != OPENID4VP))
    CASES.append(Case(name, build, status, tuple(codes), **kw))


VALID, INVALID, INDETERMINATE = Status.VALID, Status.INVALID, Status.INDETERMINATE
BOUND: dict[str, Any] = {"audience": AUD, "nonce": NONCE}


# ---- helpers ----------------------------------------------------------------------------


def _vc(issuer: Issuer | WebIssuer, **overrides: Any) -> str:
    return issue_vc_jwt(credential(issuer.did, **overrides), issuer.key, issuer.kid)


def _resign(token: str, signer: Issuer | WebIssuer, **header: Any) -> str:
    """The token's payload under another header, properly signed."""
    head, body, _ = token.split(".")
    merged = {**json.loads(b64url_decode(head)), **header}
    return forge(merged, b64url_decode(body).decode(), signer.key)


def _without_kid(token: str, signer: Issuer | WebIssuer) -> str:
    """The token re-signed with no `kid` (RFC 7515 makes it optional; peers omit it)."""
    head, body, _ = token.split(".")
    header = {k: v for k, v in json.loads(b64url_decode(head)).items() if k != "kid"}
    return forge(header, b64url_decode(body).decode(), signer.key)


def _payload(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(b64url_decode(token.split("~")[0].split(".")[1]))
    return result


def _legal_person(issuer: str, country: str = "FR") -> dict[str, Any]:
    return legal_person_credential(
        issuer=issuer,
        credential_id="https://issuer.example/credentials/lp-1",
        subject_id="https://issuer.example/participants/acme#cs",
        name="ACME SAS",
        registration_number_id="https://issuer.example/credentials/lrn-1#cs",
        legal_address=Address(country_code=country, subdivision_code=f"{country}-75"),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_until=datetime(2027, 1, 1, tzinfo=UTC),
    )


def _vp(w: World, credentials: list[str], *, clock: FixedClock | None = None) -> str:
    return issue_vp_jwt(
        credentials,
        w.holder_key,
        holder=w.holder,
        kid=w.holder_kid,
        audience=w.aud,
        nonce=w.nonce,
        clock=clock or w.clock,
    )


def _di_simple(issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": [VC_V2],
        "id": "urn:uuid:1b7b1b1e-0d0f-4d59-9c1a-3f6b7d1f2a10",
        "type": ["VerifiableCredential"],
        "issuer": issuer.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member"},
    }
    doc.update(overrides)
    return doc


def _di(
    issuer: Issuer,
    document: dict[str, Any],
    purpose: str = "assertionMethod",
    cryptosuite: str = "eddsa-rdfc-2022",
) -> dict[str, Any]:
    return add_proof(
        document,
        issuer.key,
        issuer.kid,
        created=datetime(2026, 1, 2, tzinfo=UTC),
        proof_purpose=purpose,
        cryptosuite=cryptosuite,
    )


def _di_vp(w: World, credentials: list[Any]) -> dict[str, Any]:
    presentation = {
        "@context": [VC_V2],
        "type": ["VerifiablePresentation"],
        "holder": w.di_holder.did,
        "verifiableCredential": credentials,
    }
    return add_proof(
        presentation,
        w.di_holder.key,
        w.di_holder.kid,
        created=NOW - timedelta(minutes=1),
        proof_purpose="authentication",
        challenge=w.nonce,
        domain=w.aud,
    )


def _vp_holder_less(w: World, credentials: list[str], *, kid: str | None = None) -> str:
    """A vp+jwt that names no holder (no `holder`, no `iss`: VCDM 2.0 makes both optional),
    signed by the holder's key: its `kid` alone says whose key signed it."""
    payload = {
        "@context": [VC_V2],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [envelope_credential(t) for t in credentials],
        "aud": w.aud,
        "nonce": w.nonce,
        "iat": int(w.clock.now().timestamp()),
        "exp": int((w.clock.now() + timedelta(minutes=5)).timestamp()),
    }
    header = {"typ": "vp+jwt", "cty": "vp", "kid": kid or w.holder_kid}
    return sign_compact(header, json.dumps(payload).encode(), w.holder_key)


def _di_vp_holder_less(w: World, credentials: list[Any]) -> dict[str, Any]:
    """A Data Integrity presentation without `holder`: its proof's verificationMethod is
    what it proves."""
    presentation = {
        "@context": [VC_V2],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": credentials,
    }
    return add_proof(
        presentation,
        w.di_holder.key,
        w.di_holder.kid,
        created=NOW - timedelta(minutes=1),
        proof_purpose="authentication",
        challenge=w.nonce,
        domain=w.aud,
    )


def _json_string(document: Any) -> str:
    """JSON text of a JSON *string* holding `document`'s JSON: a secured document sent as
    text inside JSON, which is not a map (VC Data Integrity). Every interface gets it as
    that value: the library and the command as this text, the services as the string."""
    return json.dumps(json.dumps(document))


def _sd_issue(w: World, *, bound: bool = True, signer: Issuer | None = None, **extra: Any) -> SdJwt:
    signer = signer or w.ed
    options: dict[str, Any] = {
        "issuer": signer.did,
        "kid": signer.kid,
        "vct": VCT,
        "issued_at": NOW - timedelta(days=1),
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=365),
        "disclosable": ["/given_name", "/memberOf"],
    }
    if bound:
        options["holder_jwk"] = w.holder_key.public_key
    options.update(extra)
    return issue_sd_jwt_vc(
        {"given_name": "Marie", "memberOf": "Data space Loire"}, signer.key, **options
    )


def _sd_kb(
    w: World,
    issued: SdJwt | str,
    *,
    key: PrivateKey | None = None,
    at: datetime = NOW,
    disclose: str = "/given_name",
) -> str:
    return present(
        issued,
        [disclose],
        holder_key=key or w.holder_key,
        audience=w.aud,
        nonce=w.nonce,
        clock=FixedClock(at),
    )


def _sd_with_token_status(w: World, idx: int, *, bound: bool = False) -> str:
    # issue_sd_jwt_vc accepts https status URIs only; the loopback list is http, so the
    # SD-JWT VC is assembled from the same parts by hand.
    payload = {
        "iss": w.ed.did,
        "vct": VCT,
        "iat": int((NOW - timedelta(days=1)).timestamp()),
        "exp": int((NOW + timedelta(days=365)).timestamp()),
        "status": {"status_list": {"idx": idx, "uri": f"{w.base}/status/token"}},
        "memberOf": "Data space Loire",
    }
    if bound:
        payload["cnf"] = {"jwk": w.holder_key.public_key.to_jwk()}
    issued = issue_sd_jwt(
        payload, w.ed.key, disclosable=["/memberOf"], header={"typ": "dc+sd-jwt", "kid": w.ed.kid}
    )
    return _sd_kb(w, issued, disclose="/memberOf") if bound else present(issued, ["/memberOf"])


# ---- 1. valid inputs, every format --------------------------------------------------------

case("vc+jwt EdDSA", lambda w: _vc(w.ed), VALID)
case("vc+jwt ES256", lambda w: _vc(w.p256), VALID)
case("vc+jwt ES384", lambda w: _vc(w.p384), VALID)
case("vc+jwt did:web issuer over loopback", lambda w: _vc(w.web), VALID)
case("vc+jwt without kid, did:key issuer", lambda w: _without_kid(_vc(w.p256), w.p256), VALID)
case("vc+jwt without kid, did:web issuer", lambda w: _without_kid(_vc(w.web), w.web), VALID)
case(
    "vc+jwt Gaia-X typ vc+ld+json+jwt",
    lambda w: _resign(_vc(w.ed), w.ed, typ="vc+ld+json+jwt"),
    VALID,
)
case("EnvelopedVerifiableCredential JSON", lambda w: envelope_credential(_vc(w.p256)), VALID)
case(
    "vc+jwt gx:LegalPerson (schema step)",
    lambda w: issue_vc_jwt(_legal_person(w.ed.did), w.ed.key, w.ed.kid),
    VALID,
)
case(
    "vp+jwt bound to nonce and aud",
    lambda w: _vp(w, [_vc(w.ed), _vc(w.p384)]),
    VALID,
    presentation=True,
    **BOUND,
    not_openid4vp=NOT_ONE_HOLDER_CREDENTIAL,
)
case(
    "vp+jwt carrying an SD-JWT VC",
    lambda w: _vp(w, [_sd_issue(w, bound=False).serialize()]),
    VALID,
    presentation=True,
    **BOUND,
    not_openid4vp=NOT_JWT_VC_JSON,
)
case("SD-JWT VC with KB-JWT", lambda w: _sd_kb(w, _sd_issue(w)), VALID, **BOUND)
case(
    "SD-JWT VC without KB (no cnf)",
    lambda w: present(_sd_issue(w, bound=False), ["/memberOf"]),
    VALID,
)
case("SD-JWT VC from the sd_jwt package (KB)", lambda w: w.package_sd_jwt(), VALID, **BOUND)
case("DI eddsa-rdfc-2022 gx:LegalPerson", lambda w: _di(w.ed, _legal_person(w.ed.did)), VALID)
case("DI eddsa-rdfc-2022 minimal VCDM 2.0", lambda w: _di(w.ed, _di_simple(w.ed)), VALID)
case(
    "DI presentation (eddsa-rdfc-2022)",
    lambda w: _di_vp(w, [_di(w.ed, _di_simple(w.ed))]),
    VALID,
    presentation=True,
    **BOUND,
    not_openid4vp=NO_LDP,
)
case(
    "DI presentation carrying a vc+jwt",
    lambda w: _di_vp(w, [envelope_credential(_vc(w.p256))]),
    VALID,
    presentation=True,
    **BOUND,
    not_openid4vp=NO_LDP,
)
case("didkit JWT (VCDM 1.1)", lambda w: w.didkit_jwt, VALID)
case("didkit LD Ed25519Signature2018", lambda w: w.didkit_ld2018, VALID)
case("didkit LD Ed25519Signature2020", lambda w: w.didkit_ld2020, VALID)
case(
    "didkit LD presentation",
    lambda w: w.didkit_vp,
    VALID,
    presentation=True,
    **BOUND,
    not_openid4vp=NO_LDP,
)


# ---- 2. the 22 vc+jwt negatives of tests/_negative.py -------------------------------------


def _negative(name: str) -> Callable[[World], Input]:
    make = NEGATIVE[name][0]
    return lambda w: make(w.ed)


def _key_not_assertion(w: World) -> str:
    # _negative's version uses did:example (a test-only resolver no interface has): the same
    # attack with a real did:web whose only key is an `authentication` key.
    a = w.authonly
    header = {"alg": a.key.alg, "kid": a.kid, "typ": "vc+jwt", "cty": "vc", "iss": a.did}
    return forge(header, credential(a.did), a.key)


for _name, (_make, _status, _code, _malformed) in NEGATIVE.items():
    if _name == "key not in assertionMethod":
        case(f"negative: {_name}", _key_not_assertion, _status, _code)
    elif _name == "status list not checkable yet":
        # Every interface here has a status checker (tests/_negative.py's library call has
        # none, hence its status_unchecked); the list's https://127.0.0.1:9 is unreachable.
        case(f"negative: {_name}", _negative(_name), INDETERMINATE, "status_unavailable")
    elif _name == "10 MB token":
        # The service refuses bodies over 1 MiB before reading them: HTTP 413.
        case(
            f"negative: {_name}",
            _negative(_name),
            _status,
            _code,
            malformed=_malformed,
            service_http=413,
        )
    else:
        case(f"negative: {_name}", _negative(_name), _status, _code, malformed=_malformed)


# ---- 3. parse and format --------------------------------------------------------------------

case("not a token at all", lambda w: "hello-verifier", INVALID, "malformed_token", malformed=True)
case(
    "300 KiB token (under the service body limit)",
    lambda w: forge(
        {"alg": "EdDSA", "typ": "vc+jwt"}, credential(w.ed.did, pad="A" * 300_000), None
    ),
    INVALID,
    "input_too_large",
    malformed=True,
)
case(
    "JSON credential without a proof",
    lambda w: credential(w.ed.did),
    INVALID,
    "unsupported_format",
    malformed=True,
)
case(
    "not a map: a Data Integrity credential sent as a JSON string holding it",
    lambda w: _json_string(_di(w.ed, _di_simple(w.ed))),
    INVALID,
    "document_not_a_map",
    malformed=True,
)
case(
    "not a map: an EnvelopedVerifiableCredential sent as a JSON string holding it",
    lambda w: _json_string(envelope_credential(_vc(w.ed))),
    INVALID,
    "document_not_a_map",
    malformed=True,
)
case(
    "not a map: a JSON array of credentials",
    lambda w: json.dumps([_di(w.ed, _di_simple(w.ed))]),
    INVALID,
    "document_not_a_map",
    malformed=True,
)
case(
    "not a map: a vp+jwt envelope sent as a JSON string holding it",
    lambda w: _json_string(
        {
            "@context": [VC_V2],
            "id": f"data:application/vp+jwt,{_vp(w, [_held(w, w.ed)])}",
            "type": "EnvelopedVerifiablePresentation",
        }
    ),
    INVALID,
    "document_not_a_map",
    presentation=True,
    malformed=True,
    **BOUND,
)
case(
    "enveloped vc+cose that is a CWT tag, not a COSE_Sign1",
    lambda w: {
        "@context": [VC_V2],
        "id": "data:application/vc+cose;base64,2D2ERKEBJqBZ",
        "type": "EnvelopedVerifiableCredential",
    },
    INVALID,
    "malformed_token",
    malformed=True,
)


# ---- 3b. VC-JOSE-COSE §3.2 and §3.3: vc+sd-jwt, vp+sd-jwt, vc+cose, vp+cose ------------------


def _vc_sd(issuer: Issuer, **overrides: Any) -> str:
    return issue_vc_sd_jwt(
        credential(issuer.did, **overrides),
        issuer.key,
        kid=issuer.kid,
        disclosable=["/credentialSubject/memberOf"],
    ).serialize()


def _vc_cose(issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    return envelope_cose(
        issue_vc_cose(credential(issuer.did, **overrides), issuer.key, kid=issuer.kid)
    )


def _cose_tampered(w: World) -> dict[str, Any]:
    import cbor2

    item = cbor2.loads(issue_vc_cose(credential(w.p256.did), w.p256.key, kid=w.p256.kid))
    protected, _, payload, signature = item.value
    payload = payload.replace(b"Data space Loire", b"Data space Evil!")
    return envelope_cose(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature])))


def _sd_unreferenced(w: World) -> str:
    jwt = _vc_sd(w.p384).split("~")[0]
    fake = b64json(["c2FsdHNhbHQ", "memberOf", "Somewhere else"])
    return f"{jwt}~{fake}~"


def _sd_other_key(w: World) -> str:
    head, body, _ = _vc_sd(w.ed).split("~")[0].split(".")
    return (
        forge(json.loads(b64url_decode(head)), b64url_decode(body).decode(), w.stranger.key) + "~"
    )


def _held_sd(w: World, issuer: Issuer) -> str:
    subject = {"id": w.holder, "memberOf": "Data space Loire"}
    return _vc_sd(issuer, credentialSubject=subject)


def _held_cose(w: World, issuer: Issuer) -> dict[str, Any]:
    subject = {"id": w.holder, "memberOf": "Data space Loire"}
    return _vc_cose(issuer, credentialSubject=subject)


NOT_VCDM_SECURED = (
    "OpenID4VP 1.0 defines no credential format for a VCDM credential secured with SD-JWT or "
    "COSE (VC-JOSE-COSE §3.2, §3.3): ancre's OpenID4VP carries dc+sd-jwt and jwt_vc_json, and "
    "its DCQL check answers dcql_not_satisfied ('a vc+sd-jwt is not a jwt_vc_json')"
)

case("vc+sd-jwt ES256 with a disclosure", lambda w: _vc_sd(w.p256), VALID)
case("vc+sd-jwt EdDSA, the disclosure withheld", lambda w: _vc_sd(w.ed).split("~")[0] + "~", VALID)
case(
    "vc+sd-jwt with a disclosure the issuer signed no digest for",
    _sd_unreferenced,
    INVALID,
    "disclosure_unreferenced",
)
case("vc+sd-jwt signed by another key", _sd_other_key, INVALID, "signature_invalid")
case(
    "vc+sd-jwt expired",
    lambda w: _vc_sd(w.p256, validUntil="2026-01-10T00:00:00Z"),
    INVALID,
    "expired",
)
case("vc+cose ES256 (enveloped)", lambda w: _vc_cose(w.p256), VALID)
case("vc+cose EdDSA (enveloped)", lambda w: _vc_cose(w.ed), VALID)
case("vc+cose with a tampered payload", _cose_tampered, INVALID, "signature_invalid")
case(
    "vc+cose ES256K: off by default",
    lambda w: _vc_cose(Issuer.new("secp256k1")),
    INVALID,
    "alg_not_allowed",
)
case(
    "vp+jwt carrying a vc+sd-jwt",
    lambda w: _vp(w, [_held_sd(w, w.p256)]),
    VALID,
    presentation=True,
    not_openid4vp=NOT_VCDM_SECURED,
    **BOUND,
)
case(
    "vp+jwt carrying a vc+cose",
    lambda w: _vp(w, [_held_cose(w, w.p256)]),
    VALID,
    presentation=True,
    not_openid4vp=NOT_VCDM_SECURED,
    **BOUND,
)
case(
    "vp+sd-jwt carrying a vc+jwt",
    lambda w: issue_vp_sd_jwt(
        [envelope_credential(_held(w, w.ed))],
        w.holder_key,
        holder=w.holder,
        kid=w.holder_kid,
        audience=w.aud,
        nonce=w.nonce,
        clock=w.clock,
    ).serialize(),
    VALID,
    presentation=True,
    not_openid4vp=NOT_VCDM_SECURED,
    **BOUND,
)
case(
    "vp+sd-jwt bound to another nonce",
    lambda w: issue_vp_sd_jwt(
        [envelope_credential(_held(w, w.ed))],
        w.holder_key,
        holder=w.holder,
        kid=w.holder_kid,
        audience=w.aud,
        nonce="another-nonce",
        clock=w.clock,
    ).serialize(),
    INVALID,
    "nonce_mismatch",
    presentation=True,
    not_openid4vp=NOT_VCDM_SECURED,
    **BOUND,
)


# ---- 4. issuer key (DID resolution) ---------------------------------------------------------

case(
    "did:web document not found (404)",
    lambda w: forge(
        {"alg": "EdDSA", "kid": f"{w.missing_did}#k", "typ": "vc+jwt", "iss": w.missing_did},
        credential(w.missing_did),
        w.ed.key,
    ),
    INDETERMINATE,
    "did_not_found",
)


def _dead_web(w: World) -> str:
    did = "did:web:" + w.dead.removeprefix("http://").replace(":", "%3A")
    header = {"alg": "EdDSA", "kid": f"{did}#k", "typ": "vc+jwt", "iss": did}
    return forge(header, credential(did), w.ed.key)


# did_web.resolve: network failures keep their network code (docs/errors.md network_error).
case("did:web host unreachable", _dead_web, INDETERMINATE, "network_error")


def _broken_web(w: World) -> str:
    did = w.broken_did
    header = {"alg": "EdDSA", "kid": f"{did}#k", "typ": "vc+jwt", "iss": did}
    return forge(header, credential(did), w.ed.key)


case("did:web document answers HTTP 500", _broken_web, INDETERMINATE, "did_resolution_failed")


# ---- 5. data model and schema ------------------------------------------------------------------


def _lp_missing_address(w: World) -> str:
    doc = _legal_person(w.ed.did)
    del doc["credentialSubject"]["gx:legalAddress"]
    return forge(
        {"alg": "EdDSA", "kid": w.ed.kid, "typ": "vc+jwt", "cty": "vc", "iss": w.ed.did},
        {**doc, "iss": w.ed.did},
        w.ed.key,
    )


case("gx:LegalPerson without gx:legalAddress", _lp_missing_address, INVALID, "schema_violation")


def _forged(w: World, doc: dict[str, Any]) -> str:
    header = {"alg": "EdDSA", "kid": w.ed.kid, "typ": "vc+jwt", "cty": "vc", "iss": w.ed.did}
    return forge(header, {**doc, "iss": w.ed.did}, w.ed.key)


case(
    "validFrom without a time zone",
    lambda w: _forged(w, credential(w.ed.did, validFrom="2026-01-01T00:00:00")),
    INVALID,
    "invalid_datetime",
)
case(
    "type without VerifiableCredential",
    lambda w: _forged(w, credential(w.ed.did, type=["ExampleMembership"])),
    INVALID,
    "invalid_type",
)
case(
    "issuer is not a URL",
    lambda w: forge(
        {"alg": "EdDSA", "kid": w.ed.kid, "typ": "vc+jwt", "cty": "vc"},
        credential("ACME corp"),
        w.ed.key,
    ),
    INVALID,
    "invalid_issuer",
)


# ---- 6. status: Bitstring (vc+jwt, DI) and Token Status List (SD-JWT VC) ----------------------

case(
    "status: bitstring entry not set",
    lambda w: _vc(w.ed, credentialStatus=w.bitstring_entry(w.GOOD_INDEX)),
    VALID,
)
case(
    "status: revoked (bitstring)",
    lambda w: _vc(w.ed, credentialStatus=w.bitstring_entry(w.REVOKED_INDEX)),
    INVALID,
    "revoked",
)
case(
    "status: suspended (bitstring)",
    lambda w: _vc(
        w.ed, credentialStatus=w.bitstring_entry(w.SUSPENDED_INDEX, "/status/suspension")
    ),
    INVALID,
    "suspended",
)
case(
    "status: DI credential revoked",
    lambda w: _di(w.ed, _di_simple(w.ed, credentialStatus=w.bitstring_entry(w.REVOKED_INDEX))),
    INVALID,
    "revoked",
)
case(
    "status: list unreachable",
    lambda w: _vc(
        w.ed,
        credentialStatus={
            **w.bitstring_entry(w.GOOD_INDEX),
            "id": f"{w.dead}/status/1#4",
            "statusListCredential": f"{w.dead}/status/1",
        },
    ),
    INDETERMINATE,
    "status_unavailable",
)
case(
    "status: list signed by a stranger",
    lambda w: _vc(w.ed, credentialStatus=w.bitstring_entry(w.GOOD_INDEX, "/status/stranger")),
    INVALID,
    "status_list_issuer_mismatch",
)
case(
    "status: index past the end of the list",
    lambda w: _vc(
        w.ed,
        credentialStatus={**w.bitstring_entry(w.GOOD_INDEX), "statusListIndex": "999999"},
    ),
    INVALID,
    "status_index_out_of_range",
)
case(
    "status: entry purpose not the list's",
    lambda w: _vc(
        w.ed,
        credentialStatus={**w.bitstring_entry(w.GOOD_INDEX), "statusPurpose": "suspension"},
    ),
    INVALID,
    "status_list_invalid",
)
case(
    "status: StatusList2021Entry (not checkable yet)",
    lambda w: _vc(
        w.ed,
        credentialStatus={
            "id": f"{w.base}/status/2021#4",
            "type": "StatusList2021Entry",
            "statusPurpose": "revocation",
            "statusListIndex": "4",
            "statusListCredential": f"{w.base}/status/2021",
        },
    ),
    INDETERMINATE,
    "status_unchecked",
)
case(
    "status: token list VALID (SD-JWT VC)", lambda w: _sd_with_token_status(w, w.TOKEN_VALID), VALID
)
case(
    "status: token list INVALID (SD-JWT VC)",
    lambda w: _sd_with_token_status(w, w.TOKEN_REVOKED),
    INVALID,
    "revoked",
)
case(
    "status: token list SUSPENDED (SD-JWT VC)",
    lambda w: _sd_with_token_status(w, w.TOKEN_SUSPENDED),
    INVALID,
    "suspended",
)


# ---- 7. trust: trusted issuers and trust lists ------------------------------------------------

case("trust: trusted issuer", lambda w: _vc(w.ed), VALID, profile=TRUSTED)
case("trust: didkit JWT from a trusted issuer", lambda w: w.didkit_jwt, VALID, profile=TRUSTED)
case(
    "trust: issuer not among the trusted",
    lambda w: _vc(w.p256),
    INVALID,
    "issuer_not_trusted",
    profile=TRUSTED,
)
case("trust list: listed for the type", lambda w: _vc(w.ed), VALID, profile=LISTED)
case("trust list: did:web issuer listed", lambda w: _vc(w.web), VALID, profile=LISTED)
case(
    "trust list: gx:LegalPerson within its constraint (DI)",
    lambda w: _di(w.ed, _legal_person(w.ed.did)),
    VALID,
    profile=LISTED,
)
case(
    "trust list: issuer not listed",
    lambda w: _vc(w.stranger),
    INVALID,
    "issuer_not_trusted",
    profile=LISTED,
)
case(
    "trust list: listed, not for this type",
    lambda w: _vc(w.ed, type=["VerifiableCredential", "ExampleCertification"]),
    INVALID,
    "issuer_not_trusted",
    profile=LISTED,
)
case(
    "trust list: constraint not met (DE legal person)",
    lambda w: issue_vc_jwt(_legal_person(w.ed.did, "DE"), w.ed.key, w.ed.kid),
    INVALID,
    "issuer_not_trusted",
    profile=LISTED,
)
case(
    "trust list: suspended when issued",
    lambda w: _vc(w.p256),
    INVALID,
    "issuer_not_trusted",
    profile=LISTED,
)
case(
    "trust list: withdrawn since",
    lambda w: _vc(w.p384),
    INVALID,
    "issuer_not_trusted",
    profile=LISTED,
)
case(
    "trust list: unreachable, nothing cached",
    lambda w: _vc(w.ed),
    INDETERMINATE,
    "trust_list_unavailable",
    profile=LIST_DOWN,
)
case(
    "trust list: not signed by the registry",
    lambda w: _vc(w.ed),
    INVALID,
    "trust_list_invalid",
    profile=LIST_FORGED,
)
case(
    "trust list: past NextUpdate",
    lambda w: _vc(w.ed),
    INDETERMINATE,
    "trust_list_stale",
    profile=LIST_STALE,
)


# ---- 8. SD-JWT VC ------------------------------------------------------------------------------


def _sd_forged_disclosure(w: World) -> str:
    issued = present(_sd_issue(w, bound=False), ["/memberOf"])
    jwt, disclosure, _ = issued.split("~")
    forged = Disclosure.create(json.loads(b64url_decode(disclosure))[0], "memberOf", "Elsewhere")
    return f"{jwt}~{forged.encoded}~"


def _sd_tampered_jwt(w: World) -> str:
    issued = _sd_kb(w, _sd_issue(w))
    jwt, rest = issued.split("~", 1)
    head, _, sig = jwt.split(".")
    payload = _payload(issued)
    payload["vct"] = "https://credentials.example/director"
    return f"{head}.{b64json(payload)}.{sig}~{rest}"


def _sd_dropped_disclosure(w: World) -> str:
    # The KB-JWT's sd_hash covers both disclosures; one is removed afterwards.
    token = present(
        _sd_issue(w),
        ["/given_name", "/memberOf"],
        holder_key=w.holder_key,
        audience=w.aud,
        nonce=w.nonce,
        clock=w.clock,
    )
    parts = token.split("~")
    return "~".join([parts[0], parts[1], parts[3]])


def _sd_without_vct(w: World) -> str:
    payload = {
        "iss": w.ed.did,
        "iat": int((NOW - timedelta(days=1)).timestamp()),
        "memberOf": "Data space Loire",
    }
    issued = issue_sd_jwt(
        payload, w.ed.key, disclosable=["/memberOf"], header={"typ": "dc+sd-jwt", "kid": w.ed.kid}
    )
    return present(issued, ["/memberOf"])


case(
    "SD-JWT: disclosure not under any digest",
    _sd_forged_disclosure,
    INVALID,
    "disclosure_unreferenced",
)
case("SD-JWT: issuer JWT tampered", _sd_tampered_jwt, INVALID, "signature_invalid", **BOUND)
case(
    "SD-JWT: KB-JWT nonce mismatch",
    lambda w: _sd_kb(w, _sd_issue(w)),
    INVALID,
    "nonce_mismatch",
    audience=AUD,
    nonce="replayed",
)
case(
    "SD-JWT: KB-JWT aud mismatch",
    lambda w: _sd_kb(w, _sd_issue(w)),
    INVALID,
    "audience_mismatch",
    audience="https://other-verifier.example",
    nonce=NONCE,
)
case(
    "SD-JWT: KB-JWT missing for a cnf credential",
    lambda w: present(_sd_issue(w), ["/given_name"]),
    INVALID,
    "key_binding_missing",
    **BOUND,
)
case(
    "SD-JWT: KB-JWT signed by another key",
    lambda w: _sd_kb(w, _sd_issue(w), key=w.other_holder_key),
    INVALID,
    "key_binding_invalid",
    **BOUND,
)
case(
    "SD-JWT: KB-JWT too old",
    lambda w: _sd_kb(w, _sd_issue(w), at=NOW - timedelta(minutes=30)),
    INVALID,
    "key_binding_too_old",
    **BOUND,
)
case(
    "SD-JWT: disclosure dropped after KB",
    _sd_dropped_disclosure,
    INVALID,
    "sd_hash_mismatch",
    **BOUND,
)
case(
    "SD-JWT: expired",
    lambda w: _sd_kb(
        w,
        _sd_issue(
            w,
            issued_at=NOW - timedelta(days=30),
            valid_from=NOW - timedelta(days=30),
            valid_until=NOW - timedelta(days=1),
        ),
    ),
    INVALID,
    "expired",
    **BOUND,
)
case(
    "SD-JWT: digest algorithm outside the allow-list",
    lambda w: present(_sd_issue(w, bound=False, digest_alg="sha3-256"), ["/memberOf"]),
    INVALID,
    "digest_alg_not_allowed",
)
case("SD-JWT: no vct", _sd_without_vct, INVALID, "invalid_vct")


# ---- 9. vp+jwt -----------------------------------------------------------------------------


def _vp_holder_mismatch(w: World) -> str:
    vp = _vp(w, [_vc(w.ed)])
    payload = _payload(vp)
    payload["holder"] = w.ed.did
    head = json.loads(b64url_decode(vp.split(".")[0]))
    return forge(head, payload, w.holder_key)


case(
    "vp+jwt: wrong nonce",
    lambda w: _vp(w, [_vc(w.ed)]),
    INVALID,
    "nonce_mismatch",
    presentation=True,
    audience=AUD,
    nonce="replayed",
)
case(
    "vp+jwt: wrong aud",
    lambda w: _vp(w, [_vc(w.ed)]),
    INVALID,
    "audience_mismatch",
    presentation=True,
    audience="https://other-verifier.example",
    nonce=NONCE,
)
case(
    "vp+jwt: carries an invalid credential",
    lambda w: _vp(w, [_vc(w.ed), NEGATIVE["tampered payload"][0](w.ed)]),
    INVALID,
    "invalid_presentation",
    presentation=True,
    reason="signature_invalid",
    **BOUND,
)
case(
    "vp+jwt: carries an undecidable credential",
    lambda w: _vp(
        w,
        [
            _vc(
                w.ed,
                credentialStatus={
                    **w.bitstring_entry(4),
                    "statusListCredential": f"{w.dead}/s",
                    "id": f"{w.dead}/s#4",
                },
            )
        ],
    ),
    INDETERMINATE,
    "invalid_presentation",
    presentation=True,
    reason="status_unavailable",
    **BOUND,
)
case(
    "vp+jwt: expired",
    lambda w: _vp(w, [_vc(w.ed)], clock=FixedClock(NOW - timedelta(hours=1))),
    INVALID,
    "expired",
    presentation=True,
    **BOUND,
)
case(
    "vp+jwt: iss is not the holder",
    _vp_holder_mismatch,
    INVALID,
    "holder_mismatch",
    presentation=True,
    **BOUND,
)


# ---- 10. Data Integrity ------------------------------------------------------------------------


def _di_tampered(w: World) -> dict[str, Any]:
    signed = _di(w.ed, _legal_person(w.ed.did))
    signed["credentialSubject"]["schema:name"] = "ACME HOLDINGS"
    return signed


def _di_suite(w: World) -> dict[str, Any]:
    signed = _di(w.ed, _di_simple(w.ed))
    signed["proof"]["cryptosuite"] = "bbs-2023"
    return signed


def _di_suite_of_another_key_type(w: World) -> dict[str, Any]:
    signed = _di(w.ed, _di_simple(w.ed))
    signed["proof"]["cryptosuite"] = "ecdsa-rdfc-2019"
    return signed


def _di_unknown_context(w: World) -> dict[str, Any]:
    signed = _di(w.ed, _di_simple(w.ed))
    signed["@context"] = [VC_V2, "https://example.org/unshipped/v1"]
    return signed


def _di_vp_bad_inner(w: World) -> dict[str, Any]:
    inner = _di(w.ed, _di_simple(w.ed))
    inner["proof"]["proofValue"] = _di(w.ed, _di_simple(w.ed, id="urn:uuid:other"))["proof"][
        "proofValue"
    ]
    return _di_vp(w, [inner])


def _di_vp_tampered(w: World) -> dict[str, Any]:
    vp = _di_vp(w, [_di(w.ed, _di_simple(w.ed))])
    vp = copy.deepcopy(vp)
    vp["holder"] = w.stranger.did
    return vp


case("DI: document tampered", _di_tampered, INVALID, "signature_invalid")
case("DI: unsupported cryptosuite", _di_suite, INDETERMINATE, "unsupported_cryptosuite")
case(
    "DI: cryptosuite of another key type",
    _di_suite_of_another_key_type,
    INVALID,
    "cryptosuite_key_mismatch",
)
case(
    "DI ecdsa-rdfc-2019 P-256",
    lambda w: _di(w.p256, _di_simple(w.p256), cryptosuite="ecdsa-rdfc-2019"),
    VALID,
)
case(
    "DI ecdsa-jcs-2019 P-384",
    lambda w: _di(w.p384, _di_simple(w.p384), cryptosuite="ecdsa-jcs-2019"),
    VALID,
)
case(
    "DI eddsa-jcs-2022",
    lambda w: _di(w.ed, _di_simple(w.ed), cryptosuite="eddsa-jcs-2022"),
    VALID,
)
case(
    "DI: didkit P-256 default suite",
    lambda w: w.didkit_p256_ld,
    INDETERMINATE,
    "unsupported_cryptosuite",
)
case(
    "DI: credential proof for authentication",
    lambda w: _di(w.ed, _di_simple(w.ed), purpose="authentication"),
    INVALID,
    "proof_purpose_mismatch",
)
case("DI: unshipped @context", _di_unknown_context, INDETERMINATE, "unknown_context")
case(
    "DI: expired",
    lambda w: _di(
        w.ed, _di_simple(w.ed, validFrom="2025-01-01T00:00:00Z", validUntil="2025-06-01T00:00:00Z")
    ),
    INVALID,
    "expired",
)
case(
    "DI presentation: wrong challenge",
    lambda w: _di_vp(w, [_di(w.ed, _di_simple(w.ed))]),
    INVALID,
    "nonce_mismatch",
    presentation=True,
    audience=AUD,
    nonce="replayed",
    not_openid4vp=NO_LDP,
)
case(
    "DI presentation: wrong domain",
    lambda w: _di_vp(w, [_di(w.ed, _di_simple(w.ed))]),
    INVALID,
    "audience_mismatch",
    presentation=True,
    audience="https://other-verifier.example",
    nonce=NONCE,
    not_openid4vp=NO_LDP,
)
case(
    "DI presentation: carries an invalid credential",
    _di_vp_bad_inner,
    INVALID,
    "invalid_presentation",
    presentation=True,
    **BOUND,
    reason="signature_invalid",
    not_openid4vp=NO_LDP,
)
case(
    "DI presentation: holder is not the signer",
    _di_vp_tampered,
    INVALID,
    "kid_mismatch",
    presentation=True,
    **BOUND,
    not_openid4vp=NO_LDP,
)
case(
    "DI presentation without holder: the proof's verification method stands for it",
    lambda w: _di_vp_holder_less(w, [_di(w.ed, _di_simple(w.ed))]),
    VALID,
    presentation=True,
    **BOUND,
    not_openid4vp=NO_LDP,
)
case(
    "DI presentation without holder, the policy requires a holder",
    lambda w: _di_vp_holder_less(w, [_di(w.ed, _di_simple(w.ed))]),
    INVALID,
    "policy_violation",
    presentation=True,
    profile=REQUIRE_HOLDER,
    **BOUND,
    not_openid4vp=NO_LDP,
)
case(
    "DI presentation without holder: wrong challenge",
    lambda w: _di_vp_holder_less(w, [_di(w.ed, _di_simple(w.ed))]),
    INVALID,
    "nonce_mismatch",
    presentation=True,
    audience=AUD,
    nonce="replayed",
    not_openid4vp=NO_LDP,
)
case(
    "didkit LD presentation: wrong challenge",
    lambda w: w.didkit_vp,
    INVALID,
    "nonce_mismatch",
    presentation=True,
    audience=AUD,
    nonce="replayed",
    not_openid4vp=NO_LDP,
)


# ---- 11. a binding the verifier asks for must not be silently dropped ----------------------

case(
    "bare vc+jwt where a nonce-bound presentation is required",
    lambda w: _vc(w.ed),
    INVALID,
    "policy_violation",
    presentation=True,
    **BOUND,
)


# ---- 12. the policy step and policy files (--policy / VerifierSettings.policy) ------------

case(
    "policy: gx:LegalPerson as required",
    lambda w: issue_vc_jwt(_legal_person(w.ed.did), w.ed.key, w.ed.kid),
    VALID,
    profile=LEGAL_PERSONS_ONLY,
)
case(
    "policy: required type missing",
    lambda w: _vc(w.ed),
    INVALID,
    "policy_violation",
    profile=LEGAL_PERSONS_ONLY,
)
case(
    "policy: algorithm outside the policy's list (ES384)",
    lambda w: issue_vc_jwt(_legal_person(w.p384.did), w.p384.key, w.p384.kid),
    INVALID,
    "alg_not_allowed",
    profile=LEGAL_PERSONS_ONLY,
)
case(
    "policy: credential older than the policy allows",
    lambda w: issue_vc_jwt(
        {**_legal_person(w.ed.did), "validFrom": "2025-11-01T00:00:00Z"}, w.ed.key, w.ed.kid
    ),
    INVALID,
    "credential_too_old",
    profile=LEGAL_PERSONS_ONLY,
)
case(
    "policy: VCDM 1.1 JWT refused",
    lambda w: w.didkit_jwt,
    INVALID,
    "policy_violation",
    profile=LEGAL_PERSONS_ONLY,
)
case(
    "policy: status not checked (unreachable list is no obstacle)",
    lambda w: _vc(
        w.ed,
        credentialStatus={
            **w.bitstring_entry(w.GOOD_INDEX),
            "id": f"{w.dead}/status/1#4",
            "statusListCredential": f"{w.dead}/status/1",
        },
    ),
    VALID,
    profile=NO_STATUS,
)
case(
    "policy: a format the policy does not accept (SD-JWT VC)",
    lambda w: present(_sd_issue(w, bound=False), ["/memberOf"]),
    INVALID,
    "policy_violation",
    profile=JOSE_ONLY_TRUST_REQUIRED,
)
case(
    "policy: a trust decision required, none configured",
    lambda w: _vc(w.ed),
    INDETERMINATE,
    "trust_not_configured",
    profile=JOSE_ONLY_TRUST_REQUIRED,
)


# ---- 13. presentations OpenID4VP carries too ---------------------------------------------
# The rows above that OpenID4VP cannot carry say why (`not_openid4vp`). These put the same
# credentials into what OpenID4VP carries: a vp+jwt holding one credential whose subject is
# the holder (jwt_vc_json), and SD-JWT VCs with a KB-JWT (dc+sd-jwt).


def _held(w: World, issuer: Issuer | WebIssuer, **overrides: Any) -> str:
    """A vc+jwt issued to the holder (its subject is the holder's DID)."""
    subject = {"id": w.holder, "memberOf": "Data space Loire"}
    return _vc(issuer, credentialSubject=subject, **overrides)


HELD = {"presentation": True, **BOUND}

case(
    "vp+jwt: a credential of the holder (EdDSA)", lambda w: _vp(w, [_held(w, w.ed)]), VALID, **HELD
)
case(
    "vp+jwt: a credential of the holder (ES256)",
    lambda w: _vp(w, [_held(w, w.p256)]),
    VALID,
    **HELD,
)
case(
    "vp+jwt: a credential of the holder (ES384)",
    lambda w: _vp(w, [_held(w, w.p384)]),
    VALID,
    **HELD,
)
case(
    "vp+jwt: a credential of the holder (did:web issuer)",
    lambda w: _vp(w, [_held(w, w.web)]),
    VALID,
    **HELD,
)
case(
    "vp+jwt: a credential of the holder (Gaia-X typ vc+ld+json+jwt)",
    lambda w: _vp(w, [_resign(_held(w, w.ed), w.ed, typ="vc+ld+json+jwt")]),
    VALID,
    **HELD,
)
case(
    "vp+jwt: a credential of the holder, bitstring entry not set",
    lambda w: _vp(w, [_held(w, w.ed, credentialStatus=w.bitstring_entry(w.GOOD_INDEX))]),
    VALID,
    **HELD,
)
case(
    "vp+jwt: a credential of the holder from a trusted issuer",
    lambda w: _vp(w, [_held(w, w.ed)]),
    VALID,
    profile=TRUSTED,
    **HELD,
)
case(
    "vp+jwt: a credential of the holder, issuer on the trust list",
    lambda w: _vp(w, [_held(w, w.web)]),
    VALID,
    profile=LISTED,
    **HELD,
)
case(
    "vp+jwt: a credential of the holder, status not checked by policy",
    lambda w: _vp(
        w,
        [
            _held(
                w,
                w.ed,
                credentialStatus={
                    **w.bitstring_entry(w.GOOD_INDEX),
                    "id": f"{w.dead}/status/1#4",
                    "statusListCredential": f"{w.dead}/status/1",
                },
            )
        ],
    ),
    VALID,
    profile=NO_STATUS,
    **HELD,
)


# Presentations without `holder` (VCDM 2.0 §4.13 and 1.1: optional): the DID whose key
# signed them is their holder — for OpenID4VP, the one the credential's subject must be.
case(
    "vp+jwt without holder: the signer's DID stands for it",
    lambda w: _vp_holder_less(w, [_held(w, w.ed)]),
    VALID,
    **HELD,
)
case(
    "vp+jwt without holder, the policy requires a holder",
    lambda w: _vp_holder_less(w, [_held(w, w.ed)]),
    INVALID,
    "policy_violation",
    profile=REQUIRE_HOLDER,
    **HELD,
)
case(
    "vp+jwt with holder, the policy requires a holder",
    lambda w: _vp(w, [_held(w, w.ed)]),
    VALID,
    profile=REQUIRE_HOLDER,
    **HELD,
)
case(
    "vp+jwt without holder, kid not a DID URL",
    lambda w: _vp_holder_less(w, [_held(w, w.ed)], kid="key-1"),
    INVALID,
    "invalid_presentation",
    **HELD,
)


def _in_a_vp(name: str) -> None:
    """The bare vc+jwt row `name`, presented in a vp+jwt: `invalid_presentation` with the
    same status, the row's code as the reason."""
    row = next(c for c in CASES if c.name == name)
    assert row.codes, name  # not a valid row
    case(
        f"in a vp+jwt: {name}",
        lambda w: _vp(w, [str(row.build(w))]),
        row.status,
        "invalid_presentation",
        profile=row.profile,
        reason=row.codes[0],
        **HELD,
    )


for _row in [c.name for c in CASES if c.name.startswith("negative: ")]:
    if _row != "negative: 10 MB token":  # the service's 413 before the VP is read
        _in_a_vp(_row)
for _row in (
    "not a token at all",
    "did:web document not found (404)",
    "did:web host unreachable",
    "did:web document answers HTTP 500",
    "gx:LegalPerson without gx:legalAddress",
    "validFrom without a time zone",
    "type without VerifiableCredential",
    "issuer is not a URL",
    "status: revoked (bitstring)",
    "status: suspended (bitstring)",
    "status: list unreachable",
    "status: list signed by a stranger",
    "status: index past the end of the list",
    "status: entry purpose not the list's",
    "status: StatusList2021Entry (not checkable yet)",
    "trust: issuer not among the trusted",
    "trust list: issuer not listed",
    "trust list: listed, not for this type",
    "trust list: constraint not met (DE legal person)",
    "trust list: suspended when issued",
    "trust list: withdrawn since",
    "trust list: unreachable, nothing cached",
    "trust list: not signed by the registry",
    "trust list: past NextUpdate",
    "policy: required type missing",
    "policy: algorithm outside the policy's list (ES384)",
    "policy: credential older than the policy allows",
    "policy: VCDM 1.1 JWT refused",
    "policy: a trust decision required, none configured",
):
    _in_a_vp(_row)

case(
    "SD-JWT+KB: token status list VALID",
    lambda w: _sd_with_token_status(w, w.TOKEN_VALID, bound=True),
    VALID,
    **BOUND,
)
case(
    "SD-JWT+KB: token status list INVALID",
    lambda w: _sd_with_token_status(w, w.TOKEN_REVOKED, bound=True),
    INVALID,
    "revoked",
    **BOUND,
)
case(
    "SD-JWT+KB: token status list SUSPENDED",
    lambda w: _sd_with_token_status(w, w.TOKEN_SUSPENDED, bound=True),
    INVALID,
    "suspended",
    **BOUND,
)
case(
    "SD-JWT+KB: digest algorithm outside the allow-list",
    lambda w: _sd_kb(w, _sd_issue(w, digest_alg="sha3-256")),
    INVALID,
    "digest_alg_not_allowed",
    **BOUND,
)
case(
    "SD-JWT+KB: from a trusted issuer",
    lambda w: _sd_kb(w, _sd_issue(w)),
    VALID,
    profile=TRUSTED,
    **BOUND,
)
case(
    "SD-JWT+KB: issuer not among the trusted",
    lambda w: _sd_kb(w, _sd_issue(w, signer=w.p256)),
    INVALID,
    "issuer_not_trusted",
    profile=TRUSTED,
    **BOUND,
)
case(
    "SD-JWT+KB: a format the policy does not accept",
    lambda w: _sd_kb(w, _sd_issue(w)),
    INVALID,
    "policy_violation",
    profile=JOSE_ONLY_TRUST_REQUIRED,
    **BOUND,
)
