"""Issue 12, point 12: rollback memory on by default, keyed by the registry, whatever the
list's source.

Attack: replay an older, genuinely signed list (say, one where a since-withdrawn issuer was
still active). Before the fix the highest sequence was remembered only with `--cache-dir`,
and per URL: a restarted service or a fresh CLI run accepted the older list, and the same
list handed over as a file bypassed the memory. Now the highest sequence per registry is
kept in a state file under the state directory (`--state-dir`, else `--cache-dir`, else
`$ANCRE_STATE_DIR`, else `$XDG_STATE_HOME/ancre` or `~/.local/state/ancre`); tests point
it at a temporary directory (conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _asgi_server import serve
from _http_server import Route, loopback_client, running_server
from _sec_trustclient_support import LOOPBACK, listed_token, post, signed_list
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, InvalidError
from ancre.trust.trust_list.client import TrustListClient, default_state_dir
from ancre.verifier.service import VerifierSettings, create_app

REGISTRY = Issuer.new("p256")
ISSUER = Issuer.new()
WITHDRAWN = Issuer.new()
# #1 still lists an issuer that #2 no longer does.
OLD = signed_list(REGISTRY, [ISSUER.did, WITHDRAWN.did], 1)
NEW = signed_list(REGISTRY, [ISSUER.did], 2)


def _client(source: str, http: object = None) -> TrustListClient:
    return TrustListClient(
        source,
        registry=REGISTRY.did,
        resolver=default_resolver(),
        clock=FixedClock(NOW),
        http_client=http,
        network=LOOPBACK,
    )


def test_a_restarted_service_without_cache_dir_refuses_the_older_list() -> None:
    with running_server() as registry:
        registry.routes["/trust-list"] = Route(body=NEW)
        settings = VerifierSettings(
            clock=FixedClock(NOW),
            network=LOOPBACK,
            trust_list_url=f"{registry.base}/trust-list",
            registry_did=REGISTRY.did,
        )
        with serve(create_app(settings)) as base:
            assert post(base, listed_token(WITHDRAWN)) == ("invalid", ["issuer_not_trusted"])
        registry.routes["/trust-list"] = Route(body=OLD)
        with serve(create_app(settings)) as base:  # a restart: nothing in memory
            assert post(base, listed_token(WITHDRAWN)) == ("invalid", ["trust_list_rollback"])


def test_the_memory_is_the_registrys_not_the_urls(tmp_path: Path) -> None:
    """Seen as #2 at one URL: #1 at another URL, or as a saved file, is still a rollback."""
    saved = tmp_path / "list.jwt"
    saved.write_bytes(OLD)
    with running_server() as registry, loopback_client() as (http, _):
        registry.routes["/trust-list"] = Route(body=NEW)
        registry.routes["/mirror/trust-list"] = Route(body=OLD)
        assert _client(f"{registry.base}/trust-list", http).current().sequence == 2
        for source in (f"{registry.base}/mirror/trust-list", str(saved)):
            with pytest.raises(InvalidError) as error:
                _client(source, http).current()
            assert error.value.code is Code.TRUST_LIST_ROLLBACK


def test_the_state_file_lives_in_the_state_dir_named_after_the_registry(
    ancre_state_dir: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "list.jwt"
    saved.write_bytes(NEW)
    assert _client(str(saved)).current().sequence == 2
    (state,) = ancre_state_dir.glob("trust-list-*.sequence")
    assert state.read_text() == "2\n"
    # An explicit state_dir wins; the sequence is never lowered by a late writer.
    other = tmp_path / "elsewhere"
    TrustListClient(
        str(saved),
        registry=REGISTRY.did,
        resolver=default_resolver(),
        clock=FixedClock(NOW),
        state_dir=str(other),
    ).current()
    assert [p.read_text() for p in other.glob("*.sequence")] == ["2\n"]


def test_the_cli_remembers_across_runs_without_any_option(tmp_path: Path) -> None:
    saved, token = tmp_path / "list.jwt", tmp_path / "vc.jwt"
    token.write_text(listed_token(WITHDRAWN))

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "ancre.cli.main", "verify", str(token), "--json"]
        argv += ["--trust-list", str(saved), "--registry-key", REGISTRY.did, *extra]
        argv += ["--at", "2026-01-15T12:00:00Z"]
        # The subprocess inherits this test's ANCRE_STATE_DIR (conftest), never the home.
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    saved.write_bytes(NEW)
    first = verify()
    assert first.returncode == 1, first.stdout + first.stderr
    assert json.loads(first.stdout)["errors"][0]["code"] == "issuer_not_trusted"
    saved.write_bytes(OLD)
    rolled = verify()
    assert rolled.returncode == 1, rolled.stdout + rolled.stderr
    assert json.loads(rolled.stdout)["errors"][0]["code"] == "trust_list_rollback"
    # --state-dir names another memory: there, #1 is new (and a fresh state dir is the only
    # way to forget — which is the operator's explicit choice).
    fresh = verify("--state-dir", str(tmp_path / "fresh"))
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANCRE_STATE_DIR", str(tmp_path / "explicit"))
    assert default_state_dir() == str(tmp_path / "explicit")
    monkeypatch.delenv("ANCRE_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == str(tmp_path / "xdg" / "ancre")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/path")  # invalid per the XDG spec
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == str(tmp_path / "home" / ".local" / "state" / "ancre")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_dir() == os.path.join(str(tmp_path / "home"), ".local/state/ancre")
