"""JSON-LD processing for Data Integrity proofs: a static, hash-pinned context loader and
RDF Dataset Canonicalization (RDFC-1.0, the algorithm pyld still calls `URDNA2015`).

Nothing is ever fetched. Every `@context` URL must be one of the contexts shipped in
`ancre.trust.vcdm.contexts` (listed, with source and SHA-256, in its `manifest.json`) or one an
operator added with its hash pinned (:meth:`ContextStore.add`); any other URL is an
`unknown_context` error naming it. A remote context can change what a signed document *means*
without changing its bytes, so a context is part of what is verified.

Canonicalization runs in "safe mode" (the term jsonld.js uses): a property the contexts do not
define, or an `@id`/`@type` that is not an absolute IRI, is an error instead of being dropped
silently — dropped data is not covered by the signature while an application reading the JSON
still sees it. It is also bounded: document size and depth, number of JSON objects, array
items and values (counted before any JSON-LD work: pyld's node map compares each new value of a
property with every earlier one, so 3,000 subjects cost seconds before any limit on its output
could apply), number of quads and blank nodes, RDFC-1.0 work and wall-clock time, checked
during expansion and node mapping too (RDFC-1.0 §4.4 "dataset poisoning": a handful of
indistinguishable blank nodes make the Hash N-Degree Quads step explode).

Where the work runs is the caller's choice: inside :func:`defer_canonicalization` (an event
loop) canonicalization raises :class:`CanonicalizationDeferred` instead of starting, and
inside :func:`canonicalize_with` it is handed to another runner (the verifier service's pool
of worker processes, which kills a worker that overruns its budget).

pyld is imported on first use only: the verify path of JOSE credentials never pays for it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from ancre.trust.codec.json import DEFAULT_MAX_DEPTH, _depth_exceeds, dumps_compact, loads_strict
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)

__all__ = [
    "DEFAULT_LIMITS",
    "CanonicalizationDeferred",
    "CanonicalizationLimits",
    "Canonicalizer",
    "ContextStore",
    "canonicalize_with",
    "canonize",
    "canonize_here",
    "canonize_nquads",
    "compact",
    "default_context_store",
    "defer_canonicalization",
    "expand",
    "load_context_manifest",
    "to_nquads",
]

_CONTEXT_PACKAGE: Final = "ancre.trust.vcdm.contexts"
_MANIFEST: Final = "manifest.json"
#: A context document is small; the largest shipped one (Gaia-X development) is 50 kB.
MAX_CONTEXT_BYTES: Final = 1024 * 1024
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
# RFC 3986 §3.1 scheme, then ":"; `_:` is a blank node label.
_ABSOLUTE_IRI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*|_:\S+")
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_RESOLVED_CACHE_SIZE: Final = 256


@dataclass(frozen=True, slots=True)
class CanonicalizationLimits:
    """Bounds on one canonicalization. A document over any of them is refused
    (`input_too_large`, `json_too_deep` or `canonicalization_failed`), never processed
    partially."""

    #: Size of the document serialized as compact JSON.
    max_document_bytes: int = 256 * 1024
    max_depth: int = DEFAULT_MAX_DEPTH
    #: JSON objects outside `@context` (each may become a node), counted before expansion.
    max_nodes: int = 2_000
    #: Items of one JSON array: pyld's node map compares each with every earlier value of
    #: the same property (quadratic), so one long array is the cheapest way to burn CPU.
    max_array_items: int = 1_000
    #: JSON values (objects, arrays and scalars) outside `@context`.
    max_values: int = 20_000
    #: RDF statements produced by JSON-LD expansion.
    max_quads: int = 20_000
    max_blank_nodes: int = 1_000
    #: Identifier-issuer lookups in RDFC-1.0 blank-node labelling. Credentials whose blank
    #: nodes all differ need none; a clique of n indistinguishable blank nodes needs a
    #: factorially growing number (measured: n=4 → 1,036; n=5 → 8,685 in 0.13 s; n=6 → 79,266
    #: in 1.1 s; n=7 → 786,331 in 8 s).
    max_work: int = 10_000
    #: Wall-clock seconds for expansion plus canonicalization, checked during expansion,
    #: node mapping and RDFC-1.0 (a worker process that overruns it is killed).
    time_budget: float = 1.0


DEFAULT_LIMITS: Final = CanonicalizationLimits()


def _without_fragment(url: str) -> str:
    # A fragment is never sent to a server (RFC 3986 §3.5): `…/development#` and
    # `…/development` name the same document.
    return url.partition("#")[0]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse_context(url: str, data: bytes) -> dict[str, Any]:
    if len(data) > MAX_CONTEXT_BYTES:
        raise ConfigurationError(f"context {url} is {len(data)} bytes, over {MAX_CONTEXT_BYTES}")
    try:
        document = loads_strict(data, what=f"context {url}")
    except MalformedError as exc:
        raise ConfigurationError(f"context {url} is not acceptable JSON: {exc.message}") from None
    if not isinstance(document, dict) or not isinstance(document.get("@context"), dict | list):
        raise ConfigurationError(f"context {url} is not a JSON-LD context document")
    return document


def _context_dir() -> Any:
    """Where the shipped context files are. With a strict editable install the package is a
    tree of per-file links made at install time; a context file added later exists only in the
    source folder the package's own `__init__.py` links to."""
    root = resources.files(_CONTEXT_PACKAGE)
    if root.joinpath(_MANIFEST).is_file():
        return root
    from ancre.trust.vcdm import contexts

    return Path(contexts.__file__).resolve().parent


_BUNDLED_LOCK: Final = threading.Lock()
_bundled: dict[str, dict[str, Any]] | None = None


def _bundled_contexts() -> dict[str, dict[str, Any]]:
    """The shipped contexts, read once and checked against the manifest's SHA-256."""
    global _bundled
    if _bundled is not None:
        return _bundled
    with _BUNDLED_LOCK:
        if _bundled is None:
            root = _context_dir()
            manifest = json.loads(root.joinpath(_MANIFEST).read_text(encoding="utf-8"))
            loaded: dict[str, dict[str, Any]] = {}
            for url, entry in manifest.items():
                data = root.joinpath(entry["file"]).read_bytes()
                if _sha256(data) != entry["sha256"]:
                    # A shipped context that is not the one reviewed: refuse to run with it.
                    raise ConfigurationError(
                        f"shipped context {entry['file']} does not match its pinned SHA-256"
                    )
                loaded[_without_fragment(url)] = _parse_context(url, data)
            _bundled = loaded
    return _bundled


class _ResolvedCache:
    """pyld's resolved-context cache (it calls `get` and item assignment only), bounded:
    inline contexts are keyed by their own JSON, so hostile documents could otherwise grow
    it without limit."""

    __slots__ = ("_items", "_max")

    def __init__(self, maxsize: int) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._max = maxsize

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = value
        if len(self._items) > self._max:
            self._items.popitem(last=False)


class ContextStore:
    """The JSON-LD contexts a JSON-LD processor may use, served from memory.

    A new store holds the contexts shipped with ancre (``bundled=False`` for none). Operators
    add their own with :meth:`add`, pinning each by its SHA-256. Lookups ignore a URL's
    fragment. A store is safe to share between threads: each thread keeps its own cache of
    processed contexts, which is what makes the second canonicalization cheap.
    """

    def __init__(self, *, bundled: bool = True) -> None:
        self._documents: dict[str, dict[str, Any]] = dict(_bundled_contexts()) if bundled else {}
        self._lock = threading.Lock()
        self._version = 0
        self._local = threading.local()

    def add(self, url: str, document: bytes, sha256: str) -> None:
        """Serve `document` for `url` after checking it hashes to `sha256` (hex).

        Adding the same bytes twice is a no-op; replacing a context with different content is
        refused, so that a configuration mistake cannot silently change what documents
        mean."""
        if not isinstance(url, str) or _URL.fullmatch(url) is None:
            raise ConfigurationError(f"context URL {url!r} is not an absolute URL")
        if not isinstance(sha256, str) or _SHA256_HEX.fullmatch(sha256.lower()) is None:
            raise ConfigurationError("the pinned SHA-256 must be 64 hexadecimal digits")
        if not isinstance(document, bytes):
            raise ConfigurationError("a context document is given as bytes, to be hashed")
        actual = _sha256(document)
        if actual != sha256.lower():
            raise ConfigurationError(
                f"context {url} hashes to {actual}, not the pinned {sha256.lower()}"
            )
        parsed = _parse_context(url, document)
        key = _without_fragment(url)
        with self._lock:
            existing = self._documents.get(key)
            if existing is not None:
                if existing == parsed:
                    return
                raise ConfigurationError(f"context {key} is already defined differently")
            # Copy on write: readers iterate a dict that never changes under them.
            self._documents = {**self._documents, key: parsed}
            self._version += 1

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and _without_fragment(url) in self._documents

    @property
    def urls(self) -> frozenset[str]:
        """The context URLs this store serves (without fragments)."""
        return frozenset(self._documents)

    def document(self, url: str) -> dict[str, Any]:
        """A copy of the context document for `url`; `unknown_context` if it is not served."""
        found = self._documents.get(_without_fragment(url)) if isinstance(url, str) else None
        if found is None:
            # Nothing is fetched: an unknown context cannot be interpreted, so a document
            # using it cannot be verified (or signed). That proves nothing bad about the
            # document: indeterminate, until an operator pins the context.
            raise IndeterminateError(
                Code.UNKNOWN_CONTEXT,
                f"JSON-LD context {str(url)[:200]!r} is not one ancre ships or was configured "
                "with; add it with its SHA-256 pinned",
            )
        return copy.deepcopy(found)

    def load(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A pyld document loader: the RemoteDocument for `url`, from memory only."""
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            # pyld resolves relative URLs inside a context in place: hand it a copy.
            "document": self.document(url),
            # Lets pyld cache the processed context under its URL (see `_resolved_cache`).
            "tag": "static",
        }

    def _resolved_cache(self) -> _ResolvedCache:
        local = self._local
        if getattr(local, "version", None) != self._version:
            local.cache = _ResolvedCache(_RESOLVED_CACHE_SIZE)
            local.version = self._version
        cache: _ResolvedCache = local.cache
        return cache


#: A context manifest lists at most this many contexts (each up to MAX_CONTEXT_BYTES).
MAX_MANIFEST_ENTRIES: Final = 256


def load_context_manifest(path: str | Path, store: ContextStore | None = None) -> ContextStore:
    """Add the contexts an operator vetted to `store` (a new store of the shipped contexts
    by default) and return it.

    `path` is a manifest file, or a directory holding one named ``manifest.json``: the same
    shape as the manifest ancre ships, a JSON object mapping each context URL to
    ``{"file": name, "sha256": hex}``, `file` relative to the manifest's folder and inside
    it. Each file must hash to its pinned SHA-256; nothing is ever fetched. Raises
    `ConfigurationError` naming the entry at fault."""
    where = Path(path)
    manifest_path = where / _MANIFEST if where.is_dir() else where
    folder = manifest_path.parent.resolve()
    try:
        raw = manifest_path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read context manifest {manifest_path}: {exc}") from None
    try:
        manifest = loads_strict(raw, what=f"context manifest {manifest_path}")
    except MalformedError as exc:
        raise ConfigurationError(f"context manifest {manifest_path}: {exc.message}") from None
    if not isinstance(manifest, dict) or len(manifest) > MAX_MANIFEST_ENTRIES:
        raise ConfigurationError(
            f"context manifest {manifest_path} must be a JSON object of at most "
            f"{MAX_MANIFEST_ENTRIES} URL → {{file, sha256}} entries"
        )
    target = store if store is not None else ContextStore()
    for url, entry in manifest.items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("file"), str)
            or not isinstance(entry.get("sha256"), str)
        ):
            raise ConfigurationError(
                f"context manifest {manifest_path}: {url!r} needs a `file` and a `sha256`"
            )
        file = (folder / entry["file"]).resolve()
        if not file.is_relative_to(folder):
            raise ConfigurationError(
                f"context manifest {manifest_path}: {entry['file']!r} is outside its folder"
            )
        try:
            with file.open("rb") as handle:
                data = handle.read(MAX_CONTEXT_BYTES + 1)
        except OSError as exc:
            raise ConfigurationError(f"cannot read context file {file}: {exc}") from None
        target.add(url, data, entry["sha256"])
    return target


_DEFAULT_STORE_LOCK: Final = threading.Lock()
_default_store: ContextStore | None = None


def default_context_store() -> ContextStore:
    """The shared store of shipped contexts used when a caller gives none. Do not `add` to
    it: make your own :class:`ContextStore` and pass it explicitly."""
    global _default_store
    if _default_store is None:
        with _DEFAULT_STORE_LOCK:
            if _default_store is None:
                _default_store = ContextStore()
    return _default_store


# ------------------------------------------------------------------------------------------
# canonicalization


class _Budget:
    __slots__ = ("deadline", "left")

    def __init__(self, limits: CanonicalizationLimits, deadline: float) -> None:
        self.left = limits.max_work
        self.deadline = deadline

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise InvalidError(
                Code.CANONICALIZATION_FAILED,
                "RDF canonicalization exceeded its work limit (a poisoned blank-node graph, "
                "RDFC-1.0 §4.4)",
            )
        # The clock is read once every 256 steps: cheap, and still fine-grained.
        if not self.left & 0xFF:
            self.check_time()

    def check_time(self) -> None:
        # Running out of time proves nothing about the document (a loaded machine, a cold
        # process): undecided, unlike the work limit above, which the document itself hits.
        if time.perf_counter() > self.deadline:
            raise IndeterminateError(
                Code.CANONICALIZATION_TIMEOUT,
                "RDF canonicalization exceeded its time budget (the machine may be busy)",
            )


class CanonicalizationDeferred(BaseException):
    """Raised, inside :func:`defer_canonicalization`, where JSON-LD work would start.

    A `BaseException` (like `net.WouldBlock`) so that no verdict handler mistakes it for a
    result: it unwinds the whole verification, which the caller runs again where heavy work
    belongs (the verifier service's bounded pool)."""


#: A runner for one canonicalization (the document, its contexts, the limits), which must
#: apply them all: :func:`canonize_here` where the work is to happen.
Canonicalizer = Callable[[Mapping[str, Any], ContextStore, CanonicalizationLimits], str]

_DEFER: Final[ContextVar[bool]] = ContextVar("ancre_defer_canonicalization", default=False)
_RUNNER: Final[ContextVar[Canonicalizer | None]] = ContextVar("ancre_canonicalizer", default=None)


@contextmanager
def defer_canonicalization() -> Iterator[None]:
    """Code that must stay responsive (an event loop): every canonicalization raises
    :class:`CanonicalizationDeferred` instead of starting (even the limit checks cost a walk
    of the document)."""
    token = _DEFER.set(True)
    try:
        yield
    finally:
        _DEFER.reset(token)


@contextmanager
def canonicalize_with(runner: Canonicalizer) -> Iterator[None]:
    """Hand every canonicalization started in this context to `runner`, e.g. a pool of
    worker processes, which calls :func:`canonize_here` there. Inside
    :func:`defer_canonicalization` the work is deferred instead."""
    token = _RUNNER.set(runner)
    try:
        yield
    finally:
        _RUNNER.reset(token)


def _too_much(what: str, count: int, limit: int) -> InvalidError:
    return InvalidError(
        Code.CANONICALIZATION_FAILED,
        f"the document has more than {limit} {what} (found {count} so far): refused before "
        "JSON-LD processing",
    )


def _check_shape(document: Mapping[str, Any], limits: CanonicalizationLimits) -> None:
    """Count what JSON-LD processing would walk, before it starts. `@context` values are
    skipped: contexts are either shipped/pinned (bounded) or inline term definitions, which
    pyld processes once per context, not per value."""
    nodes = values = 0
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        values += 1
        if isinstance(node, dict):
            nodes += 1
            if nodes > limits.max_nodes:
                raise _too_much("JSON objects", nodes, limits.max_nodes)
            stack.extend(v for k, v in node.items() if k != "@context")
        elif isinstance(node, list):
            if len(node) > limits.max_array_items:
                raise _too_much("items in one array", len(node), limits.max_array_items)
            stack.extend(node)
        if values > limits.max_values:
            raise _too_much("JSON values", values, limits.max_values)


def _absolute_check(expanded: Any) -> None:
    """After expansion every node id, type and datatype must be an absolute IRI or a blank
    node: a relative one yields no RDF statement, i.e. unsigned data (jsonld.js safe mode's
    "relative @id/@type reference")."""
    stack: list[Any] = [expanded]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if "@value" in node:
            datatype = node.get("@type")
            if datatype is not None and datatype != "@json" and not _is_absolute(datatype):
                raise _unsafe(f"datatype {datatype!r} is not an absolute IRI")
            continue
        ident = node.get("@id")
        if ident is not None and not _is_absolute(ident):
            raise _unsafe(f"id {ident!r} is not an absolute IRI or URL")
        types = node.get("@type", [])
        for value in types if isinstance(types, list) else [types]:
            if not _is_absolute(value):
                raise _unsafe(f"type {value!r} is not defined by the @context")
        for key, value in node.items():
            if key not in ("@id", "@type") and isinstance(value, dict | list):
                stack.append(value)


def _is_absolute(value: Any) -> bool:
    return isinstance(value, str) and _ABSOLUTE_IRI.fullmatch(value) is not None


def _unsafe(what: str) -> InvalidError:
    return InvalidError(
        Code.CANONICALIZATION_FAILED,
        f"{what}: JSON-LD would drop it from the signed data (safe mode refuses that)",
    )


def _dropped(iri: str | None) -> None:
    raise _unsafe(f"property {iri!r} is not defined by the document's @context")


def _ancre_cause(exc: BaseException) -> AncreError | None:
    """pyld wraps whatever a document loader raises in its own errors: find ours."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, AncreError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _describe(exc: BaseException) -> str:
    details = [str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__]
    cause = exc.__cause__
    if cause is not None and str(cause):
        details.append(str(cause).splitlines()[0][:160])
    return "; ".join(details)


def _quad_blank_nodes(dataset: Mapping[str, list[dict[str, Any]]]) -> Iterator[str]:
    for graph, quads in dataset.items():
        if graph.startswith("_:"):
            yield graph
        for quad in quads:
            for position in ("subject", "object"):
                term = quad.get(position)
                if isinstance(term, dict) and term.get("type") == "blank node":
                    yield term["value"]


def _check_dataset(
    dataset: Mapping[str, list[dict[str, Any]]], limits: CanonicalizationLimits
) -> None:
    quads = sum(len(q) for q in dataset.values())
    if quads > limits.max_quads:
        raise InvalidError(
            Code.CANONICALIZATION_FAILED,
            f"the document makes {quads} RDF statements, the limit is {limits.max_quads}",
        )
    blank = len(set(_quad_blank_nodes(dataset)))
    if blank > limits.max_blank_nodes:
        raise InvalidError(
            Code.CANONICALIZATION_FAILED,
            f"the document has {blank} blank nodes, the limit is {limits.max_blank_nodes}",
        )


def canonize(
    document: Mapping[str, Any],
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> str:
    """The RDFC-1.0 canonical N-Quads of a JSON-LD document (UTF-8 text, one statement per
    line, each ending in a newline, sorted).

    Raises `IndeterminateError` `unknown_context` (a context URL not in `contexts`),
    `canonicalization_failed` (JSON-LD errors, safe-mode violations, limits), or
    `MalformedError` `input_too_large`/`json_too_deep`."""
    if not isinstance(document, Mapping):
        raise MalformedError(Code.MALFORMED_JSON, "a JSON-LD document must be a JSON object")
    store = contexts if contexts is not None else default_context_store()
    if _DEFER.get():
        raise CanonicalizationDeferred
    runner = _RUNNER.get()
    if runner is not None:
        # The runner's side checks the limits too: all of the document's cost is there.
        return runner(document, store, limits)
    return canonize_here(document, store, limits)


def canonize_here(
    document: Mapping[str, Any], store: ContextStore, limits: CanonicalizationLimits
) -> str:
    """:func:`canonize` in this thread, whatever runner the context names: what a
    :data:`Canonicalizer` calls where the work is to happen."""
    budget = _checked_budget(document, limits)
    with _translating():
        dataset = _to_rdf(dict(document), store, budget)
        budget.check_time()
        _check_dataset(dataset, limits)
        result: str = _rdfc(dataset, budget)
    return result


def _checked_budget(document: Mapping[str, Any], limits: CanonicalizationLimits) -> _Budget:
    """The size, depth and shape checks every JSON-LD operation starts with, and its budget."""
    try:
        size = len(dumps_compact(document).encode("utf-8"))
    except (TypeError, ValueError):
        raise MalformedError(Code.MALFORMED_JSON, "the document is not plain JSON") from None
    if size > limits.max_document_bytes:
        raise MalformedError(
            Code.INPUT_TOO_LARGE,
            f"the document is {size} bytes, the JSON-LD limit is {limits.max_document_bytes}",
        )
    if _depth_exceeds(document, limits.max_depth):
        raise MalformedError(
            Code.JSON_TOO_DEEP, f"the document nests deeper than {limits.max_depth} levels"
        )
    _check_shape(document, limits)
    _pyld()  # a cold process's one-off import is not the document's time
    return _Budget(limits, time.perf_counter() + limits.time_budget)


@contextmanager
def _translating() -> Iterator[None]:
    """pyld's exceptions (many types on hostile input) become `canonicalization_failed`."""
    try:
        yield
    except AncreError:
        raise
    except RecursionError:
        raise InvalidError(
            Code.CANONICALIZATION_FAILED, "JSON-LD processing recursed too deeply"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pyld raises many exception types on hostile input; none may leak
        ours = _ancre_cause(exc)
        if ours is not None:
            raise ours from None
        raise InvalidError(
            Code.CANONICALIZATION_FAILED, f"JSON-LD processing failed: {_describe(exc)}"
        ) from None


# ---- the pieces selective disclosure needs (ecdsa-sd-2023 derivation, on the holder's side)


def expand(
    document: Mapping[str, Any],
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> list[Any]:
    """JSON-LD expansion of `document`, in safe mode and bounded as :func:`canonize` is."""
    store = contexts if contexts is not None else default_context_store()
    budget = _checked_budget(document, limits)
    processor = _pyld()[0]
    with _translating():
        expanded: list[Any] = processor(budget).expand(dict(document), _options(store))
    return expanded


def compact(
    expanded: list[Any],
    context: Any,
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """JSON-LD compaction of an expanded document with `context` (a document's @context)."""
    store = contexts if contexts is not None else default_context_store()
    processor = _pyld()[0]
    budget = _Budget(limits, time.perf_counter() + limits.time_budget)
    with _translating():
        compacted: dict[str, Any] = processor(budget).compact(
            copy.deepcopy(expanded), {"@context": context}, _options(store)
        )
    return compacted


def to_nquads(
    document: Mapping[str, Any] | list[Any],
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> list[str]:
    """The RDF statements of a JSON-LD document (compact or expanded), as N-Quads lines each
    ending in a newline, not canonicalized (blank nodes as pyld labels them)."""
    store = contexts if contexts is not None else default_context_store()
    if isinstance(document, list):
        budget = _Budget(limits, time.perf_counter() + limits.time_budget)
        _pyld()
    else:
        budget = _checked_budget(document, limits)
    processor = _pyld()[0]
    with _translating():
        dataset = _to_rdf(document if isinstance(document, list) else dict(document), store, budget)
        _check_dataset(dataset, limits)
        text: str = processor.to_nquads(dataset)
    return text.splitlines(keepends=True)


def canonize_nquads(
    nquads: list[str], *, limits: CanonicalizationLimits = DEFAULT_LIMITS
) -> tuple[str, dict[str, str]]:
    """RDFC-1.0 of N-Quads statements: the canonical N-Quads and the canonical identifier
    map (each input blank node label, without `_:`, to its canonical one, `c14nN`)."""
    processor, _, urdna2015, counting_issuer = _pyld()
    budget = _Budget(limits, time.perf_counter() + limits.time_budget)
    with _translating():
        dataset = processor.parse_nquads("".join(nquads))
        _check_dataset(dataset, limits)
        canonicalizer = urdna2015()
        canonicalizer.canonical_issuer = counting_issuer("_:c14n", budget)
        text: str = canonicalizer.main(dataset, {"format": "application/n-quads"})
        mapping = {
            str(old).removeprefix("_:"): str(new).removeprefix("_:")
            for old, new in canonicalizer.canonical_issuer.existing.items()
        }
    return text, mapping


_PYLD_LOCK: Final = threading.Lock()
_pyld_classes: tuple[Any, Any, Any, Any] | None = None


def _pyld() -> tuple[Any, Any, Any, Any]:
    """pyld and the two subclasses ancre uses, built on first use (importing pyld costs tens
    of milliseconds, which the JOSE verify path must not pay)."""
    global _pyld_classes
    if _pyld_classes is not None:
        return _pyld_classes
    with _PYLD_LOCK:
        if _pyld_classes is None:
            from pyld import jsonld
            from pyld.canon import URDNA2015
            from pyld.context_resolver import ContextResolver
            from pyld.identifier_issuer import IdentifierIssuer

            class SafeProcessor(jsonld.JsonLdProcessor):  # type: ignore[misc]
                """pyld's processor in safe mode: undefined properties and relative IRIs are
                errors (pyld reports the former through `on_property_dropped`; the latter are
                found in the expanded output). Expansion and node mapping recurse once per
                JSON object: the time budget is checked there, so a document cannot spend
                seconds before the first check."""

                def __init__(self, budget: _Budget) -> None:
                    super().__init__(on_property_dropped=_dropped)
                    self._budget = budget

                def expand(self, input_: Any, options: Any) -> Any:
                    expanded = super().expand(input_, options)
                    _absolute_check(expanded)
                    return expanded

                def _expand(self, *args: Any, **kwargs: Any) -> Any:
                    self._budget.check_time()
                    return super()._expand(*args, **kwargs)

                def _create_node_map(self, *args: Any, **kwargs: Any) -> Any:
                    self._budget.check_time()
                    return super()._create_node_map(*args, **kwargs)

            class CountingIssuer(IdentifierIssuer):  # type: ignore[misc]
                """Every permutation Hash N-Degree Quads tries (RDFC-1.0 §4.8.3 step 5.4) asks
                the canonical issuer whether a related node is labelled: counting those
                questions bounds the factorial blow-up without touching pyld's algorithm."""

                def __init__(self, prefix: str, budget: _Budget) -> None:
                    super().__init__(prefix)
                    self.budget = budget

                def has_id(self, old: str) -> bool:
                    self.budget.spend()
                    return bool(super().has_id(old))

            _pyld_classes = (SafeProcessor, ContextResolver, URDNA2015, CountingIssuer)
    return _pyld_classes


def _options(store: ContextStore) -> dict[str, Any]:
    _, resolver, _, _ = _pyld()
    loader: Callable[..., dict[str, Any]] = store.load
    return {
        # No base IRI at all. With `""` pyld 3.3 resolves relative IRIs against a made-up
        # `http://example.org/base/`, turning a malformed id into signed nonsense; with None
        # they stay relative and the safe-mode check refuses them.
        "base": None,
        "documentLoader": loader,
        # Our own resolver and cache, never pyld's process-wide one: a context cached there by
        # one store would be served to another that does not have it.
        "contextResolver": resolver(store._resolved_cache(), loader),
        "produceGeneralizedRdf": False,
        "processingMode": "json-ld-1.1",
        "extractAllScripts": False,
    }


def _to_rdf(
    document: dict[str, Any] | list[Any], store: ContextStore, budget: _Budget
) -> dict[str, Any]:
    processor = _pyld()[0]
    dataset: dict[str, Any] = processor(budget).to_rdf(document, _options(store))
    return dataset


def _rdfc(dataset: dict[str, Any], budget: _Budget) -> str:
    _, _, urdna2015, counting_issuer = _pyld()
    canonicalizer = urdna2015()
    canonicalizer.canonical_issuer = counting_issuer("_:c14n", budget)
    nquads: str = canonicalizer.main(dataset, {"format": "application/n-quads"})
    return nquads
