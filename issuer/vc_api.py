"""W3C VC-API for machine clients: ``POST /credentials/issue`` and ``POST /credentials/status``.

A client authenticates with its API key (``Authorization: Bearer ancre_…``,
:mod:`ancre.issuer.clients`) and sends ``{"credential": {…}, "options": {}}``. The credential
is checked against every VCDM 2.0 MUST by the verifier's own validator
(:func:`ancre.trust.vcdm.model.check_credential`) and against its type's JSON Schema; all
the reasons found are listed in one RFC 9457 problem (422). The caller's ``id``, ``issuer``
and dates are kept: an ``issuer`` other than this issuer's DID (or than the client's) is
refused, never replaced; ``validFrom`` defaults to now and ``validUntil`` to the type's
validity when absent. The issuer adds its two ``BitstringStatusListEntry`` entries
(revocation and suspension, one index) and the proof its configuration names: an enveloped
``vc+jwt`` or an embedded ``DataIntegrityProof`` (``eddsa-rdfc-2022``, Ed25519 keys only).

``/credentials/status`` revokes, suspends or reinstates a credential; a client may change
only the credentials it issued itself, and only of types it is still allowed to issue.

The library part (:class:`VcApi`) knows nothing of HTTP; :func:`vc_api_router` is the thin
FastAPI layer that ``ancre.issuer.api`` mounts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ancre.issuer.accreditation import Accreditation
from ancre.issuer.clients import Client, ClientStore, VcApiCredentialRow
from ancre.issuer.db import CredentialRow
from ancre.issuer.service import (
    REVOCATION_LIST,
    SUSPENSION_LIST,
    Issuer,
    IssuerError,
    StatusAction,
    _bitstring_entry,
    internal_error,
)
from ancre.issuer.templates import TEMPLATES, Template
from ancre.trust.codec.json import loads_strict
from ancre.trust.data_integrity.proofs import add_proof
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InternalError,
)
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.keys.jwk import KeyType
from ancre.trust.net.inbound import read_limited
from ancre.trust.problem import problem
from ancre.trust.vcdm.credentials import subject_schema_errors
from ancre.trust.vcdm.model import (
    VCDM2_CONTEXT,
    _check_context,
    _check_id,
    _check_subjects,
    _check_type,
    check_credential,
    issuer_id,
    parse_datetime_stamp,
    types_of,
)

__all__ = [
    "MAX_BODY_BYTES",
    "ProofFormat",
    "VcApi",
    "VcApiError",
    "VcApiSettings",
    "vc_api_router",
]

ProofFormat = Literal["vc+jwt", "DataIntegrityProof"]
PROOF_FORMATS: Final = ("vc+jwt", "DataIntegrityProof")
#: A credential with a few dozen claims is a few KiB; 256 KiB leaves room and bounds the
#: JSON-LD work a Data Integrity proof does on it.
MAX_BODY_BYTES: Final = 256 * 1024
_MAX_ID: Final = 128  # the issued_credentials.id column
_BASE_TYPES: Final = frozenset({"VerifiableCredential"})
_STATUS_ACTIONS: Final[Mapping[str, StatusAction]] = {
    "revoked": "revoke",
    "suspended": "suspend",
    "valid": "reinstate",
}
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class VcApiSettings:
    """How the VC-API issues: the proof (``vc+jwt`` enveloped, or ``DataIntegrityProof``),
    the accreditation check (None: none — the CLI refuses to start so unless told
    ``--no-accreditation-check``) and the request body limit."""

    proof: ProofFormat = "vc+jwt"
    accreditation: Accreditation | None = None
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.proof not in PROOF_FORMATS:
            raise ConfigurationError(
                f"the VC-API proof must be one of {', '.join(PROOF_FORMATS)}, not {self.proof!r}"
            )


class VcApiError(AncreError):
    """A refused VC-API request: an RFC 9457 problem with its HTTP status and, for a
    credential that breaks several rules, every reason."""

    def __init__(
        self,
        code: Code,
        message: str,
        status: int,
        reasons: tuple[Mapping[str, str], ...] = (),
    ) -> None:
        super().__init__(code, message)
        self.status = status
        self.reasons = reasons

    def response(self) -> JSONResponse:
        extensions = {"errors": [dict(r) for r in self.reasons]} if self.reasons else None
        headers = {"Cache-Control": "no-store"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="vc-api"'
        if self.status == 503:
            headers["Retry-After"] = "1"
        return problem(
            self.status,
            self.code,
            self.message,
            title=_TITLES.get(self.status, "Request refused"),
            extensions=extensions,
        ).response(JSONResponse, headers=headers)


_TITLES: Final = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable credential",
    503: "Service unavailable",
}


def _reason(error: AncreError, pointer: str = "") -> dict[str, str]:
    reason = {"code": str(error.code), "detail": error.message}
    if pointer:
        reason["pointer"] = pointer
    return reason


def credential_reasons(credential: Any) -> list[dict[str, str]]:
    """Every VCDM 2.0 rule `credential` breaks, and its type's schema violations.

    The checks of :func:`check_credential` run one by one, so that a request missing both
    ``@context`` and ``type`` hears of both; then :func:`check_credential` itself runs (the
    verifier's validator is the authority: whatever it refuses is refused here)."""
    if not isinstance(credential, dict):
        return [{"code": str(Code.INVALID_PROPERTY), "detail": "`credential` must be an object"}]
    reasons: list[dict[str, str]] = []
    checks: tuple[tuple[str, Callable[[], object]], ...] = (
        ("/@context", lambda: _check_context(credential, VCDM2_CONTEXT)),
        ("/id", lambda: _check_id(credential, "")),
        ("/type", lambda: _check_type(credential, "VerifiableCredential")),
        ("/issuer", lambda: issuer_id(credential)),
        ("/credentialSubject", lambda: _check_subjects(credential)),
        ("/validFrom", lambda: _optional_stamp(credential, "validFrom")),
        ("/validUntil", lambda: _optional_stamp(credential, "validUntil")),
    )
    for pointer, check in checks:
        try:
            check()
        except AncreError as error:
            reasons.append(_reason(error, pointer))
    for member in ("proof", "credentialStatus"):
        if member in credential:
            reasons.append(
                {
                    "code": str(Code.INVALID_PROPERTY),
                    "detail": f"`{member}` is added by the issuer, not by the request",
                    "pointer": f"/{member}",
                }
            )
    if isinstance(credential.get("id"), str) and len(credential["id"]) > _MAX_ID:
        reasons.append(
            {
                "code": str(Code.INVALID_ID),
                "detail": f"`id` is longer than {_MAX_ID} characters",
                "pointer": "/id",
            }
        )
    try:
        check_credential(credential)
    except AncreError as error:
        if not any(r["detail"] == error.message for r in reasons):
            reasons.append(_reason(error))
    try:
        issues = subject_schema_errors(credential)
    except (AncreError, TypeError, AttributeError, ValueError):
        issues = []  # a subject too broken to check: the data-model reasons say why
    reasons.extend(
        {
            "code": str(Code.SCHEMA_VIOLATION),
            "detail": f"{i.credential_type}: {i.message}",
            "pointer": i.path,
        }
        for i in issues
    )
    return reasons


def _optional_stamp(credential: Mapping[str, Any], name: str) -> None:
    if name in credential:
        parse_datetime_stamp(credential[name], name)


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class VcApi:
    """The VC-API's library core over one :class:`Issuer`."""

    def __init__(self, issuer: Issuer, settings: VcApiSettings | None = None) -> None:
        self.issuer = issuer
        self.settings = settings or VcApiSettings()
        self.clients = ClientStore(issuer.engine, issuer.clock)
        if (
            self.settings.proof == "DataIntegrityProof"
            and issuer.store.public_key(issuer.config.current_key.name).key_type
            is not KeyType.ED25519
        ):
            raise ConfigurationError(
                "a DataIntegrityProof (eddsa-rdfc-2022) needs an Ed25519 signing key; this "
                f"issuer signs with {issuer.config.key_type}"
            )

    def authenticate(self, authorization: str | None) -> Client:
        """The client an ``Authorization: Bearer <API key>`` header names; 401 otherwise."""
        scheme, _, key = (authorization or "").partition(" ")
        client = None
        if scheme.lower() == "bearer" and 0 < len(key) <= 128:
            client = self.clients.authenticate(key.strip())
        if client is None:
            raise VcApiError(
                Code.UNAUTHORIZED, "a valid, unrevoked VC-API key is required (Bearer)", 401
            )
        return client

    # -- issue -----------------------------------------------------------------------------

    def issue(self, client: Client, request: Any) -> dict[str, Any]:
        """Check and sign the request's credential for `client`; the 201 body."""
        credential = _request_credential(request)
        reasons = credential_reasons(credential)
        if reasons:
            summary = "; ".join(r["detail"] for r in reasons[:3])
            raise VcApiError(
                Code(reasons[0]["code"]),
                f"the credential breaks {len(reasons)} rule(s): {summary}",
                422,
                tuple(reasons),
            )
        chosen = self._permitted(client, credential)
        if self.settings.accreditation is not None:
            self.settings.accreditation.require(chosen.credential_type)
        # A Certification's scheme and level must be the agency's; a missing validUntil is
        # then the scheme's validity.
        subjects = credential["credentialSubject"]
        first = subjects[0] if isinstance(subjects, list) else subjects
        claims = {k: v for k, v in dict(first).items() if k not in ("id", "@id", "type")}
        chosen = self.issuer.template_for(chosen.configuration_id, claims)
        return self._sign(client, chosen, credential)

    def _permitted(self, client: Client, credential: dict[str, Any]) -> Template:
        named = issuer_id(credential)
        if named != self.issuer.did or named != client.issuer_id:
            raise VcApiError(
                Code.ISSUER_NOT_ALLOWED,
                f"`issuer` {named!r} is not one this client may issue as "
                f"({client.issuer_id}); it is never replaced",
                403,
            )
        own = [t for t in types_of(credential) if t not in _BASE_TYPES]
        by_type = {TEMPLATES[c].credential_type: TEMPLATES[c] for c in client.types}
        chosen = [by_type[t] for t in own if t in by_type]
        if len(own) != 1 or len(chosen) != 1:
            raise VcApiError(
                Code.TYPE_NOT_ALLOWED,
                f"this client may issue one of {sorted(by_type)} (one type besides "
                f"VerifiableCredential), not {own}",
                403,
            )
        return chosen[0]

    def _sign(self, client: Client, chosen: Template, credential: dict[str, Any]) -> dict[str, Any]:
        issuer = self.issuer
        now = issuer.clock.now().replace(microsecond=0)
        document, until = _dated(credential, chosen, now)
        credential_id: str = document["id"]
        subjects = document["credentialSubject"]
        first = subjects[0] if isinstance(subjects, list) else subjects
        holder = str(first.get("id", ""))[:2048]
        try:
            with issuer._transaction() as session:
                if session.get(CredentialRow, credential_id) is not None:
                    raise VcApiError(
                        Code.CONFLICT, f"a credential {credential_id!r} was issued already", 409
                    )
                index = issuer._allocate(session, (REVOCATION_LIST, SUSPENSION_LIST), credential_id)
                document["credentialStatus"] = [
                    _bitstring_entry(issuer.status_list_url(REVOCATION_LIST), index, "revocation"),
                    _bitstring_entry(issuer.status_list_url(SUSPENSION_LIST), index, "suspension"),
                ]
                secured = self._secured(document, now)
                self._record(session, client, chosen, credential_id, holder, index, now, until)
        except IntegrityError:
            # Another request issued the same `id` in between.
            raise VcApiError(
                Code.CONFLICT, f"a credential {credential_id!r} was issued already", 409
            ) from None
        return {"verifiableCredential": secured}

    def _secured(self, document: dict[str, Any], now: datetime) -> dict[str, Any]:
        """`document` with the configured proof: enveloped ``vc+jwt`` or embedded
        ``DataIntegrityProof``."""
        issuer = self.issuer
        try:
            if self.settings.proof == "vc+jwt":
                token = issue_vc_jwt(document, issuer._signer, issuer.kid, x5c=issuer.x5c)
                return envelope_credential(token)
            return add_proof(document, issuer._signer, issuer.kid, created=now)
        except ConfigurationError as error:
            raise VcApiError(Code.INVALID_PROPERTY, error.message, 422) from None
        except IndeterminateError as error:
            # Undecided, not refused (canonicalization out of time on a busy machine): the
            # credential is not at fault, so not a 422 — try again later.
            raise VcApiError(error.code, error.message, 503) from None
        except AncreError as error:
            # JSON-LD: an unknown context, a term safe mode refuses…
            raise VcApiError(error.code, error.message, 422, (_reason(error),)) from None

    def _record(self, session: Session, client: Client, chosen: Template, credential_id: str,
                holder: str, index: int, now: datetime, until: datetime) -> None:  # fmt: skip
        """The issued credential's row (metadata only), its VC-API client, and the audit
        entry."""
        issuer, proof = self.issuer, self.settings.proof
        session.add(
            CredentialRow(
                id=credential_id,
                configuration_id=chosen.configuration_id,
                format="vc+jwt" if proof == "vc+jwt" else "ldp_vc",
                holder=holder,
                kid=issuer.kid,
                offer_id=None,
                issued_at=now,
                valid_until=until,
                status_list=REVOCATION_LIST,
                status_index=index,
                state="valid",
            )
        )
        session.add(
            VcApiCredentialRow(credential_id=credential_id, client=client.name, proof=proof)
        )
        issuer._audit(
            session,
            f"client:{client.name}",
            "issue",
            credential_id,
            {
                "configuration": chosen.configuration_id,
                "kid": issuer.kid,
                "status_list": REVOCATION_LIST,
                "status_index": index,
                "via": "vc-api",
                "proof": proof,
            },
        )

    # -- status ----------------------------------------------------------------------------

    def update_status(self, client: Client, request: Any) -> dict[str, Any]:
        """``{"credentialId": ID, "credentialStatus": [{"type": "BitstringStatusListEntry",
        "status": "revoked" | "suspended" | "valid"}]}``: change the status of a credential
        this client issued; the 200 body."""
        if not isinstance(request, dict) or set(request) - {"credentialId", "credentialStatus"}:
            raise VcApiError(
                Code.INVALID_REQUEST,
                'expected {"credentialId": …, "credentialStatus": [{"type": '
                '"BitstringStatusListEntry", "status": …}]}',
                400,
            )
        credential_id = request.get("credentialId")
        entries = request.get("credentialStatus")
        if not isinstance(credential_id, str) or not 0 < len(credential_id) <= _MAX_ID:
            raise VcApiError(Code.INVALID_REQUEST, "`credentialId` must be a string", 400)
        if (
            not isinstance(entries, list)
            or len(entries) != 1
            or not isinstance(entries[0], dict)
            or set(entries[0]) - {"type", "status"}
            or entries[0].get("type") != "BitstringStatusListEntry"
            or entries[0].get("status") not in _STATUS_ACTIONS
        ):
            raise VcApiError(
                Code.INVALID_REQUEST,
                "`credentialStatus` must be one BitstringStatusListEntry with `status` "
                f"one of {sorted(_STATUS_ACTIONS)}",
                400,
            )
        with self.issuer._read() as session:
            owned = session.get(VcApiCredentialRow, credential_id)
            row = session.get(CredentialRow, credential_id)
        if (
            owned is None
            or row is None
            or owned.client != client.name
            or row.configuration_id not in client.types
        ):
            # The same answer whether the credential does not exist or belongs to another
            # client: a client learns nothing about credentials it did not issue.
            raise VcApiError(
                Code.CREDENTIAL_NOT_FOUND, "no credential of that id issued by this client", 404
            )
        action = _STATUS_ACTIONS[entries[0]["status"]]
        try:
            state = self.issuer.set_status(credential_id, action, actor=f"client:{client.name}")
        except IssuerError as error:
            raise VcApiError(error.code, error.message, error.status) from None
        return {"credentialId": credential_id, "status": state}


def _dated(
    credential: dict[str, Any], chosen: Template, now: datetime
) -> tuple[dict[str, Any], datetime]:
    """A copy of `credential` with the caller's ``id`` and dates kept, the missing ones
    defaulted (a fresh ``urn:uuid``, now, now plus the type's validity), and its
    ``validUntil``; refused when that is already past."""
    document = dict(credential)
    document.setdefault("id", f"urn:uuid:{uuid.uuid4()}")
    document.setdefault("validFrom", _stamp(now))
    start = parse_datetime_stamp(document["validFrom"], "validFrom")
    document.setdefault("validUntil", _stamp(start + chosen.validity))
    until = parse_datetime_stamp(document["validUntil"], "validUntil")
    if until <= now:
        raise VcApiError(
            Code.EXPIRED,
            "`validUntil` is in the past: the credential would never be valid",
            422,
            (
                {
                    "code": str(Code.EXPIRED),
                    "detail": "`validUntil` is past",
                    "pointer": "/validUntil",
                },
            ),
        )
    return document, until


def _request_credential(request: Any) -> Any:
    if not isinstance(request, dict) or "credential" not in request:
        raise VcApiError(Code.INVALID_REQUEST, 'expected {"credential": {…}, "options": {…}}', 400)
    extra = sorted(set(request) - {"credential", "options"})
    if extra:
        raise VcApiError(Code.INVALID_REQUEST, f"unknown request members {extra}", 400)
    options = request.get("options", {})
    if not isinstance(options, dict):
        raise VcApiError(Code.INVALID_REQUEST, "`options` must be an object", 400)
    if options:
        # VC-API: an option the service does not understand MUST be an error. The proof
        # is the issuer's configuration, not the caller's choice.
        raise VcApiError(
            Code.UNKNOWN_OPTION, f"unknown option(s) {sorted(options)}: none is supported", 400
        )
    return request["credential"]


async def _read_json(request: Request, limit: int) -> Any:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "application/ld+json"):
        raise VcApiError(Code.INVALID_REQUEST, "the request body must be application/json", 415)
    raw = await read_limited(request, limit)
    if raw is None:
        raise VcApiError(Code.INPUT_TOO_LARGE, f"the body is over {limit} bytes", 413)
    try:
        return loads_strict(raw, what="request body")
    except AncreError as error:
        raise VcApiError(error.code, error.message, 400) from None


def vc_api_router(issuer: Issuer, prefix: str, settings: VcApiSettings | None) -> APIRouter:
    """The VC-API routes under the issuer's path `prefix`; none when `settings` is None
    (the VC-API is off unless the caller configures it)."""
    router = APIRouter()
    if settings is None:
        return router
    api = VcApi(issuer, settings)

    async def call(fn: Callable[..., _T], *args: Any) -> _T:
        return await run_in_threadpool(fn, *args)

    async def handle(
        request: Request, fn: Callable[[Client, Any], dict[str, Any]], ok: int
    ) -> Response:
        try:
            # Authentication first: an unauthenticated caller gets 401 before its body is
            # read or parsed.
            client = await call(api.authenticate, request.headers.get("authorization"))
            body = await _read_json(request, settings.max_body_bytes)
            result = await call(fn, client, body)
        except VcApiError as problem:
            return problem.response()
        except IssuerError as error:
            return VcApiError(error.code, error.message, error.status).response()
        except InternalError as error:
            return VcApiError(error.code, internal_error(error), 500).response()
        except AncreError as error:
            return VcApiError(error.code, error.message, 422).response()
        return JSONResponse(result, ok, headers={"Cache-Control": "no-store"})

    @router.post(prefix + "/credentials/issue", status_code=201)
    async def issue(request: Request) -> Response:
        return await handle(request, api.issue, 201)

    @router.post(prefix + "/credentials/status")
    async def status(request: Request) -> Response:
        return await handle(request, api.update_status, 200)

    return router
