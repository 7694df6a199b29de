"""Reading and checking a wallet's Authorization Response (OpenID4VP 1.0 §8).

Every presentation runs ancre's full verification pipeline bound to the transaction's
`nonce` and the Client Identifier (`aud` of the KB-JWT or of the VP JWT), and must then
satisfy its DCQL Credential Query: format, `vct_values`/`type_values`, every requested claim
path (for SD-JWT, among the disclosed claims) and its `values`, cryptographic holder binding
(§B.3: an SD-JWT+KB; §B.1: a VP by the credential's subject) — the verifier never relies on
the wallet having applied the query (§14.9). A response is accepted once, only with the
transaction's `state`, and only before the transaction expires; responses that do not carry
the right `state` (or do not decrypt) change nothing.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl

from ancre.trust.clock import Clock
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code
from ancre.trust.jose.vc_jose import (
    FORMAT_VC_JOSE,
    FORMAT_VC_JWT_11,
    FORMAT_VP_JOSE,
    FORMAT_VP_JWT_11,
)
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, VerificationResult
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.trust.sd_jwt.vc import FORMAT_SD_JWT_VC
from ancre.trust.vcdm.model import issuer_id, subject_ids, types_of

from .dcql import (
    MAX_PRESENTATIONS_PER_QUERY,
    CredentialQuery,
    DcqlQuery,
    claims_satisfied,
    types_match,
)
from .errors import RefusedError
from .jwe import decrypt_response
from .onboarding import Member, Resolve, bind_policy, check_bundle
from .transactions import DIRECT_POST_JWT, Transaction, TransactionStore

__all__ = [
    "ResponseChecker",
    "Verdict",
    "iso",
    "parse_form",
    "parse_wallet_nonce",
]

MAX_FORM_FIELDS: Final = 16
# RFC 6749 §4.1.2.1 / §5.2: the characters allowed in `error` and `error_description`.
_OAUTH_TEXT: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,1024}")
_WALLET_NONCE: Final = re.compile(r"[\x21-\x7e]{1,256}")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------
# form bodies


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """RFC 6749 §3.1 / OpenID4VP §8.2: `application/x-www-form-urlencoded`, UTF-8, each
    parameter at most once."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise RefusedError("the body must be application/x-www-form-urlencoded")
    if not body:
        return {}
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise RefusedError("the form body is malformed (or not UTF-8)") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise RefusedError(f"parameter {name!r} is repeated")
        params[name] = value
    return params


def parse_wallet_nonce(params: Mapping[str, str]) -> str | None:
    """§5.10: the request to a `request_uri` by POST; `wallet_metadata` is read only to
    check it is a JSON object (ancre offers one configuration to every wallet)."""
    if "wallet_metadata" in params:
        try:
            metadata = loads_strict(params["wallet_metadata"], what="wallet_metadata")
        except AncreError as error:
            raise RefusedError(error.message) from None
        if not isinstance(metadata, dict):
            raise RefusedError("wallet_metadata must be a JSON object")
    wallet_nonce = params.get("wallet_nonce")
    if wallet_nonce is not None and not _WALLET_NONCE.fullmatch(wallet_nonce):
        raise RefusedError("wallet_nonce must be 1-256 printable ASCII characters")
    return wallet_nonce


# ------------------------------------------------------------------------------------------
# the verdict


def _combine(statuses: Sequence[Status]) -> Status:
    if Status.INVALID in statuses:
        return Status.INVALID
    if Status.INDETERMINATE in statuses:
        return Status.INDETERMINATE
    return Status.VALID


class Verdict:
    """What a response yields: per credential query, the result of each presentation, and
    the errors that decide the status."""

    def __init__(self) -> None:
        self.credentials: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[dict[str, Any]] = []
        self.statuses: list[Status] = []
        #: The presentations that verified and satisfied their query.
        self.accepted: list[Member] = []
        #: A profile's report over the whole answer (`onboarding.check_bundle`).
        self.profile_report: dict[str, Any] | None = None

    def fail(
        self,
        code: str,
        message: str,
        *,
        query: str | None = None,
        index: int | None = None,
        step: str | None = None,
        status: Status = Status.INVALID,
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if query is not None:
            error["credential_query"] = query
        if index is not None:
            error["index"] = index
        if step is not None:
            error["step"] = step
        self.errors.append(error)
        self.statuses.append(status)

    @property
    def status(self) -> Status:
        return _combine(self.statuses) if self.statuses else Status.INVALID

    def to_json(self, **extra: Any) -> dict[str, Any]:
        status = self.status
        out = {
            "status": status.value,
            "verified": status is Status.VALID,
            "credentials": self.credentials,
            "errors": self.errors,
            **extra,
        }
        if self.profile_report is not None:
            # The bundle is what the answer is: valid only when every member and every
            # cross-check is.
            out["onboarding"] = {"status": status.value, **self.profile_report}
        return out


def _vp_token_shape(vp_token: Any, query: DcqlQuery, verdict: Verdict) -> tuple[bool, bool]:
    """§8.1 and §6.4.2: an object keyed by credential query ids, each an array of
    presentations (one unless `multiple`), covering what the query requires. Returns
    whether every entry is well formed, and whether the query is covered."""
    if not isinstance(vp_token, dict) or not vp_token:
        verdict.fail(Code.INVALID_VP_TOKEN, "vp_token must be a non-empty JSON object")
        return False, False
    ok = True
    for key, value in vp_token.items():
        q = query.by_id(key)
        if q is None:
            verdict.fail(Code.INVALID_VP_TOKEN, f"vp_token names unknown credential query {key!r}")
            ok = False
        elif not isinstance(value, list) or not value:
            verdict.fail(
                Code.INVALID_VP_TOKEN, "must be a non-empty array of presentations", query=key
            )
            ok = False
        elif len(value) > (MAX_PRESENTATIONS_PER_QUERY if q.multiple else 1):
            verdict.fail(
                Code.INVALID_VP_TOKEN,
                f"{len(value)} presentations"
                + ("" if q.multiple else " for a query without `multiple`"),
                query=key,
            )
            ok = False
        elif not all(isinstance(p, str) for p in value):
            verdict.fail(Code.INVALID_VP_TOKEN, f"{q.format} presentations are strings", query=key)
            ok = False
    answered, covered = set(vp_token), True
    if query.credential_sets is None:
        missing = [q.id for q in query.credentials if q.id not in answered]
        if missing:
            verdict.fail(Code.DCQL_NOT_SATISFIED, f"no presentation for {missing}")
            covered = False
    else:
        for i, cset in enumerate(query.credential_sets):
            if cset.required and not any(set(o) <= answered for o in cset.options):
                verdict.fail(Code.DCQL_NOT_SATISFIED, f"credential_sets[{i}] is not satisfied")
                covered = False
    return ok, covered


class _MismatchError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _self_issued(
    claims: Mapping[str, Any], holder: str | None, self_issued: frozenset[str]
) -> bool:
    """A credential the holder issued about itself, of a type the profile lets it
    (the engine's trust step applied the same rule)."""
    own = [t for t in types_of(claims) if t != "VerifiableCredential"]
    return (
        bool(own)
        and set(own) <= self_issued
        and holder is not None
        and (issuer_id(claims) == holder)
    )


def _check_presentation(
    result: VerificationResult,
    query: CredentialQuery,
    self_issued: frozenset[str] = frozenset(),
) -> Mapping[str, Any]:
    """After the engine said valid: does this presentation answer `query`? Returns the
    verified credential's claims; raises `_MismatchError`."""
    if query.format == FORMAT_SD_JWT_VC:
        if result.format != FORMAT_SD_JWT_VC:
            raise _MismatchError(Code.DCQL_NOT_SATISFIED, f"a {result.format} is not a dc+sd-jwt")
        # §B.3.5: holder binding is an SD-JWT+KB. Without a KB-JWT the engine accepts a
        # bearer SD-JWT (no `cnf`), which anyone could replay; it names a holder only when
        # a KB-JWT verified.
        if result.holder is None:
            raise _MismatchError(
                Code.KEY_BINDING_MISSING, "an SD-JWT+KB (key binding JWT) is required"
            )
        claims = result.credential or {}
        if not result.types or result.types[0] not in query.vct_values:
            vct = result.types[0] if result.types else None
            raise _MismatchError(
                Code.DCQL_NOT_SATISFIED, f"vct {vct!r} is not among {query.vct_values}"
            )
    else:
        if result.format not in (FORMAT_VP_JOSE, FORMAT_VP_JWT_11):
            raise _MismatchError(Code.DCQL_NOT_SATISFIED, f"a {result.format} is not a VP JWT")
        if len(result.credentials) != 1:
            raise _MismatchError(
                Code.DCQL_NOT_SATISFIED,
                f"the VP carries {len(result.credentials)} credentials, expected one",
            )
        inner = result.credentials[0]
        if inner.format not in (FORMAT_VC_JOSE, FORMAT_VC_JWT_11):
            raise _MismatchError(Code.DCQL_NOT_SATISFIED, f"a {inner.format} is not a jwt_vc_json")
        claims = inner.credential or {}
        # §2 "Cryptographic Holder Binding": the credential names the key (here: the DID)
        # the holder signed the presentation with — or, for what a profile lets a holder
        # declare itself (the Gaia-X T&C), the holder signed the credential too.
        if result.holder is None or (
            result.holder not in subject_ids(claims)
            and not _self_issued(claims, result.holder, self_issued)
        ):
            raise _MismatchError(
                Code.HOLDER_MISMATCH,
                f"the VP holder {result.holder} is not the credential's subject",
            )
        if not types_match(claims, query.type_values):
            raise _MismatchError(
                Code.DCQL_NOT_SATISFIED,
                f"types {list(types_of(claims))} match no option of type_values",
            )
    missing = claims_satisfied(claims, query)
    if missing is not None:
        raise _MismatchError(Code.DCQL_NOT_SATISFIED, missing)
    return claims


def _disclosed(presentation: str) -> list[str]:
    """The names of the claims an SD-JWT presentation disclosed (its disclosures'; array
    elements have none), for the verdict: what the holder chose to show beyond the claims
    always in the clear. The presentation verified already."""
    try:
        issued = SdJwt.parse(presentation[: presentation.rfind("~") + 1])
    except AncreError:
        return []
    return sorted({d.name for d in issued.disclosures if d.name is not None})


def _wallet_error(params: Mapping[str, Any], verdict: Verdict) -> dict[str, Any] | None:
    error = params.get("error")
    description = params.get("error_description")
    if not isinstance(error, str) or not _OAUTH_TEXT.fullmatch(error):
        raise RefusedError("`error` must be an OAuth error code")
    if description is not None and (
        not isinstance(description, str) or not _OAUTH_TEXT.fullmatch(description)
    ):
        raise RefusedError("`error_description` has characters OAuth does not allow")
    detail = {"error": error}
    if description is not None:
        detail["error_description"] = description
    verdict.fail(
        Code.WALLET_ERROR,
        f"the wallet answered {error}" + (f": {description}" if description else ""),
    )
    return detail


# ------------------------------------------------------------------------------------------
# one response, from the form to the recorded verdict


@dataclass(frozen=True)
class ResponseChecker:
    """Reads an Authorization Response for a transaction, claims the transaction (once) and
    records the verdict. `verify(item, policy)` runs ancre's verification pipeline;
    `policy` is the service's, bound here to the transaction's nonce and `client_id`."""

    store: TransactionStore
    clock: Clock
    policy: VerificationPolicy
    verify: Callable[[Any, VerificationPolicy], VerificationResult]
    client_id: str
    enc_values: tuple[str, ...]
    #: The verifier's DID resolver, for a profile's cross-checks (a did:web holder's keys).
    resolve: Resolve | None = None

    def read_params(self, tx: Transaction, form: Mapping[str, str]) -> dict[str, Any]:
        """The response parameters: from the form (direct_post), or from the decrypted JWE
        (direct_post.jwt; only an error may come in the clear, §8.3.1)."""
        if tx.response_mode == DIRECT_POST_JWT and "response" in form:
            return self._decrypted(tx, form)
        if "response" in form:
            raise RefusedError("an encrypted `response` was not requested")
        if tx.response_mode == DIRECT_POST_JWT and "error" not in form:
            raise RefusedError("this request asked for an encrypted response (direct_post.jwt)")
        params: dict[str, Any] = dict(form)
        if "vp_token" in params:
            try:
                params["vp_token"] = loads_strict(
                    params["vp_token"], what="vp_token", max_depth=self.policy.max_json_depth
                )
            except AncreError as error:
                # Parsed after `state` is checked (in `process`), so keep the failure for then.
                params["vp_token"] = error
        return params

    def _decrypted(self, tx: Transaction, form: Mapping[str, str]) -> dict[str, Any]:
        if "vp_token" in form:
            raise RefusedError("send the vp_token inside the encrypted `response` only")
        if tx.enc_key is None or tx.enc_kid is None:
            raise RefusedError("this request has no encryption key")
        payload = decrypt_response(
            form["response"],
            tx.enc_key,
            kid=tx.enc_kid,
            enc_values=self.enc_values,
            max_depth=self.policy.max_json_depth,
        )
        if not isinstance(payload, dict):
            raise RefusedError("the decrypted response must be a JSON object")
        return payload

    def process(self, tx: Transaction, form: Mapping[str, str]) -> str | None:
        """Check the response and record the verdict. None when the presentations were
        accepted (or the wallet reported an error); else why they were not. Raises
        `RefusedError`, before anything changes, for a response that is not the
        transaction's (wrong `state`, unreadable, already answered, expired)."""
        params = self.read_params(tx, form)
        state = params.get("state")
        if not isinstance(state, str) or not hmac.compare_digest(state.encode(), tx.state.encode()):
            raise RefusedError("`state` is missing or does not match this request")
        verdict = Verdict()
        wallet_error = None
        if "error" in params:
            wallet_error = _wallet_error(params, verdict)  # validates before claiming
        refusal = self.store.claim(tx, self.clock.now())
        if refusal is not None:
            raise RefusedError(refusal)
        extra: dict[str, Any] = {"response_mode": tx.response_mode}
        try:
            if wallet_error is not None:
                extra["wallet_error"] = wallet_error
                return None
            self.check(tx, params.get("vp_token"), verdict)
            if verdict.status is Status.VALID:
                return None
            codes = sorted({e["code"] for e in verdict.errors})
            return f"the presentation was not accepted ({', '.join(codes)})"
        finally:
            extra["received_at"] = iso(self.clock.now())
            self.store.finish(tx, verdict.to_json(**extra))

    def check(self, tx: Transaction, vp_token: Any, verdict: Verdict) -> None:
        """Verify every presentation of `vp_token` and match it to its credential query."""
        if vp_token is None:
            verdict.fail(Code.INVALID_VP_TOKEN, "the response has no vp_token")
            return
        if isinstance(vp_token, AncreError):
            verdict.fail(vp_token.code.value, f"vp_token: {vp_token.message}")
            return
        well_formed, covered = _vp_token_shape(vp_token, tx.query, verdict)
        # With a profile, what was sent is still verified when a member is missing, so the
        # bundle's report says which one.
        if well_formed and (covered or tx.profile is not None):
            bound = replace(
                bind_policy(tx.profile, self.policy),
                nonce=tx.nonce,
                audience=self.client_id,
                require_key_binding=True,
            )
            for query_id, presentations in vp_token.items():
                query = tx.query.by_id(query_id)
                if query is None:  # _vp_token_shape refused unknown ids already
                    continue
                entries = verdict.credentials.setdefault(query_id, [])
                for index, presentation in enumerate(presentations):
                    entries.append(self._check_one(presentation, query, index, bound, verdict))
        if tx.profile is not None:
            self._check_profile(tx, verdict)

    def _check_profile(self, tx: Transaction, verdict: Verdict) -> None:
        """The cross-checks of the transaction's profile over every accepted presentation."""
        if tx.profile is None:
            return
        outcome = {}
        for query_id, entries in verdict.credentials.items():
            accepted = sum(1 for q, _, _, _ in verdict.accepted if q == query_id)
            if entries and accepted == len(entries):
                outcome[query_id] = Status.VALID.value
            else:
                failed = [str(e.get("status")) for e in entries if e.get("status") != "valid"]
                outcome[query_id] = failed[0] if failed else Status.INVALID.value
        report, errors = check_bundle(tx.profile, tx.query, verdict.accepted, outcome, self.resolve)
        for code, message, status in errors:
            verdict.fail(code, message, status=status)
        verdict.profile_report = report

    def _check_one(
        self,
        presentation: str,
        query: CredentialQuery,
        index: int,
        bound: VerificationPolicy,
        verdict: Verdict,
    ) -> dict[str, Any]:
        result = self.verify(presentation, bound)
        entry = result.to_json()
        if not result.valid:
            for error in result.errors:
                verdict.fail(
                    error.code or "error",
                    error.message,
                    query=query.id,
                    index=index,
                    step=error.step.value,
                    status=result.status,
                )
            return entry
        try:
            claims = _check_presentation(result, query, bound.self_issued_types)
        except _MismatchError as mismatch:
            verdict.fail(mismatch.code, mismatch.message, query=query.id, index=index)
            return entry
        entry["claims"] = dict(claims)
        if result.format == FORMAT_SD_JWT_VC:
            entry["disclosed"] = _disclosed(presentation)
        verdict.statuses.append(Status.VALID)
        types = result.types if result.format == FORMAT_SD_JWT_VC else types_of(claims)
        verdict.accepted.append((query.id, result.holder, tuple(types), claims))
        return entry
