"""The selective disclosure functions of W3C Data Integrity ECDSA Cryptosuites v1.0 §3.4
(shared by ecdsa-sd-2023 and BBS): JSON Pointer selection of a compact JSON-LD document,
skolemization, blank node relabelling and grouping of canonical N-Quads.

Skolemization gives every blank node of the document a temporary IRI
(`urn:ancre-bnid:<random>b<n>`), so that a selection of the document (a few JSON Pointers)
names the same nodes as the whole; the statements are then turned back into blank nodes
(`_:<random>b<n>`) before canonicalization. The random part keeps an IRI of the document
itself from being mistaken for a skolem IRI."""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.vcdm.jsonld import (
    DEFAULT_LIMITS,
    CanonicalizationLimits,
    ContextStore,
    canonize_nquads,
    compact,
    expand,
    to_nquads,
)

__all__ = [
    "MAX_POINTERS",
    "Group",
    "LabelMapFactory",
    "canonicalize_and_group",
    "hmac_label_map_factory",
    "json_pointer_paths",
    "relabel",
    "select_json_ld",
]

#: JSON Pointers one selection may name (each walks the document once).
MAX_POINTERS: Final = 256
_SKOLEM: Final = "urn:ancre-bnid:"

# A canonical N-Quads statement: subject, predicate, object (IRI, blank node or literal with
# its escapes, datatype or language), optional graph, " .".
_QUAD: Final = re.compile(
    r'(<[^>]*>|_:\S+) (<[^>]*>) (<[^>]*>|_:\S+|"(?:[^"\\]|\\.)*"(?:\^\^<[^>]*>|@[A-Za-z0-9-]+)?)'
    r"(?: (<[^>]*>|_:\S+))? \."
)
_ABSENT: Final = object()

#: Canonical identifier map (input label → `c14nN`) to a label map (input label → new).
LabelMapFactory = Callable[[Mapping[str, str]], dict[str, str]]


def _terms(line: str) -> tuple[str, str, str, str | None]:
    m = _QUAD.fullmatch(line.rstrip("\n"))
    if m is None:  # pragma: no cover - pyld's N-Quads serialization always matches
        raise InvalidError(Code.CANONICALIZATION_FAILED, "unexpected N-Quads statement")
    s, p, o, g = m.groups()
    return s, p, o, g


def _rebuild(s: str, p: str, o: str, g: str | None) -> str:
    return f"{s} {p} {o}{'' if g is None else ' ' + g} .\n"


def relabel(
    nquads: Sequence[str], label_map: Mapping[str, str], *, strict: bool = True
) -> list[str]:
    """Each statement with its blank node labels (`_:x`) replaced by `_:` + label_map[x]
    (§3.4.11 relabelBlankNodes). A label the map lacks is `derived_proof_mismatch` when
    `strict`, else kept."""

    def term(value: str | None) -> str | None:
        if value is None or not value.startswith("_:"):
            return value
        new = label_map.get(value[2:])
        if new is None:
            if strict:
                raise InvalidError(
                    Code.DERIVED_PROOF_MISMATCH, f"the label map names no blank node {value[:40]}"
                )
            return value
        return "_:" + new

    out = []
    for line in nquads:
        s, p, o, g = _terms(line)
        out.append(_rebuild(str(term(s)), p, str(term(o)), term(g)))
    return out


def hmac_label_map_factory(key: bytes) -> LabelMapFactory:
    """§3.4.4 createHmacIdLabelMapFunction: each canonical label `c14nN` becomes
    `u` + base64url(HMAC-SHA-256(key, "c14nN"))."""

    def factory(canonical: Mapping[str, str]) -> dict[str, str]:
        return {
            old: "u" + b64url_encode(hmac.new(key, new.encode(), hashlib.sha256).digest())
            for old, new in canonical.items()
        }

    return factory


# ---- JSON Pointer selection (§3.4.9-3.4.12) ----------------------------------------------------


def json_pointer_paths(pointer: str) -> list[str | int]:
    """§3.4.9 jsonPointerToPaths (RFC 6901): `/a/0/b~1c` → ["a", 0, "b/c"]."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise ConfigurationError(f"{str(pointer)[:60]!r} is not a JSON Pointer (RFC 6901)")
    paths: list[str | int] = []
    for part in pointer.split("/")[1:]:
        if "~" in part:
            if re.search(r"~(?![01])", part):
                raise ConfigurationError(f"JSON Pointer {pointer[:60]!r} has a bad ~ escape")
            paths.append(part.replace("~1", "/").replace("~0", "~"))
        elif part.isdigit() and (part == "0" or not part.startswith("0")):
            paths.append(int(part))
        else:
            paths.append(part)
    return paths


def _initial_selection(source: Any) -> dict[str, Any]:
    # §3.4.10: ids (but blank node ones) and types on the way to a target are selected too.
    selection: dict[str, Any] = {}
    if isinstance(source, dict):
        ident = source.get("id")
        if ident is not None and not (isinstance(ident, str) and ident.startswith("_:")):
            selection["id"] = ident
        if "type" in source:
            selection["type"] = copy.deepcopy(source["type"])
    return selection


def _get(container: Any, path: str | int, pointer: str) -> Any:
    if isinstance(container, list):
        if isinstance(path, int) and path < len(container):
            return container[path]
    elif isinstance(container, dict):
        key = str(path)
        if key in container:
            return container[key]
    raise ConfigurationError(f"JSON Pointer {pointer[:100]!r} does not match the document")


def _peek(container: Any, path: str | int) -> Any:
    if isinstance(container, list):
        return container[path] if isinstance(path, int) and path < len(container) else _ABSENT
    return container.get(str(path), _ABSENT)


def _put(container: Any, path: str | int, value: Any) -> None:
    if isinstance(container, list):
        assert isinstance(path, int)  # noqa: S101 - _get matched a list with an int
        container.extend([_ABSENT] * (path + 1 - len(container)))
        container[path] = value
    else:
        container[str(path)] = value


def _select_paths(
    pointer: str, document: Any, selection: dict[str, Any], arrays: list[list[Any]]
) -> None:
    paths = json_pointer_paths(pointer)
    if not paths:
        raise ConfigurationError("the empty JSON Pointer selects nothing")
    value: Any = document
    selected_parent: Any = selection
    selected: Any = selection
    for path in paths:
        selected_parent = selected
        value = _get(value, path, pointer)
        selected = _peek(selected_parent, path)
        if selected is _ABSENT:
            if isinstance(value, list):
                selected = []
                arrays.append(selected)
            else:
                selected = _initial_selection(value)
            _put(selected_parent, path, selected)
    if isinstance(value, list):
        selected = copy.deepcopy(value)
    elif isinstance(value, dict):
        selected = {**selected, **copy.deepcopy(value)}
    else:
        selected = value
    _put(selected_parent, paths[-1], selected)


def select_json_ld(pointers: Sequence[str], document: Mapping[str, Any]) -> dict[str, Any] | None:
    """§3.4.12 selectJsonLd: the part of a compact JSON-LD document the JSON Pointers name,
    with the ids and types on the way and the document's @context; None for no pointer."""
    if not pointers:
        return None
    if len(pointers) > MAX_POINTERS:
        raise ConfigurationError(f"at most {MAX_POINTERS} JSON Pointers can be selected")
    arrays: list[list[Any]] = []
    selection = _initial_selection(document)
    selection["@context"] = copy.deepcopy(document.get("@context"))
    for pointer in pointers:
        _select_paths(pointer, document, selection, arrays)
    for array in arrays:
        array[:] = [item for item in array if item is not _ABSENT]
    return selection


# ---- skolemization (§3.4.5-3.4.8) ----------------------------------------------------------------


class _Skolem:
    def __init__(self) -> None:
        self.token = secrets.token_hex(8)
        self.count = 0
        self.named: dict[str, str] = {}

    def fresh(self) -> str:
        self.count += 1
        return f"{_SKOLEM}{self.token}b{self.count}"

    def of_blank(self, label: str) -> str:
        if label not in self.named:
            self.named[label] = self.fresh()
        return self.named[label]

    def expanded(self, expanded: list[Any]) -> list[Any]:
        """§3.4.7 skolemizeExpandedJsonLd: every node object gets an IRI."""
        out: list[Any] = []
        for element in expanded:
            if not isinstance(element, dict) or "@value" in element:
                out.append(copy.deepcopy(element))
                continue
            node: dict[str, Any] = {}
            for prop, value in element.items():
                node[prop] = (
                    self.expanded(value) if isinstance(value, list) else self.expanded([value])[0]
                )
            # List and set objects are not nodes: JSON-LD allows them no @id.
            if "@list" not in node and "@set" not in node:
                ident = node.get("@id")
                if ident is None:
                    node["@id"] = self.fresh()
                elif isinstance(ident, str) and ident.startswith("_:"):
                    node["@id"] = self.of_blank(ident)
            out.append(node)
        return out

    def deskolemize(self, nquads: Sequence[str]) -> list[str]:
        """§3.4.6 deskolemizeNQuads: skolem IRIs back to blank nodes."""
        prefix = f"<{_SKOLEM}{self.token}"

        def term(value: str | None) -> str | None:
            if value is not None and value.startswith(prefix) and value.endswith(">"):
                return "_:" + value[len(_SKOLEM) + 1 : -1]
            return value

        out = []
        for line in nquads:
            s, p, o, g = _terms(line)
            out.append(_rebuild(str(term(s)), p, str(term(o)), term(g)))
        return out


@dataclass(frozen=True, slots=True)
class Group:
    """§3.4.13: the canonical statements (by index) a selection matches, those it does not,
    and the selection's own statements (deskolemized, before relabelling)."""

    matching: dict[int, str]
    non_matching: dict[int, str]
    deskolemized: list[str]


@dataclass(frozen=True, slots=True)
class Grouped:
    groups: dict[str, Group]
    label_map: dict[str, str]
    nquads: list[str]


def canonicalize_and_group(
    document: Mapping[str, Any],
    factory: LabelMapFactory,
    definitions: Mapping[str, Sequence[str]],
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> Grouped:
    """§3.4.13 canonicalizeAndGroup: the document's canonical statements with the factory's
    blank node labels, grouped by which JSON Pointer selections include them."""
    skolem = _Skolem()
    skolemized = skolem.expanded(expand(document, contexts=contexts, limits=limits))
    compacted = compact(skolemized, document.get("@context"), contexts=contexts, limits=limits)
    deskolemized = skolem.deskolemize(to_nquads(skolemized, contexts=contexts, limits=limits))
    _, canonical_ids = canonize_nquads(deskolemized, limits=limits)
    label_map = factory(canonical_ids)
    nquads = sorted(relabel(deskolemized, label_map))
    groups = {}
    for name, pointers in definitions.items():
        selection = select_json_ld(pointers, compacted)
        selected: list[str] = []
        if selection is not None:
            selected = skolem.deskolemize(to_nquads(selection, contexts=contexts, limits=limits))
        wanted = set(relabel(selected, label_map, strict=False))
        groups[name] = Group(
            matching={i: q for i, q in enumerate(nquads) if q in wanted},
            non_matching={i: q for i, q in enumerate(nquads) if q not in wanted},
            deskolemized=selected,
        )
    return Grouped(groups, label_map, nquads)
