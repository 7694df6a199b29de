"""Templates: the EUID and LEI registration numbers, and the Certification template bound to
the agency's own certification schemes (``schemes.json``: name, levels, validity)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _issuer_support import ancre_cli, make_issuer, open_issuer

from ancre.issuer.builders import CREDENTIAL_CONTEXT
from ancre.issuer.clients import ClientStore
from ancre.issuer.schemes import SCHEMES_FILE, load_schemes, parse_schemes
from ancre.issuer.service import Issuer, holder_from_key
from ancre.issuer.templates import Authorization
from ancre.issuer.vc_api import VcApi, VcApiSettings
from ancre.trust.clock import SystemClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.jose.vc_jose import unenvelope, verify_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.result import Step
from ancre.trust.steps import PinnedKeys

OPERATOR = Authorization("operator", "alice", register_checked=True)
SCHEMES = {
    "schemes": [
        {"name": "SecNumCloud 3.2", "levels": ["qualified"], "validity_days": 365},
        {"name": "ISO/IEC 27001:2022", "validity_days": 1095},
    ]
}
CERTIFICATION = {
    "ancre:scheme": "ISO/IEC 27001:2022",
    "ancre:scope": "Hébergement",
    "ancre:certificateNumber": "FR-1",
    "ancre:certificateValidFrom": "2026-01-01",
}
EUID_CLAIMS = {"gx:euid": "ROONRC.J40/2845/1998"}
LEI_CLAIMS = {"schema:leiCode": "9695007586GCAKPYJ703", "gx:countryCode": "FR"}


def _payload(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1], what="payload"))
    return result


def _verified(issuer: Issuer, token: str) -> bool:
    """Whether ancre's verifier accepts `token` (signature, data model, the type's schema…);
    its status is left unchecked (no status list is served here)."""
    jwk = {**issuer.store.public_key(issuer.config.current_key.name).to_jwk(), "kid": issuer.kid}
    result = verify_vc_jwt(token, resolver=PinnedKeys({issuer.did: [jwk]}), clock=SystemClock())
    assert [c.step for c in result.checks if c.step is Step.SCHEMA and c.ok] == [Step.SCHEMA]
    return [c.code for c in result.checks if not c.ok] == ["status_unchecked"]


def _refused(call: Any) -> tuple[Code, str]:
    with pytest.raises(InvalidError) as refused:
        call()
    return refused.value.code, refused.value.message


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    made = make_issuer(tmp_path / "agency", 4601)
    made.schemes = parse_schemes(SCHEMES)
    return made


# -- EUID and LEI ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configuration", "claims", "credential_type"),
    [("EUID", EUID_CLAIMS, "gx:EUID"), ("LeiCode", LEI_CLAIMS, "gx:LeiCode")],
)
def test_euid_and_lei_are_issued_and_pass_the_verifier(
    issuer: Issuer, configuration: str, claims: dict[str, Any], credential_type: str
) -> None:
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    issuer.create_offer(configuration, claims, authorization=OPERATOR)
    issued = issuer.issue(configuration, claims, holder=holder, authorization=OPERATOR)
    payload = _payload(issued.credential)
    assert payload["type"] == ["VerifiableCredential", credential_type]
    assert payload["credentialSubject"] == {"id": holder.did, "type": credential_type, **claims}
    assert _verified(issuer, issued.credential)


@pytest.mark.parametrize(
    ("configuration", "claims", "authorization", "code"),
    [
        ("LeiCode", {**LEI_CLAIMS, "schema:leiCode": "9695007586GCAKPYJ730"}, OPERATOR,
         Code.SCHEMA_VIOLATION),  # check digits swapped
        ("LeiCode", {"schema:leiCode": "9695007586GCAKPYJ703"}, OPERATOR, Code.INVALID_CLAIMS),
        ("EUID", {"gx:euid": "FR 552032534"}, OPERATOR, Code.SCHEMA_VIOLATION),
        ("EUID", {"gx:local": "552032534"}, OPERATOR, Code.INVALID_CLAIMS),
        ("EUID", EUID_CLAIMS, Authorization("operator", "alice"),
         Code.AUTHORIZATION_INSUFFICIENT),  # no register check
    ],
)  # fmt: skip
def test_euid_and_lei_refusals(
    issuer: Issuer,
    configuration: str,
    claims: dict[str, Any],
    authorization: Authorization,
    code: Code,
) -> None:
    refused = _refused(
        lambda: issuer.create_offer(configuration, claims, authorization=authorization)
    )
    assert refused[0] is code, refused


# -- certification schemes ---------------------------------------------------------------


def test_the_scheme_gives_the_validity(issuer: Issuer) -> None:
    holder = holder_from_key(PrivateKey.generate("p256").public_key)
    for claims, days in (
        (CERTIFICATION, 1095),
        ({**CERTIFICATION, "ancre:scheme": "SecNumCloud 3.2", "ancre:level": "qualified"}, 365),
    ):
        issued = issuer.issue("Certification", claims, holder=holder, authorization=OPERATOR)
        payload = _payload(issued.credential)
        row = issuer.credential_info(issued.id)
        assert row is not None
        assert row.valid_until - row.issued_at == timedelta(days=days)
        assert payload["validUntil"] != payload["validFrom"]
        assert _verified(issuer, issued.credential)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"ancre:scheme": "ISO 9001"}, "'ISO 9001' is not one this agency certifies against"),
        ({"ancre:scheme": "SecNumCloud 3.2"}, "SecNumCloud 3.2 is certified at one of the levels"),
        ({"ancre:scheme": "SecNumCloud 3.2", "ancre:level": "basic"}, "not with the level 'basic'"),
        ({"ancre:level": "gold"}, "ISO/IEC 27001:2022 has no levels"),
    ],
)
def test_an_unknown_scheme_or_level_is_refused(
    issuer: Issuer, changes: dict[str, str], why: str
) -> None:
    claims = {**CERTIFICATION, **changes}
    holder = holder_from_key(PrivateKey.generate("p256").public_key)
    for call in (
        lambda: issuer.create_offer("Certification", claims, authorization=OPERATOR),
        lambda: issuer.issue("Certification", claims, holder=holder, authorization=OPERATOR),
    ):
        code, message = _refused(call)
        assert code is Code.UNKNOWN_CERTIFICATION_SCHEME
        assert why in message
    assert issuer.count_credentials() == 0


def test_without_schemes_no_certification_is_issued(tmp_path: Path) -> None:
    folder = tmp_path / "agency"
    done = ancre_cli("issuer", "init", "--dir", str(folder), "--did", "did:web:agency.example")
    assert done.returncode == 0, done.stderr
    cert = tmp_path / "cert.json"
    cert.write_text(json.dumps(CERTIFICATION))
    offer = ("issuer", "offer", "--dir", str(folder), "--type", "Certification")
    refused = ancre_cli(*offer, "--claims", str(cert))
    assert refused.returncode == 65
    assert "unknown_certification_scheme: no certification scheme is configured" in refused.stderr

    (folder / SCHEMES_FILE).write_text(json.dumps(SCHEMES))
    assert ancre_cli(*offer, "--claims", str(cert), "--json").returncode == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**CERTIFICATION, "ancre:scheme": "HDS 2.0"}))
    refused = ancre_cli(*offer, "--claims", str(other))
    assert refused.returncode == 65
    assert "unknown_certification_scheme: the scheme 'HDS 2.0'" in refused.stderr

    (folder / SCHEMES_FILE).write_text('{"schemes": [{"name": "HDS 2.0"}]}')
    broken = ancre_cli(*offer, "--claims", str(other))
    assert broken.returncode == 64
    assert "schemes.json: HDS 2.0: validity_days must be" in broken.stderr


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ([], "expected {"),
        ({"schemes": [], "extra": 1}, "expected {"),
        ({"schemes": {}}, "must be a list"),
        ({"schemes": [{"name": "A", "validity_days": 1, "price": 3}]}, "unknown members"),
        ({"schemes": [{"name": "", "validity_days": 1}]}, "name must be a non-empty"),
        ({"schemes": [{"name": " A", "validity_days": 1}]}, "surrounding spaces"),
        ({"schemes": [{"name": "A", "validity_days": 0}]}, "1 to 3660"),
        ({"schemes": [{"name": "A", "validity_days": True}]}, "whole number of days"),
        ({"schemes": [{"name": "A", "levels": "x", "validity_days": 9}]}, "list of strings"),
        ({"schemes": [{"name": "A", "levels": ["x", "x"], "validity_days": 9}]}, "twice"),
        ({"schemes": [{"name": "A", "validity_days": 9}] * 2}, "'A' is listed twice"),
    ],
)
def test_schemes_json_is_checked_strictly(document: Any, why: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_schemes(document)
    assert why in refused.value.message


def test_schemes_are_loaded_when_the_issuer_opens(tmp_path: Path) -> None:
    folder = tmp_path / "agency"
    make_issuer(folder, 4602).engine.dispose()
    assert load_schemes(folder).by_name == {}
    (folder / SCHEMES_FILE).write_text(json.dumps(SCHEMES))
    opened = open_issuer(folder)
    assert sorted(opened.schemes.by_name) == ["ISO/IEC 27001:2022", "SecNumCloud 3.2"]
    assert opened.schemes.by_name["SecNumCloud 3.2"].to_json() == SCHEMES["schemes"][0]
    opened.engine.dispose()
    (folder / SCHEMES_FILE).write_text('{"schemes": [1]}')
    with pytest.raises(ConfigurationError) as refused:
        open_issuer(folder)
    assert refused.value.message.endswith("schemes.json: scheme #1 must be an object")


def test_the_vc_api_applies_the_schemes_too(issuer: Issuer) -> None:
    client = (
        ClientStore(issuer.engine, issuer.clock)
        .add("certifier", issuer_id=issuer.did, types=("Certification",), actor="alice")
        .client
    )
    api = VcApi(issuer, VcApiSettings())

    def request(**claims: str) -> dict[str, Any]:
        subject = {"id": "did:web:cloud.example", "type": "ancre:Certification", **claims}
        credential = {
            "@context": list(CREDENTIAL_CONTEXT),
            "type": ["VerifiableCredential", "ancre:Certification"],
            "issuer": issuer.did,
            "credentialSubject": subject,
        }
        return {"credential": credential}

    unknown = request(**{**CERTIFICATION, "ancre:scheme": "HDS 2.0"})
    code, message = _refused(lambda: api.issue(client, unknown))
    assert code is Code.UNKNOWN_CERTIFICATION_SCHEME, message
    issued = api.issue(client, request(**CERTIFICATION))["verifiableCredential"]
    payload = _payload(unenvelope(issued))
    row = issuer.credential_info(payload["id"])
    assert row is not None
    assert row.valid_until - row.issued_at == timedelta(days=1095)
