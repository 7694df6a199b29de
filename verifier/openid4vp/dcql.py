"""DCQL (OpenID4VP 1.0 §6) and claims path pointers (§7): the query a caller sends, parsed
strictly into typed values, and the matching of a verified credential against it.

ancre refuses to send what it cannot enforce: another Credential Format,
`trusted_authorities` (the verifier's own trust list decides), presentations without
cryptographic holder binding, and unknown members (§6 tells wallets to ignore them; a
verifier that ignores a constraint would accept what does not meet it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ancre.trust.errors import Code, MalformedError
from ancre.trust.sd_jwt.vc import FORMAT_SD_JWT_VC
from ancre.trust.vcdm.model import types_of

__all__ = [
    "FORMATS",
    "FORMAT_JWT_VC_JSON",
    "MAX_CREDENTIAL_QUERIES",
    "MAX_PRESENTATIONS_PER_QUERY",
    "ClaimValue",
    "ClaimsQuery",
    "CredentialQuery",
    "CredentialSetQuery",
    "DcqlError",
    "DcqlQuery",
    "PathPart",
    "claims_satisfied",
    "parse_dcql",
    "select_claims",
    "types_match",
]

FORMAT_JWT_VC_JSON: Final = "jwt_vc_json"
FORMATS: Final = frozenset({FORMAT_SD_JWT_VC, FORMAT_JWT_VC_JSON})

# Bounds on what a caller may ask and a wallet may send: verification cost is per
# presentation, so a response can never make the verifier run more than
# MAX_CREDENTIAL_QUERIES x MAX_PRESENTATIONS_PER_QUERY pipelines.
MAX_CREDENTIAL_QUERIES: Final = 16
MAX_PRESENTATIONS_PER_QUERY: Final = 8
MAX_CLAIMS_PER_QUERY: Final = 64
MAX_PATH_LENGTH: Final = 16
MAX_VALUES: Final = 64
MAX_META_VALUES: Final = 32
MAX_STRING: Final = 512
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VC_TYPE_IRI: Final = "https://www.w3.org/2018/credentials#VerifiableCredential"

PathPart = str | int | None
ClaimValue = str | int | bool


class DcqlError(MalformedError):
    """A DCQL query ancre refuses to send (malformed, or asking what it cannot check):
    `invalid_dcql_query`, a 400 problem at creation."""

    def __init__(self, message: str) -> None:
        super().__init__(Code.INVALID_DCQL_QUERY, message)


@dataclass(frozen=True, slots=True)
class ClaimsQuery:
    id: str | None
    path: tuple[PathPart, ...]
    values: tuple[ClaimValue, ...] | None


@dataclass(frozen=True, slots=True)
class CredentialQuery:
    id: str
    format: str
    multiple: bool
    vct_values: tuple[str, ...]
    type_values: tuple[tuple[str, ...], ...]
    claims: tuple[ClaimsQuery, ...]
    claim_sets: tuple[tuple[str, ...], ...] | None


@dataclass(frozen=True, slots=True)
class CredentialSetQuery:
    options: tuple[tuple[str, ...], ...]
    required: bool


@dataclass(frozen=True, slots=True)
class DcqlQuery:
    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSetQuery, ...] | None
    #: The validated JSON, as sent to the wallet.
    raw: Mapping[str, Any] = field(repr=False)

    def by_id(self, query_id: str) -> CredentialQuery | None:
        return next((q for q in self.credentials if q.id == query_id), None)


def _only(obj: Any, allowed: frozenset[str], what: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise DcqlError(f"{what} must be a JSON object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        # §6 tells wallets to ignore unknown properties; a verifier that cannot enforce a
        # constraint refuses to ask for it rather than accept what does not meet it.
        raise DcqlError(f"{what}: unsupported member(s) {unknown}")
    return obj


def _array(value: Any, what: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise DcqlError(f"{what} must be a non-empty array")
    if len(value) > limit:
        raise DcqlError(f"{what} has {len(value)} entries, the limit is {limit}")
    return value


def _strings(value: Any, what: str, limit: int = MAX_META_VALUES) -> tuple[str, ...]:
    items = _array(value, what, limit)
    if not all(isinstance(s, str) and s and len(s) <= MAX_STRING for s in items):
        raise DcqlError(f"{what} must hold non-empty strings")
    return tuple(items)


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise DcqlError(f"{what} must be 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def _bool(obj: Mapping[str, Any], name: str, default: bool, what: str) -> bool:
    value = obj.get(name, default)
    if not isinstance(value, bool):
        raise DcqlError(f"{what}.{name} must be a boolean")
    return value


def _claims_query(value: Any, what: str, need_id: bool) -> ClaimsQuery:
    obj = _only(value, frozenset({"id", "path", "values"}), what)
    ident = _identifier(obj["id"], f"{what}.id") if "id" in obj else None
    if need_id and ident is None:
        raise DcqlError(f"{what}.id is required when claim_sets is present")
    path = _array(obj.get("path"), f"{what}.path", MAX_PATH_LENGTH)
    for part in path:
        if not (
            part is None
            or (isinstance(part, str) and len(part) <= MAX_STRING)
            or (isinstance(part, int) and not isinstance(part, bool) and part >= 0)
        ):
            raise DcqlError(f"{what}.path holds strings, null and non-negative integers only")
    values: tuple[ClaimValue, ...] | None = None
    if "values" in obj:
        items = _array(obj["values"], f"{what}.values", MAX_VALUES)
        if not all(isinstance(v, str | int) and len(str(v)) <= MAX_STRING for v in items):
            raise DcqlError(f"{what}.values holds strings, integers and booleans only")
        values = tuple(items)
    return ClaimsQuery(ident, tuple(path), values)


_CREDENTIAL_QUERY_MEMBERS: Final = frozenset(
    {
        "id",
        "format",
        "multiple",
        "meta",
        "trusted_authorities",
        "require_cryptographic_holder_binding",
        "claims",
        "claim_sets",
    }
)


def _credential_query(value: Any, index: int) -> CredentialQuery:
    what = f"credentials[{index}]"
    obj = _only(value, _CREDENTIAL_QUERY_MEMBERS, what)
    ident = _identifier(obj.get("id"), f"{what}.id")
    what = f"credential query {ident!r}"
    fmt = obj.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:  # a list or an object is unhashable
        raise DcqlError(
            f"{what}: format {str(fmt)[:60]!r} is not supported (only {sorted(FORMATS)})"
        )
    if "trusted_authorities" in obj:
        raise DcqlError(
            f"{what}: trusted_authorities is not supported; the verifier's own trust list "
            "decides which issuers it trusts"
        )
    if not _bool(obj, "require_cryptographic_holder_binding", True, what):
        raise DcqlError(
            f"{what}: presentations without holder binding are replayable; ancre requires "
            "cryptographic holder binding"
        )
    multiple = _bool(obj, "multiple", False, what)
    meta = obj.get("meta")
    vct_values: tuple[str, ...] = ()
    type_values: tuple[tuple[str, ...], ...] = ()
    if fmt == FORMAT_SD_JWT_VC:
        meta = _only(meta, frozenset({"vct_values"}), f"{what}.meta")
        vct_values = _strings(meta.get("vct_values"), f"{what}.meta.vct_values")
    else:
        meta = _only(meta, frozenset({"type_values"}), f"{what}.meta")
        outer = _array(meta.get("type_values"), f"{what}.meta.type_values", MAX_META_VALUES)
        type_values = tuple(
            _strings(inner, f"{what}.meta.type_values[{i}]") for i, inner in enumerate(outer)
        )
    claim_sets_raw = obj.get("claim_sets")
    claims: tuple[ClaimsQuery, ...] = ()
    if "claims" in obj:
        items = _array(obj["claims"], f"{what}.claims", MAX_CLAIMS_PER_QUERY)
        claims = tuple(
            _claims_query(c, f"{what}.claims[{i}]", claim_sets_raw is not None)
            for i, c in enumerate(items)
        )
        ids = [c.id for c in claims if c.id is not None]
        if len(ids) != len(set(ids)):
            raise DcqlError(f"{what}: claim ids must be unique")
        paths = [c.path for c in claims]
        if len(paths) != len(set(paths)):
            raise DcqlError(f"{what}: a claim path is requested twice")
    claim_sets: tuple[tuple[str, ...], ...] | None = None
    if claim_sets_raw is not None:
        if not claims:
            raise DcqlError(f"{what}: claim_sets needs claims")
        known = {c.id for c in claims}
        options = _array(claim_sets_raw, f"{what}.claim_sets", MAX_CLAIMS_PER_QUERY)
        claim_sets = tuple(
            _strings(o, f"{what}.claim_sets[{i}]", MAX_CLAIMS_PER_QUERY)
            for i, o in enumerate(options)
        )
        for option in claim_sets:
            unknown = sorted(set(option) - known)
            if unknown:
                raise DcqlError(f"{what}: claim_sets name unknown claim ids {unknown}")
    return CredentialQuery(ident, fmt, multiple, vct_values, type_values, claims, claim_sets)


def parse_dcql(value: Any) -> DcqlQuery:
    """Validate a DCQL query strictly (§6) and turn it into typed values. Raises `DcqlError`
    for malformed queries and for what ancre cannot verify (other formats,
    `trusted_authorities`, presentations without holder binding, unknown members)."""
    obj = _only(value, frozenset({"credentials", "credential_sets"}), "dcql_query")
    items = _array(obj.get("credentials"), "dcql_query.credentials", MAX_CREDENTIAL_QUERIES)
    credentials = tuple(_credential_query(q, i) for i, q in enumerate(items))
    ids = [q.id for q in credentials]
    if len(ids) != len(set(ids)):
        raise DcqlError("credential query ids must be unique")
    sets: tuple[CredentialSetQuery, ...] | None = None
    if "credential_sets" in obj:
        raw_sets = _array(
            obj["credential_sets"], "dcql_query.credential_sets", MAX_CREDENTIAL_QUERIES
        )
        parsed_sets = []
        for i, raw in enumerate(raw_sets):
            what = f"credential_sets[{i}]"
            entry = _only(raw, frozenset({"options", "required"}), what)
            options = tuple(
                _strings(o, f"{what}.options[{j}]", MAX_CREDENTIAL_QUERIES)
                for j, o in enumerate(
                    _array(entry.get("options"), f"{what}.options", MAX_CREDENTIAL_QUERIES)
                )
            )
            for option in options:
                unknown = sorted(set(option) - set(ids))
                if unknown:
                    raise DcqlError(f"{what} names unknown credential query ids {unknown}")
            parsed_sets.append(CredentialSetQuery(options, _bool(entry, "required", True, what)))
        sets = tuple(parsed_sets)
    return DcqlQuery(credentials, sets, value)


class _PathError(Exception):
    pass


def select_claims(document: Any, path: Sequence[PathPart]) -> list[Any]:
    """§7.1.1: the elements a claims path pointer selects in a JSON credential. Raises
    `_PathError` where processing aborts (a component applied to the wrong JSON type, or an
    empty selection)."""
    selected = [document]
    for part in path:
        if isinstance(part, str):
            if not all(isinstance(node, dict) for node in selected):
                raise _PathError(f"{part!r} applied to a non-object")
            selected = [node[part] for node in selected if part in node]
        elif part is None:
            if not all(isinstance(node, list) for node in selected):
                raise _PathError("null applied to a non-array")
            selected = [item for node in selected for item in node]
        else:
            if not all(isinstance(node, list) for node in selected):
                raise _PathError(f"{part} applied to a non-array")
            selected = [node[part] for node in selected if part < len(node)]
    if not selected:
        raise _PathError("no such claim")
    return selected


def _same(a: Any, b: Any) -> bool:
    # §6.3: type and value both match exactly (so `true` is not `1`).
    return type(a) is type(b) and a == b


def _claim_present(document: Any, claim: ClaimsQuery) -> bool:
    try:
        selected = select_claims(document, claim.path)
    except _PathError:
        return False
    if claim.values is None:
        return True
    return any(_same(node, v) for node in selected for v in claim.values)


def _path_text(path: Sequence[PathPart]) -> str:
    return "[" + ", ".join("null" if p is None else repr(p) for p in path) + "]"


def claims_satisfied(document: Any, query: CredentialQuery) -> str | None:
    """None when the claims the query asks for are in `document`, else what is missing."""
    if not query.claims:
        return None
    present = {c.path: _claim_present(document, c) for c in query.claims}
    if query.claim_sets is None:
        missing = [_path_text(c.path) for c in query.claims if not present[c.path]]
        return f"claim(s) {', '.join(missing)} missing or not matching" if missing else None
    by_id = {c.id: c for c in query.claims}
    for option in query.claim_sets:
        if all(present[by_id[cid].path] for cid in option):
            return None
    return "no option of claim_sets is satisfied"


def types_match(document: Mapping[str, Any], type_values: Sequence[Sequence[str]]) -> bool:
    # §B.1.1 asks for JSON-LD-expanded type IRIs; jwt_vc_json credentials are read without
    # JSON-LD, so a value matches a `type` as the issuer wrote it, and the VCDM IRI of
    # `VerifiableCredential` matches that base type (docs/openid4vp.md).
    types = set(types_of(document))
    if "VerifiableCredential" in types:
        types.add(_VC_TYPE_IRI)
    return any(all(t in types for t in option) for option in type_values)
