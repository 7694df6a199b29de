"""Issue 12 point 6: a NUL byte in `legal_name` or an anchor id gave a 500 on PostgreSQL.
Control characters are refused at the edge with a 400 `invalid_characters`, on every text
field and path parameter, before the database sees them."""

from __future__ import annotations

import httpx
import pytest
from _sec_registry import AGENCY, ANCHOR, LP, auth, registry_for, served, with_anchor_and_agency

from ancre.registry.service import RegistryError
from ancre.trust.errors import Code

ISSUER = {"did": "did:web:nul.example", "legal_name": "Agence", "accredited_by": ANCHOR,
          "credential_types": {LP: []}}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/admin/issuers", {**ISSUER, "legal_name": "Agence\x00"}),
        ("/admin/issuers", {**ISSUER, "legal_name": "Agence\nSARL"}),
        ("/admin/issuers", {**ISSUER, "accredited_by": "did:web:a\x00"}),
        ("/admin/issuers", {**ISSUER, "credential_types": {"gx:\x00": []}}),
        ("/admin/anchors", {"id": "did:web:evil\x00.example", "name": "Evil"}),
        ("/admin/anchors", {"id": "did:web:evil.example", "name": "Evil\x7f"}),
        ("/admin/anchors", {"id": "x", "name": "x", "x509_pem": "-----BEGIN\x00"}),
        (f"/admin/issuers/{AGENCY}/status", {"status": "suspended", "reason": "bad\x00"}),
        (f"/admin/issuers/{AGENCY}/types", {"credential_type": "gx:\x00"}),
        (
            f"/admin/issuers/{AGENCY}/types/withdraw",
            {"credential_type": LP, "reason": "\x1b[31mred"},
        ),
        ("/admin/tokens", {"name": "tok\x00", "role": "viewer"}),
        ("/admin/tokens", {"name": "tok", "role": "viewer", "person": "ali\x00ce"}),
    ],
)
def test_control_characters_in_bodies_are_a_400(
    database_url: str, path: str, body: dict[str, object]
) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        with_anchor_and_agency(setup)
        answer = http.post(path, json=body, headers=auth(setup.tokens["alice"]))
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == Code.INVALID_CHARACTERS.value
        assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/issuers/did:web:a%00b"),
        ("GET", "/issuers/did:web:a%00b/trusted?type=gx:LegalPerson"),
        ("POST", "/admin/anchors/did:web:a%00b/status"),
        ("DELETE", "/admin/tokens/a%00b"),
        ("GET", "/admin/issuers/did:web:a%00b"),
    ],
)
def test_control_characters_in_paths_are_a_400(database_url: str, method: str, path: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        body = {"status": "suspended", "reason": "r"} if method == "POST" else None
        answer = http.request(method, path, json=body, headers=auth(setup.tokens["alice"]))
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == Code.INVALID_CHARACTERS.value


def test_a_pem_keeps_its_line_breaks(database_url: str) -> None:
    with registry_for(database_url, two_person_rule=False) as setup, served(setup) as base:
        pem = "-----BEGIN CERTIFICATE-----\r\nMIIB\tAA==\n-----END CERTIFICATE-----\n"
        with httpx.Client(base_url=base, trust_env=False) as http:
            answer = http.post(
                "/admin/anchors", json={"id": "did:web:pem.example", "name": "P", "x509_pem": pem},
                headers=auth(setup.tokens["ed"]),
            )  # fmt: skip
        assert answer.status_code == 202
        assert answer.json()["applied"] is True


def test_the_service_refuses_them_too(database_url: str) -> None:
    # Defence in depth: the CLI and library callers do not go through pydantic.
    with registry_for(database_url) as setup:
        with pytest.raises(RegistryError) as refused:
            setup.registry.add_issuer(
                "alice", did="did:web:x\x00", legal_name="X", accredited_by=ANCHOR,
                credential_types={LP: []},
            )  # fmt: skip
        assert (refused.value.code, refused.value.http_status) == (Code.INVALID_CHARACTERS, 400)
