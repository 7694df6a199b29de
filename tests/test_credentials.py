"""Credential types, their JSON Schemas, and the unsigned-credential builders.

Reference subjects under tests/data/gaiax/ are copies of the Gaia-X examples in
shared/reference/gaiax/examples/ (each file names its source and says why it does or does not
fit ancre's schema).
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from ancre.issuer.builders import (
    Address,
    legal_person_credential,
    local_registration_number_credential,
    vat_id_credential,
)
from ancre.trust.errors import Code, InvalidError, MalformedError
from ancre.trust.vcdm import credentials
from ancre.trust.vcdm.credentials import (
    ADMINISTRATIVE_SERVICE,
    CERTIFICATION,
    DIRECTOR_CERTIFICATION_VCT,
    EUID,
    GX_ISSUER,
    LEGAL_PERSON,
    LEI_CODE,
    LOCAL_REGISTRATION_NUMBER,
    MANDATE_VCT,
    SCHEMA_FOR_TYPE,
    SCHEMA_FOR_VCT,
    VAT_ID,
    SchemaIssue,
    sd_jwt_claims_schema_errors,
    subject_schema_errors,
)

DATA = Path(__file__).parent / "data" / "gaiax"
T0 = datetime(2025, 3, 6, 14, 56, 1, tzinfo=UTC)
ISSUER = "did:web:issuer.ancre.example"
TANDC_HASH = "4bd7554097444c960292b4726c2efa1373485e8a5565d94d41195214c5e0ceb3"

# La Poste's head office, as Recherche d'entreprises gives it (reference sample).
LA_POSTE_HQ = Address(
    country_code="FR",
    subdivision_code="FR-75",
    street_address="9 RUE DU COLONEL PIERRE AVIA",
    postal_code="75015",
    locality="PARIS 15",
)


def _credential(credential_type: str, subject: Any) -> dict[str, Any]:
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://w3id.org/gaia-x/development#",
        ],
        "type": ["VerifiableCredential", credential_type],
        "credentialSubject": subject,
    }


def _paths(issues: list[SchemaIssue]) -> list[str]:
    return [i.path for i in issues]


def _legal_person(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer": ISSUER,
        "credential_id": "https://issuer.ancre.example/credentials/lp-1",
        "subject_id": "did:web:laposte.example",
        "name": "LA POSTE",
        "registration_number_id": "https://issuer.ancre.example/credentials/vat-1#cs",
        "legal_address": LA_POSTE_HQ,
        "valid_from": T0,
    }
    args.update(overrides)
    return legal_person_credential(**args)


# --- the schema files ----------------------------------------------------------------------


def _schema_files() -> list[str]:
    root = resources.files("ancre.trust.vcdm.schemas")
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".schema.json"))


def _load_schema(name: str) -> dict[str, Any]:
    text = resources.files("ancre.trust.vcdm.schemas").joinpath(name).read_text(encoding="utf-8")
    document = json.loads(text)
    assert isinstance(document, dict)
    return document


def test_every_type_and_vct_has_a_schema_file() -> None:
    files = set(_schema_files())
    assert (
        set(SCHEMA_FOR_TYPE.values()) | set(SCHEMA_FOR_VCT.values()) | {"common.schema.json"}
        == files
    )
    assert set(SCHEMA_FOR_TYPE) == {
        LEGAL_PERSON,
        LOCAL_REGISTRATION_NUMBER,
        VAT_ID,
        EUID,
        LEI_CODE,
        GX_ISSUER,
        CERTIFICATION,
        ADMINISTRATIVE_SERVICE,
    }
    assert set(SCHEMA_FOR_VCT) == {MANDATE_VCT, DIRECTOR_CERTIFICATION_VCT}


@pytest.mark.parametrize("name", _schema_files())
def test_schema_files_are_documented_draft_2020_12(name: str) -> None:
    schema = _load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:ancre:schema:" + name.removesuffix(".schema.json")
    assert jsonschema_rs.meta.is_valid(schema)
    assert len(schema["description"]) > 80
    assert "$comment" in schema  # where its rules come from


def test_every_subject_schema_requires_an_id() -> None:
    for credential_type in SCHEMA_FOR_TYPE:
        issues = subject_schema_errors(_credential(credential_type, {"@type": credential_type}))
        assert "/credentialSubject/id" in _paths(issues), credential_type
        message = next(i.message for i in issues if i.path == "/credentialSubject/id")
        assert message == "required property 'id' is missing"


def test_validators_are_compiled_once_across_threads() -> None:
    store = credentials._SchemaStore()
    barrier = threading.Barrier(8)
    results: list[object] = []

    def compile_one() -> None:
        barrier.wait()
        results.append(store.validator("gx-legal-person.schema.json"))

    threads = [threading.Thread(target=compile_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(r is results[0] for r in results)
    assert store.validator("gx-legal-person.schema.json") is results[0]


# --- Gaia-X reference subjects -------------------------------------------------------------


def _reference_files() -> list[Path]:
    return sorted(DATA.glob("*.subject.json"))


def test_reference_data_is_present() -> None:
    assert len(_reference_files()) == 6


@pytest.mark.parametrize("path", _reference_files(), ids=lambda p: p.name)
def test_gaiax_reference_subjects(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert case["source"]
    assert case["note"]
    issues = subject_schema_errors(_credential(case["schema_type"], case["subject"]))
    expected = [SchemaIssue(case["schema_type"], p, m) for p, m in case["expected_issues"]]
    assert issues == expected


def test_reference_vat_number_itself_is_valid() -> None:
    # The Tagus notary subject fails gx:VatID only for its missing country code.
    case = json.loads((DATA / "tagus-notary-v1.legal-registration-number.subject.json").read_text())
    subject = dict(case["subject"], **{"gx:countryCode": "FR"})
    assert subject_schema_errors(_credential(VAT_ID, subject)) == []


def test_reference_enveloped_payload_checked_through_its_keyword_type() -> None:
    # The ICAM enveloped example writes `@type` (and has no `type`); with gx:LegalPerson added
    # in that keyword form the schema still applies and passes.
    case = json.loads((DATA / "icam-25.11-enveloped-vc.legal-person.subject.json").read_text())
    credential = {
        "@type": ["VerifiableCredential", LEGAL_PERSON],
        "credentialSubject": [case["subject"]],
    }
    assert subject_schema_errors(credential) == []
    broken = copy.deepcopy(credential)
    broken["credentialSubject"][0]["gx:legalAddress"]["gx:countrySubdivisionCode"] = "Paris"
    assert _paths(subject_schema_errors(broken)) == [
        "/credentialSubject/0/gx:legalAddress/gx:countrySubdivisionCode"
    ]


def test_tagus_terms_and_conditions_type_has_no_schema() -> None:
    case = json.loads((DATA / "tagus-deltadao.terms-and-conditions.subject.json").read_text())
    credential = {"type": ["VerifiableCredential", "GaiaXTermsAndConditions"]}
    credential["credentialSubject"] = case["subject"]
    assert "GaiaXTermsAndConditions" not in SCHEMA_FOR_TYPE
    assert subject_schema_errors(credential) == []


# --- negative cases --------------------------------------------------------------------------


def test_missing_id_bad_country_and_bad_reference_are_located() -> None:
    credential = _legal_person()
    subject = credential["credentialSubject"]
    del subject["id"]
    subject["gx:legalAddress"]["gx:countryCode"] = "XX"
    subject["gx:registrationNumber"] = [{"id": "not a uri"}]
    subject["schema:name"] = 42
    issues = subject_schema_errors(credential)
    assert {(i.path, i.message) for i in issues} == {
        ("/credentialSubject/id", "required property 'id' is missing"),
        (
            "/credentialSubject/gx:legalAddress/gx:countryCode",
            '"XX" is not a valid ISO 3166-1 alpha-2 country code',
        ),
        (
            "/credentialSubject/gx:registrationNumber/0/id",
            '"not a uri" is not a valid URI (RFC 3986, with a scheme)',
        ),
        ("/credentialSubject/schema:name", "expected string, found integer"),
    }
    assert {i.credential_type for i in issues} == {LEGAL_PERSON}


def test_lower_case_country_code_is_refused() -> None:
    credential = _legal_person()
    credential["credentialSubject"]["gx:headquartersAddress"]["gx:countryCode"] = "fr"
    assert _paths(subject_schema_errors(credential)) == [
        "/credentialSubject/gx:headquartersAddress/gx:countryCode"
    ]


def test_missing_required_properties_of_a_legal_person() -> None:
    subject = {"id": "did:web:x.example", "schema:name": "X"}
    issues = subject_schema_errors(_credential(LEGAL_PERSON, subject))
    assert _paths(issues) == [
        "/credentialSubject/gx:registrationNumber",
        "/credentialSubject/gx:legalAddress",
        "/credentialSubject/gx:headquartersAddress",
    ]


def test_an_address_must_say_something() -> None:
    credential = _legal_person()
    credential["credentialSubject"]["gx:headquartersAddress"] = {"vcard:locality": "PARIS"}
    issues = subject_schema_errors(credential)
    assert len(issues) == 1
    assert issues[0].path == "/credentialSubject/gx:headquartersAddress"
    assert issues[0].message.startswith("gx:Address needs at least one of 'gx:countryCode'")


def test_an_address_may_be_a_reference() -> None:
    # gaia-x-go points headquartersAddress at an address described in another credential.
    credential = _legal_person()
    credential["credentialSubject"]["gx:headquartersAddress"] = {
        "id": "https://example.org/address#cs"
    }
    assert subject_schema_errors(credential) == []


@pytest.mark.parametrize(
    ("local", "message"),
    [
        (
            "80761229600011",  # right length, wrong check digit
            '"80761229600011" is not a valid SIREN (9 digits) or SIRET (14 digits) '
            "with a valid check digit",
        ),
        ("8076", '"8076" is not a valid SIREN (9 digits) or SIRET (14 digits) with a valid'),
        ("807 612 296", '"807 612 296" is not a valid SIREN'),
    ],
)
def test_bad_siret_in_local_registration_number(local: str, message: str) -> None:
    subject = {"id": "https://issuer.example/lrn#cs", "gx:local": local}
    issues = subject_schema_errors(_credential(LOCAL_REGISTRATION_NUMBER, subject))
    assert len(issues) == 1  # pattern and check digit failing together are one issue
    assert issues[0].path == "/credentialSubject/gx:local"
    assert issues[0].message.startswith(message)


def test_la_poste_siret_is_a_valid_local_number() -> None:
    subject = {"id": "https://issuer.example/lrn#cs", "gx:local": "35600000049837"}
    assert subject_schema_errors(_credential(LOCAL_REGISTRATION_NUMBER, subject)) == []


def test_id_and_keyword_id_collide() -> None:
    subject = {
        "id": "https://a.example",
        "@id": "https://b.example",
        "gx:vatID": "FR79537407926",
        "gx:countryCode": "FR",
    }
    issues = subject_schema_errors(_credential(VAT_ID, subject))
    assert issues == [
        SchemaIssue(VAT_ID, "/credentialSubject/id", "'id' must not be given together with '@id'")
    ]


@pytest.mark.parametrize(
    ("vat", "valid"),
    [
        ("FR79537407926", True),
        ("FR80537407926", False),  # key does not match the SIREN
        ("DE129273398", True),  # foreign numbers: shape only
        ("EL094259216", True),
        ("FR 79 537 407 926", False),  # spaces are for people, not for credentials
    ],
)
def test_vat_id_subject(vat: str, valid: bool) -> None:
    subject = {"id": "https://x.example/vat#cs", "gx:vatID": vat, "gx:countryCode": vat[:2]}
    if vat.startswith("EL"):
        subject["gx:countryCode"] = "GR"
    issues = subject_schema_errors(_credential(VAT_ID, subject))
    assert (issues == []) is valid
    assert all(i.path == "/credentialSubject/gx:vatID" for i in issues)


@pytest.mark.parametrize(
    ("lei", "valid"),
    [
        ("9695007586GCAKPYJ703", True),  # the notary example's LEI
        ("9695007586GCAKPYJ730", False),  # check digits swapped
        ("9695007586GCAKPYJ70", False),
    ],
)
def test_lei_check_digits(lei: str, valid: bool) -> None:
    subject = {"id": "https://x.example/lei#cs", "schema:leiCode": lei, "gx:countryCode": "FR"}
    assert (subject_schema_errors(_credential(LEI_CODE, subject)) == []) is valid


def test_lei_country_code_may_not_be_null() -> None:
    subject: dict[str, Any] = {"id": "https://x.example/lei#cs"}
    subject.update({"schema:leiCode": "9695007586GCAKPYJ703", "gx:countryCode": None})
    issues = subject_schema_errors(_credential(LEI_CODE, subject))
    assert issues == [
        SchemaIssue(LEI_CODE, "/credentialSubject/gx:countryCode", "expected string, found null")
    ]


@pytest.mark.parametrize(
    ("euid", "valid"),
    [("ROONRC.J40/2845/1998", True), ("DEK1101R.HRB116737", True), ("FR 552032534", False)],
)
def test_euid_shape(euid: str, valid: bool) -> None:
    subject = {"id": "https://x.example/euid#cs", "gx:euid": euid}
    assert (subject_schema_errors(_credential(EUID, subject)) == []) is valid


def test_issuer_terms_and_conditions_spellings() -> None:
    prefixed = {"id": "https://x.example/tc#cs", "gx:gaiaxTermsAndConditions": TANDC_HASH}
    assert subject_schema_errors(_credential(GX_ISSUER, prefixed)) == []
    both = dict(prefixed, gaiaxTermsAndConditions=TANDC_HASH)
    assert _paths(subject_schema_errors(_credential(GX_ISSUER, both))) == [
        "/credentialSubject/gx:gaiaxTermsAndConditions"
    ]
    upper = {"id": "https://x.example/tc#cs", "gx:gaiaxTermsAndConditions": TANDC_HASH.upper()}
    (issue,) = subject_schema_errors(_credential(GX_ISSUER, upper))
    assert "lower-case hexadecimal" in issue.message


def test_every_subject_of_a_list_is_checked() -> None:
    good = {"id": "https://x.example/euid#1", "gx:euid": "DEK1101R.HRB116737"}
    bad = {"id": "https://x.example/euid#2", "gx:euid": 7}
    issues = subject_schema_errors(_credential(EUID, [good, bad, "not an object"]))
    assert _paths(issues) == ["/credentialSubject/1/gx:euid", "/credentialSubject/2"]


def test_missing_or_empty_subject_is_an_issue_for_typed_credentials() -> None:
    subjects: list[Any] | None
    for subjects in (None, []):
        credential = _credential(EUID, subjects)
        if subjects is None:
            del credential["credentialSubject"]
        (issue,) = subject_schema_errors(credential)
        assert issue == SchemaIssue(
            EUID, "/credentialSubject", "a gx:EUID credential needs a credentialSubject object"
        )


def test_types_without_schema_are_not_errors() -> None:
    assert subject_schema_errors({"type": ["VerifiableCredential", "ex:Other"]}) == []
    assert subject_schema_errors({"type": [["gx:EUID"], 3, None]}) == []
    assert subject_schema_errors({}) == []


def test_type_listed_twice_reports_once() -> None:
    credential = _credential(EUID, {"gx:euid": "DEK1101R.HRB116737"})
    credential["type"].append(EUID)
    assert _paths(subject_schema_errors(credential)) == ["/credentialSubject/id"]


def test_unknown_extra_properties_are_allowed() -> None:
    credential = _legal_person()
    credential["credentialSubject"]["gx:someFutureProperty"] = {"anything": [1, 2]}
    credential["credentialSubject"]["@context"] = {"schema": "https://schema.org/"}
    assert subject_schema_errors(credential) == []


def test_non_json_values_are_reported_not_raised() -> None:
    credential = _credential(EUID, {"id": "https://x.example", "gx:euid": T0})
    (issue,) = subject_schema_errors(credential)
    assert issue.path == "/credentialSubject"
    assert issue.message.startswith("not JSON data")


def test_issues_are_bounded() -> None:
    subjects = [{"gx:euid": i} for i in range(200)]
    issues = subject_schema_errors(_credential(EUID, subjects))
    assert len(issues) == 50


def test_messages_do_not_echo_large_values() -> None:
    subject = {"id": "https://x.example", "gx:euid": "x" * 10_000}
    (issue,) = subject_schema_errors(_credential(EUID, subject))
    assert len(issue.message) < 160


# --- ancre's own types -----------------------------------------------------------------------


def _certification() -> dict[str, Any]:
    return {
        "id": "did:web:cloud.example",
        "type": CERTIFICATION,
        "ancre:scheme": "SecNumCloud 3.2",
        "ancre:level": "qualified",
        "ancre:scope": "IaaS platform, Paris region",
        "ancre:certificateNumber": "ANSSI-CSPN-2025-01",
        "ancre:certificateValidFrom": "2025-01-15",
        "ancre:certificateValidUntil": "2028-01-14T23:59:59Z",
        "ancre:certifiedEntity": {"id": "did:web:provider.example"},
        "ancre:certificateURL": "https://cyber.gouv.fr/produits-certifies",
    }


def test_certification_subject() -> None:
    assert subject_schema_errors(_credential(CERTIFICATION, _certification())) == []
    broken = _certification()
    del broken["ancre:scope"]
    broken["ancre:certificateValidFrom"] = "15/01/2025"
    broken["ancre:certifiedEntity"] = {"name": "no id"}
    issues = subject_schema_errors(_credential(CERTIFICATION, broken))
    assert sorted(_paths(issues)) == [
        "/credentialSubject/ancre:certificateValidFrom",
        "/credentialSubject/ancre:certifiedEntity/id",
        "/credentialSubject/ancre:scope",
    ]


def _administrative_service() -> dict[str, Any]:
    return {
        "id": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "ancre:publicBodyName": "LA POSTE",
        "ancre:siret": "35600000000048",
        "ancre:siren": "356000000",
        "ancre:legalCategory": "5510",
        "ancre:serviceLabel": "Direction du numérique",
        "ancre:agentRoles": ["agent_public"],
    }


def test_administrative_service_subject() -> None:
    subject = _administrative_service()
    assert subject_schema_errors(_credential(ADMINISTRATIVE_SERVICE, subject)) == []
    subject["ancre:siret"] = "35600000000049"
    subject["ancre:agentRoles"] = ["admin"]
    issues = subject_schema_errors(_credential(ADMINISTRATIVE_SERVICE, subject))
    assert sorted(_paths(issues)) == [
        "/credentialSubject/ancre:agentRoles/0",
        "/credentialSubject/ancre:siret",
    ]


# --- SD-JWT VC claims ------------------------------------------------------------------------

HOLDER_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


def _mandate() -> dict[str, Any]:
    return {
        "vct": MANDATE_VCT,
        "iss": "https://issuer.ancre.example",
        "iat": 1741272961,
        "exp": 1772808961,
        "cnf": {"jwk": HOLDER_JWK},
        "legal_person_identifier": "552032534",
        "legal_name": "DANONE",
        "full_powers": False,
        "eService": "https://dataspace.example/onboarding",
        "effective_from_date": "2025-03-06",
        "effective_until_date": "2026-03-06T00:00:00Z",
        "issuing_authority": "ancre demo issuer",
        "issuing_country": "FR",
        "role": "Directeur général",
        "given_name": "Angela Claire Louise",
        "family_name": "Dubois",
    }


def test_mandate_claims() -> None:
    assert sd_jwt_claims_schema_errors(_mandate()) == []
    claims = _mandate()
    claims["full_powers"] = "yes"
    claims["effective_from_date"] = "2025-13-01"
    del claims["cnf"]
    issues = sd_jwt_claims_schema_errors(claims)
    assert {(i.path, i.message) for i in issues} == {
        ("/full_powers", "expected boolean, found string"),
        (
            "/effective_from_date",
            '"2025-13-01" is not a valid date (YYYY-MM-DD) or UTC date-time (RFC 3339, '
            "ending in Z)",
        ),
        ("/cnf", "required property 'cnf' is missing"),
    }
    assert {i.credential_type for i in issues} == {MANDATE_VCT}


def test_mandate_date_time_must_be_utc() -> None:
    claims = _mandate()
    claims["effective_from_date"] = "2025-03-06T10:00:00+01:00"
    assert _paths(sd_jwt_claims_schema_errors(claims)) == ["/effective_from_date"]


def _director() -> dict[str, Any]:
    return {
        "vct": DIRECTOR_CERTIFICATION_VCT,
        "iss": "https://issuer.ancre.example",
        "cnf": {"jwk": HOLDER_JWK},
        "siren": "807612296",
        "legal_name": "DUBOIS ANGELA",
        "given_name": "Angela Claire Louise",
        "family_name": "Dubois",
        "role": "Entrepreneur individuel",
        "login_acr": "https://proconnect.gouv.fr/assurance/certification-dirigeant",
        "register": "https://recherche-entreprises.api.gouv.fr",
        "register_checked_at": "2025-03-06T14:56:01Z",
    }


def test_director_certification_claims() -> None:
    assert sd_jwt_claims_schema_errors(_director()) == []
    claims = _director()
    claims["siren"] = "807612297"
    del claims["role"]
    issues = sd_jwt_claims_schema_errors(claims)
    assert sorted(_paths(issues)) == ["/role", "/siren"]
    siren_issue = next(i for i in issues if i.path == "/siren")
    assert siren_issue.message.startswith('"807612297" is not a valid SIREN')


def test_vct_without_schema_is_not_an_error() -> None:
    assert sd_jwt_claims_schema_errors({"vct": "urn:eudi:pid:1"}) == []
    assert sd_jwt_claims_schema_errors({}) == []


# --- builders --------------------------------------------------------------------------------


def test_legal_person_credential_shape() -> None:
    credential = _legal_person(valid_until=T0 + timedelta(days=365))
    assert credential == {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://w3id.org/gaia-x/development#",
        ],
        "id": "https://issuer.ancre.example/credentials/lp-1",
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "issuer": ISSUER,
        "validFrom": "2025-03-06T14:56:01Z",
        "validUntil": "2026-03-06T14:56:01Z",
        "credentialSubject": {
            "id": "did:web:laposte.example",
            "type": "gx:LegalPerson",
            "schema:name": "LA POSTE",
            "gx:registrationNumber": {"id": "https://issuer.ancre.example/credentials/vat-1#cs"},
            "gx:legalAddress": LA_POSTE_HQ.to_json(),
            "gx:headquartersAddress": LA_POSTE_HQ.to_json(),
        },
    }
    assert LA_POSTE_HQ.to_json() == {
        "type": "gx:Address",
        "gx:countryCode": "FR",
        "gx:subdivisionCountryCode": "FR-75",
        "vcard:street-address": "9 RUE DU COLONEL PIERRE AVIA",
        "vcard:postal-code": "75015",
        "vcard:locality": "PARIS 15",
    }
    assert subject_schema_errors(credential) == []


def test_legal_person_with_distinct_headquarters_and_offset_time() -> None:
    paris_time = timezone(timedelta(hours=1))
    hq = Address("FR", "FR-IDF")
    credential = _legal_person(
        headquarters_address=hq, valid_from=datetime(2025, 3, 6, 15, 56, 1, 500, tzinfo=paris_time)
    )
    assert credential["validFrom"] == "2025-03-06T14:56:01.000500Z"
    assert credential["credentialSubject"]["gx:headquartersAddress"] == {
        "type": "gx:Address",
        "gx:countryCode": "FR",
        "gx:subdivisionCountryCode": "FR-IDF",
    }


def test_legal_person_builder_refuses_a_bad_country_code() -> None:
    with pytest.raises(InvalidError) as caught:
        _legal_person(legal_address=Address("XX"))
    assert caught.value.code is Code.SCHEMA_VIOLATION
    assert "/credentialSubject/gx:legalAddress/gx:countryCode" in caught.value.message
    assert "ISO 3166-1 alpha-2" in caught.value.message


def test_address_subdivision_must_belong_to_the_country() -> None:
    with pytest.raises(InvalidError) as caught:
        Address("DE", "FR-75")
    assert caught.value.code is Code.SCHEMA_VIOLATION
    assert "'FR-75' is not in country 'DE'" in caught.value.message


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"valid_from": datetime(2025, 3, 6)}, Code.INVALID_DATETIME),  # naive
        ({"valid_until": T0}, Code.INVALID_DATETIME),  # not after validFrom
        ({"valid_until": datetime(2026, 1, 1)}, Code.INVALID_DATETIME),  # naive
        ({"issuer": "issuer without scheme"}, Code.INVALID_ISSUER),
        ({"subject_id": "laposte"}, Code.INVALID_ID),  # data model: subject id must be a URL
        ({"registration_number_id": "vat-1"}, Code.SCHEMA_VIOLATION),
        ({"name": ""}, Code.SCHEMA_VIOLATION),
    ],
)
def test_legal_person_builder_refuses_bad_input(overrides: dict[str, Any], code: Code) -> None:
    with pytest.raises(InvalidError) as caught:
        _legal_person(**overrides)
    assert caught.value.code is code


def test_local_registration_number_credential() -> None:
    evidence = {
        "type": ["ancre:RegisterCheck"],
        "ancre:register": "https://recherche-entreprises.api.gouv.fr/search?q=356000000",
        "ancre:checkedAt": "2025-03-06T14:56:01Z",
        "ancre:digestSRI": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    }
    credential = local_registration_number_credential(
        issuer=ISSUER,
        credential_id="https://issuer.ancre.example/credentials/lrn-1",
        subject_id="https://issuer.ancre.example/credentials/lrn-1#cs",
        siret_or_siren="356 000 000 49837",
        valid_from=T0,
        evidence=[evidence],
    )
    assert credential["type"] == ["VerifiableCredential", "gx:LocalRegistrationNumber"]
    assert credential["credentialSubject"] == {
        "id": "https://issuer.ancre.example/credentials/lrn-1#cs",
        "type": "gx:LocalRegistrationNumber",
        "gx:local": "35600000049837",
    }
    assert credential["evidence"] == [evidence]
    assert credential["evidence"][0] is not evidence  # copied, not shared
    assert "validUntil" not in credential
    assert subject_schema_errors(credential) == []


def test_local_registration_number_refuses_bad_numbers_and_untyped_evidence() -> None:
    args: dict[str, Any] = {
        "issuer": ISSUER,
        "credential_id": "https://issuer.ancre.example/credentials/lrn-1",
        "subject_id": "https://issuer.ancre.example/credentials/lrn-1#cs",
        "valid_from": T0,
    }
    with pytest.raises(MalformedError) as malformed:
        local_registration_number_credential(siret_or_siren="80761229600011", **args)
    assert malformed.value.code is Code.INVALID_SIRET
    with pytest.raises(MalformedError) as malformed:
        local_registration_number_credential(siret_or_siren="8076122960", **args)
    assert malformed.value.code is Code.INVALID_SIREN
    with pytest.raises(InvalidError) as invalid:
        local_registration_number_credential(
            siret_or_siren="807612296", evidence=[{"note": "no type"}], **args
        )
    assert invalid.value.code is Code.INVALID_PROPERTY


@pytest.mark.parametrize(
    "number", ["552032534", "552 032 534 00646", "fr27552032534", "FR 27 552 032 534"]
)
def test_vat_id_credential_from_siren_siret_or_vat(number: str) -> None:
    credential = vat_id_credential(
        issuer=ISSUER,
        credential_id="https://issuer.ancre.example/credentials/vat-1",
        subject_id="https://issuer.ancre.example/credentials/vat-1#cs",
        siren_or_vat=number,
        valid_from=T0,
        valid_until=T0 + timedelta(days=90),
    )
    assert credential["credentialSubject"] == {
        "id": "https://issuer.ancre.example/credentials/vat-1#cs",
        "type": "gx:VatID",
        "gx:vatID": "FR27552032534",
        "gx:countryCode": "FR",
    }
    assert credential["validUntil"] == "2025-06-04T14:56:01Z"
    assert subject_schema_errors(credential) == []


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("FR28552032534", Code.INVALID_VAT_ID),
        ("552032535", Code.INVALID_SIREN),
        ("55203253400647", Code.INVALID_SIRET),
    ],
)
def test_vat_id_credential_refuses_bad_numbers(number: str, code: Code) -> None:
    with pytest.raises(MalformedError) as caught:
        vat_id_credential(
            issuer=ISSUER,
            credential_id="https://issuer.ancre.example/credentials/vat-1",
            subject_id="https://issuer.ancre.example/credentials/vat-1#cs",
            siren_or_vat=number,
            valid_from=T0,
        )
    assert caught.value.code is code


def test_legal_person_subject_validation_benchmark(benchmark: Any) -> None:
    # Timed only under `pytest --benchmark-enable` (make bench); a normal run checks it works.
    credential = _legal_person()
    assert benchmark(subject_schema_errors, credential) == []
