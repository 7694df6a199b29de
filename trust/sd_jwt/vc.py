"""SD-JWT-based Verifiable Credentials (IETF draft-ietf-oauth-sd-jwt-vc): ``typ: dc+sd-jwt``.

An SD-JWT VC is an RFC 9901 SD-JWT whose payload uses registered JWT claims: ``iss`` (the
issuer), ``vct`` (the credential type), ``nbf``/``exp``/``iat``, ``sub``, ``cnf`` (the holder
key a Key Binding JWT must be signed with) and ``status`` (an IETF Token Status List
reference). The draft (§3.2.2.2) forbids making ``iss``, ``nbf``, ``exp``, ``cnf``, ``vct``,
``vct#integrity`` and ``status`` selectively disclosable; ancre refuses to issue that and
rejects it on verification.

ancre uses SD-JWT VC for credentials with personal data (Mandate, DirectorCertification):
names and birth dates are always selectively disclosable, never plain (DESIGN "Formats") —
:func:`issue_sd_jwt_vc` refuses a credential that would carry one in the clear.

Verification is :class:`SdJwtVcAdapter` run by the engine (``ancre.trust.engine``), in its
one order of steps; the signature step also checks the disclosure digests, the holder-binding
step the Key Binding JWT; the first failure ends the run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.did.document import DidResolver, did_of
from ancre.trust.engine import CredentialAdapter, VerifyContext, run_steps
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
)
from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult
from ancre.trust.sd_jwt.disclosure import DEFAULT_DIGEST_ALG, MAX_DISCLOSURES, SaltSource
from ancre.trust.sd_jwt.issue import SdJwt, issue_sd_jwt
from ancre.trust.sd_jwt.paths import _compile_paths, _pattern_covers
from ancre.trust.sd_jwt.verify import (
    ProcessedSdJwt,
    _check_time,
    _signature_message,
    check_key_binding,
    key_binding_holder,
    parse_sd_jwt,
    process_disclosures,
)
from ancre.trust.steps import (
    KeySource,
    StatusChecker,
    TrustChecker,
    check_format_accepted,
    media_type,
    numeric_date,
    resolve_key,
)
from ancre.trust.vcdm.credentials import (
    SchemaIssue,
    sd_jwt_claims_schema_errors,
)

__all__ = [
    "FORMAT_SD_JWT_VC",
    "NEVER_DISCLOSABLE",
    "PERSONAL_CLAIMS",
    "SD_JWT_VC_TYP",
    "SD_JWT_VC_TYPS",
    "SdJwtVcAdapter",
    "issue_sd_jwt_vc",
    "verify_sd_jwt_vc",
]

FORMAT_SD_JWT_VC: Final = "dc+sd-jwt"
#: The `typ` ancre emits (draft-ietf-oauth-sd-jwt-vc §3.2.1).
SD_JWT_VC_TYP: Final = "dc+sd-jwt"
#: Accepted on input: `vc+sd-jwt` is what drafts before -06 (and many deployed wallets) use.
SD_JWT_VC_TYPS: Final = frozenset({"dc+sd-jwt", "vc+sd-jwt"})
#: §3.2.2.2: registered claims that MUST NOT be selectively disclosable.
NEVER_DISCLOSABLE: Final = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
#: Claims ancre sets itself from the issuance parameters.
_REGISTERED: Final = frozenset({*NEVER_DISCLOSABLE, "iat", "sub"})
#: Names and birth data of a natural person (OpenID Connect and EUDI PID/PoR claim names):
#: never plain in an SD-JWT VC ancre issues — each must be disclosable itself or sit inside a
#: disclosable object.
PERSONAL_CLAIMS: Final = frozenset(
    {
        "given_name",
        "family_name",
        "middle_name",
        "birthdate",
        "birth_date",
        "birth_family_name",
        "birth_given_name",
        "family_name_birth",
        "given_name_birth",
        "birth_place",
        "place_of_birth",
    }
)
_DEFAULT_POLICY: Final = VerificationPolicy()


# ------------------------------------------------------------------------------------------
# issuance


def _numeric(moment: datetime | None, name: str) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ConfigurationError(f"`{name}` must be an aware datetime")
    return int(moment.timestamp())


def _status_reference(status: Mapping[str, Any]) -> dict[str, Any]:
    # IETF Token Status List §6.1 (referenced token): {"status_list": {"idx", "uri"}}.
    entry = status.get("status_list") if isinstance(status, Mapping) else None
    if not isinstance(entry, Mapping):
        raise ConfigurationError('`status` must be {"status_list": {"idx": …, "uri": …}}')
    idx, uri = entry.get("idx"), entry.get("uri")
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise ConfigurationError("`status.status_list.idx` must be a non-negative integer")
    if not isinstance(uri, str) or not uri.startswith("https://"):
        raise ConfigurationError("`status.status_list.uri` must be an https URL")
    return {"status_list": {"idx": idx, "uri": uri}}


def _personal_in_the_clear(
    node: Any, path: tuple[str | int, ...], patterns: Sequence[tuple[str, ...]]
) -> list[str]:
    hidden = any(_pattern_covers(p, path) for p in patterns)
    if hidden:
        return []  # this node (and all it holds) is inside a disclosure
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            child = (*path, key)
            if key in PERSONAL_CLAIMS and not any(_pattern_covers(p, child) for p in patterns):
                found.append("/" + "/".join(str(c) for c in child))
            else:
                found.extend(_personal_in_the_clear(value, child, patterns))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_personal_in_the_clear(value, (*path, index), patterns))
    return found


def _issuer_key_header(issuer: str, kid: str | None, x5c: Sequence[str] | None) -> dict[str, Any]:
    """The JOSE header of an SD-JWT VC: its `typ` and the issuer key, named by `kid` (a key
    of the DID `issuer`) and/or `x5c` (base64 DER certificates, leaf first)."""
    if kid is None and not x5c:
        raise ConfigurationError("name the issuer key with `kid` or `x5c`")
    header: dict[str, Any] = {"typ": SD_JWT_VC_TYP}
    if kid is not None:
        if issuer.startswith("did:") and did_of(kid) != issuer:
            raise ConfigurationError(f"kid {kid} is not a key of the issuer {issuer}")
        header["kid"] = kid
    if x5c:
        if isinstance(x5c, str) or not all(isinstance(c, str) and c for c in x5c):
            raise ConfigurationError("`x5c` must be a list of base64 DER certificates")
        header["x5c"] = list(x5c)
    return header


def issue_sd_jwt_vc(
    claims: Mapping[str, Any],
    signer: Signer,
    *,
    issuer: str,
    vct: str,
    disclosable: Iterable[str],
    kid: str | None = None,
    x5c: Sequence[str] | None = None,
    holder_jwk: Mapping[str, Any] | PublicKey | None = None,
    subject: str | None = None,
    issued_at: datetime | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    status: Mapping[str, Any] | None = None,
    decoys: int = 0,
    digest_alg: str = DEFAULT_DIGEST_ALG,
    salt_source: SaltSource = secrets,
) -> SdJwt:
    """Issue an SD-JWT VC (``typ: dc+sd-jwt``).

    `claims` are the credential's own claims; the registered ones come from the parameters:
    ``iss`` = `issuer`, ``vct``, ``cnf.jwk`` = `holder_jwk`, ``sub`` = `subject`, ``iat`` =
    `issued_at`, ``nbf``/``exp`` = `valid_from`/`valid_until`, ``status`` = a Token Status
    List reference ``{"status_list": {"idx": n, "uri": "https://…"}}``. The issuer key is
    named by `kid` (a DID URL of a DID issuer) and/or `x5c` (base64 DER certificates, leaf
    first, for an issuer identified by an X.509 chain). `disclosable` are JSON Pointers (see
    `ancre.trust.sd_jwt.paths`); names and birth dates (:data:`PERSONAL_CLAIMS`) must be among
    them (or inside a disclosable object), and the registered claims of
    :data:`NEVER_DISCLOSABLE` may not be. The full claims are checked against the schema of
    `vct` when ancre has one (`schema_violation`)."""
    if not isinstance(vct, str) or not vct:
        raise ConfigurationError("`vct` must be a non-empty string")
    if not isinstance(issuer, str) or ":" not in issuer:
        raise ConfigurationError(f"issuer {issuer!r} must be a URI (a DID or an https URL)")
    header = _issuer_key_header(issuer, kid, x5c)
    clash = _REGISTERED.intersection(claims)
    if clash:
        raise ConfigurationError(
            f"set registered claims {sorted(clash)} through the parameters, not in `claims`"
        )
    patterns = _compile_paths(disclosable)
    plain = _personal_in_the_clear(claims, (), patterns)
    if plain:
        raise ConfigurationError(
            f"personal data must be selectively disclosable, never plain: {', '.join(plain)}"
        )
    payload: dict[str, Any] = {"iss": issuer, "vct": vct}
    if subject is not None:
        payload["sub"] = subject
    for name, moment in (("iat", issued_at), ("nbf", valid_from), ("exp", valid_until)):
        value = _numeric(moment, name)
        if value is not None:
            payload[name] = value
    if holder_jwk is not None:
        public = holder_jwk if isinstance(holder_jwk, PublicKey) else PublicKey.from_jwk(holder_jwk)
        payload["cnf"] = {"jwk": public.to_jwk()}
    if status is not None:
        payload["status"] = _status_reference(status)
    payload.update(claims)
    # DESIGN "The credential types": issuance validates against the type's schema (a `vct`
    # without one passes), on the claims as a verifier given every disclosure sees them.
    issues = sd_jwt_claims_schema_errors(payload)
    if issues:
        detail = "; ".join(f"{i.path}: {i.message}" for i in issues[:3])
        raise InvalidError(Code.SCHEMA_VIOLATION, f"{vct}: {detail}")
    return issue_sd_jwt(
        payload,
        signer,
        disclosable=[_pointer_of(p) for p in patterns],
        header=header,
        decoys=decoys,
        digest_alg=digest_alg,
        salt_source=salt_source,
        plain_claims=NEVER_DISCLOSABLE,
    )


def _pointer_of(pattern: tuple[str, ...]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in pattern)


# ------------------------------------------------------------------------------------------
# verification


def _is_uri(value: str) -> bool:
    scheme, sep, rest = value.partition(":")
    return (
        bool(sep and rest and scheme)
        and scheme[0].isascii()
        and scheme[0].isalpha()
        and all(c.isascii() and (c.isalnum() or c in "+-.") for c in scheme)
    )


def _check_data_model(payload: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    vct = claims.get("vct")
    if not isinstance(vct, str) or not vct:
        raise InvalidError(Code.INVALID_VCT, "`vct` must be a non-empty string")
    # §3.2.2.2: these registered claims are in the clear; a disclosure carrying one (an
    # `exp` the holder can leave out, a `cnf` it can swap) is refused.
    smuggled = sorted(n for n in NEVER_DISCLOSABLE.intersection(claims) if n not in payload)
    if smuggled:
        raise InvalidError(Code.INVALID_PROPERTY, f"{smuggled} must not be selectively disclosable")
    integrity = claims.get("vct#integrity")
    if integrity is not None and not isinstance(integrity, str):
        raise InvalidError(Code.INVALID_PROPERTY, "`vct#integrity` must be a string")
    sub = claims.get("sub")
    if sub is not None and not (isinstance(sub, str) and sub):
        raise InvalidError(Code.INVALID_PROPERTY, "`sub` must be a non-empty string")
    for name in ("iat", "nbf", "exp"):
        numeric_date(claims, name)
    cnf = claims.get("cnf")
    if cnf is not None and not (isinstance(cnf, dict) and cnf):
        raise InvalidError(Code.INVALID_PROPERTY, "`cnf` must be a non-empty JSON object")
    if "status" in claims:
        status = claims["status"]
        entry = status.get("status_list") if isinstance(status, dict) else None
        if not isinstance(entry, dict):
            raise InvalidError(
                Code.INVALID_PROPERTY, "`status` must be an object with a `status_list`"
            )
        idx, uri = entry.get("idx"), entry.get("uri")
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise InvalidError(
                Code.INVALID_PROPERTY, "`status.status_list.idx` must be a non-negative integer"
            )
        if not isinstance(uri, str) or not _is_uri(uri):
            raise InvalidError(Code.INVALID_PROPERTY, "`status.status_list.uri` must be a URI")
    return f"SD-JWT VC of type {vct}"


def _schema_issues(processed: ProcessedSdJwt) -> tuple[list[SchemaIssue], int]:
    """Schema issues, less "required property missing" where the object the property
    belongs to had digests left undisclosed: a holder may withhold any disclosable claim
    (that is the point of selective disclosure), so only what *is* disclosed is judged."""
    issues = sd_jwt_claims_schema_errors(processed.claims)
    if not issues or not processed.withheld:
        return issues, 0
    kept, withheld = [], 0
    for issue in issues:
        parent = _resolve_parent(processed.claims, issue.path)
        name = issue.path.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
        if (
            parent is not None
            and issue.message == f"required property {name!r} is missing"
            and processed.withheld_at(parent)
        ):
            withheld += 1
        else:
            kept.append(issue)
    return kept, withheld


def _resolve_parent(claims: Mapping[str, Any], pointer: str) -> object | None:
    node: Any = claims
    tokens = pointer.split("/")[1:-1] if pointer.startswith("/") else []
    for token in tokens:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node if isinstance(node, dict) else None


class SdJwtVcAdapter(CredentialAdapter):
    """SD-JWT VC (``dc+sd-jwt``; legacy ``vc+sd-jwt``) for the engine: the signature step
    also checks the disclosures' digests; the holder-binding step the Key Binding JWT."""

    __slots__ = ("claims", "max_disclosures", "parsed", "processed")

    def __init__(
        self, data: Any, ctx: VerifyContext, *, max_disclosures: int = MAX_DISCLOSURES
    ) -> None:
        super().__init__(data, ctx)
        self.max_disclosures = max_disclosures

    def parse(self) -> str:
        parsed = self.parsed = parse_sd_jwt(
            self.data, self.ctx.policy, max_disclosures=self.max_disclosures
        )
        self.run.header = parsed.header
        return f"SD-JWT with {len(parsed.disclosures)} disclosure(s) and strict JSON"

    def format(self) -> str:
        header, payload = self.parsed.header, self.parsed.payload
        typ = media_type(header.get("typ"))
        if typ not in SD_JWT_VC_TYPS:
            raise InvalidError(
                Code.UNSUPPORTED_TYP,
                f"`typ` {header.get('typ')!r} is not an SD-JWT VC type (dc+sd-jwt)",
            )
        if "@context" in payload and "vct" not in payload:
            # `vc+sd-jwt` also names a VCDM 2.0 credential secured with SD-JWT
            # (VC-JOSE-COSE §3.2), a different data model: not read yet, so undecided.
            raise IndeterminateError(
                Code.UNSUPPORTED_FORMAT,
                "a VCDM credential secured with SD-JWT (VC-JOSE-COSE §3.2) is not supported yet",
            )
        self.run.fmt = FORMAT_SD_JWT_VC
        check_format_accepted(self.run.fmt, self.ctx.policy)
        legacy = "" if typ == SD_JWT_VC_TYP else f" (legacy typ {typ})"
        return f"{FORMAT_SD_JWT_VC}{legacy}"

    def issuer_key(self) -> str:
        header = self.parsed.header
        issuer = self.parsed.payload.get("iss")
        if not isinstance(issuer, str) or not _is_uri(issuer):
            raise InvalidError(Code.INVALID_ISSUER, "`iss` must be the issuer's URI")
        self.run.issuer = issuer
        self.key = resolve_key(header, issuer, self.ctx.keys)
        if "x5c" in header:
            named = "the x5c certificate"
        elif isinstance(header.get("kid"), str):
            named = header["kid"]
        elif issuer.startswith("did:"):
            named = "the DID's only assertionMethod key (no `kid`)"
        else:
            named = "the issuer's only key (no `kid`)"
        return f"{named} is a key of {issuer}"

    def signature(self) -> str:
        self.parsed.jws.verify_with(self.key)
        processed = self.processed = process_disclosures(self.parsed, self.ctx.policy)
        self.claims = self.run.document = processed.claims
        return _signature_message(self.parsed, processed)

    def data_model(self) -> str:
        claims = self.claims
        message = _check_data_model(self.parsed.payload, claims)
        self.run.types = (claims["vct"],)
        sub = claims.get("sub")
        self.run.subject = sub if isinstance(sub, str) else None
        return message

    def check_time(self) -> str:
        return _check_time(self.parsed.payload, self.ctx.clock.now(), self.ctx.policy)

    def check_schema(self) -> str:
        issues, withheld = _schema_issues(self.processed)
        vct = self.claims["vct"]
        if issues:
            detail = "; ".join(f"{i.path}: {i.message}" for i in issues[:3])
            raise InvalidError(Code.SCHEMA_VIOLATION, f"{vct} {detail}")
        note = f" ({withheld} required claim(s) withheld by the holder)" if withheld else ""
        return f"claims match the schema of {vct}{note}"

    def status_entry(self) -> tuple[bool, str]:
        return "status" in self.claims, "status reference"

    def issued_at(self) -> datetime | None:
        return numeric_date(self.claims, "nbf") or numeric_date(self.claims, "iat")

    def signed_at(self) -> datetime | None:
        return numeric_date(self.claims, "iat") or numeric_date(self.claims, "nbf")

    def holder_binding(self) -> str:
        ctx = self.ctx
        message = check_key_binding(self.parsed, self.processed, clock=ctx.clock, policy=ctx.policy)
        if self.parsed.key_binding is None and ctx.policy.require_holder:
            # An SD-JWT VC names its holder only through a verified KB-JWT (its `cnf` key).
            raise InvalidError(
                Code.POLICY_VIOLATION,
                "the policy requires presentations to name their holder, and this SD-JWT VC "
                "comes without the key-binding JWT that would",
            )
        if self.parsed.key_binding is not None:
            # A bare SD-JWT leaves `holder` None.
            self.run.holder = key_binding_holder(self.parsed)
        return message


def verify_sd_jwt_vc(
    token: str | bytes,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
    max_disclosures: int = MAX_DISCLOSURES,
) -> VerificationResult:
    """Verify an SD-JWT VC (``dc+sd-jwt``; legacy ``vc+sd-jwt`` accepted), presented with or
    without a Key Binding JWT, through every step of the engine. Never raises for bad
    input: every problem is a failed check with a stable code. The processed (disclosed)
    claims are `result.credential`, the ``vct`` is `result.types`.

    The issuer key comes from `resolver`: a DID resolver (``kid`` a DID URL of ``iss``) or a
    `KeySource` (pinned keys, an ``x5c`` chain validator). Key binding follows
    `policy.require_key_binding`, `audience`, `nonce` and `key_binding_max_age`."""
    context = VerifyContext(resolver, clock, policy, status, trust)
    return run_steps(SdJwtVcAdapter(token, context, max_disclosures=max_disclosures))
