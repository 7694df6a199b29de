"""`ancre wallet receive` beyond the pre-authorized grant, end to end against real `ancre
issuer serve` processes (HTTPS, test CA, loopback): the authorization-code grant with the
wallet's loopback redirect (the issuer's operator approving the login), a QR picture of an
offer, batch issuance, and deferred issuance collected by `ancre wallet pending --retry`."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from _issuer_support import (
    CLI_ENV,
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    Tls,
    ancre_cli,
    cli_issuer,
    init_cli_issuer,
    make_tls,
    wait_until_healthy,
)
from _wallet_support import WALLET_PASSPHRASE, new_wallet, snapshot, wallet_cli, wallet_env

from ancre.wallet.store import WalletStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _net(tls: Tls) -> list[str]:
    return ["--insecure-loopback", "--ca-file", str(tls.ca)]


def _offer(issuer_dir: Path, tmp_path: Path, configuration: str, claims: Any, *extra: str) -> Any:
    claims_file = tmp_path / f"{configuration}.json"
    claims_file.write_text(json.dumps(claims))
    made = ancre_cli(
        "issuer", "offer", "--dir", str(issuer_dir), "--type", configuration,
        "--claims", str(claims_file), "--tx-code", "--register-checked", "--json", *extra,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)


@contextmanager
def _issuer_with_limits(directory: Path, tls: Tls, **limits: int) -> Iterator[str]:
    """`ancre issuer init`, its limits changed in issuer.json, then `ancre issuer serve`."""
    port, url = init_cli_issuer(directory)
    config_file = directory / "issuer.json"
    config = json.loads(config_file.read_text())
    config["limits"].update(limits)
    config_file.write_text(json.dumps(config))
    server = subprocess.Popen(
        [
            sys.executable, "-m", "ancre.cli.main", "issuer", "serve", "--dir", str(directory),
            "--port", str(port), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
            "--no-accreditation-check",
        ],
        env={**os.environ, **CLI_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_healthy(url, tls)
        yield url
    finally:
        server.terminate()
        server.wait(10)


# ---- authorization code grant -----------------------------------------------------------


@dataclass
class _Receiving:
    """`ancre wallet receive` running in the background: its stderr lines arrive in `lines`
    (for the test to read as they come) and in `log` (all of them)."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str]
    log: list[str]
    pump: threading.Thread
    result: tuple[int, str, str] | None = None

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        """Wait for the command (killed after `timeout`); its exit code, stdout and whole
        stderr. Called again, the same answer."""
        if self.result is None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.pump.join(10)
            assert self.process.stdout is not None
            out = self.process.stdout.read()
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
            self.result = (self.process.returncode, out, "".join(self.log))
        return self.result


def _authorization_code_offer(issuer_dir: Path) -> Any:
    """A new LegalPerson offer with an authorization_code grant (`issuer offer --json`)."""
    made = ancre_cli(
        "issuer", "offer", "--dir", str(issuer_dir), "--type", "LegalPerson",
        "--grant", "authorization_code", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)


def _start_receive(wallet: Path, *args: str) -> _Receiving:
    """`ancre wallet receive ARGS` in the background."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ancre.cli.main", "wallet", "receive", *args,
         "--wallet", str(wallet)],
        env=wallet_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            lines.put(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return _Receiving(process, lines, log, thread)


def _authorization_url(lines: queue.Queue[str], issuer_url: str) -> str:
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1).strip()
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith(f"{issuer_url}/authorize?"):
            return line
    raise AssertionError(f"the wallet printed no authorization URL: {seen}")


def _login(issuer_dir: Path, tmp_path: Path, claims: Any) -> None:
    """The operator approves the one waiting login with `claims`."""
    waiting = ancre_cli("issuer", "logins", "--dir", str(issuer_dir), "--json")
    assert waiting.returncode == 0, waiting.stderr
    (login,) = json.loads(waiting.stdout)
    claims_file = tmp_path / "login-claims.json"
    claims_file.write_text(json.dumps(claims))
    approved = ancre_cli(
        "issuer", "login-approve", login["id"], "--dir", str(issuer_dir),
        "--claims", str(claims_file), "--register-checked", "--json",
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr


def test_authorization_code_grant_with_a_loopback_redirect(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls, "--operator-approval") as issuer_url:
        (holder,) = new_wallet(wallet, ("jwk", "p256"))
        offer = _authorization_code_offer(issuer_dir)
        receiving = _start_receive(
            wallet, offer["offer_uri"], "--no-browser", "--login-timeout", "60", *_net(tls),
            "--json",
        )  # fmt: skip
        try:
            url = _authorization_url(receiving.lines, issuer_url)
            query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            assert query["client_id"] == "ancre-wallet"
            assert query["code_challenge_method"] == "S256"
            assert query["issuer_state"] == offer["issuer_state"]
            assert json.loads(query["authorization_details"]) == [
                {"type": "openid_credential", "credential_configuration_id": "LegalPerson"}
            ]
            redirect = urlsplit(query["redirect_uri"])
            assert (redirect.scheme, redirect.hostname, redirect.path) == (
                "http", "127.0.0.1", "/callback"
            )  # fmt: skip
            # The user's browser: the issuer's waiting page, the operator's approval, then
            # back to the wallet's loopback listener.
            with httpx.Client(trust_env=False, verify=tls.context(), timeout=10) as browser:
                wait = browser.get(url)
                assert wait.status_code == 303, wait.text
                _login(issuer_dir, tmp_path, LEGAL_PERSON_CLAIMS)
                back = browser.get(wait.headers["location"])
                assert back.status_code == 303, back.text
                location = back.headers["location"]
                assert location.startswith(query["redirect_uri"] + "?")
                # A hit without the wallet's state is turned away; the listener keeps waiting.
                forged = browser.get(query["redirect_uri"] + "?code=forged&state=not-the-wallets")
                assert forged.status_code == 400
                caught = browser.get(location)
                assert caught.status_code == 200
                assert "close this window" in caught.text
                code, out, errors = receiving.finish()
                assert code == 0, errors
                # One valid hit: the listener is closed now.
                with pytest.raises(httpx.TransportError):
                    browser.get(location)
        finally:
            receiving.finish(0)
        received = json.loads(out)
        assert received["format"] == "vc+jwt"
        assert received["subject"] == holder["did"]
        assert received["configuration_id"] == "LegalPerson"
        assert received["status"] == "valid"
        assert wallet_cli(wallet, "list", "--json").stdout.count('"id": "cred-') == 1


def test_refused_login_stores_nothing(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls, "--operator-approval") as issuer_url:
        new_wallet(wallet, ("key", "ed25519"))
        before = snapshot(wallet / "records")
        receiving = _start_receive(
            wallet, _authorization_code_offer(issuer_dir)["offer_uri"], "--no-browser", *_net(tls)
        )
        try:
            url = _authorization_url(receiving.lines, issuer_url)
            with httpx.Client(trust_env=False, verify=tls.context(), timeout=10) as browser:
                wait = browser.get(url)
                (login,) = json.loads(
                    ancre_cli("issuer", "logins", "--dir", str(issuer_dir), "--json").stdout
                )
                rejected = ancre_cli(
                    "issuer", "login-reject", login["id"], "--dir", str(issuer_dir)
                )
                assert rejected.returncode == 0, rejected.stderr
                back = browser.get(wait.headers["location"])
                assert browser.get(back.headers["location"]).status_code == 200
            code, _, errors = receiving.finish()
        finally:
            receiving.finish(0)
        assert code == 1, errors
        assert "issuer_refused" in errors
        assert "access_denied" in errors
        assert snapshot(wallet / "records") == before


def test_an_answer_naming_another_authorization_server_is_refused(tmp_path: Path, tls: Tls) -> None:
    """RFC 9207: the issuer advertises `iss` in its answers, so a code that comes back with
    another server's `iss` (a mix-up) is not redeemed."""
    from urllib.parse import urlencode

    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls, "--operator-approval") as issuer_url:
        new_wallet(wallet, ("key", "ed25519"))
        before = snapshot(wallet / "records")
        receiving = _start_receive(
            wallet, _authorization_code_offer(issuer_dir)["offer_uri"], "--no-browser", *_net(tls)
        )
        try:
            url = _authorization_url(receiving.lines, issuer_url)
            with httpx.Client(trust_env=False, verify=tls.context(), timeout=10) as browser:
                wait = browser.get(url)
                _login(issuer_dir, tmp_path, LEGAL_PERSON_CLAIMS)
                location = browser.get(wait.headers["location"]).headers["location"]
                parts = urlsplit(location)
                answer = {k: v[0] for k, v in parse_qs(parts.query).items()}
                assert answer["iss"] == issuer_url
                answer["iss"] = "https://attacker.example"
                mixed = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(answer)}"
                assert browser.get(mixed).status_code == 200
            code, _, errors = receiving.finish()
        finally:
            receiving.finish(0)
        assert code == 1, errors
        assert "RFC 9207" in errors
        assert snapshot(wallet / "records") == before


def test_the_listener_gives_up_after_its_timeout(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls, "--operator-approval"):
        new_wallet(wallet, ("key", "ed25519"))
        got = wallet_cli(
            wallet, "receive", _authorization_code_offer(issuer_dir)["offer_uri"], "--no-browser",
            "--login-timeout", "1", *_net(tls),
        )  # fmt: skip
        assert got.returncode == 69, got.stderr
        assert "network_timeout" in got.stderr
        assert "browser" in got.stderr


# ---- QR picture of an offer --------------------------------------------------------------


def test_receive_from_a_qr_picture(tmp_path: Path, tls: Tls) -> None:
    import segno

    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls):
        (holder,) = new_wallet(wallet, ("jwk", "p256"))
        offer = _offer(issuer_dir, tmp_path, "DirectorCertification", DIRECTOR_CLAIMS)
        picture = tmp_path / "offer.png"
        segno.make(offer["offer_uri"], error="m").save(str(picture), scale=6, border=4)
        got = wallet_cli(
            wallet, "receive", str(picture), "--tx-code", offer["tx_code"], *_net(tls), "--json"
        )
        assert got.returncode == 0, got.stderr
        assert "read the offer from the QR code" in got.stderr
        received = json.loads(got.stdout)
        assert received["format"] == "dc+sd-jwt"
        assert received["identity"] == holder["id"]


def test_hostile_pictures_are_refused(tmp_path: Path) -> None:
    from PIL import Image

    wallet = tmp_path / "wallet"
    new_wallet(wallet, ("key", "ed25519"))
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    not_png = tmp_path / "fake.png"
    not_png.write_bytes(b"GIF89a" + b"\0" * 100)
    huge = tmp_path / "huge.png"
    Image.new("1", (6000, 5000), 1).save(huge)  # 30 Mpx, a few kB compressed
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (8 * 1024 * 1024 + 10))
    for path, why in (
        (blank, "no QR code found"),
        (not_png, "not a PNG or JPEG image"),
        (huge, "pixels is over"),
        (big, "bytes"),
    ):
        got = wallet_cli(wallet, "receive", str(path))
        assert got.returncode == 65, got.stderr
        assert "offer_invalid" in got.stderr, got.stderr
        assert why in got.stderr, got.stderr
        assert "Traceback" not in got.stderr


# ---- batch ---------------------------------------------------------------------------


def test_batch_gives_each_credential_its_own_key(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls):
        (holder,) = new_wallet(wallet, ("jwk", "p256"))
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--count", "3", *_net(tls), "--json",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        batch = json.loads(got.stdout)
        assert batch["configuration_id"] == "LegalPerson"
        credentials = batch["credentials"]
        assert len(credentials) == 3
        assert credentials[0]["subject"] == holder["did"]
        assert len({c["subject"] for c in credentials}) == 3
        assert len({c["identity"] for c in credentials}) == 3
        identities = json.loads(wallet_cli(wallet, "did", "list", "--json").stdout)
        rows = identities["identities"] if isinstance(identities, dict) else identities
        dids = {i["did"] for i in rows}
        assert {c["subject"] for c in credentials} <= dids
        assert all(i["method"] == "jwk" for i in rows)


def test_batch_beyond_the_issuers_size_is_refused_and_leaves_nothing(
    tmp_path: Path, tls: Tls
) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with _issuer_with_limits(issuer_dir, tls, batch_size=2):
        new_wallet(wallet, ("key", "ed25519"))
        before = snapshot(wallet / "records")
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--count", "3", *_net(tls),
        )  # fmt: skip
        assert got.returncode == 1, got.stderr
        assert "at most 2 credentials" in got.stderr
        # The identities made for the batch are gone again.
        assert snapshot(wallet / "records") == before


def test_a_batch_with_one_bad_credential_stores_none(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls):
        new_wallet(wallet, ("key", "ed25519"))
        before = snapshot(wallet / "records")
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        # Trust is the failing check here: the issuer is not the one the wallet trusts.
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--count", "2", "--trusted-issuer", "did:web:someone-else.example", *_net(tls),
        )  # fmt: skip
        assert got.returncode == 1, got.stderr
        assert "credential_refused (invalid)" in got.stderr
        assert "nothing was stored" in got.stderr
        assert snapshot(wallet / "records") == before


# ---- deferred ------------------------------------------------------------------------


def _held_id(issuer_dir: Path) -> str:
    listed = ancre_cli("issuer", "pending", "--dir", str(issuer_dir), "--json")
    assert listed.returncode == 0, listed.stderr
    (held,) = json.loads(listed.stdout)
    return str(held["id"])


def test_deferred_credentials_are_kept_pending_then_collected(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with _issuer_with_limits(issuer_dir, tls, deferred_interval=1):
        (holder,) = new_wallet(wallet, ("jwk", "p256"))
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, "--approval")
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--count", "2", *_net(tls), "--json",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        deferred = json.loads(got.stdout)
        assert deferred["deferred"] is True
        pending = deferred["pending"]
        assert pending["count"] == 2
        assert pending["interval"] == 1
        assert "access_token" not in got.stdout
        assert "transaction_id" not in got.stdout
        # Stored encrypted: neither the access token nor the transaction id in clear.
        store = WalletStore.open(wallet, WALLET_PASSPHRASE)
        secret = store.get(pending["id"])["access_token"]
        for raw in snapshot(wallet).values():
            assert secret.encode() not in raw
        listed = json.loads(wallet_cli(wallet, "pending", "--json").stdout)
        assert [p["id"] for p in listed["pending"]] == [pending["id"]]

        # Not approved yet: polled (interval honoured) and kept.
        early = wallet_cli(wallet, "pending", "--retry", "--wait", "2", *_net(tls), "--json")
        assert early.returncode == 0, early.stderr
        (outcome,) = json.loads(early.stdout)["pending"]
        assert outcome["outcome"] == "pending"

        approved = ancre_cli("issuer", "approve", _held_id(issuer_dir), "--dir", str(issuer_dir))
        assert approved.returncode == 0, approved.stderr
        late = wallet_cli(wallet, "pending", "--retry", "--wait", "5", *_net(tls), "--json")
        assert late.returncode == 0, late.stderr
        (outcome,) = json.loads(late.stdout)["pending"]
        assert outcome["outcome"] == "stored"
        assert len(outcome["credentials"]) == 2
        assert outcome["credentials"][0]["subject"] == holder["did"]
        assert json.loads(wallet_cli(wallet, "pending", "--json").stdout)["pending"] == []
        rows = json.loads(wallet_cli(wallet, "list", "--json").stdout)["credentials"]
        assert len(rows) == 2


def test_a_request_is_not_polled_before_its_interval(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with _issuer_with_limits(issuer_dir, tls, deferred_interval=600):
        new_wallet(wallet, ("key", "ed25519"))
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, "--approval")
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"], *_net(tls),
            "--json",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        pending = json.loads(got.stdout)["pending"]
        approved = ancre_cli("issuer", "approve", _held_id(issuer_dir), "--dir", str(issuer_dir))
        assert approved.returncode == 0, approved.stderr
        # Approved, but the issuer asked for 600 s between polls: nothing is sent yet.
        early = wallet_cli(wallet, "pending", "--retry", "--wait", "1", *_net(tls), "--json")
        assert early.returncode == 0, early.stderr
        (outcome,) = json.loads(early.stdout)["pending"]
        assert outcome["outcome"] == "not_due"
        assert outcome["not_before"] == pending["not_before"]
        listed = wallet_cli(wallet, "pending")
        assert listed.returncode == 0, listed.stderr
        assert f"{pending['id']}  LegalPerson ×1 from https://localhost:" in listed.stdout
        assert json.loads(wallet_cli(wallet, "list", "--json").stdout)["credentials"] == []


def test_a_rejected_deferred_request_is_dropped_with_the_reason(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with _issuer_with_limits(issuer_dir, tls, deferred_interval=1):
        new_wallet(wallet, ("key", "ed25519"))
        before = snapshot(wallet / "records")
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, "--approval")
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--count", "2", *_net(tls),
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert "pending --retry" in got.stdout
        rejected = ancre_cli("issuer", "reject", _held_id(issuer_dir), "--dir", str(issuer_dir))
        assert rejected.returncode == 0, rejected.stderr
        late = wallet_cli(wallet, "pending", "--retry", "--wait", "5", *_net(tls))
        assert late.returncode == 1, late.stderr
        assert "dropped (credential_request_denied)" in late.stdout
        # The pending record and the batch's extra identity are gone; nothing was stored.
        assert snapshot(wallet / "records") == before


def test_a_deferred_credential_that_fails_verification_is_not_written(
    tmp_path: Path, tls: Tls
) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with _issuer_with_limits(issuer_dir, tls, deferred_interval=1):
        new_wallet(wallet, ("key", "ed25519"))
        before = snapshot(wallet / "records")
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, "--approval")
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"], *_net(tls)
        )
        assert got.returncode == 0, got.stderr
        approved = ancre_cli("issuer", "approve", _held_id(issuer_dir), "--dir", str(issuer_dir))
        assert approved.returncode == 0, approved.stderr
        late = wallet_cli(
            wallet, "pending", "--retry", "--wait", "5",
            "--trusted-issuer", "did:web:someone-else.example", *_net(tls), "--json",
        )  # fmt: skip
        assert late.returncode == 1, late.stderr
        (outcome,) = json.loads(late.stdout)["pending"]
        assert outcome["outcome"] == "refused"
        assert "credential_refused (invalid)" in outcome["reason"]
        assert snapshot(wallet / "records") == before
