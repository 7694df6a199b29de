"""The issuer's accreditation check against a trust list the registry's own library
(`ancre.registry.service.Registry`) published: offers, OpenID4VCI issuance and the VC-API
refuse a type the issuer is not accredited for; no list means no issuance (503), never a
guess; `ancre issuer serve` refuses to start without a list unless told
`--no-accreditation-check`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    Tls,
    ancre_cli,
    bound_socket,
    make_issuer,
    make_tls,
    open_issuer,
    serve_on,
)

from ancre.issuer.accreditation import Accreditation, AccreditedIssuer, open_accreditation
from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.builders import CREDENTIAL_CONTEXT
from ancre.issuer.clients import ClientStore
from ancre.issuer.service import Issuer, IssuerError
from ancre.issuer.templates import Authorization
from ancre.issuer.vc_api import VcApiSettings
from ancre.registry.db import make_engine as registry_engine
from ancre.registry.db import migrate as registry_migrate
from ancre.registry.service import Registry
from ancre.trust.clock import Clock, FixedClock, SystemClock
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.trust_list.model import EntryStatus

OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)
CERTIFICATION_CLAIMS = {
    "ancre:scheme": "ISO/IEC 27001:2022",
    "ancre:scope": "Hébergement",
    "ancre:certificateNumber": "FR-27001-0042",
    "ancre:certificateValidFrom": "2026-01-01T00:00:00Z",
}


class PublishedRegistry:
    """A registry (the real library, SQLite) that writes each published list to a file."""

    def __init__(self, folder: Path, clock: Clock | None = None) -> None:
        self.key = PrivateKey.generate("ed25519")
        self.did = did_key_from_public_key(self.key.public_key)
        engine = registry_engine(f"sqlite:///{folder / 'registry.db'}")
        registry_migrate(engine)
        self.clock = clock or SystemClock()
        self.registry = Registry(engine, clock=self.clock)
        self.registry.configure(
            registry_did=self.did,
            kid=f"{self.did}#{self.did.removeprefix('did:key:')}",
            operator_name="Loire data space",
            scheme_name="Trusted credential issuers",
        )
        change = self.registry.add_anchor(
            "alice", anchor_id="did:web:association.example", name="Association"
        )
        assert change is not None
        self.registry.approve("bob", change.id)
        self.file = folder / "trust-list.jwt"

    def accredit(self, did: str, *types: str) -> None:
        self.registry.add_issuer(
            "alice",
            did=did,
            legal_name="Agence de certification",
            accredited_by="did:web:association.example",
            credential_types={t: [] for t in types},
        )
        if isinstance(self.clock, SystemClock):
            # The issuer issues from the next whole second (`Accreditation.require`).
            time.sleep(1.001 - time.time() % 1)

    def publish(self) -> None:
        row = self.registry.publish(self.key, "alice")
        self.file.write_text(row.jws)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _accredited(issuer: Issuer, registry: PublishedRegistry, cache: Path) -> AccreditedIssuer:
    accreditation = open_accreditation(
        did=issuer.did,
        trust_list=str(registry.file),
        registry=registry.did,
        clock=issuer.clock,
        cache_dir=cache,
    )
    return AccreditedIssuer(
        issuer.config,
        engine=issuer.engine,
        store=issuer.store,
        clock=issuer.clock,
        accreditation=accreditation,
    )


def test_offers_and_issuance_need_an_accreditation(tmp_path: Path) -> None:
    registry = PublishedRegistry(tmp_path)
    issuer = make_issuer(tmp_path / "agency", 9)
    registry.accredit(issuer.did, "gx:LegalPerson")
    registry.publish()
    accredited = _accredited(issuer, registry, tmp_path / "cache")

    offer = accredited.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    assert offer.configuration_id == "LegalPerson"
    with pytest.raises(IssuerError) as refused:
        accredited.create_offer("Certification", CERTIFICATION_CLAIMS, authorization=OPERATOR)
    assert (refused.value.code, refused.value.status) == ("not_accredited", 403)
    assert "is not listed for ancre:Certification" in refused.value.message

    # Suspended in the registry: a fresh look at the list refuses what was allowed.
    registry.registry.set_issuer_status(
        "bob", issuer.did, EntryStatus.SUSPENDED, reason="audit pending"
    )
    registry.publish()
    again = _accredited(issuer, registry, tmp_path / "cache")
    with pytest.raises(IssuerError) as suspended:
        again.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    assert suspended.value.code == "not_accredited"
    assert "is suspended" in suspended.value.message


def test_no_trust_list_means_no_issuance(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path / "agency", 9)
    missing = PublishedRegistry(tmp_path)  # never published: no file
    accredited = _accredited(issuer, missing, tmp_path / "cache")
    with pytest.raises(IssuerError) as refused:
        accredited.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    assert (refused.value.code, refused.value.status) == ("trust_list_unavailable", 503)


def test_a_list_signed_by_another_registry_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "forger").mkdir()
    real = PublishedRegistry(tmp_path / "real")
    forger = PublishedRegistry(tmp_path / "forger")
    issuer = make_issuer(tmp_path / "agency", 9)
    forger.accredit(issuer.did, "gx:LegalPerson")
    forger.publish()
    accreditation = Accreditation(
        _client(forger.file, real.did, tmp_path / "cache"), did=issuer.did, clock=issuer.clock
    )
    with pytest.raises(IssuerError) as refused:
        accreditation.require("gx:LegalPerson")
    assert (refused.value.code, refused.value.status) == ("trust_list_invalid", 503)


class _Current:
    """A verified list, as `Accreditation` asks for it (`current()`)."""

    def __init__(self, listed: Any) -> None:
        self.listed = listed

    def current(self) -> Any:
        return self.listed


def test_no_issuance_in_the_listing_s_own_second(tmp_path: Path) -> None:
    """Issuance times are whole seconds: listed at 10:00:00.2, a credential signed at
    10:00:00.7 would carry 10:00:00 and read, to every verifier, as issued before the
    listing. The issuer refuses it (not_accredited) rather than sign a credential refused for
    ever; from 10:00:01 it issues."""
    from datetime import UTC, datetime, timedelta

    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.trust_list.signed import verify_trust_list

    clock = FixedClock(datetime(2026, 12, 7, 10, 0, 0, 200_000, tzinfo=UTC))
    registry = PublishedRegistry(tmp_path, clock)
    issuer = make_issuer(tmp_path / "agency", 8443)
    registry.accredit(issuer.did, "gx:LegalPerson")
    registry.publish()
    clock.advance(timedelta(milliseconds=500))  # 10:00:00.7
    listed = verify_trust_list(
        registry.file.read_text(), registry=registry.did, resolver=default_resolver(), clock=clock
    )
    assert listed.is_trusted(issuer.did, "gx:LegalPerson", clock.now())  # to the microsecond
    accreditation = Accreditation(_Current(listed), did=issuer.did, clock=clock)
    with pytest.raises(IssuerError) as refused:
        accreditation.require("gx:LegalPerson")
    assert (refused.value.code, refused.value.status) == ("not_accredited", 403)
    clock.advance(timedelta(milliseconds=300))  # 10:00:01.0
    accreditation.require("gx:LegalPerson")

    # Suspended at 10:00:05.2: the whole second 10:00:05 still reads as active, now does not.
    clock.advance(timedelta(seconds=4, milliseconds=200))
    registry.registry.set_issuer_status("bob", issuer.did, EntryStatus.SUSPENDED, reason="audit")
    registry.publish()
    clock.advance(timedelta(milliseconds=500))  # 10:00:05.7
    listed = verify_trust_list(
        registry.file.read_text(), registry=registry.did, resolver=default_resolver(), clock=clock
    )
    assert listed.is_trusted(issuer.did, "gx:LegalPerson", clock.now().replace(microsecond=0))
    accreditation = Accreditation(_Current(listed), did=issuer.did, clock=clock)
    with pytest.raises(IssuerError) as suspended:
        accreditation.require("gx:LegalPerson")
    assert suspended.value.code == "not_accredited"
    assert "is suspended" in suspended.value.message


def _client(source: Path, registry: str, cache: Path) -> Any:
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.trust_list.client import TrustListClient

    clock = SystemClock()
    return TrustListClient(
        str(source),
        registry=registry,
        resolver=default_resolver(),
        clock=clock,
        cache_dir=str(cache),
    )


@pytest.fixture
def vc_api_served(tmp_path: Path, tls: Tls) -> Iterator[tuple[Issuer, str, str]]:
    registry = PublishedRegistry(tmp_path)
    sock, port = bound_socket()
    issuer = make_issuer(tmp_path / "agency", port)
    registry.accredit(issuer.did, "gx:LegalPerson")
    registry.publish()
    accredited = _accredited(issuer, registry, tmp_path / "cache")
    key = (
        ClientStore(issuer.engine, issuer.clock)
        .add("erp", issuer_id=issuer.did, types=("LegalPerson", "Certification"), actor="a")
        .api_key
    )
    settings = IssuerSettings(
        accredited, vc_api=VcApiSettings(accreditation=accredited.accreditation)
    )
    with serve_on(sock, create_app(settings), tls) as url:
        yield accredited, url, key


def _credential(issuer: str, kind: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": list(CREDENTIAL_CONTEXT),
        "type": ["VerifiableCredential", kind],
        "issuer": issuer,
        "credentialSubject": {"id": "did:web:danone.example", "type": kind, **subject},
    }


def test_the_vc_api_refuses_a_type_the_issuer_is_not_accredited_for(
    vc_api_served: tuple[Issuer, str, str], tls: Tls
) -> None:
    issuer, url, key = vc_api_served
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(trust_env=False, timeout=20, verify=tls.context()) as http:
        allowed = _credential(issuer.did, "gx:LegalPerson", LEGAL_PERSON_CLAIMS)
        response = http.post(
            f"{url}/credentials/issue",
            content=json.dumps({"credential": allowed}),
            headers=headers,
        )
        assert response.status_code == 201, response.text
        refused = _credential(issuer.did, "ancre:Certification", CERTIFICATION_CLAIMS)
        response = http.post(
            f"{url}/credentials/issue",
            content=json.dumps({"credential": refused}),
            headers=headers,
        )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "not_accredited"
    assert issuer.count_credentials() == 1


def test_serve_refuses_to_start_without_a_trust_list(tmp_path: Path) -> None:
    folder = tmp_path / "agency"
    init = ancre_cli("issuer", "init", "--dir", str(folder), "--did", "did:web:localhost%3A9")
    assert init.returncode == 0, init.stderr
    done = ancre_cli("issuer", "serve", "--dir", str(folder), "--port", "9")
    assert done.returncode == 64
    assert "--no-accreditation-check" in done.stderr
    assert "no trust list" in done.stderr
    both = ancre_cli(
        "issuer", "serve", "--dir", str(folder), "--port", "9", "--no-accreditation-check",
        "--trust-list", "list.jwt", "--registry-did", "did:key:z6Mk",
    )  # fmt: skip
    assert both.returncode == 64
    assert "choose one" in both.stderr
    # `init` checks the issuance settings before writing anything.
    bad = ancre_cli(
        "issuer", "init", "--dir", str(tmp_path / "b"), "--did", "did:web:localhost%3A9",
        "--trust-list", "list.jwt",
    )  # fmt: skip
    assert bad.returncode == 64
    assert not (tmp_path / "b" / "issuer.json").exists()
    di = ancre_cli(
        "issuer", "init", "--dir", str(tmp_path / "c"), "--did", "did:web:localhost%3A9",
        "--key-type", "p256", "--vc-api-proof", "DataIntegrityProof",
    )  # fmt: skip
    assert di.returncode == 64
    assert "needs --key-type ed25519" in di.stderr


def test_client_commands(tmp_path: Path) -> None:
    folder = tmp_path / "agency"
    init = ancre_cli("issuer", "init", "--dir", str(folder), "--did", "did:web:localhost%3A9")
    assert init.returncode == 0, init.stderr
    added = ancre_cli(
        "issuer", "client", "add", "erp", "--dir", str(folder), "--type", "LegalPerson",
        "--type", "Certification", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    body = json.loads(added.stdout)
    assert body["name"] == "erp"
    assert body["types"] == ["Certification", "LegalPerson"]
    assert body["issuer_id"] == "did:web:localhost%3A9"
    assert body["api_key"].startswith("ancre_")
    issuer = open_issuer(folder)
    store = ClientStore(issuer.engine, issuer.clock)
    assert store.authenticate(body["api_key"]) is not None
    assert store.authenticate(body["api_key"][:-1] + "x") is None

    again = ancre_cli("issuer", "client", "add", "erp", "--dir", str(folder), "--type", "VatID")
    assert again.returncode == 1
    assert "exists already" in again.stderr
    unknown = ancre_cli("issuer", "client", "add", "x", "--dir", str(folder), "--type", "Mandate")
    assert unknown.returncode == 64
    listed = ancre_cli("issuer", "client", "list", "--dir", str(folder), "--json")
    assert [c["name"] for c in json.loads(listed.stdout)] == ["erp"]
    assert "api_key" not in listed.stdout
    revoked = ancre_cli("issuer", "client", "revoke", "erp", "--dir", str(folder))
    assert revoked.returncode == 0, revoked.stderr
    assert store.authenticate(body["api_key"]) is None
    twice = ancre_cli("issuer", "client", "revoke", "erp", "--dir", str(folder))
    assert twice.returncode == 1
    # The key is stored hashed: it appears nowhere in the database file. (Read once every
    # connection is closed: closing any descriptor of a SQLite file drops this process's
    # POSIX locks on it, and another process may then checkpoint the WAL under them.)
    issuer.engine.dispose()
    secret = body["api_key"].split(".")[1].encode()
    assert not any(secret in f.read_bytes() for f in folder.glob("issuer.db*"))


def test_cli_offers_check_the_accreditation(tmp_path: Path) -> None:
    registry = PublishedRegistry(tmp_path)
    folder = tmp_path / "agency"
    init = ancre_cli(
        "issuer", "init", "--dir", str(folder), "--did", "did:web:localhost%3A9",
        "--trust-list", str(registry.file), "--registry-did", registry.did,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert json.loads((folder / "issuance.json").read_text())["accreditation"] == {
        "trust_list": str(registry.file),
        "registry": registry.did,
    }
    registry.accredit("did:web:localhost%3A9", "gx:LegalPerson")
    registry.publish()
    claims = tmp_path / "lp.json"
    claims.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    done = ancre_cli(
        "issuer", "offer", "--dir", str(folder), "--type", "LegalPerson", "--claims", str(claims)
    )
    assert done.returncode == 0, done.stderr
    cert = tmp_path / "cert.json"
    cert.write_text(json.dumps(CERTIFICATION_CLAIMS))
    refused = ancre_cli(
        "issuer", "offer", "--dir", str(folder), "--type", "Certification", "--claims", str(cert)
    )
    assert refused.returncode == 1
    assert "not_accredited" in refused.stderr
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(CERTIFICATION_CLAIMS) + "\n" + ",".join(CERTIFICATION_CLAIMS.values()))
    bulk = ancre_cli(
        "issuer", "offer", "--dir", str(folder), "--type", "Certification", "--from", str(rows)
    )
    assert bulk.returncode == 65
    assert "line 1: not_accredited" in bulk.stderr
