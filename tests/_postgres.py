"""A throw-away PostgreSQL cluster for tests, from Debian's `postgresql` package.

Started once per test session on 127.0.0.1 with a random port and trust authentication,
each test gets its own database. initdb refuses to run as root, so under root the cluster
runs as the `postgres` system user the package creates."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

_NAMES = count(1)


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed: `apt-get install postgresql` (.ci/run does), "
            "or set ANCRE_SKIP_POSTGRES=1 to run the SQLite half only"
        )
    return found


def _free_port() -> int:
    # Released before PostgreSQL binds it: another process may take it meanwhile, which
    # `_start` detects (the server log says so) and answers with another port.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(as_user: list[str], pg_ctl: str, data: str, root: str, attempts: int = 5) -> int:
    """Start the cluster on a free port; retry on another one if it was taken meanwhile
    (pg_ctl cannot be handed a bound socket)."""
    log = os.path.join(root, "log")
    for _ in range(attempts):
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=50"
        )
        done = subprocess.run(
            [*as_user, pg_ctl, "-D", data, "-o", options, "-w", "-l", log, "start"],
            check=False,
            capture_output=True,
            timeout=120,
        )
        if done.returncode == 0:
            return port
        with open(log, encoding="utf-8", errors="replace") as file:
            taken = "Address already in use" in file.read()
        if not taken:
            raise subprocess.CalledProcessError(
                done.returncode, done.args, done.stdout, done.stderr
            )
    raise RuntimeError(f"PostgreSQL found no free port in {attempts} attempts")


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield a server URL prefix `postgresql+psycopg://postgres@127.0.0.1:PORT/`."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    root = tempfile.mkdtemp(prefix="ancre-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(root, "data")
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        [*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], **run
    )  # type: ignore[call-overload]
    port = _start(as_user, pg_ctl, data, root)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server: str) -> str:
    """Create an empty database on the cluster and return its URL."""
    import psycopg

    name = f"ancre_test_{next(_NAMES)}"
    dsn = server.replace("postgresql+psycopg://", "postgresql://") + "postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server + name


class StoppableCluster:
    """A throw-away cluster a test may stop and start again on the same port (issue 17:
    PostgreSQL restarted under a running service)."""

    def __init__(self) -> None:
        self._initdb, self._pg_ctl = _binary("initdb"), _binary("pg_ctl")
        self.root = tempfile.mkdtemp(prefix="ancre-pg-")
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._data = os.path.join(self.root, "data")
        subprocess.run(
            [*self._as_user, self._initdb, "-D", self._data, "-A", "trust", "-U", "postgres",
             "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.port = _start(self._as_user, self._pg_ctl, self._data, self.root)
        self.server = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/"

    def stop(self) -> None:
        """Stop at once (`immediate`: connections are cut, as by a crash)."""
        subprocess.run(
            [*self._as_user, self._pg_ctl, "-D", self._data, "-m", "immediate", "-w", "stop"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        """Start again on the same port."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c max_connections=50"
        )
        log = os.path.join(self.root, "log")
        subprocess.run(
            [*self._as_user, self._pg_ctl, "-D", self._data, "-o", options, "-w", "-l", log,
             "start"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def close(self) -> None:
        subprocess.run(
            [*self._as_user, self._pg_ctl, "-D", self._data, "-m", "immediate", "-w", "stop"],
            check=False, capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
