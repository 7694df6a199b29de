"""Finding PostgreSQL's binaries and starting a cluster on a free port: tests/_postgres.py's
own code (one copy), loaded by path since tests/ is not a package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

_PATH = Path(__file__).resolve().parents[2] / "tests" / "_postgres.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_ancre_test_postgres", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PG: Any = _module()


def binary(name: str) -> str:
    found: str = _PG._binary(name)
    return found


def start_cluster(as_user: list[str], pg_ctl: str, data: str, root: str) -> int:
    port: int = _PG._start(as_user, pg_ctl, data, root)
    return port
