"""The deployment (issue 19, acceptance 3): deploy/compose.yaml validates against the Compose
Specification's schema, the Kubernetes manifests against Kubernetes' own schemas, and each
container's command, with the environment compose gives it, starts against a throw-away
PostgreSQL, migrates it (replicas racing included) and answers its probes.

No Docker here: the container command is the image's entrypoint (`ancre`, the console script
of this virtual environment) with compose's `command` and `environment`. Only what names the
machine is replaced (addresses, ports, folders, the database URL, the public names of the
registry), and each replaced variable must be one compose sets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ANCRE = Path(sys.executable).parent / "ancre"  # the image's ENTRYPOINT ["ancre"]
PASSPHRASE = "correct horse battery staple, deployment"


# -- the files ---------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    return document


def _compose_validator() -> Any:
    schema = json.loads((DEPLOY / "schema" / "compose-spec.json").read_text("utf-8"))
    return jsonschema_rs.validator_for(schema)


def test_compose_file_validates_against_the_compose_specification() -> None:
    errors = [
        f"{e.instance_path}: {e.message}" for e in _compose_validator().iter_errors(_compose())
    ]
    assert errors == []
    assert set(_compose()["services"]) == {"postgres", "registry", "issuer", "verifier", "caddy"}


def test_the_compose_schema_check_catches_a_mistake() -> None:
    broken = _compose()
    broken["services"]["verifier"]["restrat"] = "always"  # a misspelled key
    assert list(_compose_validator().iter_errors(broken))
    broken = _compose()
    broken["volumes"] = ["postgres", "registry"]  # a list where a mapping is due
    assert list(_compose_validator().iter_errors(broken))


def test_compose_commits_no_secret_and_sets_only_documented_variables() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    compose = _compose()
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            if variable.startswith("ANCRE_") and name != "caddy":
                assert f"`{variable}`" in documented, variable
            assert not re.search(r"(?i)password|secret|token", f"{variable}={value}") or (
                str(value).startswith("/run/secrets/")
            ), variable
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    lines = (DEPLOY / "secrets" / ".gitignore").read_text("utf-8").splitlines()
    assert next(line for line in lines if not line.startswith("#")) == "*"
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/secrets"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(tracked) == ["deploy/secrets/.gitignore", "deploy/secrets/make-secrets"]


def test_compose_health_checks_probe_readiness_without_a_start_up_cycle() -> None:
    """Each service's health check is its own GET /ready (its database reached; the verifier
    also holds a verified trust list), on its own port. Caddy waits for the registry and the
    issuer to be ready but only for the verifier to have started: the verifier's trust list
    comes from https://registry.DOMAIN through Caddy, so waiting for it would never end
    (Caddy's own health_uri keeps traffic off it until it is ready)."""
    services = _compose()["services"]
    for name in ("registry", "issuer", "verifier"):
        port = services[name]["environment"][f"ANCRE_{name.upper()}_PORT"]
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        assert re.findall(r"'(http://[^']+)'", test[3]) == [f"http://127.0.0.1:{port}/ready"]
    assert services["caddy"]["depends_on"] == {
        "registry": {"condition": "service_healthy"},
        "issuer": {"condition": "service_healthy"},
        "verifier": {"condition": "service_started"},
    }
    assert "health_uri /ready" in (DEPLOY / "Caddyfile").read_text("utf-8")
    verifier_url = services["verifier"]["environment"]["ANCRE_VERIFIER_TRUST_LIST"]
    assert verifier_url.startswith("https://registry.")  # through Caddy: hence the above


def test_the_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text("utf-8")
    stages = re.split(r"(?m)^FROM ", text)[1:]
    assert len(stages) == 2
    builder, final = stages
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert builder.startswith("${PYTHON_IMAGE} AS build")
    assert final.startswith("${PYTHON_IMAGE}\n")
    assert "COPY --from=build /opt/ancre /opt/ancre" in final
    # No compiler, no package manager installing one, no pip left at run time.
    for tool in ("apt-get", "gcc", "build-essential", "COPY . "):
        assert tool not in final, tool
    assert "pip uninstall --yes pip setuptools wheel" in final
    assert re.search(r"(?m)^USER 10001:10001$", final)
    assert 'ENTRYPOINT ["ancre"]' in final
    assert "requirements/dev.lock" in builder  # the locked versions, not whatever is newest


def test_the_image_installs_exactly_the_locked_hashed_packages(tmp_path: Path) -> None:
    """The build stage installs with --require-hashes the lock's own entries for what
    ancre[postgres] needs (deploy/locked-subset.py); a package the lock lacks, or locks at
    another version, stops the build."""
    builder = re.split(r"(?m)^FROM ", (DEPLOY / "Dockerfile").read_text("utf-8"))[1]
    assert "pip install --require-hashes --no-deps --requirement /wheels/requirements.txt" in (
        builder
    )
    assert "deploy/locked-subset.py /wheels/report.json requirements/dev.lock" in builder
    assert "pip check" in builder
    lock = ROOT / "requirements" / "dev.lock"

    def subset(*packages: tuple[str, str]) -> subprocess.CompletedProcess[str]:
        report = tmp_path / "report.json"
        items = [{"metadata": {"name": name, "version": version}} for name, version in packages]
        report.write_text(json.dumps({"install": items}), "utf-8")
        return subprocess.run(
            [sys.executable, str(DEPLOY / "locked-subset.py"), str(report), str(lock), "ancre"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    pinned = re.search(r"(?m)^sqlalchemy==(\S+) \\$", lock.read_text("utf-8"))
    assert pinned
    done = subset(("ancre", "0.1.0"), ("SQLAlchemy", pinned.group(1)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"sqlalchemy=={pinned.group(1)} \\"
    assert all(line.strip().startswith("--hash=sha256:") for line in lines[1:])
    assert len(lines) >= 2
    assert not lines[-1].endswith("\\")
    assert subset(("sqlalchemy", "0.0.1")).returncode == 1
    missing = subset(("left-pad", "1.0"))
    assert missing.returncode == 1
    assert "left-pad 1.0: not in" in missing.stderr


def test_the_build_context_leaves_out_what_the_wheel_is_not_built_from() -> None:
    # At the context's root: the classic builder reads no deploy/Dockerfile.dockerignore.
    ignored = set((ROOT / ".dockerignore").read_text("utf-8").splitlines())
    assert {"**/.git", ".venv", "**/node_modules", "tests", "deploy/secrets"} <= ignored
    assert not (DEPLOY / "Dockerfile.dockerignore").exists()


# -- Kubernetes -----------------------------------------------------------------------------


def _manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "verifier.yaml").read_text()) if d]


def _kubernetes_errors(document: Mapping[str, Any]) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(dict(document), "1.30.0", strict=True)
    except kubernetes_validate.ValidationError as error:
        return [str(error.message)]
    return []


def test_kubernetes_manifests_validate_against_the_kubernetes_schemas() -> None:
    documents = _manifests()
    kinds = [d["kind"] for d in documents]
    assert kinds == [
        "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "Ingress",
    ]  # fmt: skip
    for document in documents:
        assert _kubernetes_errors(document) == [], document["kind"]
    deployment = documents[1]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    assert container["args"] == _compose()["services"]["verifier"]["command"]
    # Every variable the pods get is a documented one.
    documented = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    for variable in documents[0]["data"]:
        assert f"`{variable}`" in documented, variable


def test_the_kubernetes_check_catches_a_mistake() -> None:
    deployment = _manifests()[1]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    assert _kubernetes_errors(deployment)
    deployment = _manifests()[1]
    deployment["spec"]["replicas"] = "three"
    assert _kubernetes_errors(deployment)


# -- environment configuration ----------------------------------------------------------------


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ANCRE_", "PG"))}


def test_a_malformed_variable_stops_the_service_naming_it(tmp_path: Path) -> None:
    for service, variable, value in [
        ("registry", "ANCRE_REGISTRY_PORT", "eighty"),
        ("issuer", "ANCRE_ISSUER_WORKERS", "0"),
        ("verifier", "ANCRE_VERIFIER_PORT", "70000"),
    ]:
        done = subprocess.run(
            [str(ANCRE), service, "serve"],
            env={**_clean_environment(), variable: value},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 64, done.stderr
        assert f"${variable}:" in done.stderr
        assert "Traceback" not in done.stderr


def test_workers_without_a_shared_transaction_store_are_refused(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    _ancre(
        "keys", "generate", "--type", "p256", "--out", str(key), environment=_clean_environment()
    )
    environment = {
        **_clean_environment(),
        "ANCRE_VERIFIER_API_TOKEN": "a-token-of-thirty-two-chars!",
    }
    done = subprocess.run(
        [str(ANCRE), "verifier", "serve", "--no-trust-check", "--openid4vp-key", str(key),
         "--public-url", "https://verifier.example", "--workers", "2"],
        env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 64, done.stderr
    assert "--openid4vp-database" in done.stderr


def test_a_command_line_option_wins_over_the_environment() -> None:
    from ancre.cli.settings import RegistryServeSettings, environment_overrides

    values = {"host": "127.0.0.1", "port": 8600, "workers": 1, "database": None, "folder": "x"}
    environment = {"ANCRE_REGISTRY_PORT": "9000", "ANCRE_REGISTRY_WORKERS": "3"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        merged = environment_overrides(RegistryServeSettings, values, {"port"})
    assert merged == {**values, "workers": 3}  # --port given: 8600 stays


# -- the containers' commands against PostgreSQL -------------------------------------------


def _interpolate(value: str, variables: Mapping[str, str]) -> str:
    """compose's `${NAME}`, `${NAME:-default}`, `${NAME:?message}`."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if variables.get(name):
            return variables[name]
        if operator == ":-":
            return argument or ""
        raise AssertionError(f"{name} unset: {argument}")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


def _example_variables() -> dict[str, str]:
    lines = (DEPLOY / "ancre.env.example").read_text("utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {pair[0]: pair[1] for pair in pairs}


def _container(service: str, replace: Mapping[str, str], secrets: Mapping[str, str]) -> Any:
    """The argv and environment compose runs `service` with, the machine-bound variables
    `replace`d (each must be one compose sets) and the env files' `secrets` added."""
    spec = _compose()["services"][service]
    variables = _example_variables()
    environment = {k: _interpolate(str(v), variables) for k, v in spec["environment"].items()}
    assert set(replace) <= set(environment), set(replace) - set(environment)
    return [str(ANCRE), *spec["command"]], {
        **_clean_environment(),
        **environment,
        **replace,
        **secrets,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _running(argv: list[str], environment: dict[str, str], port: int, log: Path) -> Iterator[Any]:
    """Start a container command; yield the process once GET /health answers 200."""
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=environment, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(trust_env=False, timeout=2) as http:
            while True:
                assert process.poll() is None, log.read_text(errors="replace")
                try:
                    if http.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _ancre(*args: str, environment: Mapping[str, str]) -> str:
    done = subprocess.run(
        [str(ANCRE), *args], env=dict(environment), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _admin_session(http: httpx.Client, base: str, token: str) -> str:
    """Log in to the registry's administrators' pages; the session cookie's value."""
    from ancre.registry.pages import SESSION_COOKIE

    page = http.get(f"{base}/pages/admin/login")
    first = page.cookies.get(SESSION_COOKIE) or ""
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    done = http.post(
        f"{base}/pages/admin/login",
        data={"csrf": csrf.group(1), "token": token},
        headers={"cookie": f"{SESSION_COOKIE}={first}"},
    )
    assert done.status_code == 303, done.text
    cookie: str = done.cookies[SESSION_COOKIE]
    return cookie


def _approver_token(url: str, name: str) -> str:
    from ancre.registry.service import Registry, Role
    from ancre.storage.sql import make_engine
    from ancre.trust.clock import SystemClock

    engine = make_engine(url)
    try:
        return Registry(engine, clock=SystemClock()).create_token(
            "test", name, Role.APPROVER, person=name
        )
    finally:
        engine.dispose()


def _admin_page(http: httpx.Client, base: str, cookie: str) -> int:
    from ancre.registry.pages import SESSION_COOKIE

    answer = http.get(
        f"{base}/pages/admin/changes", headers={"cookie": f"{SESSION_COOKIE}={cookie}"}
    )
    return answer.status_code


def _tables(url: str) -> set[str]:
    from sqlalchemy import inspect

    from ancre.storage.sql import make_engine

    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _needs_postgres() -> None:
    if os.environ.get("ANCRE_SKIP_POSTGRES") == "1":  # said, never silent (conftest.py)
        pytest.skip("ANCRE_SKIP_POSTGRES=1: the containers run on PostgreSQL")


@pytest.mark.slow
def test_each_container_command_serves_on_a_throw_away_postgresql(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from _postgres import fresh_database

    _needs_postgres()
    postgres_server: str = request.getfixturevalue("postgres_server")

    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    secrets = {"ANCRE_KEYSTORE_PASSPHRASE_FILE": str(passphrase)}
    registry_secrets = {**secrets, "ANCRE_REGISTRY_PAGE_SECRET": "s" * 43}  # secrets/registry.env
    # The registry's and issuer's trust-list source is the public registry in compose; here
    # a local file, so nothing leaves loopback (only fetched when used, never at start).
    trust_list = str(tmp_path / "trust-list.json")

    # registry: `docker compose run --rm registry registry init …` (docs/deployment.md),
    # then the container's command (migrating again: a no-op).
    registry_db = fresh_database(postgres_server)
    port = _free_port()
    argv, environment = _container(
        "registry",
        {
            "ANCRE_REGISTRY_DIR": str(tmp_path / "registry"),
            "ANCRE_REGISTRY_HOST": "127.0.0.1",
            "ANCRE_REGISTRY_PORT": str(port),
            "ANCRE_REGISTRY_DATABASE_URL": registry_db,
            "ANCRE_KEYSTORE_PASSPHRASE_FILE": str(passphrase),
        },
        registry_secrets,
    )
    created = _ancre("registry", "init", "--did", "did:web:registry.dataspace.example", "--admin",
                     "alice", "--admin", "bob", "--json", environment=environment)  # fmt: skip
    alice = json.loads(created)["admin_tokens"]["alice"]
    assert "trusted_issuers" in _tables(registry_db)  # init takes $ANCRE_REGISTRY_DATABASE_URL
    with _running(argv, environment, port, tmp_path / "registry.log") as process:
        assert len(_children(process.pid)) == 2  # ANCRE_REGISTRY_WORKERS: 2
        with httpx.Client(trust_env=False, timeout=10) as http:
            for _ in range(6):  # any worker answers
                listed = http.get(f"http://127.0.0.1:{port}/trust-list")
                assert listed.status_code in (200, 404), listed.text
            did = http.get(f"http://127.0.0.1:{port}/.well-known/did.json")
            assert did.json()["id"] == "did:web:registry.dataspace.example"
            # An administrator's page session holds whichever worker answers.
            cookie = _admin_session(http, f"http://127.0.0.1:{port}", alice)
            pages = [_admin_page(http, f"http://127.0.0.1:{port}", cookie) for _ in range(8)]
            assert pages == [200] * 8

    # issuer: init (its database URL kept in issuer.json), then the container's command.
    issuer_db = fresh_database(postgres_server)
    port = _free_port()
    argv, environment = _container(
        "issuer",
        {
            "ANCRE_ISSUER_DIR": str(tmp_path / "issuer"),
            "ANCRE_ISSUER_HOST": "127.0.0.1",
            "ANCRE_ISSUER_PORT": str(port),
            "ANCRE_ISSUER_TRUST_LIST": trust_list,
            "ANCRE_KEYSTORE_PASSPHRASE_FILE": str(passphrase),
        },
        secrets,
    )
    _ancre("issuer", "init", "--did", "did:web:issuer.dataspace.example", "--database",
           issuer_db, environment=environment)  # fmt: skip
    with _running(argv, environment, port, tmp_path / "issuer.log") as process:
        assert len(_children(process.pid)) == 2
        with httpx.Client(trust_env=False, timeout=10) as http:
            metadata = http.get(f"http://127.0.0.1:{port}/.well-known/openid-credential-issuer")
            assert metadata.status_code == 200, metadata.text
            assert metadata.json()["credential_issuer"] == "https://issuer.dataspace.example"

    # verifier: OpenID4VP transactions in PostgreSQL (migrated at start), its key a secret.
    verifier_db = fresh_database(postgres_server)
    key = tmp_path / "openid4vp-key.json"
    _ancre(
        "keys", "generate", "--type", "p256", "--out", str(key), environment=_clean_environment()
    )
    port = _free_port()
    argv, environment = _container(
        "verifier",
        {
            "ANCRE_VERIFIER_HOST": "127.0.0.1",
            "ANCRE_VERIFIER_PORT": str(port),
            "ANCRE_VERIFIER_TRUST_LIST": trust_list,
            "ANCRE_VERIFIER_CACHE_DIR": str(tmp_path / "verifier"),
            "ANCRE_STATE_DIR": str(tmp_path / "verifier"),
            "ANCRE_VERIFIER_OPENID4VP_KEY": str(key),
            "ANCRE_VERIFIER_OPENID4VP_DATABASE_URL": verifier_db,
        },
        {  # secrets/verifier.env
            "ANCRE_VERIFIER_API_TOKEN": "a-token-of-thirty-two-characters",
            "ANCRE_OPENID4VP_STORE_SECRET": "a store secret of at least 32 bytes!",
        },
    )
    with _running(argv, environment, port, tmp_path / "verifier.log") as process:
        assert len(_children(process.pid)) == 2
        with httpx.Client(trust_env=False, timeout=10) as http:
            ready = http.get(f"http://127.0.0.1:{port}/ready")
            # No trust list yet (the file does not exist): not ready, and it says why.
            assert ready.status_code == 503, ready.text
    assert "ancre_openid4vp_transactions" in _tables(verifier_db) or any(
        "openid4vp" in table for table in _tables(verifier_db)
    )


@pytest.mark.slow
def test_replicas_starting_together_migrate_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two registry replicas on one empty database start at the same instant: one migrates
    under the advisory lock, the other waits and finds the schema current; both serve.
    (Process start-up jitter makes this race rare; the test below makes it certain.)"""
    from _postgres import fresh_database

    _needs_postgres()
    postgres_server: str = request.getfixturevalue("postgres_server")

    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    first_db = fresh_database(postgres_server)
    base = {
        **_clean_environment(),
        "ANCRE_KEYSTORE_PASSPHRASE_FILE": str(passphrase),
        "ANCRE_REGISTRY_PAGE_SECRET": "the same secret on every replica, 32+ bytes",
    }
    folder = str(tmp_path / "registry")
    did = "did:web:registry.dataspace.example"
    _ancre("registry", "init", "--dir", folder, "--did", did, "--database", first_db,
           environment=base)  # fmt: skip
    shared = fresh_database(postgres_server)  # empty: the replicas race to create it
    ports = [_free_port(), _free_port()]
    processes = []
    for index, port in enumerate(ports):
        environment = {
            **base,
            "ANCRE_REGISTRY_DIR": str(tmp_path / "registry"),
            "ANCRE_REGISTRY_PORT": str(port),
            "ANCRE_REGISTRY_DATABASE_URL": shared,
        }
        log = (tmp_path / f"replica-{index}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [str(ANCRE), "registry", "serve"], env=environment, stdout=log, stderr=log
            )
        )
        log.close()
    try:
        with httpx.Client(trust_env=False, timeout=2) as http:
            for index, port in enumerate(ports):
                deadline = time.monotonic() + 60
                while True:
                    log_text = (tmp_path / f"replica-{index}.log").read_text(errors="replace")
                    assert processes[index].poll() is None, log_text
                    try:
                        if http.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, log_text
                    time.sleep(0.1)
            # A page session opened on one replica holds on the other.
            alice = _approver_token(shared, "alice")
            cookie = _admin_session(http, f"http://127.0.0.1:{ports[0]}", alice)
            assert _admin_page(http, f"http://127.0.0.1:{ports[1]}", cookie) == 200
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)
    from sqlalchemy import text

    from ancre.storage.sql import make_engine

    engine = make_engine(shared)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1
    assert "trusted_issuers" in _tables(shared)


_MIGRATE_AT = """
import sys, time
from ancre.storage.sql import make_engine
from ancre.{service}.db import migrate
engine = make_engine(sys.argv[1])
with engine.connect():  # connected before the start line: only the migration races
    pass
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
migrate(engine)
engine.dispose()
"""


@pytest.mark.slow
@pytest.mark.parametrize("service", ["registry", "issuer"])
def test_migrations_started_at_the_same_instant_wait_for_each_other(
    service: str, request: pytest.FixtureRequest
) -> None:
    """Four processes run `upgrade head` on one empty database at the same instant (the
    start of every replica): the advisory lock lets one create the schema; without it the
    others fail creating tables that already exist."""
    from _postgres import fresh_database

    _needs_postgres()
    url = fresh_database(request.getfixturevalue("postgres_server"))
    start = f"{time.time() + 3:.3f}"
    script = _MIGRATE_AT.format(service=service)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [(p.wait(60), p.communicate()[1]) for p in processes]
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], [err[-600:] for _, err in outcomes]
    assert {"registry": "trust_anchors", "issuer": "issued_credentials"}[service] in _tables(url)


# -- Caddy (deploy/Caddyfile) ----------------------------------------------------------------

CADDYFILE = DEPLOY / "Caddyfile"
DOMAIN = "dataspace.example"


def _caddy() -> str:
    """The caddy binary: CI installs it (.ci/run, Debian's `caddy`); missing is a failure."""
    import shutil

    found = shutil.which("caddy")
    assert found, "caddy is not installed (apt-get install caddy; .ci/run does)"
    return found


def _caddy_environment(home: Path) -> dict[str, str]:
    """The variables the Caddyfile reads, at loopback values; Caddy's storage (certificates,
    its local CA) in `home`, never the user's."""
    return {
        **_clean_environment(),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "ANCRE_DOMAIN": DOMAIN,
        "ANCRE_ACME_EMAIL": f"ops@{DOMAIN}",
    }


def _caddy_validate(config: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_caddy(), "validate", "--config", str(config), "--adapter", "caddyfile"],
        env=_caddy_environment(home), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_caddyfile_validates(tmp_path: Path) -> None:
    done = _caddy_validate(CADDYFILE, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


def test_the_caddy_check_catches_a_mistake(tmp_path: Path) -> None:
    text = CADDYFILE.read_text("utf-8")
    for broken in [
        text.replace("reverse_proxy registry:8600", "reverse_prxy registry:8600"),
        text.replace("max_size 2MB", "max_size two-megabytes"),
        text.replace("health_interval 10s", "health_interval often"),
    ]:
        assert broken != text
        config = tmp_path / "Caddyfile"
        config.write_text(broken, "utf-8")
        assert _caddy_validate(config, tmp_path).returncode != 0, broken


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _loopback_caddyfile(
    upstreams: Mapping[str, int], http_port: int, https_port: int, home: Path
) -> str:
    """deploy/Caddyfile with only what names the machine replaced: the global options (the
    local CA instead of Let's Encrypt — its root never installed in the system's trust
    store —, loopback ports, no admin endpoint) and the services' addresses. Every site
    block, header, limit and proxy setting is the production file's, verbatim."""
    text = CADDYFILE.read_text("utf-8")
    text = _replace_once(
        text,
        "{\n\temail {$ANCRE_ACME_EMAIL}\n}",
        "{\n\temail {$ANCRE_ACME_EMAIL}\n\tlocal_certs\n\tskip_install_trust\n\tadmin off\n"
        f"\thttp_port {http_port}\n\thttps_port {https_port}\n"
        f"\tstorage file_system {home / 'storage'}\n}}",
    )
    for service, port in [("registry", 8600), ("issuer", 8700), ("verifier", 8800)]:
        text = _replace_once(
            text, f"reverse_proxy {service}:{port}", f"reverse_proxy 127.0.0.1:{upstreams[service]}"
        )
    return text


def _sink() -> Any:
    """A loopback HTTP server that reads a POST's whole body and answers its length."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            received = len(self.rfile.read(length))
            lengths.append(received)
            body = str(received).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    lengths: list[int] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.lengths = lengths  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.slow
def test_caddy_in_front_of_a_verifier_serves_what_the_caddyfile_promises(tmp_path: Path) -> None:
    """Caddy on loopback (TLS from its local CA) in front of a real `ancre verifier serve`:
    a request goes through over HTTPS with HSTS, /metrics is not reachable from outside,
    plain HTTP redirects to HTTPS. The body limit is shown on the registry's site, there
    in front of a loopback sink that reads any body (the verifier's own 1 MB limit would
    refuse first)."""
    import ssl

    from _support import spawn_server

    key = tmp_path / "openid4vp-key.json"
    _ancre(
        "keys", "generate", "--type", "p256", "--out", str(key), environment=_clean_environment()
    )
    verifier_log = (tmp_path / "verifier.log").open("wb")

    def verifier_argv(port: int) -> list[str]:
        return [str(ANCRE), "verifier", "serve", "--no-trust-check", "--port", str(port),
                "--openid4vp-key", str(key),
                "--public-url", f"https://verifier.{DOMAIN}"]  # fmt: skip

    def answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=1, trust_env=False).status_code == 200
        except httpx.TransportError:
            return False

    verifier, upstream = spawn_server(
        verifier_argv,
        lambda port: answers(f"http://127.0.0.1:{port}/health"),
        stdout=verifier_log,
        stderr=verifier_log,
        env={**_clean_environment(), "ANCRE_VERIFIER_API_TOKEN": "t" * 32},
    )
    verifier_log.close()
    sink = _sink()
    caddy: subprocess.Popen[bytes] | None = None
    try:
        assert answers(f"http://127.0.0.1:{upstream}/ready")  # Caddy's health_uri
        http_port, https_port = _free_port(), _free_port()
        config = tmp_path / "Caddyfile"
        upstreams = {"registry": sink.server_address[1], "issuer": upstream, "verifier": upstream}
        config.write_text(_loopback_caddyfile(upstreams, http_port, https_port, tmp_path), "utf-8")
        caddy_log = tmp_path / "caddy.log"
        with caddy_log.open("wb") as output:
            caddy = subprocess.Popen(
                [_caddy(), "run", "--config", str(config), "--adapter", "caddyfile"],
                env=_caddy_environment(tmp_path), stdout=output, stderr=output,
            )  # fmt: skip
        root = tmp_path / "storage" / "pki" / "authorities" / "local" / "root.crt"
        host = f"verifier.{DOMAIN}"
        deadline = time.monotonic() + 60
        answer: httpx.Response | None = None
        while answer is None:
            assert caddy.poll() is None, caddy_log.read_text(errors="replace")
            assert time.monotonic() < deadline, caddy_log.read_text(errors="replace")
            if root.exists():
                context = ssl.create_default_context(cafile=str(root))
                try:
                    with httpx.Client(verify=context, trust_env=False, timeout=5) as https:
                        answer = https.get(
                            f"https://127.0.0.1:{https_port}/health",
                            headers={"host": host},
                            extensions={"sni_hostname": host},
                        )
                except (httpx.TransportError, ssl.SSLError):
                    answer = None
            if answer is None:
                time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        assert answer.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
        context = ssl.create_default_context(cafile=str(root))
        with httpx.Client(verify=context, trust_env=False, timeout=5) as https:

            def get(path: str, **options: Any) -> httpx.Response:
                return https.request(
                    options.pop("method", "GET"), f"https://127.0.0.1:{https_port}{path}",
                    headers={"host": host}, extensions={"sni_hostname": host}, **options,
                )  # fmt: skip

            # The verifier's own answer came through (its JSON), and its metrics stay inside.
            assert answer.json()
            assert get("/metrics").status_code == 404
            assert answers(f"http://127.0.0.1:{upstream}/metrics")  # served, but not outside
            # The 2 MB limit: refused by Caddy (the sink would take it), below it forwarded.
            registry = f"registry.{DOMAIN}"
            under = https.post(
                f"https://127.0.0.1:{https_port}/register", content=b"x" * (2 * 10**6 - 10),
                headers={"host": registry}, extensions={"sni_hostname": registry},
            )  # fmt: skip
            assert under.status_code == 200, under.status_code
            assert under.text == str(2 * 10**6 - 10)
            over = https.post(
                f"https://127.0.0.1:{https_port}/register", content=b"x" * (3 * 2**20),
                headers={"host": registry}, extensions={"sni_hostname": registry},
            )  # fmt: skip
            # Caddy 2.6 (Debian's) answers 413, or 502 when the limit's error reaches its
            # proxy mid-copy; either way the sink never got the body, and Caddy's log names
            # the limit.
            assert over.status_code in (413, 502), over.status_code
            assert 3 * 2**20 not in sink.lengths
            assert 2 * 10**6 - 10 in sink.lengths
            limit_logged = time.monotonic() + 10  # logged after the answer
            while "HTTP 413: http: request body too large" not in caddy_log.read_text(
                errors="replace"
            ):
                assert time.monotonic() < limit_logged, caddy_log.read_text(errors="replace")
                time.sleep(0.1)
            # The certificate names the service (SNI), from the CA Caddy was given.
            with pytest.raises((httpx.TransportError, ssl.SSLError)):
                https.get(
                    f"https://127.0.0.1:{https_port}/health",
                    headers={"host": host},
                    extensions={"sni_hostname": f"elsewhere.{DOMAIN}"},
                )
        with httpx.Client(trust_env=False, timeout=5) as plain:
            redirect = plain.get(f"http://127.0.0.1:{http_port}/health", headers={"host": host})
        assert redirect.status_code in (301, 308), redirect.status_code
        assert redirect.headers["location"].startswith(f"https://{host}")
    finally:
        if caddy is not None:
            caddy.terminate()
            try:
                caddy.wait(20)
            except subprocess.TimeoutExpired:
                caddy.kill()
                caddy.wait(10)
        verifier.terminate()
        verifier.wait(20)
        sink.shutdown()
        sink.server_close()
