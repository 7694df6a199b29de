"""Issue 12 point 20 (registry): the public `/issuers/{did}` showed the operators' names
(`"actor": "alice"`). Public endpoints now leave administrators out; the admin view keeps
them; the SQLite database is created 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
from _sec_registry import AGENCY, auth, registry_for, served, with_anchor_and_agency

from ancre.registry.db import create_private_sqlite, make_engine, migrate


def test_public_history_names_no_operator(database_url: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        with_anchor_and_agency(setup)
        public = http.get(f"/issuers/{AGENCY}")
        assert public.status_code == 200
        assert "alice" not in public.text
        assert "actor" not in public.text
        admin = http.get(f"/admin/issuers/{AGENCY}", headers=auth(setup.tokens["vi"]))
        assert admin.json()["status"][0]["actor"] == "alice"
        assert http.get(f"/admin/issuers/{AGENCY}").status_code == 401


def test_the_database_file_is_private(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    create_private_sqlite(f"sqlite:///{fresh}")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    # A database made by an older release under a 0644 umask is tightened by `migrate`.
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    old.chmod(0o644)
    engine = make_engine(f"sqlite:///{old}")
    migrate(engine)
    engine.dispose()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
