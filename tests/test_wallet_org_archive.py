"""`ancre wallet export / import / delete`: the encrypted archive (atomic, 0600, tamper-evident),
merging it into another wallet, one credential imported and verified as `receive` does, one
exported in the clear with its warnings, and deletion with confirmation."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pexpect
from _issuer_support import LEGAL_PERSON_CLAIMS
from _wallet_org_support import TestIssuer, issue_sd_jwt
from _wallet_support import WALLET_PASSPHRASE, new_wallet, snapshot, wallet_cli, wallet_env

from ancre.wallet.archive import encrypt_archive
from ancre.wallet.store import WalletStore

ARCHIVE_PASSPHRASE = "archive passphrase for tests"
ENV = wallet_env(ANCRE_WALLET_ARCHIVE_PASSPHRASE=ARCHIVE_PASSPHRASE)
FAST = ("--scrypt-n", str(2**14))


def _holder_jwk(wallet: Path) -> dict[str, Any]:
    store = WalletStore.open(wallet, WALLET_PASSPHRASE)
    (entry,) = store.entries("id")
    assert entry.data is not None
    return {k: v for k, v in entry.data["private_jwk"].items() if k != "d"}


def _stocked(tmp_path: Path, name: str = "wallet") -> tuple[Path, dict[str, Any], TestIssuer]:
    """A wallet with one did:jwk identity, a LegalPerson vc+jwt and an SD-JWT VC."""
    wallet = tmp_path / name
    (holder,) = new_wallet(wallet, ("jwk", "p256"))
    issuer = TestIssuer()
    lp = tmp_path / f"{name}-lp.jwt"
    lp.write_text(issuer.issue(holder["did"], "gx:LegalPerson", LEGAL_PERSON_CLAIMS))
    assert wallet_cli(wallet, "import", str(lp)).returncode == 0
    sd = tmp_path / f"{name}-sd.txt"
    sd.write_text(issue_sd_jwt(issuer, _holder_jwk(wallet), {"given_name": "Marie", "role": "CTO"}))
    got = wallet_cli(wallet, "import", str(sd))
    assert got.returncode == 0, got.stderr
    return wallet, holder, issuer


def _listing(wallet: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    dids = [
        i["did"]
        for i in json.loads(wallet_cli(wallet, "did", "list", "--json").stdout)["identities"]
    ]
    creds = json.loads(wallet_cli(wallet, "list", "--json").stdout)["credentials"]
    return dids, sorted(tuple(c["types"]) for c in creds)


def test_export_then_import_into_another_wallet(tmp_path: Path) -> None:
    wallet, holder, _ = _stocked(tmp_path)
    archive = tmp_path / "out" / "acme.archive"
    archive.parent.mkdir()
    done = wallet_cli(wallet, "export", "--out", str(archive), *FAST, "--json", env=ENV)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "archive": str(archive), "identities": 1, "credentials": 2, "skipped_damaged": [],
    }  # fmt: skip
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert [p.name for p in archive.parent.iterdir()] == ["acme.archive"]  # no temp file left
    raw = archive.read_bytes()
    secret = WalletStore.open(wallet, WALLET_PASSPHRASE).entries("id")[0].data["private_jwk"]["d"]  # type: ignore[index]
    for clear in (secret.encode(), b"Marie", b"DANONE", holder["did"].encode()):
        assert clear not in raw

    other = tmp_path / "other"
    new_wallet(other)
    imported = wallet_cli(other, "import", str(archive), "--json", env=ENV)
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert len(report["identities_added"]) == 1
    assert len(report["credentials_added"]) == 2
    assert _listing(other) == _listing(wallet)
    # Presentable from the new wallet: the key came along.
    shown = wallet_cli(
        other, "present", "--type", "LegalPerson", "--audience", "https://c.example",
        "--nonce", "n1", "--json",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["holder"] == holder["did"]

    again = wallet_cli(other, "import", str(archive), "--json", env=ENV)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["identities_added"] == []
    assert second["credentials_added"] == []
    assert len(second["already_present"]) == 3
    assert _listing(other) == _listing(wallet)


def _refused(wallet: Path, source: Path, code: int, needle: str, env: dict[str, str] = ENV) -> None:
    before = snapshot(wallet)
    done = wallet_cli(wallet, "import", str(source), env=env)
    assert done.returncode == code, (done.returncode, done.stderr)
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(wallet) == before


def test_export_leaves_damaged_records_out(tmp_path: Path) -> None:
    wallet, _, _ = _stocked(tmp_path)
    record = sorted((wallet / "records").glob("cred-*.rec"))[0]
    record.write_bytes(record.read_bytes().replace(b'"ciphertext":"', b'"ciphertext":"AAAA', 1))
    archive = tmp_path / "acme.archive"
    done = wallet_cli(wallet, "export", "--out", str(archive), *FAST, "--json", env=ENV)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["skipped_damaged"] == [record.name.removesuffix(".rec")]
    assert report["credentials"] == 1
    assert "left out damaged records" in done.stderr


def test_tampered_or_wrong_passphrase_archive_refused(tmp_path: Path) -> None:
    wallet, _, _ = _stocked(tmp_path)
    archive = tmp_path / "acme.archive"
    assert wallet_cli(wallet, "export", "--out", str(archive), *FAST, env=ENV).returncode == 0
    target = tmp_path / "target"
    new_wallet(target)

    document = json.loads(archive.read_text())
    body = document["ciphertext"]
    document["ciphertext"] = body[:40] + ("A" if body[40] != "A" else "B") + body[41:]
    tampered = tmp_path / "tampered.archive"
    tampered.write_text(json.dumps(document))
    _refused(target, tampered, 77, "archive_locked")

    header = json.loads(archive.read_text())
    header["kdf"]["n"] = 2**15  # the clear header is authenticated
    reheadered = tmp_path / "reheadered.archive"
    reheadered.write_text(json.dumps(header))
    _refused(target, reheadered, 77, "archive_locked")

    wrong = wallet_env(ANCRE_WALLET_ARCHIVE_PASSPHRASE="not the archive passphrase")
    _refused(target, archive, 77, "archive_locked", env=wrong)


def test_hostile_archives_refused(tmp_path: Path) -> None:
    wallet, holder, _ = _stocked(tmp_path)
    store = WalletStore.open(wallet, WALLET_PASSPHRASE)
    identity = store.entries("id")[0]
    assert identity.data is not None
    target = tmp_path / "target"
    new_wallet(target)

    def sealed(records: Any, name: str) -> Path:
        path = tmp_path / name
        path.write_bytes(encrypt_archive(records, ARCHIVE_PASSPHRASE, scrypt_n=2**14))
        return path

    # Names that would leave records/ if they became file names.
    for i, bad_id in enumerate(
        ["../../evil-000000000000", "id-000000000000/../../x", "/etc/passwd"]
    ):
        _refused(target, sealed({bad_id: identity.data}, f"traversal{i}"), 65, "unsafe record id")
    _refused(target, sealed({"key-000000000000": identity.data}, "kind"), 65, "unknown kind")
    # Someone else's DID with this key: refused (it would sign what nobody can verify).
    stranger = TestIssuer().did
    forged = {**identity.data, "did": stranger, "kid": stranger + "#0"}
    _refused(target, sealed({identity.id: forged}, "forged"), 65, "the DID is not its key's")
    _refused(target, sealed({"id-000000000000": {"name": 1}}, "shape"), 65, "archive_invalid")
    # A credential whose identity is neither in the archive nor in the wallet.
    cred = next(e for e in store.entries("cred"))
    _refused(target, sealed({cred.id: cred.data}, "orphan"), 65, "not in the archive")

    truncated = tmp_path / "truncated.archive"
    truncated.write_bytes(sealed({}, "empty").read_bytes()[:60])
    _refused(target, truncated, 65, "archive_invalid")
    costly = json.loads(sealed({}, "costly").read_text())
    costly["kdf"]["n"] = 2**30  # refused before any derivation
    expensive = tmp_path / "expensive.archive"
    expensive.write_text(json.dumps(costly))
    _refused(target, expensive, 65, "outside 2^14..2^18")
    huge = tmp_path / "huge.archive"
    with huge.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)  # sparse: cheap to make
    _refused(target, huge, 65, "over 64 MiB")
    assert holder["did"] not in wallet_cli(target, "did", "list").stdout


def test_import_one_credential_verified_like_receive(tmp_path: Path) -> None:
    wallet = tmp_path / "wallet"
    (holder,) = new_wallet(wallet, ("jwk", "p256"))
    issuer = TestIssuer()
    token = issuer.issue(holder["did"], "gx:LegalPerson", LEGAL_PERSON_CLAIMS)

    header, payload, signature = token.split(".")
    forged = tmp_path / "forged.jwt"
    forged.write_text(f"{header}.{payload}.{signature[:-4]}AAAA")
    _refused(wallet, forged, 1, "credential_refused")
    foreign = tmp_path / "foreign.jwt"
    foreign.write_text(
        issuer.issue("did:web:someone-else.example", "gx:LegalPerson", LEGAL_PERSON_CLAIMS)
    )
    _refused(wallet, foreign, 1, "bound to none of the wallet's identities")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(300))
    _refused(wallet, noise, 65, "archive_invalid")
    other_issuer = tmp_path / "good.jwt"
    other_issuer.write_text(token)
    before = snapshot(wallet)
    untrusted = wallet_cli(
        wallet, "import", str(other_issuer), "--trusted-issuer", "did:web:gov.example"
    )
    assert untrusted.returncode == 1
    assert "credential_refused" in untrusted.stderr
    assert snapshot(wallet) == before

    # From stdin, as an EnvelopedVerifiableCredential.
    envelope = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": "EnvelopedVerifiableCredential",
        "id": f"data:application/vc+jwt,{token}",
    }
    done = subprocess_stdin(wallet, json.dumps(envelope))
    assert done.returncode == 0, done.stderr
    stored = json.loads(done.stdout)
    assert stored["kind"] == "credential"
    assert stored["issuer"] == issuer.did
    assert stored["already_present"] is False
    twice = subprocess_stdin(wallet, token)
    assert json.loads(twice.stdout)["already_present"] is True
    assert len(json.loads(wallet_cli(wallet, "list", "--json").stdout)["credentials"]) == 1


def subprocess_stdin(wallet: Path, text: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", "wallet", "import", "-", "--json",
         "--wallet", str(wallet)],
        input=text, capture_output=True, text=True, env=ENV, check=False, timeout=60,
    )  # fmt: skip


def test_export_one_credential_in_the_clear_warns(tmp_path: Path) -> None:
    wallet, _, _ = _stocked(tmp_path)
    creds = json.loads(wallet_cli(wallet, "list", "--json").stdout)["credentials"]
    sd = next(c for c in creds if c["format"] == "dc+sd-jwt")
    vc = next(c for c in creds if c["format"] == "vc+jwt")

    out = wallet_cli(wallet, "export", sd["id"], "--clear")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("~") >= 2  # every disclosure is there
    assert "given_name, role" in out.stderr
    assert "personal data: given_name" in out.stderr

    target = tmp_path / "lp.jwt"
    written = wallet_cli(wallet, "export", vc["id"], "--clear", "--out", str(target), "--json")
    assert written.returncode == 0, written.stderr
    assert json.loads(written.stdout)["warnings"] == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # What was exported imports back (as the same credential).
    again = wallet_cli(wallet, "import", str(target), "--json")
    assert json.loads(again.stdout)["already_present"] is True

    refused = wallet_cli(wallet, "export", vc["id"])
    assert refused.returncode == 64
    assert "--clear" in refused.stderr
    nowhere = wallet_cli(wallet, "export", env=ENV)
    assert nowhere.returncode == 64
    assert "--out" in nowhere.stderr


def test_delete_asks_then_deletes(tmp_path: Path) -> None:
    wallet, holder, _ = _stocked(tmp_path)
    creds = json.loads(wallet_cli(wallet, "list", "--json").stdout)["credentials"]
    first, second = creds[0]["id"], creds[1]["id"]

    before = snapshot(wallet)
    scripted = wallet_cli(wallet, "delete", first)
    assert scripted.returncode == 64
    assert "--yes" in scripted.stderr
    held = wallet_cli(wallet, "delete", holder["id"], "--yes")
    assert held.returncode == 1
    assert "delete them first" in held.stderr
    assert snapshot(wallet) == before

    import sys

    argv = ["-m", "ancre.cli.main", "wallet", "delete", first, "--wallet", str(wallet)]
    child = pexpect.spawn(sys.executable, argv, env=ENV, encoding="utf-8", timeout=30)
    child.expect("Delete it\\? \\[y/N\\]")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert snapshot(wallet) == before

    child = pexpect.spawn(sys.executable, argv, env=ENV, encoding="utf-8", timeout=30)
    child.expect("Delete it\\? \\[y/N\\]")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    done = wallet_cli(wallet, "delete", second, "--yes", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["deleted"] == second
    assert json.loads(wallet_cli(wallet, "list", "--json").stdout)["credentials"] == []
    gone = wallet_cli(wallet, "delete", holder["id"], "--yes")
    assert gone.returncode == 0, gone.stderr
    assert json.loads(wallet_cli(wallet, "did", "list", "--json").stdout)["identities"] == []
    missing = wallet_cli(wallet, "delete", "cred-000000000000", "--yes")
    assert missing.returncode == 1
    assert "record_not_found" in missing.stderr
