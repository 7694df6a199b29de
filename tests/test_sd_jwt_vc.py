"""SD-JWT VC (draft-ietf-oauth-sd-jwt-vc, `typ: dc+sd-jwt`): issuance with registered claims,
the Mandate and DirectorCertification helpers (personal data never plain, schema at issuance),
the verification pipeline step by step with one code per failure, and RFC 9901 A.3 (itself an
SD-JWT VC) verified through it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _support import NOW, Issuer, vectors

from ancre.issuer.sd_jwt_credentials import issue_director_certification, issue_mandate
from ancre.trust.clock import Clock, FixedClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.did.document import CompositeResolver
from ancre.trust.errors import Code, ConfigurationError, InvalidError, MalformedError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import PrivateKey, PublicKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.issue import SdJwt, issue_sd_jwt
from ancre.trust.sd_jwt.present import present
from ancre.trust.sd_jwt.vc import (
    FORMAT_SD_JWT_VC,
    issue_sd_jwt_vc,
    verify_sd_jwt_vc,
)
from ancre.trust.steps import PinnedKeys
from ancre.trust.vcdm.credentials import DIRECTOR_CERTIFICATION_VCT, MANDATE_VCT

AUD, NONCE = "https://verifier.example", "nonce-7Hq2"
POLICY = VerificationPolicy(audience=AUD, nonce=NONCE)
STATUS = {"status_list": {"idx": 412, "uri": "https://issuer.example/statuslists/1"}}
RFC = vectors("rfc9901.json")

MANDATE = {
    "legal_person_identifier": "FR.SIREN.552032534",
    "legal_name": "DANONE",
    "full_powers": False,
    "eService": "Data space onboarding",
    "effective_from_date": "2026-01-01",
    "effective_until_date": "2026-12-31",
    "issuing_authority": "ancre test registry",
    "issuing_country": "FR",
    "role": "Directeur général",
    "given_name": "Antoine",
    "family_name": "de Saint-Affrique",
}
DIRECTOR = {
    "siren": "552032534",
    "legal_name": "DANONE",
    "given_name": "Antoine",
    "family_name": "de Saint-Affrique",
    "role": "Directeur général",
    "login_acr": "https://proconnect.gouv.fr/assurance/certification-dirigeant",
}


def _codes(result: VerificationResult) -> list[tuple[Step, str | None]]:
    return [(c.step, c.code) for c in result.errors]


@dataclass
class Setup:
    issuer: Issuer
    holder: PrivateKey
    clock: FixedClock
    resolver: CompositeResolver

    def options(self, **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "issuer": self.issuer.did,
            "kid": self.issuer.kid,
            "holder_jwk": self.holder.public_key,
            "issued_at": NOW - timedelta(days=1),
            "valid_from": NOW - timedelta(days=1),
            "valid_until": NOW + timedelta(days=365),
        }
        base.update(extra)
        return base

    def mandate(self, **extra: Any) -> SdJwt:
        return issue_mandate(MANDATE, self.issuer.key, **self.options(**extra))

    def present(self, sd_jwt: SdJwt | str, disclose: list[str], clock: Clock | None = None) -> str:
        return present(
            sd_jwt,
            disclose,
            holder_key=self.holder,
            audience=AUD,
            nonce=NONCE,
            clock=clock or self.clock,
        )

    def verify(
        self, token: str, policy: VerificationPolicy = POLICY, **kw: Any
    ) -> VerificationResult:
        return verify_sd_jwt_vc(
            token, resolver=self.resolver, clock=self.clock, policy=policy, **kw
        )


@pytest.fixture
def setup(issuer: Issuer, resolver: CompositeResolver, clock: FixedClock) -> Setup:
    return Setup(issuer, PrivateKey.generate("p256"), clock, resolver)


def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return header


def _payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64url_decode(token.split("~")[0].split(".")[1]))
    return payload


# ------------------------------------------------------------------------------------------
# issuance and the happy path


def test_mandate_round_trip(setup: Setup) -> None:
    issued = setup.mandate(status=STATUS)
    token = issued.serialize()
    assert _header(token) == {
        "alg": setup.issuer.key.alg,
        "typ": "dc+sd-jwt",
        "kid": setup.issuer.kid,
    }
    payload = _payload(token)
    assert payload["vct"] == MANDATE_VCT
    assert payload["iss"] == setup.issuer.did
    assert payload["cnf"] == {"jwk": setup.holder.public_key.to_jwk()}
    assert payload["status"] == STATUS
    assert payload["nbf"] == payload["iat"] == int((NOW - timedelta(days=1)).timestamp())
    # Names are never in the clear; the legal person's data is.
    assert "given_name" not in payload
    assert "family_name" not in payload
    assert payload["legal_name"] == "DANONE"
    assert {d.name for d in issued.disclosures} == {"given_name", "family_name"}

    shown = setup.present(issued, ["/family_name"])
    checker = _Status("not revoked (test list)")
    result = setup.verify(shown, status=checker)
    assert result.status is Status.VALID, result.to_json()
    assert result.format == FORMAT_SD_JWT_VC
    assert result.types == (MANDATE_VCT,)
    assert result.issuer == setup.issuer.did
    # The engine runs every step for every format, in the order of the Step enum.
    assert [c.step for c in result.checks] == list(Step)
    assert result.credential is not None
    assert result.credential["family_name"] == "de Saint-Affrique"
    assert "given_name" not in result.credential
    assert checker.seen == [(result.credential, setup.issuer.did)]
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert "sd_hash matches" in binding.message


def test_director_certification_withholding_required_names(setup: Setup) -> None:
    """The schema requires the director's names, but a holder may withhold them: the schema
    step judges what is disclosed and says what was withheld."""
    issued = issue_director_certification(DIRECTOR, setup.issuer.key, **setup.options(decoys=3))
    result = setup.verify(setup.present(issued, []))
    assert result.status is Status.VALID, result.to_json()
    schema = next(c for c in result.checks if c.step is Step.SCHEMA)
    assert "2 required claim(s) withheld by the holder" in schema.message
    assert result.types == (DIRECTOR_CERTIFICATION_VCT,)
    assert result.credential is not None
    assert result.credential["siren"] == "552032534"
    everything = setup.verify(setup.present(issued, ["/*"]))
    assert everything.valid
    assert everything.credential is not None
    assert everything.credential["given_name"] == "Antoine"


def test_legacy_typ_and_x5c_key_source(setup: Setup) -> None:
    """A KeySource (e.g. the x5c chain validator) sees the whole header; `vc+sd-jwt` (drafts
    before -06) is accepted and recorded."""
    issuer_url = "https://issuer.example"
    issued = issue_sd_jwt_vc(
        {"given_name": "Ada"},
        setup.issuer.key,
        issuer=issuer_url,
        vct="https://credentials.example/person",
        x5c=["MIIBfake=="],
        disclosable=["/given_name"],
        holder_jwk=setup.holder.public_key.to_jwk(),
    )
    assert _header(issued.jwt)["x5c"] == ["MIIBfake=="]
    source = _Source(setup.issuer.key.public_key)
    result = verify_sd_jwt_vc(
        setup.present(issued, ["/given_name"]), resolver=source, clock=setup.clock, policy=POLICY
    )
    assert result.status is Status.VALID, result.to_json()
    assert source.asked == [(issuer_url, ["MIIBfake=="])]
    key_step = next(c for c in result.checks if c.step is Step.ISSUER_KEY)
    assert "x5c" in key_step.message

    legacy = _resign(setup, issued, header={"typ": "vc+sd-jwt", "x5c": ["MIIBfake=="]})
    result = verify_sd_jwt_vc(legacy, resolver=source, clock=setup.clock)
    assert result.status is Status.INVALID  # no KB-JWT, cnf present
    assert _codes(result) == [(Step.HOLDER_BINDING, Code.KEY_BINDING_MISSING)]
    fmt = next(c for c in result.checks if c.step is Step.FORMAT)
    assert fmt.message == "dc+sd-jwt (legacy typ vc+sd-jwt)"


@dataclass
class _Source:
    key: PublicKey
    asked: list[tuple[str, Any]] | None = None

    def key_for(
        self, controller: str, header: Mapping[str, Any], *, authentication: bool
    ) -> PublicKey:
        if self.asked is None:
            self.asked = []
        self.asked.append((controller, header.get("x5c")))
        return self.key


class _Status:
    def __init__(self, outcome: str | Exception) -> None:
        self.outcome = outcome
        self.seen: list[tuple[Mapping[str, Any], str]] = []

    def check(self, credential: Mapping[str, Any], *, issuer: str, clock: Clock) -> str:
        self.seen.append((credential, issuer))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def _resign(
    setup: Setup,
    issued: SdJwt,
    *,
    header: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """The same SD-JWT with its header/payload changed and signed again by the issuer."""
    head = dict(header if header is not None else _header(issued.jwt))
    body = {k: v for k, v in {**_payload(issued.jwt), **(payload or {})}.items() if k not in drop}
    jwt = sign_compact(head, dumps_compact(body).encode(), setup.issuer.key)
    return SdJwt(jwt, issued.disclosures).serialize()


# ------------------------------------------------------------------------------------------
# pipeline steps


def test_status_step(setup: Setup) -> None:
    token = setup.present(setup.mandate(status=STATUS), [])
    unchecked = setup.verify(token)
    assert unchecked.status is Status.INDETERMINATE
    assert _codes(unchecked) == [(Step.STATUS, Code.STATUS_UNCHECKED)]
    skipped = setup.verify(token, replace(POLICY, check_status=False))
    assert skipped.valid
    assert next(c for c in skipped.checks if c.step is Step.STATUS).skipped
    revoked = setup.verify(token, status=_Status(InvalidError(Code.REVOKED, "revoked at idx 412")))
    assert _codes(revoked) == [(Step.STATUS, Code.REVOKED)]
    no_status = setup.verify(setup.present(setup.mandate(), []))
    assert no_status.valid


def test_trust_and_required_types(setup: Setup) -> None:
    token = setup.present(setup.mandate(), [])
    trusted = setup.verify(token, replace(POLICY, trusted_issuers=frozenset({setup.issuer.did})))
    assert trusted.valid
    untrusted = setup.verify(
        token, replace(POLICY, trusted_issuers=frozenset({"did:web:x.example"}))
    )
    assert _codes(untrusted) == [(Step.TRUST, Code.ISSUER_NOT_TRUSTED)]
    other_type = setup.verify(token, replace(POLICY, required_types=frozenset({"urn:x:other"})))
    assert _codes(other_type) == [(Step.POLICY, Code.POLICY_VIOLATION)]


def test_time_step(setup: Setup) -> None:
    issued = setup.mandate()
    later = FixedClock(NOW + timedelta(days=400))
    expired = verify_sd_jwt_vc(
        setup.present(issued, [], clock=later), resolver=setup.resolver, clock=later, policy=POLICY
    )
    assert _codes(expired) == [(Step.TIME, Code.EXPIRED)]
    future = setup.mandate(valid_from=NOW + timedelta(days=2), issued_at=NOW)
    assert _codes(setup.verify(setup.present(future, []))) == [(Step.TIME, Code.NOT_YET_VALID)]


def test_key_binding_policy(setup: Setup) -> None:
    issued = setup.mandate()
    bare = present(issued, ["/given_name"])
    assert _codes(setup.verify(bare)) == [(Step.HOLDER_BINDING, Code.KEY_BINDING_MISSING)]
    relaxed = setup.verify(bare, replace(POLICY, require_key_binding=False))
    assert relaxed.valid
    stale = FixedClock(NOW - timedelta(minutes=30))
    old = setup.present(issued, ["/given_name"], clock=stale)
    assert _codes(setup.verify(old)) == [(Step.HOLDER_BINDING, Code.KEY_BINDING_TOO_OLD)]
    other = replace(setup, holder=PrivateKey.generate("p256"))
    stolen = other.present(issued, ["/given_name"])
    assert _codes(setup.verify(stolen)) == [(Step.HOLDER_BINDING, Code.KEY_BINDING_INVALID)]


def test_schema_violation_on_verification(setup: Setup) -> None:
    # Signed directly with the core, skipping the issuance-time schema check.
    payload = {
        "iss": setup.issuer.did,
        "vct": MANDATE_VCT,
        "cnf": {"jwk": setup.holder.public_key.to_jwk()},
        **MANDATE,
        "full_powers": "yes",
    }
    issued = issue_sd_jwt(
        payload,
        setup.issuer.key,
        disclosable=["/given_name"],
        header={"typ": "dc+sd-jwt", "kid": setup.issuer.kid},
    )
    result = setup.verify(setup.present(issued, []))
    assert _codes(result) == [(Step.SCHEMA, Code.SCHEMA_VIOLATION)]
    assert "/full_powers" in result.errors[0].message
    skipped = setup.verify(setup.present(issued, []), replace(POLICY, check_schema=False))
    assert skipped.valid


def test_rfc9901_a3_is_a_valid_sd_jwt_vc() -> None:
    keys = PinnedKeys({"https://pid-issuer.bund.de.example": [RFC["issuer_public_jwk"]]})
    kb = RFC["key_binding"]
    clock = FixedClock(datetime.fromtimestamp(kb["iat"], UTC))
    policy = VerificationPolicy(audience=kb["aud"], nonce=kb["nonce"])
    for case in (c for c in RFC["sd_jwts"] if c["typ"] == "dc+sd-jwt"):
        result = verify_sd_jwt_vc(
            case["token"],
            resolver=keys,
            clock=clock,
            policy=replace(policy, require_key_binding=case["key_binding"]),
        )
        assert result.status is Status.VALID, result.to_json()
        assert result.types == ("urn:eudi:pid:de:1",)
        assert result.credential == case["processed"]
    # The RFC's other examples are not SD-JWT VCs (`typ` example+sd-jwt).
    other = next(c for c in RFC["sd_jwts"] if c["typ"] == "example+sd-jwt")
    result = verify_sd_jwt_vc(other["token"], resolver=keys, clock=clock, policy=policy)
    assert _codes(result) == [(Step.FORMAT, Code.UNSUPPORTED_TYP)]


# ------------------------------------------------------------------------------------------
# issuance refusals


@pytest.mark.parametrize(
    ("claims", "disclosable", "needle"),
    [
        ({"given_name": "A"}, [], "never plain: /given_name"),
        ({"birthdate": "1990-01-01", "x": 1}, ["/x"], "never plain: /birthdate"),
        ({"person": {"family_name": "B"}}, [], "never plain: /person/family_name"),
        ({"people": [{"given_name": "A"}]}, [], "never plain: /people/0/given_name"),
        ({"exp": 5}, [], "registered claims"),
        ({"a": 1}, ["/iss"], "must not be selectively disclosable"),
        ({"a": 1}, ["/*"], "must not be selectively disclosable"),
        ({"a": 1}, ["/nope"], "no claim at /nope"),
    ],
)
def test_issue_refuses(
    setup: Setup, claims: dict[str, Any], disclosable: list[str], needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        issue_sd_jwt_vc(
            claims, setup.issuer.key, vct="urn:x:t", disclosable=disclosable, **setup.options()
        )


def test_personal_data_inside_a_disclosable_object_is_accepted(setup: Setup) -> None:
    issued = issue_sd_jwt_vc(
        {
            "person": {"given_name": "A", "family_name": "B"},
            "people": [{"birthdate": "2000-01-01"}],
        },
        setup.issuer.key,
        vct="urn:x:t",
        disclosable=["/person", "/people/*"],
        **setup.options(),
    )
    assert {d.name for d in issued.disclosures} == {"person", None}


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"vct": ""}, "vct"),
        ({"issuer": "not a uri"}, "must be a URI"),
        ({"kid": None}, "kid"),
        ({"kid": "did:key:zOther#k"}, "not a key of the issuer"),
        ({"x5c": "MIIB"}, "x5c"),
        ({"issued_at": datetime(2026, 1, 1)}, "aware"),  # naive on purpose
        ({"status": {"idx": 1}}, "status_list"),
        ({"status": {"status_list": {"idx": -1, "uri": "https://x.example"}}}, "idx"),
        ({"status": {"status_list": {"idx": 1, "uri": "http://x.example"}}}, "https"),
    ],
)
def test_issue_refuses_options(setup: Setup, options: dict[str, Any], needle: str) -> None:
    args = {"vct": "urn:x:t", **setup.options(), **options}
    with pytest.raises(ConfigurationError, match=needle):
        issue_sd_jwt_vc({"a": 1}, setup.issuer.key, disclosable=["/a"], **args)


def test_helpers_refuse_plain_names_and_schema_violations(setup: Setup) -> None:
    with pytest.raises(ConfigurationError, match="never plain: /family_name"):
        issue_mandate(MANDATE, setup.issuer.key, disclosable=["/given_name"], **setup.options())
    with pytest.raises(InvalidError) as info:
        issue_director_certification(
            {**DIRECTOR, "siren": "552032535"}, setup.issuer.key, **setup.options()
        )
    assert info.value.code is Code.SCHEMA_VIOLATION
    assert "/siren" in info.value.message
    missing = {k: v for k, v in MANDATE.items() if k != "legal_name"}
    with pytest.raises(InvalidError, match="legal_name"):
        issue_mandate(missing, setup.issuer.key, **setup.options())


EVIDENCE = {
    "type": ["ancre:RegisterCheck"],
    "ancre:register": "recherche-entreprises",
    "ancre:query": "55203253400646",
    "gx:evidenceURL": "https://recherche-entreprises.api.gouv.fr/search?q=55203253400646",
    "gx:executionDate": "2026-03-01T09:30:00Z",
    "ancre:digestSRI": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "gx:evidenceOf": "urn:eu.europa.ec.eudi:por:1",
}


def test_register_evidence_is_a_disclosable_claim_the_schema_checks(setup: Setup) -> None:
    claims = {**MANDATE, "evidence": [EVIDENCE]}
    pointers = ["/given_name", "/family_name", "/role", "/evidence"]
    issued = issue_mandate(claims, setup.issuer.key, disclosable=pointers, **setup.options())
    assert "evidence" not in _payload(issued.serialize())
    result = setup.verify(setup.present(issued, ["/evidence"]), status=_Status("ok"))
    assert result.status is Status.VALID, result.to_json()
    assert result.credential is not None
    assert result.credential["evidence"] == [EVIDENCE]
    assert "role" not in result.credential
    for bad in ([], [{"ancre:register": "x"}], [{**EVIDENCE, "ancre:digestSRI": "md5-x"}]):
        with pytest.raises(InvalidError) as info:
            issue_mandate(
                {**MANDATE, "evidence": bad},
                setup.issuer.key,
                disclosable=pointers,
                **setup.options(),
            )
        assert info.value.code is Code.SCHEMA_VIOLATION
        assert "/evidence" in info.value.message


# ------------------------------------------------------------------------------------------
# the negative suite through the SD-JWT VC pipeline


def _typ(setup: Setup) -> str:
    return _resign(setup, setup.mandate(), header={"typ": "JWT", "kid": setup.issuer.kid})


def _no_vct(setup: Setup) -> str:
    return _resign(setup, setup.mandate(), drop=("vct",))


def _vct_number(setup: Setup) -> str:
    return _resign(setup, setup.mandate(), payload={"vct": 7})


def _iss_not_uri(setup: Setup) -> str:
    return _resign(setup, setup.mandate(), payload={"iss": "issuer"})


def _status_shape(setup: Setup) -> str:
    return _resign(setup, setup.mandate(), payload={"status": {"status_list": {"idx": "1"}}})


def _exp_disclosed(setup: Setup) -> str:
    # An `exp` the holder could simply leave out (SD-JWT VC §3.2.2.2).
    payload = {"iss": setup.issuer.did, "vct": "urn:x:t", "exp": int(NOW.timestamp()) + 60}
    issued = issue_sd_jwt(
        payload,
        setup.issuer.key,
        disclosable=["/exp"],
        header={"typ": "dc+sd-jwt", "kid": setup.issuer.kid},
    )
    return present(issued, ["/exp"])


def _tampered(setup: Setup) -> str:
    token = present(setup.mandate(), ["/given_name"])
    jwt, disclosure, _ = token.split("~")
    salt, name, _ = json.loads(b64url_decode(disclosure))
    from ancre.trust.codec.b64 import b64url_encode

    forged = b64url_encode(json.dumps([salt, name, "Mallory"]).encode())
    return f"{jwt}~{forged}~"


def _bad_signature(setup: Setup) -> str:
    intruder = Issuer(PrivateKey.generate(setup.issuer.key.key_type), setup.issuer.did)
    return present(issue_mandate(MANDATE, intruder.key, **setup.options()), [])


def _unknown_kid(setup: Setup) -> str:
    return _resign(
        setup, setup.mandate(), header={"typ": "dc+sd-jwt", "kid": setup.issuer.did + "#nope"}
    )


def _md5(setup: Setup) -> str:
    return _resign(setup, setup.mandate(), payload={"_sd_alg": "md5"})


def _payload_case(**changes: Any) -> Any:
    def case(setup: Setup) -> str:
        return _resign(setup, setup.mandate(), payload=changes)

    return case


_LIST = "https://issuer.example/statuslists/1"

VC_NEGATIVE = [
    (
        "vct#integrity a number",
        _payload_case(**{"vct#integrity": 5}),
        Step.DATA_MODEL,
        Code.INVALID_PROPERTY,
    ),
    ("sub empty", _payload_case(sub=""), Step.DATA_MODEL, Code.INVALID_PROPERTY),
    ("cnf a string", _payload_case(cnf="holder"), Step.DATA_MODEL, Code.INVALID_PROPERTY),
    ("iat a string", _payload_case(iat="yesterday"), Step.DATA_MODEL, Code.INVALID_DATETIME),
    ("status a string", _payload_case(status="valid"), Step.DATA_MODEL, Code.INVALID_PROPERTY),
    (
        "status idx negative",
        _payload_case(status={"status_list": {"idx": -1, "uri": _LIST}}),
        Step.DATA_MODEL,
        Code.INVALID_PROPERTY,
    ),
    (
        "status uri not a URI",
        _payload_case(status={"status_list": {"idx": 1, "uri": "lists"}}),
        Step.DATA_MODEL,
        Code.INVALID_PROPERTY,
    ),
    ("typ JWT", _typ, Step.FORMAT, Code.UNSUPPORTED_TYP),
    ("no vct", _no_vct, Step.DATA_MODEL, Code.INVALID_VCT),
    ("vct a number", _vct_number, Step.DATA_MODEL, Code.INVALID_VCT),
    ("iss not a URI", _iss_not_uri, Step.ISSUER_KEY, Code.INVALID_ISSUER),
    ("status malformed", _status_shape, Step.DATA_MODEL, Code.INVALID_PROPERTY),
    ("exp selectively disclosed", _exp_disclosed, Step.DATA_MODEL, Code.INVALID_PROPERTY),
    ("disclosure tampered", _tampered, Step.SIGNATURE, Code.DISCLOSURE_UNREFERENCED),
    ("issuer signature bad", _bad_signature, Step.SIGNATURE, Code.SIGNATURE_INVALID),
    ("unknown kid", _unknown_kid, Step.ISSUER_KEY, Code.VERIFICATION_METHOD_NOT_FOUND),
    ("_sd_alg md5", _md5, Step.SIGNATURE, Code.DIGEST_ALG_NOT_ALLOWED),
]


@pytest.mark.parametrize(
    ("maker", "step", "code"), [pytest.param(m, s, c, id=n) for n, m, s, c in VC_NEGATIVE]
)
def test_vc_negative(setup: Setup, maker: Any, step: Step, code: Code) -> None:
    result = setup.verify(maker(setup), replace(POLICY, require_key_binding=False))
    assert result.status is Status.INVALID, result.to_json()
    assert _codes(result) == [(step, code)]


def test_bearer_vc_with_subject_and_nested_withheld_claims(setup: Setup) -> None:
    """No `cnf`: a bearer credential (recorded). A required claim withheld inside a nested
    object is tolerated only there."""
    issued = issue_sd_jwt_vc(
        {"org": {"name": "DANONE", "siren": "552032534"}},
        setup.issuer.key,
        issuer=setup.issuer.did,
        kid=setup.issuer.kid,
        vct="urn:x:org",
        subject="urn:x:subject:1",
        disclosable=["/org/siren"],
    )
    # Nothing to bind, so a verifier asking for a nonce/audience refuses it…
    bound = setup.verify(present(issued, []))
    assert _codes(bound) == [(Step.HOLDER_BINDING, Code.KEY_BINDING_MISSING)]
    # …and one that asks for none takes it as the bearer credential it is.
    result = setup.verify(present(issued, []), VerificationPolicy())
    assert result.status is Status.VALID, result.to_json()
    assert result.subject == "urn:x:subject:1"
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert "bearer" in binding.message
    assert result.credential == {
        "iss": setup.issuer.did,
        "vct": "urn:x:org",
        "sub": "urn:x:subject:1",
        "org": {"name": "DANONE"},
    }


def test_withheld_claims_are_located_by_json_pointer() -> None:
    from ancre.trust.sd_jwt.vc import _resolve_parent

    claims = {"a": {"b~/c": [{"d": 1}]}}
    assert _resolve_parent(claims, "/a/b~0~1c/0/missing") is claims["a"]["b~/c"][0]
    assert _resolve_parent(claims, "/missing") is claims
    assert _resolve_parent(claims, "/a/nope/x") is None
    assert _resolve_parent(claims, "/a/b~0~1c/9/x") is None
    assert _resolve_parent(claims, "/a/b~0~1c/x") is None  # a list is not an object


def test_never_raises(setup: Setup) -> None:
    for garbage in ("", "~", "a.b.c~", "x" * 300_000 + "~", "~" * 1000):
        result = setup.verify(garbage)
        assert result.status is Status.INVALID
        assert result.malformed
    with pytest.raises(MalformedError):
        SdJwt.parse("no tilde")
