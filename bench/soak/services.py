"""The three services as real processes on loopback TLS, each restartable on its port and
database: `ancre registry serve`, `ancre issuer serve` and `ancre verifier serve` (with
`--ca-file`: the run's private CA, so that it resolves the issuer's did:web and fetches the
status and trust lists over loopback TLS for real)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ancre.cli.demo_net import DemoCa, make_ca

PASSPHRASE = "soak passphrase, loopback only"
ENV = {"ANCRE_KEYSTORE_PASSPHRASE": PASSPHRASE}
ROOT = Path(__file__).resolve().parents[2]
ANCHOR = "did:web:anchor.soak.example"
CREDENTIAL_TYPE = "gx:LegalPerson"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cli(*args: str, timeout: float = 120) -> str:
    """`ancre ARGS` (the passphrase in the environment); its stdout, or raise with stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ancre {' '.join(args[:3])}: {done.stderr.strip()[-2000:]}")
    return done.stdout


@dataclass
class Service:
    """One service process: started in its own process group, SIGKILLed, restarted."""

    name: str
    argv: list[str]
    port: int
    ca: DemoCa
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                env={**os.environ, **ENV, **self.env},
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own process group: killed as one
                cwd=ROOT,
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(verify=self.ca.context(), trust_env=False, timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start: {self.tail()}")
                try:
                    if http.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /health in {timeout} s: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def pid(self) -> int | None:
        """The running process's id; None when it is not running."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    def kill9(self) -> None:
        """SIGKILL the whole process group (uvicorn and its workers)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def restart(self, timeout: float = 30) -> None:
        self.restarts += 1
        self.start(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with_kill = self.process.poll() is None
            if with_kill:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@dataclass
class Deployment:
    """Registry, issuer and verifier on loopback TLS; registry and issuer on PostgreSQL."""

    folder: Path
    ca: DemoCa
    registry: Service
    issuer: Service
    verifier: Service
    registry_database: str
    issuer_database: str
    token: str

    def services(self) -> list[Service]:
        return [self.registry, self.issuer, self.verifier]

    def stop(self) -> None:
        for service in self.services():
            service.stop()


def deploy(folder: Path, registry_url: str, issuer_url: str) -> Deployment:
    """Create, configure and start the three services (registry_url and issuer_url: empty
    PostgreSQL databases)."""
    ca = make_ca(folder)
    tls = ["--tls-cert", str(ca.cert), "--tls-key", str(ca.key)]
    reg_port, iss_port, ver_port = free_port(), free_port(), free_port()
    reg_did, iss_did = f"did:web:localhost%3A{reg_port}", f"did:web:localhost%3A{iss_port}"
    reg_dir, iss_dir = folder / "registry", folder / "issuer"

    init = json.loads(
        cli(
            "registry",
            "init",
            "--dir",
            str(reg_dir),
            "--did",
            reg_did,
            "--database",
            registry_url,
            "--no-two-person-rule",
            "--admin",
            "soak",
            "--json",
        )
    )
    token: str = init["admin_tokens"]["soak"]
    cli("registry", "anchor", "add", ANCHOR, "--name", "Soak anchor", "--dir", str(reg_dir))
    cli(
        "registry",
        "issuer",
        "add",
        iss_did,
        "--name",
        "Soak agency",
        "--accredited-by",
        ANCHOR,
        "--type",
        CREDENTIAL_TYPE,
        "--dir",
        str(reg_dir),
    )
    cli("registry", "publish", "--dir", str(reg_dir))
    cli(
        "issuer",
        "init",
        "--dir",
        str(iss_dir),
        "--did",
        iss_did,
        "--public-url",
        f"https://localhost:{iss_port}",
        "--database",
        issuer_url,
    )

    python = [sys.executable, "-m"]
    registry = Service(
        "registry",
        [
            *python,
            "ancre.cli.main",
            "registry",
            "serve",
            "--dir",
            str(reg_dir),
            "--port",
            str(reg_port),
            *tls,
        ],
        reg_port,
        ca,
        folder / "registry.log",
    )
    issuer = Service(
        "issuer",
        [
            *python,
            "ancre.cli.main",
            "issuer",
            "serve",
            "--dir",
            str(iss_dir),
            "--port",
            str(iss_port),
            "--no-accreditation-check",
            "--rate-limit",
            "0",
            *tls,
        ],
        iss_port,
        ca,
        folder / "issuer.log",
    )
    verifier = Service(
        "verifier",
        [
            *python,
            "ancre.cli.main",
            "verifier",
            "serve",
            "--port",
            str(ver_port),
            "--trust-list",
            f"https://localhost:{reg_port}/trust-list",
            "--registry-key",
            reg_did,
            "--insecure-loopback",
            "--ca-file",
            str(ca.ca),
            "--cache-dir",
            str(folder / "verifier-cache"),
            "--log-level",
            "warning",
            *tls,
        ],
        ver_port,
        ca,
        folder / "verifier.log",
    )
    deployment = Deployment(folder, ca, registry, issuer, verifier, registry_url, issuer_url, token)
    try:
        for service in deployment.services():
            service.start()
    except BaseException:
        deployment.stop()
        raise
    return deployment


def issuer_library(deployment: Deployment) -> Any:
    """The issuer as a library on the same folder and database: what creates the offers
    (`ancre issuer offer`'s code, in this process) and walks the audit chain."""
    from ancre.issuer.config import KEYSTORE_FILE, load_config
    from ancre.issuer.db import make_engine
    from ancre.issuer.service import Issuer
    from ancre.trust.clock import SystemClock
    from ancre.trust.keys.keystore import FileKeyStore

    folder = deployment.folder / "issuer"
    config = load_config(folder)
    return Issuer(
        config,
        engine=make_engine(config.database_url()),
        store=FileKeyStore(folder / KEYSTORE_FILE, PASSPHRASE),
        clock=SystemClock(),
    )
