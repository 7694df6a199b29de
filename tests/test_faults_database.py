"""Issue 17 and 19: PostgreSQL stopped under running services, then started again.

Each service runs as a real process (`ancre registry serve`, `ancre issuer serve`,
`ancre verifier serve` with an OpenID4VP store) on a throw-away cluster. While PostgreSQL
is down, `/ready` and a call that needs the database answer 503 problem+json
`service_unavailable` with `Retry-After` (not 500, no traceback); `/health` stays 200
(liveness touches nothing). Once PostgreSQL is back, the same calls work without restarting
the service. On SQLite, `/ready` is 200."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import CLI_ENV, ancre_cli
from _support import spawn_server

POSTGRES = os.environ.get("ANCRE_SKIP_POSTGRES") != "1"
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason="ANCRE_SKIP_POSTGRES=1: these tests stop a PostgreSQL server"
)
_STORE_SECRET = "s" * 43


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def _served(argv: Callable[[int], list[str]], log: Path, **env: str) -> Iterator[str]:
    with log.open("wb") as err:
        server, port = spawn_server(
            argv,
            lambda port: _answers(f"http://127.0.0.1:{port}/health"),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **CLI_ENV, **env},
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ancre.cli.main", *args]


@contextmanager
def _registry(folder: Path, database: str) -> Iterator[str]:
    init = ancre_cli("registry", "init", "--did", "did:web:registry.example", "--dir",
                     str(folder), "--database", database, "--no-two-person-rule")  # fmt: skip
    assert init.returncode == 0, init.stderr
    with _served(
        lambda port: _cli("registry", "serve", "--dir", str(folder), "--port", str(port)),
        folder.parent / "registry.log",
    ) as url:
        yield url


@contextmanager
def _issuer(folder: Path, database: str) -> Iterator[str]:
    # Served on plain HTTP (behind a TLS proxy, as in a container); the public URL is https.
    init = ancre_cli("issuer", "init", "--dir", str(folder), "--did",
                     "did:web:issuer.example", "--public-url", "https://issuer.example",
                     "--database", database)  # fmt: skip
    assert init.returncode == 0, init.stderr
    with _served(
        lambda port: _cli(
            "issuer", "serve", "--dir", str(folder), "--port", str(port), "--no-accreditation-check"
        ),
        folder.parent / "issuer.log",
    ) as url:
        yield url


@contextmanager
def _verifier(folder: Path, database: str) -> Iterator[str]:
    folder.mkdir()
    key = folder / "verifier.jwk"
    made = ancre_cli("keys", "generate", "--type", "p256", "--out", str(key))
    assert made.returncode == 0, made.stderr
    with _served(
        lambda port: _cli(
            "verifier",
            "serve",
            "--no-trust-check",
            "--port",
            str(port),
            "--openid4vp-key",
            str(key),
            "--public-url",
            f"http://127.0.0.1:{port}",
            "--openid4vp-database",
            database,
            "--openid4vp-open-backend",
        ),
        folder.parent / "verifier.log",
        ANCRE_OPENID4VP_STORE_SECRET=_STORE_SECRET,
    ) as url:
        yield url


def _registry_call(http: httpx.Client) -> httpx.Response:
    return http.get("/trust-list.json")


def _issuer_call(http: httpx.Client) -> httpx.Response:
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        "pre-authorized_code": "not-a-code-this-issuer-made",
    }
    return http.post("/token", data=form)


def _verifier_call(http: httpx.Client) -> httpx.Response:
    query = {"credentials": [{"id": "m", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}}]}
    return http.post("/openid4vp/requests", json={"dcql_query": query})


#: Each service: how to start it, a call that needs its database, and what that call
#: answers when the database is up.
SERVICES: dict[str, tuple[Any, Callable[[httpx.Client], httpx.Response], int]] = {
    "registry": (_registry, _registry_call, 404),  # not_found: nothing published yet
    "issuer": (_issuer, _issuer_call, 400),  # invalid_grant: the code was looked up
    "verifier": (_verifier, _verifier_call, 201),
}


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert body["status"] == 503
    assert body["type"] == "urn:ancre:error:service_unavailable"
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text
    assert "sqlalchemy" not in response.text.lower()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from _postgres import StoppableCluster

    stoppable = StoppableCluster()
    try:
        yield stoppable
    finally:
        stoppable.close()


@needs_postgres
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_postgres_restart_gives_503_then_recovers_without_restart(
    service: str, cluster: Any, tmp_path: Path
) -> None:
    from _postgres import fresh_database

    start, call, ok_status = SERVICES[service]
    database = fresh_database(cluster.server)
    with (
        start(tmp_path / service, database) as url,
        httpx.Client(base_url=url, trust_env=False, timeout=20) as http,
    ):
        ready = http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert call(http).status_code == ok_status  # pooled connections now exist

        cluster.stop()
        try:
            _assert_unavailable(http.get("/ready"))
            _assert_unavailable(call(http))
            _assert_unavailable(call(http))  # and again: no half-broken pool
            assert http.get("/health").status_code == 200  # liveness touches nothing
        finally:
            cluster.start()

        # Recovery without restarting the service: pooled connections are pinged first.
        deadline = time.monotonic() + 15
        while (answer := http.get("/ready")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        assert call(http).status_code == ok_status
    log = (tmp_path / f"{service}.log").read_text(errors="replace")
    assert "database unavailable" in log  # a log line for the operator, no traceback
    assert "Traceback" not in log


@needs_postgres
def test_a_browser_gets_a_503_page_from_the_registry(cluster: Any, tmp_path: Path) -> None:
    from _postgres import fresh_database

    with (
        _registry(tmp_path / "registry", fresh_database(cluster.server)) as url,
        httpx.Client(base_url=url, trust_env=False, timeout=20) as http,
    ):
        assert http.get("/trust-list.json").status_code == 404
        cluster.stop()
        try:
            page = http.get("/trust-list.json", headers={"Accept": "text/html"})
        finally:
            cluster.start()
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"]
    assert "Service unavailable" in page.text
    assert "Traceback" not in page.text


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ready_on_sqlite(service: str, tmp_path: Path) -> None:
    start, call, ok_status = SERVICES[service]
    database = f"sqlite:///{tmp_path / (service + '.db')}"
    with (
        start(tmp_path / service, database) as url,
        httpx.Client(base_url=url, trust_env=False, timeout=20) as http,
    ):
        ready = http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert call(http).status_code == ok_status


def test_a_platform_is_ready_only_when_every_issuer_database_answers(tmp_path: Path) -> None:
    """The multi-issuer app (`create_platform_app`): `/ready` checks each issuer's database;
    one SQLite file that cannot be opened any more ("unable to open database file") makes
    it 503, and that issuer's routes answer 503 `service_unavailable`, not 500."""
    import shutil

    from _asgi_server import serve
    from _issuer_support import make_issuer

    from ancre.issuer.api import IssuerSettings
    from ancre.issuer.platform import create_platform_app

    issuers = {
        name: make_issuer(tmp_path / name / "issuer", 8443, path=f"/issuers/{name}")
        for name in ("a", "b")
    }
    app = create_platform_app([IssuerSettings(i) for i in issuers.values()])
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        "pre-authorized_code": "not-a-code-this-issuer-made",
    }
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=20) as http:
        assert http.get("/ready").status_code == 200
        assert http.post("/issuers/b/token", data=form).status_code == 400
        # b's database goes away (its volume unmounted): new connections cannot open it.
        issuers["b"].engine.dispose()
        shutil.rmtree(tmp_path / "b")
        _assert_unavailable(http.get("/ready"))
        _assert_unavailable(http.post("/issuers/b/token", data=form))
        assert http.post("/issuers/a/token", data=form).status_code == 400  # a still serves
        assert http.get("/health").status_code == 200
    for issuer in issuers.values():
        issuer.engine.dispose()
