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

Verification follows the pipeline of ``vc_jose``: parse → format → issuer key → signature
(and disclosure digests) → data model → time → schema → status → trust → holder binding →
policy; the first failure ends the run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.did.document import DidResolver, did_of
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
)
from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.core import (
    DEFAULT_DIGEST_ALG,
    MAX_DISCLOSURES,
    ProcessedSdJwt,
    SaltSource,
    SdJwt,
    _check_time,
    _compile_paths,
    _pattern_covers,
    _signature_message,
    check_key_binding,
    issue_sd_jwt,
    parse_sd_jwt,
    process_disclosures,
)
from ancre.trust.steps import (
    KeySource,
    Run,
    StatusChecker,
    TrustChecker,
    check_format_accepted,
    media_type,
    numeric_date,
    policy_step,
    resolve_key,
    status_step,
    trust_step,
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
    `ancre.trust.sd_jwt.core`); names and birth dates (:data:`PERSONAL_CLAIMS`) must be among
    them (or inside a disclosable object), and the registered claims of
    :data:`NEVER_DISCLOSABLE` may not be. The full claims are checked against the schema of
    `vct` when ancre has one (`schema_violation`)."""
    if not isinstance(vct, str) or not vct:
        raise ConfigurationError("`vct` must be a non-empty string")
    if not isinstance(issuer, str) or ":" not in issuer:
        raise ConfigurationError(f"issuer {issuer!r} must be a URI (a DID or an https URL)")
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
    without a Key Binding JWT. Never raises for bad input: every problem is a failed check
    with a stable code. The processed (disclosed) claims are `result.credential`, the
    ``vct`` is `result.types`.

    The issuer key comes from `resolver`: a DID resolver (``kid`` a DID URL of ``iss``) or a
    `KeySource` (pinned keys, an ``x5c`` chain validator). Key binding follows
    `policy.require_key_binding`, `audience`, `nonce` and `key_binding_max_age`."""
    run = Run()
    step = Step.PARSE
    try:
        parsed = parse_sd_jwt(token, policy, max_disclosures=max_disclosures)
        run.header = parsed.header
        run.ok(step, f"SD-JWT with {len(parsed.disclosures)} disclosure(s) and strict JSON")

        step = Step.FORMAT
        typ = media_type(parsed.header.get("typ"))
        if typ not in SD_JWT_VC_TYPS:
            raise InvalidError(
                Code.UNSUPPORTED_TYP,
                f"`typ` {parsed.header.get('typ')!r} is not an SD-JWT VC type (dc+sd-jwt)",
            )
        if "@context" in parsed.payload and "vct" not in parsed.payload:
            # `vc+sd-jwt` also names a VCDM 2.0 credential secured with SD-JWT
            # (VC-JOSE-COSE §3.2), a different data model: not read yet, so undecided.
            raise IndeterminateError(
                Code.UNSUPPORTED_FORMAT,
                "a VCDM credential secured with SD-JWT (VC-JOSE-COSE §3.2) is not supported yet",
            )
        run.fmt = FORMAT_SD_JWT_VC
        check_format_accepted(run.fmt, policy)
        legacy = "" if typ == SD_JWT_VC_TYP else f" (legacy typ {typ})"
        run.ok(step, f"{FORMAT_SD_JWT_VC}{legacy}")

        step = Step.ISSUER_KEY
        issuer = parsed.payload.get("iss")
        if not isinstance(issuer, str) or not _is_uri(issuer):
            raise InvalidError(Code.INVALID_ISSUER, "`iss` must be the issuer's URI")
        run.issuer = issuer
        key = resolve_key(parsed.header, issuer, resolver)
        named = parsed.header.get("kid") or (
            "the x5c certificate" if "x5c" in parsed.header else "the pinned key"
        )
        run.ok(step, f"{named} is a key of {issuer}")

        step = Step.SIGNATURE
        parsed.jws.verify_with(key)
        processed = process_disclosures(parsed, policy)
        claims = processed.claims
        run.document = claims
        run.ok(step, _signature_message(parsed, processed))

        step = Step.DATA_MODEL
        run.ok(step, _check_data_model(parsed.payload, claims))
        run.types = (claims["vct"],)
        sub = claims.get("sub")
        run.subject = sub if isinstance(sub, str) else None

        step = Step.TIME
        run.ok(step, _check_time(parsed.payload, clock.now(), policy))

        step = Step.SCHEMA
        if policy.check_schema:
            issues, withheld = _schema_issues(processed)
            if issues:
                detail = "; ".join(f"{i.path}: {i.message}" for i in issues[:3])
                raise InvalidError(Code.SCHEMA_VIOLATION, f"{claims['vct']} {detail}")
            note = f" ({withheld} required claim(s) withheld by the holder)" if withheld else ""
            run.ok(step, f"claims match the schema of {claims['vct']}{note}")
        else:
            run.skip(step, "schema check disabled by policy")

        step = Step.STATUS
        status_step(
            run,
            claims,
            present="status" in claims,
            what="status reference",
            issuer=issuer,
            clock=clock,
            policy=policy,
            status=status,
        )

        step = Step.TRUST
        trust_step(
            run,
            issuer=issuer,
            types=run.types,
            issued_at=numeric_date(claims, "nbf") or numeric_date(claims, "iat"),
            clock=clock,
            credential=claims,
            policy=policy,
            trust=trust,
        )

        step = Step.HOLDER_BINDING
        run.ok(step, check_key_binding(parsed, processed, clock=clock, policy=policy))

        step = Step.POLICY
        policy_step(run, policy)
    except AncreError as error:
        return run.fail(step, error)
    return run.result(Status.VALID)
