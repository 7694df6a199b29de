"""The OpenID4VP `gaia-x-onboarding` profile over real HTTP on loopback: the Gaia-X
onboarding presentation asked for as one DCQL query per member, each presentation verified,
then the set checked as one bundle — accepted; refused with a member missing, a member from
another holder, a self-issued LegalPerson, a T&C signed by someone else or over another text,
a revoked certification; and the self-issued T&C refused outside the profile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _http_server import LoopbackServer, Route, running_server
from _oid4vp_holder import AuthorizationRequest, Wallet, routed_client
from _support import NOW, Issuer

from ancre.issuer.builders import Address, legal_person_credential, vat_id_credential
from ancre.issuer.sd_jwt_credentials import issue_mandate
from ancre.trust.clock import FixedClock
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.policy import VerificationPolicy
from ancre.trust.sd_jwt.present import present
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc
from ancre.trust.status.bitstring import BitstringStatusList
from ancre.trust.vcdm.credentials import GAIAX_TERMS_AND_CONDITIONS_SHA256, MANDATE_VCT
from ancre.verifier.openid4vp import OpenID4VPSettings
from ancre.verifier.service import VerifierSettings, create_app

PUBLIC = "https://verifier.example"
PROFILE = "gaia-x-onboarding"
CONTEXTS = ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/gaia-x/development#"]
REVOKED, GOOD = 3, 4
MEMBERS = (
    ("legal_person", "gx:LegalPerson"),
    ("registration_number", "gx:VatID"),
    ("terms", "gx:Issuer"),
    ("certification", "ancre:Certification"),
)


def query(name: str, kind: str) -> dict[str, Any]:
    return {
        "id": name,
        "format": "jwt_vc_json",
        "meta": {"type_values": [["VerifiableCredential", kind]]},
    }


def onboarding_query(*members: tuple[str, str]) -> dict[str, Any]:
    return {"credentials": [query(n, k) for n, k in members or MEMBERS]}


def _stamp(delta: timedelta = timedelta(0)) -> str:
    return (NOW + delta).isoformat().replace("+00:00", "Z")


@dataclass
class Env:
    caller: httpx.Client
    wallet: Wallet
    agency: Issuer
    status_base: str

    # ---- the credentials ----------------------------------------------------------------

    def legal_person(self, holder: str | None = None, issuer: Issuer | None = None) -> str:
        issuer = issuer or self.agency
        subject = holder or self.wallet.did
        doc = legal_person_credential(
            issuer=issuer.did,
            credential_id="urn:uuid:0c7f0a0e-2b0e-4b8e-9d3a-6f0f3b7d1a01",
            subject_id=subject,
            name="LA POSTE",
            registration_number_id=f"{subject}#vat",
            legal_address=Address("FR"),
            valid_from=NOW - timedelta(days=1),
        )
        return issue_vc_jwt(doc, issuer.key, issuer.kid)

    def vat_id(self, holder: str | None = None) -> str:
        doc = vat_id_credential(
            issuer=self.agency.did,
            credential_id="urn:uuid:0c7f0a0e-2b0e-4b8e-9d3a-6f0f3b7d1a02",
            subject_id=holder or self.wallet.did,
            siren_or_vat="FR27552032534",
            valid_from=NOW - timedelta(days=1),
        )
        return issue_vc_jwt(doc, self.agency.key, self.agency.kid)

    def terms(
        self,
        key: PrivateKey | None = None,
        terms_hash: str = GAIAX_TERMS_AND_CONDITIONS_SHA256,
        did: str | None = None,
    ) -> str:
        """The T&C credential, signed by `key`'s did:jwk (the wallet's by default), or by
        `did` (its key `#0`)."""
        key = key or self.wallet.key
        did = did or did_jwk_from_public_key(key.public_key)
        credential_id = "urn:uuid:0c7f0a0e-2b0e-4b8e-9d3a-6f0f3b7d1a03"
        doc = {
            "@context": CONTEXTS,
            "id": credential_id,
            "type": ["VerifiableCredential", "gx:Issuer"],
            "issuer": did,
            "validFrom": _stamp(-timedelta(minutes=1)),
            "validUntil": _stamp(timedelta(days=365)),
            "credentialSubject": {
                "id": f"{credential_id}#cs",
                "type": "gx:Issuer",
                "gx:gaiaxTermsAndConditions": terms_hash,
            },
        }
        return issue_vc_jwt(doc, key, f"{did}#0")

    def certification(self, index: int | None = GOOD, holder: str | None = None) -> str:
        """A certification with a status entry at `index` (none: `None`)."""
        lst = BitstringStatusList()
        doc = {
            "@context": CONTEXTS,
            "id": "urn:uuid:0c7f0a0e-2b0e-4b8e-9d3a-6f0f3b7d1a04",
            "type": ["VerifiableCredential", "ancre:Certification"],
            "issuer": self.agency.did,
            "validFrom": _stamp(-timedelta(days=1)),
            "validUntil": _stamp(timedelta(days=365)),
            "credentialSubject": {
                "id": holder or self.wallet.did,
                "ancre:scheme": "ISO/IEC 27001:2022",
                "ancre:scope": "the whole company",
                "ancre:certificateNumber": "C-2026-001",
                "ancre:certificateValidFrom": "2026-01-01",
            },
        }
        if index is not None:
            doc["credentialStatus"] = lst.entry(
                index, status_list_credential=f"{self.status_base}/status/revocation"
            )
        return issue_vc_jwt(doc, self.agency.key, self.agency.kid)

    # ---- one transaction ---------------------------------------------------------------

    def create(self, dcql: dict[str, Any], **extra: Any) -> httpx.Response:
        return self.caller.post("/openid4vp/requests", json={"dcql_query": dcql, **extra})

    def start(
        self, dcql: dict[str, Any] | None = None, profile: str | None = PROFILE
    ) -> tuple[dict[str, Any], AuthorizationRequest]:
        extra = {"profile": profile} if profile is not None else {}
        created = self.create(dcql or onboarding_query(), **extra)
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body, self.wallet.fetch(body["authorization_request"])

    def members(self, request: AuthorizationRequest, **tokens: str) -> dict[str, list[str]]:
        """One VP per member, each signed by the wallet (the defaults), or `tokens[name]`
        as a whole presentation when given one."""
        defaults = {
            "legal_person": self.legal_person(),
            "registration_number": self.vat_id(),
            "terms": self.terms(),
            "certification": self.certification(),
        }
        return {
            name: [tokens.get(name) or self.wallet.present_vc_jwts([defaults[name]], request)]
            for name in defaults
        }

    def answer(self, request: AuthorizationRequest, vp_token: dict[str, list[str]]) -> None:
        self.wallet.respond(request, vp_token)

    def verdict(self, created: dict[str, Any]) -> dict[str, Any]:
        response = self.caller.get(f"/openid4vp/requests/{created['transaction_id']}/result")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@contextmanager
def running(ca_file: str | None = None, clock: FixedClock | None = None) -> Iterator[Env]:
    """The verifier (on `clock`, default fixed at NOW); with `ca_file`, did:web documents on
    loopback over HTTPS (and no plain HTTP: the status list is then out of reach)."""
    agency = Issuer.new("p256")
    key = PrivateKey.generate("p256")
    did = did_jwk_from_public_key(key.public_key)
    settings = OpenID4VPSettings(
        key=key, did=did, kid=f"{did}#0", base_url=PUBLIC, open_backend=True
    )
    with running_server() as status_server:
        _host_status_list(status_server, agency)
        app = create_app(
            VerifierSettings(
                clock=clock or FixedClock(NOW),
                openid4vp=settings,
                # The connector trusts the agency; the participant signs only its T&C.
                policy=VerificationPolicy(trusted_issuers=frozenset({agency.did})),
                network=NetworkPolicy(allow_loopback=True, allow_http=ca_file is None),
                ca_file=ca_file,
            )
        )
        with (
            serve(app) as base,
            httpx.Client(base_url=base, trust_env=False) as caller,
            routed_client(PUBLIC, base) as wallet_http,
        ):
            yield Env(caller, Wallet(wallet_http, FixedClock(NOW)), agency, status_server.base)


def _host_status_list(server: LoopbackServer, agency: Issuer) -> None:
    lst = BitstringStatusList()
    lst.set(REVOKED)
    url = f"{server.base}/status/revocation"
    unsigned = lst.credential(id=url, issuer=agency.did, valid_from=NOW - timedelta(days=2))
    server.routes["/status/revocation"] = Route(
        body=issue_vc_jwt(unsigned, agency.key, agency.kid).encode(),
        headers={"Content-Type": "application/vc+jwt"},
    )


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with running() as e:
        yield e


def _codes(verdict: dict[str, Any], *, bundle: bool = False) -> list[str]:
    """Every error code of the verdict (or only the bundle's own, `bundle=True`)."""
    return [e["code"] for e in verdict["errors"] if not bundle or "credential_query" not in e]


def _inner_codes(verdict: dict[str, Any], query_id: str) -> list[str]:
    """The codes of the credential inside the presentation answering `query_id`."""
    (entry,) = verdict["credentials"][query_id]
    return [e["code"] for inner in entry["credentials"] for e in inner["errors"]]


def _member_status(verdict: dict[str, Any]) -> dict[str, str]:
    return {m["credential_query"]: m["status"] for m in verdict["onboarding"]["members"]}


# ------------------------------------------------------------------------------------------


def test_the_onboarding_presentation_is_accepted(env: Env) -> None:
    created, request = env.start()
    assert created["profile"] == PROFILE
    env.answer(request, env.members(request))
    verdict = env.verdict(created)
    assert verdict["status"] == "valid", verdict["errors"]
    bundle = verdict["onboarding"]
    assert bundle["status"] == "valid"
    assert bundle["profile"] == PROFILE
    assert bundle["holder"] == env.wallet.did
    assert bundle["missing"] == []
    assert _member_status(verdict) == dict.fromkeys(
        ("legal_person", "registration_number", "terms", "certification"), "valid"
    )
    roles = {m["credential_query"]: m["role"] for m in bundle["members"]}
    assert roles["terms"] == "terms_and_conditions"
    assert roles["registration_number"] == "registration_number"
    # The participant's own T&C passed the trust step as self-issued, and only that one.
    (terms,) = verdict["credentials"]["terms"]
    trust = next(s for s in terms["credentials"][0]["checks"] if s["step"] == "trust")
    assert trust["message"].startswith("self-issued gx:Issuer by the presentation's holder")


def test_a_missing_member_is_named(env: Env) -> None:
    created, request = env.start()
    vp_token = env.members(request)
    del vp_token["terms"]
    env.answer(request, vp_token)
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert "dcql_not_satisfied" in _codes(verdict)
    assert _codes(verdict, bundle=True)[-1] == "onboarding_incomplete"
    assert "terms-and-conditions" in verdict["errors"][-1]["message"]
    assert verdict["onboarding"]["missing"] == ["terms_and_conditions"]
    assert _member_status(verdict)["terms"] == "missing"
    # What was sent was still verified, so the report says what is there.
    assert _member_status(verdict)["legal_person"] == "valid"


def test_a_query_without_a_required_member_is_refused_at_creation(env: Env) -> None:
    response = env.create(
        onboarding_query(("legal_person", "gx:LegalPerson"), ("cert", "ancre:Certification")),
        profile=PROFILE,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_dcql_query"
    assert "registration number" in body["detail"]
    assert "terms-and-conditions" in body["detail"]


@pytest.mark.parametrize("profile", ["gaia-x", "", ["gaia-x-onboarding"], 1])
def test_unknown_profiles_are_refused(env: Env, profile: Any) -> None:
    response = env.create(onboarding_query(), profile=profile)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_a_member_from_another_holder_is_refused(env: Env) -> None:
    created, request = env.start()
    other = PrivateKey.generate("p256")
    other_did = did_jwk_from_public_key(other.public_key)
    # Another organization's own, valid LegalPerson, presented by that organization.
    theirs = env.wallet.present_vc_jwts([env.legal_person(holder=other_did)], request, key=other)
    env.answer(request, env.members(request, legal_person=theirs))
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert verdict["credentials"]["legal_person"][0]["status"] == "valid"  # alone, fine
    assert _codes(verdict, bundle=True) == ["holder_mismatch"]
    assert verdict["onboarding"]["holder"] is None


def test_terms_signed_by_another_holder_are_refused(env: Env) -> None:
    created, request = env.start()
    other = PrivateKey.generate("p256")
    # Someone else's T&C, presented by the wallet: not the holder's own declaration, and
    # nobody trusts its issuer.
    mine = env.wallet.present_vc_jwts([env.terms(key=other)], request)
    env.answer(request, env.members(request, terms=mine))
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert _inner_codes(verdict, "terms") == ["issuer_not_trusted"]
    assert "onboarding_incomplete" in _codes(verdict, bundle=True)


def test_terms_over_another_text_are_refused(env: Env) -> None:
    created, request = env.start()
    other_text = env.wallet.present_vc_jwts([env.terms(terms_hash="0" * 64)], request)
    env.answer(request, env.members(request, terms=other_text))
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert _codes(verdict, bundle=True) == ["policy_violation"]
    assert "gx:gaiaxTermsAndConditions" in verdict["errors"][-1]["message"]


def test_a_self_issued_legal_person_is_refused_in_the_profile(env: Env) -> None:
    created, request = env.start()
    # The company's LegalPerson about itself, signed with its own key (did:jwk `#0`).
    claims = {**_claims(env.legal_person()), "issuer": env.wallet.did}
    own = issue_vc_jwt(claims, env.wallet.key, f"{env.wallet.did}#0")
    presented = env.wallet.present_vc_jwts([own], request)
    env.answer(request, env.members(request, legal_person=presented))
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert _inner_codes(verdict, "legal_person") == ["issuer_not_trusted"]
    assert verdict["onboarding"]["missing"] == ["legal_person"]


def _claims(token: str) -> dict[str, Any]:
    import base64
    import json

    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def test_the_self_issued_terms_are_refused_outside_the_profile(env: Env) -> None:
    created, request = env.start(onboarding_query(("terms", "gx:Issuer")), profile=None)
    assert "profile" not in created
    env.answer(request, {"terms": [env.wallet.present_vc_jwts([env.terms()], request)]})
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert [(e.get("credential_query"), e["code"]) for e in verdict["errors"]] == [
        ("terms", "invalid_presentation")
    ]
    assert _inner_codes(verdict, "terms") == ["issuer_not_trusted"]
    assert "onboarding" not in verdict


def test_a_revoked_certification_fails_the_bundle(env: Env) -> None:
    created, request = env.start()
    revoked = env.wallet.present_vc_jwts([env.certification(REVOKED)], request)
    env.answer(request, env.members(request, certification=revoked))
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert _inner_codes(verdict, "certification") == ["revoked"]
    assert verdict["onboarding"]["status"] == "invalid"
    assert _member_status(verdict)["certification"] == "invalid"
    assert _member_status(verdict)["legal_person"] == "valid"
    assert _codes(verdict, bundle=True) == []  # nothing wrong with the set itself


def test_an_sd_jwt_member_of_the_same_key_is_the_same_participant(env: Env) -> None:
    """An SD-JWT+KB names its holder by key thumbprint, a vp+jwt by DID: for a did:jwk they
    are one participant; an SD-JWT bound to another key is another holder."""
    vct = "https://credentials.example/membership"
    dcql = onboarding_query(*MEMBERS)
    dcql["credentials"].append({"id": "membership", "format": "dc+sd-jwt",
                                "meta": {"vct_values": [vct]}})  # fmt: skip
    for key, expected in ((env.wallet.key, []), (PrivateKey.generate("p256"), ["holder_mismatch"])):
        created, request = env.start(dcql)
        sd_jwt = issue_sd_jwt_vc(
            {"member_of": "Data space Loire"},
            env.agency.key,
            issuer=env.agency.did,
            kid=env.agency.kid,
            vct=vct,
            disclosable=["/member_of"],
            holder_jwk=key.public_key,
            issued_at=NOW - timedelta(days=1),
            valid_until=NOW + timedelta(days=365),
        )
        kb = present(
            sd_jwt, [], holder_key=key, audience=request.client_id, nonce=request.nonce,
            clock=FixedClock(NOW),
        )  # fmt: skip
        env.answer(request, {**env.members(request), "membership": [kb]})
        verdict = env.verdict(created)
        assert verdict["credentials"]["membership"][0]["status"] == "valid"
        assert _codes(verdict, bundle=True) == expected
        assert verdict["status"] == ("valid" if not expected else "invalid")
        if not expected:
            assert verdict["onboarding"]["holder"] == env.wallet.did


# ---- a did:web holder and its SD-JWT members ---------------------------------------------


@dataclass
class WebHolder:
    """A participant named by a did:web served over HTTPS on loopback: `#0` signs its VPs
    and its T&C, `#wallet` is another of its authentication keys, `#assert` an
    assertionMethod only."""

    env: Env
    did: str
    key: PrivateKey
    wallet_key: PrivateKey
    assert_key: PrivateKey

    def members(self, request: AuthorizationRequest) -> dict[str, list[str]]:
        env, did = self.env, self.did

        def vp(token: str) -> list[str]:
            return [env.wallet.present_vc_jwts([token], request, key=self.key, holder=did)]

        return {
            "legal_person": vp(env.legal_person(holder=did)),
            "registration_number": vp(env.vat_id(holder=did)),
            "terms": vp(env.terms(self.key, did=did)),
            "certification": vp(env.certification(None, holder=did)),
        }


def _did_document(did: str, keys: dict[str, PrivateKey]) -> dict[str, Any]:
    methods = [
        {"id": f"{did}#{name}", "type": "JsonWebKey2020", "controller": did,
         "publicKeyJwk": key.public_key.to_jwk()}
        for name, key in keys.items()
    ]  # fmt: skip
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": methods,
        "authentication": [f"{did}#0", f"{did}#wallet"],
        "assertionMethod": [f"{did}#0", f"{did}#assert"],
    }


@pytest.fixture(scope="module")
def web_holder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHolder]:
    from _issuer_support import bound_socket, make_tls, serve_on
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route as StarletteRoute

    tls = make_tls(tmp_path_factory.mktemp("did-web-holder"))
    sock, port = bound_socket()
    did = f"did:web:localhost%3A{port}"
    keys = {name: PrivateKey.generate("p256") for name in ("0", "wallet", "assert")}
    document = _did_document(did, keys)

    async def did_json(_: Any) -> JSONResponse:
        return JSONResponse(document, media_type="application/did+json")

    app = Starlette(routes=[StarletteRoute("/.well-known/did.json", did_json)])
    with serve_on(sock, app, tls), running(ca_file=str(tls.ca)) as env:
        yield WebHolder(env, did, keys["0"], keys["wallet"], keys["assert"])


MANDATE_CLAIMS = {
    "legal_person_identifier": "356000000",
    "legal_name": "LA POSTE",
    "full_powers": True,
    "effective_from_date": "2026-01-01",
    "issuing_authority": "Agence de certification",
    "issuing_country": "FR",
    "given_name": "John",
    "family_name": "Dupont",
    "birth_date": "1970-01-01",
    "role": "Président",
}


def _mandate_query(dcql: dict[str, Any]) -> dict[str, Any]:
    """The onboarding query and the Mandate, asking only for what a connector needs."""
    paths = (["legal_person_identifier"], ["role"], ["full_powers"])
    dcql["credentials"].append({
        "id": "mandate", "format": "dc+sd-jwt", "meta": {"vct_values": [MANDATE_VCT]},
        "claims": [{"path": p} for p in paths],
    })  # fmt: skip
    return dcql


def _mandate(env: Env, holder_key: PrivateKey, request: AuthorizationRequest) -> str:
    sd_jwt = issue_mandate(
        MANDATE_CLAIMS, env.agency.key, issuer=env.agency.did, kid=env.agency.kid,
        holder_jwk=holder_key.public_key, issued_at=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=365),
        # As the agency's Mandate template: the person and the role disclosable.
        disclosable=["/given_name", "/family_name", "/birth_date", "/role"],
    )  # fmt: skip
    return present(
        sd_jwt, ["/role"], holder_key=holder_key, audience=request.client_id,
        nonce=request.nonce, clock=FixedClock(NOW),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("0", []),  # the key that signs its VPs
        ("wallet", []),  # another of its authentication keys
        ("assert", ["holder_mismatch"]),  # in the document, but not for authentication
        ("stranger", ["holder_mismatch"]),  # not in the document at all
    ],
)
def test_a_did_web_holders_sd_jwt_member_is_matched_by_its_document(
    web_holder: WebHolder, which: str, expected: list[str]
) -> None:
    """A did:web participant's SD-JWT member is its own when `cnf.jwk` is one of the
    `authentication` keys of its DID document, resolved by the verifier over HTTPS."""
    env = web_holder.env
    key = {
        "0": web_holder.key, "wallet": web_holder.wallet_key,
        "assert": web_holder.assert_key, "stranger": PrivateKey.generate("p256"),
    }[which]  # fmt: skip
    created, request = env.start(_mandate_query(onboarding_query(*MEMBERS)))
    vp_token = {**web_holder.members(request), "mandate": [_mandate(env, key, request)]}
    env.answer(request, vp_token)
    verdict = env.verdict(created)
    assert all(
        e["status"] == "valid" for entries in verdict["credentials"].values() for e in entries
    ), verdict["errors"]
    assert _codes(verdict, bundle=True) == expected
    assert verdict["status"] == ("valid" if not expected else "invalid")
    assert verdict["onboarding"]["holder"] == (web_holder.did if not expected else None)
    (mandate,) = verdict["credentials"]["mandate"]
    # Only what the query asked for: the role disclosed, the person's data withheld.
    assert mandate["disclosed"] == ["role"]
    assert mandate["claims"]["role"] == "Président"
    assert mandate["claims"]["legal_person_identifier"] == "356000000"
    for personal in ("given_name", "family_name", "birth_date"):
        assert personal not in mandate["claims"]


def test_an_unresolvable_did_holder_leaves_the_bundle_indeterminate() -> None:
    """When the DID naming the other members cannot be resolved now (its host down: the
    presentations verified moments before from the cache), whether the SD-JWT member is the
    participant's cannot be told: the bundle is indeterminate, with the resolver's code —
    neither accepted nor called another holder."""
    from ancre.trust.errors import Code, IndeterminateError
    from ancre.trust.result import Status
    from ancre.verifier.openid4vp.dcql import parse_dcql
    from ancre.verifier.openid4vp.onboarding import check_bundle

    did = "did:web:participant.example"
    thumbprint = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:" + (
        PrivateKey.generate("p256").public_key.thumbprint()
    )
    dcql = parse_dcql(_mandate_query(onboarding_query(*MEMBERS)))
    members = [
        ("legal_person", did, ("VerifiableCredential", "gx:LegalPerson"), {}),
        ("registration_number", did, ("VerifiableCredential", "gx:VatID"), {}),
        ("mandate", thumbprint, (MANDATE_VCT,), {}),
    ]

    def unreachable(name: str) -> Any:
        raise IndeterminateError(Code.NETWORK_ERROR, f"{name} is out of reach")

    report, errors = check_bundle(PROFILE, dcql, members, {}, unreachable)
    assert [(code, status) for code, _, status in errors if code != "onboarding_incomplete"] == [
        ("network_error", Status.INDETERMINATE)
    ]
    assert report["holder"] is None
    # Without a resolver (a verifier that cannot fetch DID documents) it is another holder.
    _, errors = check_bundle(PROFILE, dcql, members, {}, None)
    assert "holder_mismatch" in [code for code, _, _ in errors]


def test_a_did_web_holders_document_is_fetched_once_per_answer(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The onboarding check resolves the holder with the engine's resolver (one did:web
    cache): the document the engine fetched to check the holder's signatures is not
    fetched a second time to compare its keys with the SD-JWT member's; a second answer
    within the cache lifetime fetches nothing, one after it fetches once again."""
    from _issuer_support import bound_socket, make_tls, serve_on
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route as StarletteRoute

    tls = make_tls(tmp_path_factory.mktemp("did-web-counted"))
    sock, port = bound_socket()
    did = f"did:web:localhost%3A{port}"
    keys = {name: PrivateKey.generate("p256") for name in ("0", "wallet", "assert")}
    document = _did_document(did, keys)
    fetches: list[str] = []

    async def did_json(request: Any) -> JSONResponse:
        fetches.append(request.url.path)
        # The resolver's cache lifetime: one minute.
        headers = {"Cache-Control": "max-age=60"}
        return JSONResponse(document, media_type="application/did+json", headers=headers)

    app = Starlette(routes=[StarletteRoute("/.well-known/did.json", did_json)])
    clock = FixedClock(NOW)
    with serve_on(sock, app, tls), running(ca_file=str(tls.ca), clock=clock) as env:
        holder = WebHolder(env, did, keys["0"], keys["wallet"], keys["assert"])
        for answer, later, fetched in ((1, 0, 1), (2, 30, 1), (3, 61, 2)):
            clock.advance(timedelta(seconds=later))
            created, request = env.start(_mandate_query(onboarding_query(*MEMBERS)))
            mandate = _mandate(env, keys["wallet"], request)
            env.answer(request, {**holder.members(request), "mandate": [mandate]})
            verdict = env.verdict(created)
            # The SD-JWT member was matched by the document: it was resolved for the check.
            assert verdict["status"] == "valid", (answer, verdict["errors"])
            assert verdict["onboarding"]["holder"] == did
            assert fetches == ["/.well-known/did.json"] * fetched, (answer, fetches)
