"""Issue 12 point 4: every admin GET wrote a row into the hash-chained audit log (1,000
reads → 1,000 rows). Reads now go to a separate access log, never into the chain."""

from __future__ import annotations

import httpx
from _sec_registry import auth, registry_for, served


def test_reads_do_not_grow_the_audit_chain(database_url: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        before = setup.registry.verify_audit().events
        for _ in range(200):
            assert http.get("/admin/anchors", headers=auth(setup.tokens["vi"])).status_code == 200
        assert setup.registry.verify_audit().events == before
        reads = setup.registry.access_log(limit=1000)
        assert len(reads) == 200
        assert {(r.actor, r.method, r.path) for r in reads} == {("vi", "GET", "/admin/anchors")}
        # Changes are still audited.
        http.post(
            "/admin/anchors", json={"id": "did:web:a.example", "name": "A"},
            headers=auth(setup.tokens["ed"]),
        )  # fmt: skip
        assert setup.registry.verify_audit().events == before + 1
