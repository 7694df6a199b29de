"""A throw-away PostgreSQL cluster that can be restarted under load (tests/_postgres.py's
start-up, plus `restart`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.soak._pg import binary, start_cluster


@dataclass
class Cluster:
    """initdb under /tmp, own port, trust authentication on 127.0.0.1 only."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ancre-soak-pg-")))
    port: int = 0
    as_user: list[str] = field(default_factory=list)

    @property
    def data(self) -> str:
        return str(self.root / "data")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *self.as_user,
                binary("initdb"),
                "-D",
                self.data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.port = start_cluster(self.as_user, binary("pg_ctl"), self.data, str(self.root))

    def _options(self) -> str:
        return (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c max_connections=100"
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self.as_user, binary("pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )

    def start_again(self) -> None:
        """Start on the same port (after `stop`)."""
        subprocess.run(
            [
                *self.as_user,
                binary("pg_ctl"),
                "-D",
                self.data,
                "-o",
                self._options(),
                "-w",
                "-l",
                str(self.root / "log"),
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def outage(self, seconds: float) -> None:
        """`pg_ctl stop -m fast`, `seconds` down, start again on the same port."""
        self.stop("fast")
        time.sleep(seconds)
        self.start_again()

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, database: str) -> str:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)

    def query(self, database: str, sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn(database)) as conn:
            return list(conn.execute(sql).fetchall())

    def execute(self, database: str, sql: str, params: tuple[object, ...] = ()) -> None:
        with psycopg.connect(self.dsn(database)) as conn:
            conn.execute(sql, params)

    def destroy(self) -> None:
        if self.port:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
