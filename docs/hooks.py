"""MkDocs hook: regenerate the reference pages (docs/gen_reference.py) before each build, so
the site always shows the CLI and the HTTP APIs as the code has them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_reference  # found through the line above


def on_pre_build(config: Any) -> None:
    gen_reference.write()
