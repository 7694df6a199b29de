"""The admin API: revoke, suspend and reinstate any credential of the issuer over HTTP with
an admin key (`ancre issuer admin-key add`), audited with the admin's name; refusals are
problem details with stable codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _issuer_support import DIRECTOR_CLAIMS, LEGAL_PERSON_CLAIMS, ancre_cli, make_issuer

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.service import Issuer, holder_from_key
from ancre.issuer.templates import Authorization
from ancre.trust.keys.jwk import PrivateKey

OPERATOR = Authorization("operator", "alice", register_checked=True)


class Admin:
    def __init__(self, http: httpx.Client, url: str, key: str) -> None:
        self.http, self.url, self.key = http, url, key

    def status(self, credential_id: str, body: Any, *, key: str | None = None,
               content_type: str = "application/json") -> httpx.Response:  # fmt: skip
        return self.http.post(
            f"{self.url}/admin/credentials/{credential_id}/status",
            content=json.dumps(body),
            headers={
                "Authorization": f"Bearer {self.key if key is None else key}",
                "Content-Type": content_type,
            },
        )

    def show(self, credential_id: str) -> httpx.Response:
        return self.http.get(
            f"{self.url}/admin/credentials/{credential_id}",
            headers={"Authorization": f"Bearer {self.key}"},
        )


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:ancre:error:{code}")
    return body


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[Issuer, Path, Admin]]:
    folder = tmp_path / "issuer"
    issuer = make_issuer(folder, 4801)
    added = ancre_cli("issuer", "admin-key", "add", "alice", "--dir", str(folder), "--as", "root",
                      "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    key = json.loads(added.stdout)["api_key"]
    assert key.startswith("ancre_admin_")
    with serve(create_app(IssuerSettings(issuer))) as url, httpx.Client(timeout=10) as http:
        yield issuer, folder, Admin(http, url, key)


def _from_an_offer(issuer: Issuer) -> str:
    """A credential issued over OpenID4VCI's pre-authorized code flow (library calls)."""
    offer = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    grant = issuer.redeem(offer.pre_authorized_code, None)
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    return issuer.issue_for_token(grant.access_token, "LegalPerson", holder).id


def test_an_admin_revokes_an_openid4vci_credential(
    deployed: tuple[Issuer, Path, Admin],
) -> None:
    issuer, _folder, admin = deployed
    credential_id = _from_an_offer(issuer)

    suspended = admin.status(credential_id, {"action": "suspend"})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json() == {"id": credential_id, "state": "suspended", "by": "admin:alice"}
    assert suspended.headers["cache-control"] == "no-store"
    again = _problem(admin.status(credential_id, {"action": "suspend"}), 409, "already_in_state")
    assert again["detail"] == f"{credential_id} is already suspended"
    assert admin.status(credential_id, {"action": "reinstate"}).json()["state"] == "valid"
    assert admin.status(credential_id, {"action": "revoke"}).json()["state"] == "revoked"
    for action in ("revoke", "reinstate", "suspend"):
        final = _problem(admin.status(credential_id, {"action": action}), 409, "already_in_state")
        assert "revocation is final" in final["detail"]

    record = admin.show(credential_id)
    assert record.status_code == 200, record.text
    assert record.json()["state"] == "revoked"
    assert [e["value"] for e in record.json()["status"]] == [1, 0]  # revocation, suspension
    changes = [(e["action"], e["actor"]) for e in record.json()["history"]][3:]
    assert changes == [
        ("suspend", "admin:alice"),
        ("reinstate", "admin:alice"),
        ("revoke", "admin:alice"),
    ]
    assert issuer.verify_audit().ok


def test_an_admin_revokes_an_sd_jwt_vc(deployed: tuple[Issuer, Path, Admin]) -> None:
    issuer, _folder, admin = deployed
    holder = holder_from_key(PrivateKey.generate("p256").public_key)
    issued = issuer.issue(
        "DirectorCertification", DIRECTOR_CLAIMS, holder=holder, authorization=OPERATOR
    )
    assert admin.status(issued.id, {"action": "revoke"}).json()["state"] == "revoked"
    status = admin.show(issued.id).json()["status"]
    assert [(e["list"], e["value"]) for e in status] == [("tokens-1", 1)]


def test_refusals(deployed: tuple[Issuer, Path, Admin]) -> None:
    issuer, _folder, admin = deployed
    credential_id = _from_an_offer(issuer)
    revoke = {"action": "revoke"}
    for key in ("x", "ancre_admin_0123456789abcdef." + "A" * 43, "ancre_0123456789abcdef.x"):
        body = _problem(admin.status(credential_id, revoke, key=key), 401, "unauthorized")
        assert "admin API key" in body["detail"]
    no_header = admin.http.post(f"{admin.url}/admin/credentials/{credential_id}/status")
    _problem(no_header, 401, "unauthorized")
    assert no_header.headers["www-authenticate"] == 'Bearer realm="ancre-admin"'
    # Authentication comes first: an unknown id or a bad body says nothing to a stranger.
    _problem(admin.status("urn:uuid:nope", {"x": 1}, key="wrong"), 401, "unauthorized")
    _problem(admin.http.get(f"{admin.url}/admin/credentials/{credential_id}"), 401, "unauthorized")

    _problem(admin.status("urn:uuid:nope", revoke), 404, "credential_not_found")
    _problem(admin.show("urn:uuid:nope"), 404, "credential_not_found")
    _problem(admin.status("x" * 200, revoke), 404, "credential_not_found")
    for body in ({"action": "delete"}, {"action": "revoke", "why": "x"}, ["revoke"], {}):
        _problem(admin.status(credential_id, body), 400, "invalid_request")
    _problem(admin.status(credential_id, revoke, content_type="text/plain"), 415, "invalid_request")
    duplicate = admin.http.post(
        f"{admin.url}/admin/credentials/{credential_id}/status",
        content=b'{"action": "revoke", "action": "suspend"}',
        headers={"Authorization": f"Bearer {admin.key}", "Content-Type": "application/json"},
    )
    _problem(duplicate, 400, "duplicate_json_key")
    big = {"action": "revoke", "pad": "x" * 5000}
    _problem(admin.status(credential_id, big), 413, "input_too_large")
    # Nothing of that changed the credential.
    assert issuer.credential_info(credential_id).state == "valid"  # type: ignore[union-attr]


def test_admin_keys_on_the_command_line(deployed: tuple[Issuer, Path, Admin]) -> None:
    issuer, folder, admin = deployed
    credential_id = _from_an_offer(issuer)
    d = ("--dir", str(folder))
    listed = ancre_cli("issuer", "admin-key", "list", *d, "--json")
    assert listed.returncode == 0, listed.stderr
    [alice] = json.loads(listed.stdout)
    assert (alice["name"], alice["created_by"], alice["revoked_at"]) == ("alice", "root", None)
    assert "api_key" not in alice
    taken = ancre_cli("issuer", "admin-key", "add", "alice", *d)
    assert taken.returncode == 1
    assert "conflict: an admin named 'alice' exists already" in taken.stderr
    bad = ancre_cli("issuer", "admin-key", "add", "bad name", *d)
    assert bad.returncode == 64

    assert (
        ancre_cli("issuer", "admin-key", "revoke", "alice", *d).stdout == "admin alice: revoked\n"
    )
    _problem(admin.status(credential_id, {"action": "revoke"}), 401, "unauthorized")
    twice = ancre_cli("issuer", "admin-key", "revoke", "alice", *d)
    assert twice.returncode == 1
    assert "already_in_state" in twice.stderr
    text = ancre_cli("issuer", "admin-key", "list", *d)
    assert text.stdout.split()[:2] == ["alice", "revoked"]
    # The CLI's own refusal of a no-op carries the same code as the admin route's.
    assert ancre_cli("issuer", "revoke", credential_id, *d).returncode == 0
    again = ancre_cli("issuer", "revoke", credential_id, *d)
    assert again.returncode == 1
    assert "already_in_state" in again.stderr
