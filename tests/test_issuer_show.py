"""`ancre issuer show ID`: one issued credential's metadata — type, format, holder key,
status entries with their values, state, offer and the history from the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _issuer_support import DIRECTOR_CLAIMS, LEGAL_PERSON_CLAIMS, ancre_cli, make_issuer

from ancre.issuer.records import credential_record
from ancre.issuer.service import IssuerError, holder_from_key
from ancre.issuer.templates import Authorization
from ancre.trust.errors import Code
from ancre.trust.keys.jwk import PrivateKey

OPERATOR = Authorization("operator", "alice", register_checked=True)


def test_show_a_vc_jwt_from_its_offer_to_its_suspension(tmp_path: Path) -> None:
    folder = tmp_path / "issuer"
    issuer = make_issuer(folder, 4501)
    wallet_key = PrivateKey.generate("p256").public_key
    offer = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    grant = issuer.redeem(offer.pre_authorized_code, None)
    issued = issuer.issue_for_token(grant.access_token, "LegalPerson", holder_from_key(wallet_key))
    issuer.set_status(issued.id, "suspend", actor="bob")
    issuer.engine.dispose()

    done = ancre_cli("issuer", "show", issued.id, "--dir", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    history = record.pop("history")
    assert record == {
        "id": issued.id,
        "configuration": "LegalPerson",
        "type": "gx:LegalPerson",
        "format": "vc+jwt",
        "holder": holder_from_key(wallet_key).did,
        "holder_thumbprint": wallet_key.thumbprint(),
        "kid": "did:web:localhost%3A4501#signing-1",
        "issued_at": record["issued_at"],
        "valid_until": record["valid_until"],
        "state": "suspended",
        "offer_id": offer.id,
        "vc_api_client": None,
        "status": [
            {
                "list": name,
                "purpose": purpose,
                "index": issued.status_index,
                "value": value,
                "url": f"https://localhost:4501/status/{name}",
            }
            for name, purpose, value in (
                ("revocation-1", "revocation", 0),
                ("suspension-1", "suspension", 1),
            )
        ],
    }
    assert record["issued_at"].endswith("Z")
    assert [(e["action"], e["actor"]) for e in history] == [
        ("offer", "alice"),
        ("redeem", "wallet"),
        ("issue", "alice"),
        ("suspend", "bob"),
    ]
    assert history[-1]["details"] == {
        "from": "valid",
        "to": "suspended",
        "index": issued.status_index,
    }
    assert [e["seq"] for e in history] == sorted(e["seq"] for e in history)

    text = ancre_cli("issuer", "show", issued.id, "--dir", str(folder))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == issued.id
    assert "  type:       gx:LegalPerson (LegalPerson, vc+jwt)" in lines
    assert "  state:      suspended" in lines
    assert f"  holder key: {wallet_key.thumbprint()} (JWK thumbprint)" in lines
    assert f"  offer:      {offer.id}" in lines
    assert any(line.startswith("  status:     suspension-1#") and " = 1 " in line for line in lines)
    assert lines[-1].split()[1:] == ["suspend", "by", "bob"]


def test_show_an_sd_jwt_vc_keeps_only_the_key_thumbprint(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path / "issuer", 4502)
    wallet_key = PrivateKey.generate("ed25519").public_key
    issued = issuer.issue(
        "DirectorCertification",
        DIRECTOR_CLAIMS,
        holder=holder_from_key(wallet_key),
        authorization=OPERATOR,
    )
    issuer.set_status(issued.id, "revoke", actor="carol")
    record = credential_record(issuer, issued.id)
    assert (record["format"], record["type"]) == ("dc+sd-jwt", "urn:ancre:director-certification:1")
    assert record["holder"] == record["holder_thumbprint"] == wallet_key.thumbprint()
    assert record["status"] == [
        {
            "list": "tokens-1",
            "purpose": "status",
            "index": issued.status_index,
            "value": 1,  # INVALID
            "url": "https://localhost:4502/status/tokens-1",
        }
    ]
    assert [(e["action"], e["actor"]) for e in record["history"]] == [
        ("issue", "alice"),
        ("revoke", "carol"),
    ]
    # No claim of the credential anywhere in its record.
    assert "Saint-Affrique" not in json.dumps(record)
    with pytest.raises(IssuerError) as missing:
        credential_record(issuer, "urn:uuid:nope")
    assert (missing.value.code, missing.value.status) == (Code.CREDENTIAL_NOT_FOUND, 404)


def test_show_an_unknown_credential(tmp_path: Path) -> None:
    folder = tmp_path / "issuer"
    make_issuer(folder, 4503).engine.dispose()
    done = ancre_cli("issuer", "show", "urn:uuid:nope", "--dir", str(folder), "--json")
    assert (done.returncode, done.stdout) == (1, "")
    assert "ancre: credential_not_found: no credential 'urn:uuid:nope'" in done.stderr
