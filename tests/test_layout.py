"""The parts' import rules (docs/architecture.md, "Parts"): which part may import which, and
no part reaches into another part's private (`_name`) modules.

Imports are read from the source with `ast` (function-level lazy imports included), so a rule
broken only on a rarely taken path still fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: folder -> (its import name, the parts it may import besides itself)
PARTS: dict[str, tuple[str, frozenset[str]]] = {
    "trust": ("trust", frozenset()),
    "storage": ("storage", frozenset({"trust"})),
    # What every server-rendered page shares (headers, language, stylesheet).
    "web": ("web", frozenset()),
    "registry": ("registry", frozenset({"trust", "storage", "web"})),
    "issuer": ("issuer", frozenset({"trust", "storage", "web"})),
    "verifier": ("verifier", frozenset({"trust", "storage"})),
    "wallet": ("wallet", frozenset({"trust", "verifier"})),
    # `api/` is the top-level `ancre` package: the library's front door.
    "api": ("", frozenset({"trust", "verifier"})),
    "cli": (
        "cli",
        frozenset({"trust", "storage", "registry", "issuer", "verifier", "wallet", "web", ""}),
    ),
}
_NAMES = {name for name, _ in PARTS.values() if name}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute `ancre…` module a file imports, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names if a.name.startswith("ancre"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ancre":
                found.extend((node.lineno, f"ancre.{a.name}") for a in node.names)
            elif node.module.startswith("ancre."):
                found.append((node.lineno, node.module))
    return found


def _part_of(module: str) -> tuple[str, list[str]]:
    """(`part`, rest) of `ancre.part.rest…`; the top-level `ancre` package is part ``""``."""
    pieces = module.split(".")[1:]
    if pieces and pieces[0] in _NAMES:
        return pieces[0], pieces[1:]
    return "", pieces


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(PARTS))
def test_parts_import_only_what_they_may(folder: str) -> None:
    own, allowed = PARTS[folder]
    files = _files(folder)
    assert files, f"{folder}/ has no Python file: the layout table is stale"
    broken = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imports(path)
        if _part_of(module)[0] not in allowed | {own}
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("folder", sorted(set(PARTS) - {"trust"}))
def test_no_part_imports_another_parts_private_module(folder: str) -> None:
    own, _ = PARTS[folder]
    broken = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _files(folder)
        for line, module in _imports(path)
        if _part_of(module)[0] != own and any(p.startswith("_") for p in _part_of(module)[1])
    ]
    assert not broken, "\n".join(broken)


def test_the_rules_can_fail(tmp_path: Path) -> None:
    """The readers above see a lazy import and a private one: a rule that cannot fail proves
    nothing."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from ancre.registry._x import y\n    import ancre.issuer\n")
    modules = [m for _, m in _imports(sample)]
    assert modules == ["ancre.registry._x", "ancre.issuer"]
    assert _part_of(modules[0]) == ("registry", ["_x"])
    assert _part_of("ancre._verify") == ("", ["_verify"])
    assert _part_of("ancre.trust.codec.json") == ("trust", ["codec", "json"])
