"""JSON Pointer paths (RFC 6901) with a ``*`` wildcard: how ancre names the claims to make
disclosable (:func:`ancre.trust.sd_jwt.issue.issue_sd_jwt`) or to disclose
(:func:`ancre.trust.sd_jwt.present.present`).

No section of RFC 9901 defines them: they point into the *processed* claims (the output of
§7.1), so ``/address/locality`` names a claim whether or not ``address`` is itself a
disclosure (§4.2.6). ``/nationalities/0`` is an array element; the token ``*`` stands for
every element of an array or every member of an object (``/nationalities/*``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from ancre.trust.errors import ConfigurationError

_WILDCARD: Final = "*"

PathPart = str | int
Path = tuple[PathPart, ...]


def _parse_pointer(pointer: str) -> tuple[str, ...]:
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise ConfigurationError(f"{pointer!r} is not a JSON Pointer to a claim (e.g. '/email')")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def _pointer(path: Iterable[PathPart]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _token_matches(token: str, part: PathPart) -> bool:
    if token == _WILDCARD:
        return True
    if isinstance(part, int):
        # RFC 6901 §4: array indices are decimal without leading zeros.
        return token == str(part)
    return token == part


def _matches(pattern: Sequence[str], path: Path) -> bool:
    return len(pattern) == len(path) and all(map(_token_matches, pattern, path))


def _pattern_covers(pattern: Sequence[str], path: Path) -> bool:
    """Whether `pattern` names `path` or one of its ancestors."""
    return len(pattern) <= len(path) and all(map(_token_matches, pattern, path))


def _path_covers(path: Path, pattern: Sequence[str]) -> bool:
    """Whether `path` is (one of) what `pattern` names, or an ancestor of it."""
    return len(path) <= len(pattern) and all(map(_token_matches, pattern, path))


def _compile_paths(disclosable: Iterable[str]) -> list[tuple[str, ...]]:
    if isinstance(disclosable, str):
        raise ConfigurationError("`disclosable` is a collection of JSON Pointers, not one string")
    return [_parse_pointer(p) for p in disclosable]
