"""VCDM 2.0 / 1.1 data-model rules (quotes from the Recommendations in trust/vcdm/model.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from _support import credential

from ancre.trust.errors import Code, InvalidError
from ancre.trust.vcdm.model import check_credential, check_presentation, parse_datetime_stamp

ISSUER = "did:web:agency.example"


def v11(**extra: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential"],
        "issuer": ISSUER,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:s"},
        **extra,
    }


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (
            credential(ISSUER, **{"@context": "https://www.w3.org/ns/credentials/v1"}),
            Code.INVALID_CONTEXT,
        ),
        (
            credential(ISSUER, **{"@context": ["https://www.w3.org/ns/credentials/v2", 5]}),
            Code.INVALID_CONTEXT,
        ),
        (credential(ISSUER, type=["ExampleOnly"]), Code.INVALID_TYPE),
        (credential(ISSUER, type=["VerifiableCredential", ""]), Code.INVALID_TYPE),
        (credential(ISSUER, id="not a url"), Code.INVALID_ID),
        (credential("agency"), Code.INVALID_ISSUER),
        (credential({"name": "no id"}), Code.INVALID_ISSUER),
        (credential(ISSUER, credentialSubject=[]), Code.INVALID_CREDENTIAL_SUBJECT),
        (
            credential(ISSUER, credentialSubject=[{"id": "did:example:a"}, {}]),
            Code.INVALID_CREDENTIAL_SUBJECT,
        ),
        (credential(ISSUER, validFrom="2026-01-01T00:00:00"), Code.INVALID_DATETIME),  # no zone
        (credential(ISSUER, validFrom="2026-02-30T00:00:00Z"), Code.INVALID_DATETIME),
        (
            credential(ISSUER, validFrom="2027-01-01T00:00:00Z", validUntil="2026-01-01T00:00:00Z"),
            Code.INVALID_DATETIME,
        ),
        (credential(ISSUER, name={"@value": "x", "@direction": "up"}), Code.INVALID_PROPERTY),
        (credential(ISSUER, name=[]), Code.INVALID_PROPERTY),
        (credential(ISSUER, description={"@value": "x", "extra": 1}), Code.INVALID_PROPERTY),
        (
            credential(ISSUER, credentialStatus={"id": "https://s.example/1#3"}),
            Code.INVALID_PROPERTY,
        ),
        (credential(ISSUER, credentialStatus={"type": [1]}), Code.INVALID_PROPERTY),
        (credential(ISSUER, credentialSchema={"type": "JsonSchema"}), Code.INVALID_PROPERTY),
        (credential(ISSUER, evidence={"gx:evidenceOf": "gx:LeiCode"}), Code.INVALID_PROPERTY),
        (credential(ISSUER, termsOfUse=[]), Code.INVALID_PROPERTY),
        (credential(ISSUER, relatedResource=[]), Code.INVALID_PROPERTY),
        (
            credential(ISSUER, relatedResource=[{"id": "https://r.example/a"}]),
            Code.INVALID_PROPERTY,
        ),
        (
            credential(ISSUER, relatedResource=[{"id": "https://r.example/a", "digestSRI": 5}]),
            Code.INVALID_PROPERTY,
        ),
        (
            credential(
                ISSUER,
                relatedResource=[
                    {"id": "https://r.example/a", "digestMultibase": "uEiA"},
                    {"id": "https://r.example/a", "digestMultibase": "uEiB"},
                ],
            ),
            Code.INVALID_PROPERTY,
        ),
        (v11(issuanceDate="yesterday"), Code.INVALID_DATETIME),
        (
            v11(credentialStatus={"type": "StatusList2021Entry"}),
            Code.INVALID_PROPERTY,
        ),  # 1.1: id too
        (v11(refreshService={"type": "ManualRefreshService2018"}), Code.INVALID_PROPERTY),
        ([], Code.INVALID_PROPERTY),
    ],
)
def test_breaking_a_must_is_refused(doc: Any, code: Code) -> None:
    with pytest.raises(InvalidError) as err:
        check_credential(doc)
    assert err.value.code is code


@pytest.mark.parametrize(
    "doc",
    [
        credential(
            ISSUER, **{"@context": "https://www.w3.org/ns/credentials/v2"}
        ),  # REC examples 18/19
        credential(ISSUER, id="urn:uuid:0c07c1ce-57cb-41af-bef2-1b932b986873"),
        credential({"id": ISSUER, "name": "Agency"}),
        credential(ISSUER, type="VerifiableCredential"),
        credential(ISSUER, validFrom="2026-01-01T00:00:00Z", validUntil="2026-01-01T00:00:00Z"),
        credential(ISSUER, validFrom="2026-01-01T10:00:00.123456789+02:00"),
        credential(
            ISSUER, name=[{"@value": "Carte", "@language": "fr", "@direction": "ltr"}, "Card"]
        ),
        credential(ISSUER, credentialStatus={"type": "BitstringStatusListEntry"}),
        credential(
            ISSUER,
            relatedResource=[
                {
                    "id": "https://r.example/a",
                    "digestSRI": "sha384-S57yQDg1MTzF56Oi9DbSQ14u7jBy0RDdx0Ybe"
                    "V7shwhCS88G8SCXeFq82PafhCrW",
                }
            ],
        ),
        credential(ISSUER, refreshService={"type": "VerifiableCredentialRefreshService2021"}),
        v11(issuanceDate="2026-01-01T00:00:00"),  # 1.1: xsd:dateTime, zone optional
        v11(expirationDate="2027-01-01T00:00:00+01:00"),
    ],
)
def test_conforming_documents_pass(doc: dict[str, Any]) -> None:
    assert check_credential(doc) == ()


def test_untyped_evidence_is_tolerated_only_when_asked_and_said() -> None:
    doc = credential(
        ISSUER, evidence=[{"gx:evidenceOf": "gx:LeiCode"}, {"type": "DocumentVerification"}]
    )
    with pytest.raises(InvalidError):
        check_credential(doc)
    assert check_credential(doc, allow_untyped_evidence=True) == (
        "1 `evidence` object(s) without `type` accepted by policy",
    )


def test_datetime_edge_cases() -> None:
    assert parse_datetime_stamp("2026-12-31T24:00:00Z", "t") == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_datetime_stamp("2026-01-01T00:00:00", "t", zone_required=False) == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    with pytest.raises(InvalidError):
        parse_datetime_stamp("2026-01-01T00:00:00", "t")
    with pytest.raises(InvalidError):
        parse_datetime_stamp("0000-01-01T00:00:00Z", "t")  # lexically valid, outside Python's range
    with pytest.raises(InvalidError):
        parse_datetime_stamp(20260101, "t")


def _vp(**extra: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": "VerifiablePresentation",
        **extra,
    }


@pytest.mark.parametrize(
    "vp",
    [
        _vp(verifiableCredential=[5]),
        _vp(verifiableCredential=["eyJhbGciOi.x.y"]),  # strings only in VCDM 1.1 JWT VPs
        _vp(
            verifiableCredential=[
                {"type": "EnvelopedVerifiableCredential", "id": "https://x.example"}
            ]
        ),
        _vp(
            verifiableCredential=[
                {"type": "EnvelopedVerifiableCredential", "id": "data:application/vc+jwt,e30"}
            ]
        ),
        _vp(holder="not a url"),
        _vp(type=["VerifiableCredential"]),
        _vp(termsOfUse={"id": "https://t.example"}),
    ],
)
def test_presentation_rules(vp: dict[str, Any]) -> None:
    with pytest.raises(InvalidError):
        check_presentation(vp)


def test_presentation_accepts_enveloped_and_legacy_strings() -> None:
    evc = {
        "@context": "https://www.w3.org/ns/credentials/v2",
        "type": "EnvelopedVerifiableCredential",
        "id": "data:application/vc+jwt,eyJ",
    }
    check_presentation(_vp(holder="did:example:h", verifiableCredential=[evc]))
    check_presentation(_vp(verifiableCredential=["eyJ.x.y"]), allow_jwt_strings=True)
