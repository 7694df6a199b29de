"""The wallet's store: encryption at rest, integrity, atomic writes, locking, permissions."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from _wallet_support import (
    WALLET_PASSPHRASE,
    new_wallet,
    snapshot,
    wallet_cli,
    wallet_env,
)

from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.wallet.store import WalletStore, default_wallet_path, new_record_id

N = 2**14


def test_records_round_trip_and_are_encrypted(tmp_path: Path) -> None:
    store = WalletStore.create(tmp_path / "w", "pass", scrypt_n=N)
    record = new_record_id("cred")
    with store.writing():
        store.put(record, {"secret": "Antoine de Saint-Affrique"})
    again = WalletStore.open(tmp_path / "w", "pass")
    assert again.get(record) == {"secret": "Antoine de Saint-Affrique"}
    for raw in snapshot(tmp_path / "w").values():
        assert b"Saint-Affrique" not in raw
    assert [e.id for e in again.entries("cred")] == [record]
    assert again.entries("id") == []


def test_wrong_passphrase_is_a_clear_error_exit_77_and_changes_nothing(tmp_path: Path) -> None:
    wallet = tmp_path / "w"
    new_wallet(wallet, ("key", "ed25519"))
    before = snapshot(wallet)
    env = wallet_env(ANCRE_WALLET_PASSPHRASE="not the passphrase")
    for args in (("list",), ("did", "create"), ("did", "list", "--json"), ("passwd",)):
        done = wallet_cli(wallet, *args, env=env)
        assert done.returncode == 77, (args, done.stderr)
        assert done.stderr == f"ancre: wallet_locked: wrong passphrase for the wallet at {wallet}\n"
        assert done.stdout == ""
    assert snapshot(wallet) == before
    with pytest.raises(AncreError) as caught:
        WalletStore.open(wallet, "nope")
    assert caught.value.code is Code.WALLET_LOCKED


def test_no_passphrase_and_no_terminal_is_a_usage_error(tmp_path: Path) -> None:
    wallet = tmp_path / "w"
    new_wallet(wallet)
    env = {k: v for k, v in wallet_env().items() if k != "ANCRE_WALLET_PASSPHRASE"}
    done = wallet_cli(wallet, "list", env=env)
    assert done.returncode == 64
    assert "no passphrase" in done.stderr
    missing = wallet_cli(tmp_path / "none", "list")
    assert missing.returncode == 64
    assert "wallet_not_found" in missing.stderr


def test_files_0600_and_directories_0700_even_with_a_lax_umask(tmp_path: Path) -> None:
    wallet = tmp_path / "deep" / "w"
    old = os.umask(0)
    try:
        new_wallet(wallet, ("key", "ed25519"), ("jwk", "p256"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(wallet.stat().st_mode) == 0o700
    assert stat.S_IMODE((wallet / "records").stat().st_mode) == 0o700
    files = [p for p in wallet.rglob("*") if p.is_file()]
    assert len(files) == 4  # wallet.json, .lock, two identities
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_passphrase_change_rewraps_the_data_key_only(tmp_path: Path) -> None:
    wallet = tmp_path / "w"
    new_wallet(wallet, ("key", "ed25519"))
    records = {k: v for k, v in snapshot(wallet).items() if k.startswith("records/")}
    new_file = tmp_path / "new.txt"
    new_file.write_text("a brand new passphrase\n")
    done = wallet_cli(wallet, "passwd", "--new-passphrase-file", str(new_file), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"wallet": str(wallet), "passphrase_changed": True}
    after = snapshot(wallet)
    assert {k: v for k, v in after.items() if k.startswith("records/")} == records
    assert wallet_cli(wallet, "did", "list").returncode == 77
    listed = wallet_cli(wallet, "did", "list", "--json", "--passphrase-file", str(new_file))
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["identities"]) == 1


def test_a_tampered_record_is_reported_by_list(tmp_path: Path) -> None:
    wallet = tmp_path / "w"
    new_wallet(wallet)
    store = WalletStore.open(wallet, WALLET_PASSPHRASE)
    good, bad, swapped = new_record_id("cred"), new_record_id("cred"), new_record_id("cred")
    with store.writing():
        for record in (good, bad, swapped):
            store.put(record, {"not": "a credential yet"})
    path = wallet / "records" / f"{bad}.rec"
    envelope = json.loads(path.read_text())
    text = envelope["ciphertext"]
    envelope["ciphertext"] = text[:10] + ("A" if text[10] != "A" else "B") + text[11:]
    path.write_text(json.dumps(envelope))
    # A valid record copied over another's name fails too: the id is the associated data.
    (wallet / "records" / f"{swapped}.rec").write_bytes(
        (wallet / "records" / f"{good}.rec").read_bytes().replace(good.encode(), swapped.encode())
    )
    problems = {e.id: e.problem for e in WalletStore.open(wallet, WALLET_PASSPHRASE).entries()}
    assert problems[bad] == "authentication failed: the record was altered"
    assert problems[swapped] == "authentication failed: the record was altered"
    done = wallet_cli(wallet, "list", "--json")
    assert done.returncode == 1, done.stderr
    damaged = {d["id"]: d["problem"] for d in json.loads(done.stdout)["damaged"]}
    assert damaged[bad] == damaged[swapped] == "authentication failed: the record was altered"
    # the good one is not a credential record ("not": …): reported, not a crash
    assert damaged[good] == f"record {good} is not a credential"
    table = wallet_cli(wallet, "list")
    assert table.returncode == 1
    assert "TAMPERED" in table.stdout
    assert "Traceback" not in table.stderr


def test_an_oversized_scrypt_cost_is_refused_before_any_derivation(tmp_path: Path) -> None:
    wallet = tmp_path / "w"
    WalletStore.create(wallet, "pass", scrypt_n=N)
    header = json.loads((wallet / "wallet.json").read_text())
    header["kdf"]["n"] = 2**22
    (wallet / "wallet.json").write_text(json.dumps(header))
    with pytest.raises(AncreError) as caught:
        WalletStore.open(wallet, "pass")
    assert caught.value.code is Code.WALLET_CORRUPT
    done = wallet_cli(wallet, "list")
    assert done.returncode == 65
    assert "outside 2^14..2^18" in done.stderr


def test_create_refuses_an_existing_wallet_or_a_non_empty_directory(tmp_path: Path) -> None:
    WalletStore.create(tmp_path / "w", "pass", scrypt_n=N)
    with pytest.raises(ConfigurationError, match="already holds a wallet"):
        WalletStore.create(tmp_path / "w", "pass", scrypt_n=N)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="not empty"):
        WalletStore.create(tmp_path / "other", "pass", scrypt_n=N)


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANCRE_WALLET", str(tmp_path / "explicit"))
    assert default_wallet_path() == tmp_path / "explicit"
    monkeypatch.delenv("ANCRE_WALLET")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # as if not installed
    assert default_wallet_path() == tmp_path / "data" / "ancre" / "wallet"


@pytest.mark.parametrize(
    "command",
    [("did", "create", "--name", "late"), ("passwd",)],
    ids=["new-record", "passphrase-change"],
)
def test_sigkill_mid_write_leaves_the_previous_wallet_complete(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    wallet = tmp_path / "w"
    made = new_wallet(wallet, ("key", "ed25519"), ("jwk", "p256"))
    before = snapshot(wallet)
    extra = {"ANCRE_WALLET_NEW_PASSPHRASE": "next"} if command == ("passwd",) else {}
    env_args = list(command)
    writer = subprocess.Popen(
        [sys.executable, "-m", "ancre.cli.main", "wallet", *env_args, "--wallet", str(wallet)],
        env=wallet_env(ANCRE_WALLET_TEST_HOOK="pause-before-rename", **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stderr is not None
    assert writer.stderr.readline() == "ancre-wallet: paused\n"
    # The new content is on disk, complete and synced, under a temporary name.
    temporary = list(wallet.rglob(".*.tmp"))
    assert len(temporary) == 1
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    writer.stderr.close()
    assert writer.returncode == -signal.SIGKILL
    after = {k: v for k, v in snapshot(wallet).items() if not k.rsplit("/", 1)[-1].endswith(".tmp")}
    assert after == before
    listed = wallet_cli(wallet, "did", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["identities"] == made
    # The lock died with the writer: the next write goes through.
    assert wallet_cli(wallet, "did", "create", "--name", "after").returncode == 0


def test_two_concurrent_writers_do_not_corrupt_the_wallet(tmp_path: Path) -> None:
    wallet = tmp_path / "w"
    new_wallet(wallet)
    script = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from ancre.wallet.store import WalletStore\n"
        "from ancre.wallet.identities import create_identity\n"
        "store = WalletStore.open(sys.argv[1], sys.argv[2])\n"
        "for _ in range(8):\n"
        "    create_identity(store, method='key', key_type='ed25519', name=None,\n"
        "                    now=datetime.now(UTC))\n"
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(wallet), WALLET_PASSPHRASE],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    listed = wallet_cli(wallet, "did", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = sorted(i["name"] for i in json.loads(listed.stdout)["identities"])
    # Default names are chosen under the lock (identity-N from the count): without the lock
    # two writers pick the same N and one fails, or both write it.
    assert names == sorted(f"identity-{n}" for n in range(1, 17))
    assert all(e.data is not None for e in WalletStore.open(wallet, WALLET_PASSPHRASE).entries())
