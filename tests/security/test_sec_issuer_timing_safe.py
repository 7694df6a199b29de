"""Timing-safe comparison of every secret and code (issue 17): a guard over the source.

Every `==` / `!=` in ancre's services whose operand is named like a secret (a password,
passphrase, CSRF token, MAC, API key, tx_code, PIN, PKCE verifier, access token, a hash of
one) is reported, unless it is a SQL expression (a column compared inside a `WHERE`: the
database looks up the hash of a high-entropy value, and the hash is all it can leak) or a
comparison with a constant, `None` or a length. Secrets are compared with
`hmac.compare_digest` / `secrets.compare_digest`. A reviewed exception is listed in
`REVIEWED` with the reason it is not a secret."""

from __future__ import annotations

import ast
import re
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("issuer", "wallet", "verifier", "registry", "storage", "trust", "cli")
SECRET = re.compile(
    r"(secret|password|passphrase|csrf|(^|_)mac($|_)|api_key|apikey|tx_code|(^|_)pin($|_)"
    r"|code_verifier|access_token|refresh_token|token|_sha256|digest)",
    re.IGNORECASE,
)
#: file:line-free keys (file, source text of the comparison) → why it is not a secret.
REVIEWED: dict[tuple[str, str], str] = {
    ("cli/wallet.py", "c.token == token"): "the wallet finding its own stored credential",
    ("trust/status/checker.py", "stale.digest == digest"): "a cache key (public status list)",
    ("trust/sd_jwt/paths.py", "token == _WILDCARD"): "a claim path segment, not a secret",
    ("trust/sd_jwt/paths.py", "token == str(part)"): "a claim path segment, not a secret",
    ("trust/sd_jwt/paths.py", "token == part"): "a claim path segment, not a secret",
    ("trust/sd_jwt/present.py", "token == _WILDCARD"): "a claim path segment, not a secret",
    ("trust/sd_jwt/present.py", "str(int(token)) == token"): "a claim path segment",
    ("issuer/csv_offers.py", "known.claims_sha256 != _claims_hash(row.claims)"): (
        "a digest of claims the operator imports, to detect a changed row: no secret"
    ),
}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant):
                return str(first.value)
    return None


def _harmless(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    # A constant by naming convention (`Code.INVALID_TOKEN`, `STATUS_LIST_TOKEN_TYP`).
    name = _name(node)
    if name is not None and name.isupper():
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
        return True
    # A SQLAlchemy column (`SomeRow.token_sha256`): the comparison is SQL, not Python.
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id.endswith("Row"))
    )


def findings() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text()
            tree = ast.parse(source)
            relative = str(path.relative_to(ROOT))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Compare):
                    continue
                operands = [node.left, *node.comparators]
                for op, (left, right) in zip(node.ops, pairwise(operands), strict=True):
                    if not isinstance(op, ast.Eq | ast.NotEq):
                        continue
                    if _harmless(left) or _harmless(right):
                        continue
                    names = [n for n in (_name(left), _name(right)) if n is not None]
                    if not any(SECRET.search(n) for n in names):
                        continue
                    text = ast.get_source_segment(source, node) or ""
                    if (relative, text) in REVIEWED:
                        continue
                    found.append(f"{relative}:{node.lineno}: {text}")
    return found


def test_no_secret_is_compared_with_equality() -> None:
    assert findings() == []


def test_the_guard_catches_an_equality_on_a_secret(tmp_path: Path) -> None:
    sample = "def check(csrf_token, expected):\n    return csrf_token == expected\n"
    tree = ast.parse(sample)
    compare = next(n for n in ast.walk(tree) if isinstance(n, ast.Compare))
    assert _name(compare.left) == "csrf_token"
    assert SECRET.search("csrf_token")
    assert not _harmless(compare.left)
    assert not _harmless(compare.comparators[0])
