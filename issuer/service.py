"""The issuing service's library core: sign credentials from templates, allocate and publish
their status entries, keep the OpenID4VCI single-use values, audit every change.

:class:`Issuer` holds no state of its own beyond caches: everything that matters lives in the
database, so several processes (replicas) may share one PostgreSQL database. Single-use values
(pre-authorized codes, tx_code attempt counters, c_nonces, access tokens) are consumed by one
conditional ``UPDATE … WHERE used_at IS NULL …``: whichever replica's update matches the row
first wins, every other one sees zero rows updated and refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlencode

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ancre.issuer.config import IssuerConfig
from ancre.issuer.db import (
    AccessTokenRow,
    AuditRow,
    CredentialRow,
    MetaRow,
    NonceRow,
    NotificationRow,
    OfferRow,
    PreAuthorizedCodeRow,
    StatusEntryRow,
    StatusListRow,
    session_factory,
    write_engine,
)
from ancre.issuer.schemes import CertificationSchemes, load_schemes
from ancre.issuer.templates import (
    SD_EVIDENCE_POINTER,
    Authorization,
    Holder,
    Template,
    template,
)
from ancre.storage.audit import (
    GENESIS,
    AuditEvent,
    AuditReport,
    canonical,
    event_hash,
    verify_chain,
)
from ancre.trust.clock import Clock
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code, InternalError
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.keys.keystore import KeyStore
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc
from ancre.trust.status.bitstring import BitstringStatusList
from ancre.trust.status.token import StatusType, TokenStatusList, issue_status_list_token
from ancre.trust.vcdm.credentials import CERTIFICATION

__all__ = [
    "AccessGrant",
    "CreatedOffer",
    "IssuedBatch",
    "IssuedCredential",
    "Issuer",
    "IssuerError",
    "PendingIssuance",
    "StatusAction",
]

StatusAction = Literal["revoke", "suspend", "reinstate"]

#: Status list ids: W3C Bitstring lists for vc+jwt (one per purpose, same index in both),
#: a 2-bit IETF Token Status List for dc+sd-jwt (VALID / INVALID / SUSPENDED).
REVOCATION_LIST: Final = "revocation-1"
SUSPENSION_LIST: Final = "suspension-1"
TOKEN_LIST: Final = "tokens-1"  # noqa: S105 - a list name, not a secret
_ALLOCATION_ATTEMPTS: Final = 64
_PURGE_EVERY: Final = timedelta(minutes=1)
_XSD_DATETIME: Final = "http://www.w3.org/2001/XMLSchema#dateTime"
#: OpenID4VCI 1.0 §4.1.1.
PRE_AUTHORIZED_GRANT: Final = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


class IssuerError(AncreError):
    """A refused issuer operation; `status` is the HTTP status the service answers with."""

    def __init__(self, code: Code, message: str, status: int = 400) -> None:
        super().__init__(code, message)
        self.status = status


def internal_error(error: InternalError) -> str:
    """Log an `InternalError` (a broken invariant of the issuer's own state, never the
    client's fault: the routes answer 500) with its traceback for the operator; return the
    description the client gets, which names the stable code and none of the internals."""
    logging.getLogger("ancre.issuer").error("invalid_state: %s", error.message, exc_info=error)
    return f"{error.code}: the issuer's own state is inconsistent; its operator's log says why"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _tx_hash(code: str, tx_code: str) -> str:
    # Keyed by the pre-authorized code, which the database keeps only hashed: a stolen
    # database does not give the (short, numeric) tx_code away by a dictionary lookup.
    return hmac.new(code.encode(), tx_code.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A signed credential and where its status lives."""

    id: str
    configuration_id: str
    format: str
    credential: str
    status_list: str
    status_index: int


@dataclass(frozen=True, slots=True)
class IssuedBatch:
    """The credentials of one credential response (one per holder key) and the
    ``notification_id`` the wallet may report their fate with (None: not offered)."""

    credentials: tuple[IssuedCredential, ...]
    notification_id: str | None


@dataclass(frozen=True, slots=True)
class PendingIssuance:
    """A held request (deferred issuance): the wallet polls with `transaction_id`, at
    most every `interval` seconds."""

    transaction_id: str
    interval: int


@dataclass(frozen=True, slots=True)
class CreatedOffer:
    """A credential offer and its secrets (shown once, stored hashed)."""

    id: str
    configuration_id: str
    pre_authorized_code: str
    tx_code: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """An access token issued at the token endpoint."""

    access_token: str
    expires_in: int
    configuration_id: str


class Issuer:
    """One issuer: its configuration, keys (`store`), database (`engine`) and clock.

    `public_url` overrides the configuration's (the URL wallets and verifiers reach the
    service at: status-list URLs and the credential issuer identifier derive from it)."""

    def __init__(
        self,
        config: IssuerConfig,
        *,
        engine: Engine,
        store: KeyStore,
        clock: Clock,
        public_url: str | None = None,
        schemes: CertificationSchemes | None = None,
    ) -> None:
        self.config = config
        #: The agency's certification schemes (``schemes.json`` in its folder by default).
        self.schemes = schemes if schemes is not None else load_schemes(config.directory)
        self.engine = engine
        self.store = store
        self.clock = clock
        self.public_url = (public_url or config.public_url).rstrip("/")
        self._read = session_factory(engine)
        self._write = session_factory(write_engine(engine))
        current = config.current_key
        self._kid = current.kid
        self._signer = store.signer(current.name)
        #: The X.509 chain of the signing key, sent as ``x5c`` beside ``kid`` (None: none).
        self._x5c = list(current.x5c) or None
        if current.x5c:
            from ancre.issuer.x5c import check_x5c_key

            check_x5c_key(current.x5c, self._signer.public_key, f"signing key {current.name}")
        self._last_purge = clock.now()
        self._ensure_lists()

    # -- plumbing ------------------------------------------------------------------------

    @property
    def did(self) -> str:
        return self.config.did

    @property
    def kid(self) -> str:
        """The verification method that signs new credentials."""
        return self._kid

    @property
    def x5c(self) -> list[str] | None:
        """The ``x5c`` chain of the signing key (leaf first), or None without one."""
        return self._x5c

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._write() as session, session.begin():
            yield session

    def status_list_url(self, list_id: str) -> str:
        return f"{self.public_url}/status/{list_id}"

    def _ensure_lists(self) -> None:
        size = self.config.limits.status_list_entries
        wanted = (
            (REVOCATION_LIST, "bitstring", "revocation", 1),
            (SUSPENSION_LIST, "bitstring", "suspension", 1),
            (TOKEN_LIST, "token", "status", 2),
        )
        with self._read() as session:
            present = set(session.execute(select(StatusListRow.id)).scalars())
            head = session.get(MetaRow, "audit_head")
        if head is None:
            # Always a row to lock: `SELECT … FOR UPDATE` of a missing row locks nothing, and
            # two first events would both take sequence number 1.
            try:
                with self._transaction() as session:
                    session.add(MetaRow(key="audit_head", value=f"0:{GENESIS}"))
            except IntegrityError:
                pass  # another replica created it first
        for list_id, kind, purpose, bits in wanted:
            if list_id in present:
                continue
            try:
                with self._transaction() as session:
                    session.add(
                        StatusListRow(
                            id=list_id,
                            kind=kind,
                            purpose=purpose,
                            size=size,
                            bits=bits,
                            revision=0,
                            published_revision=-1,
                        )
                    )
            except IntegrityError:
                pass  # another replica created it first

    # -- audit ---------------------------------------------------------------------------

    def _grant_access(
        self, session: Session, offer: OfferRow, event: str, now: datetime
    ) -> AccessGrant:
        """A fresh access token for `offer`'s credential request, stored hashed, audited as
        `event` (``redeem`` for a pre-authorized code, ``redeem_code`` for an authorization
        code): the one place a grant becomes a token."""
        lifetime = self.config.limits.access_token_lifetime
        token = secrets.token_urlsafe(32)
        session.add(
            AccessTokenRow(
                token_sha256=_sha256(token),
                offer_id=offer.id,
                expires_at=now + timedelta(seconds=lifetime),
                used_at=None,
            )
        )
        self._audit(session, "wallet", event, offer.id, {})
        return AccessGrant(token, lifetime, offer.configuration_id)

    def _audit(
        self, session: Session, actor: str, action: str, subject: str, details: Mapping[str, Any]
    ) -> None:
        # The head row is locked for update: concurrent writers on PostgreSQL serialize
        # here (SQLite already serializes writers at BEGIN IMMEDIATE).
        head = session.execute(
            select(MetaRow).where(MetaRow.key == "audit_head").with_for_update()
        ).scalar_one()
        seq_text, _, prev = head.value.partition(":")
        seq, at = int(seq_text) + 1, self.clock.now()
        digest = event_hash(
            prev, seq=seq, at=at, actor=actor, action=action, subject=subject, details=details
        )
        session.add(
            AuditRow(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                subject=subject,
                details_json=canonical(dict(details)),
                prev_hash=prev,
                hash=digest,
            )
        )
        head.value = f"{seq}:{digest}"

    def verify_audit(self) -> AuditReport:
        """Walk the audit chain; name the first event whose hash or link does not hold."""
        with self._read() as session:
            head_row = session.get(MetaRow, "audit_head")
            rows = session.execute(select(AuditRow).order_by(AuditRow.seq)).scalars()
            events = [
                AuditEvent(
                    r.seq,
                    r.at,
                    r.actor,
                    r.action,
                    r.subject,
                    json.loads(r.details_json),
                    r.prev_hash,
                    r.hash,
                )
                for r in rows
            ]
        head = None
        if head_row is not None:
            seq, _, digest = head_row.value.partition(":")
            head = (int(seq), digest)
        return verify_chain(events, head)

    def audit_events(self, limit: int = 100) -> list[AuditRow]:
        with self._read() as session:
            query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
            return list(session.execute(query).scalars())

    # -- status allocation -----------------------------------------------------------------

    def _allocate(self, session: Session, list_ids: tuple[str, ...], credential_id: str) -> int:
        """A random index unused in every list of `list_ids`, inserted in `session`'s
        transaction.

        The (list, index) primary key makes two concurrent allocations of the same index
        impossible: the second insert fails (on PostgreSQL it waits for the first
        transaction, then fails), its savepoint is rolled back, and this draws again. Rows
        are never deleted once committed, so an index is never reused; an issuance that
        fails before its commit leaves its index unused."""
        size = self.config.limits.status_list_entries
        for _ in range(_ALLOCATION_ATTEMPTS):
            index = secrets.randbelow(size)
            try:
                with session.begin_nested():
                    session.add_all(
                        StatusEntryRow(
                            list_id=list_id,
                            idx=index,
                            credential_id=credential_id,
                            value=0,
                            allocated_at=self.clock.now(),
                        )
                        for list_id in list_ids
                    )
            except IntegrityError:
                continue
            return index
        raise IssuerError(
            Code.STATUS_LIST_FULL,
            f"no free status index after {_ALLOCATION_ATTEMPTS} random draws: the list is full",
            503,
        )

    # -- issuance -------------------------------------------------------------------------

    def template_for(self, configuration_id: str, claims: Any) -> Template:
        """The template of `configuration_id` as this issuer applies it to `claims`: a
        Certification must name one of the agency's schemes (and levels), and lasts as
        long as its scheme says. ``InvalidError`` (``unknown_credential_configuration``,
        ``unknown_certification_scheme``)."""
        chosen = template(configuration_id)
        if chosen.credential_type == CERTIFICATION:
            # The claims' shape first (an object with the required claims), then the scheme.
            scheme = self.schemes.check(chosen.check_claims(claims))
            if scheme is not None:
                return replace(chosen, validity=scheme.validity)
        return chosen

    def check_issuable(self, chosen: Template) -> None:
        """Refuse a credential type this issuer may not issue (a hook: every offer and
        issuance passes here; ``AccreditedIssuer`` checks the registry's trust list)."""

    def _checked(
        self, configuration_id: str, claims: Any, authorization: Authorization
    ) -> tuple[Template, dict[str, Any]]:
        """The template of `configuration_id` and the claims, once the issuer, the
        authorization and the claims' shape all allow issuing it."""
        # Accredited for the type first; then the agency's scheme (a Certification's).
        self.check_issuable(template(configuration_id))
        chosen = self.template_for(configuration_id, claims)
        chosen.requirement.check(authorization)
        return chosen, chosen.check_claims(claims)

    def issue(
        self,
        configuration_id: str,
        claims: Mapping[str, Any],
        *,
        holder: Holder,
        authorization: Authorization,
        offer_id: str | None = None,
    ) -> IssuedCredential:
        """Sign a credential of `configuration_id` for `holder`, with a fresh status entry,
        record its metadata and audit it — all in one transaction (one commit: the cost of
        an issuance on SQLite is mostly that commit's fsync). Raises ``InvalidError``
        (claims, schema, authorization) or ``IssuerError``."""
        chosen, checked = self._checked(configuration_id, claims, authorization)
        with self._transaction() as session:
            issued = self._issue_in(session, chosen, checked, holder, authorization, offer_id)
            if offer_id is not None:
                _forget_claims(session, offer_id, issued.id)
        return issued

    def _issue_in(
        self,
        session: Session,
        chosen: Template,
        checked: dict[str, Any],
        holder: Holder,
        authorization: Authorization,
        offer_id: str | None,
        notification_id: str | None = None,
    ) -> IssuedCredential:
        """Sign one credential in `session`'s transaction: its own status index, its
        metadata row, its audit event."""
        credential_id = f"urn:uuid:{uuid.uuid4()}"
        now = self.clock.now().replace(microsecond=0)
        if chosen.format == "vc+jwt":
            list_id = REVOCATION_LIST
            index = self._allocate(session, (REVOCATION_LIST, SUSPENSION_LIST), credential_id)
            token = self._sign_vc(chosen, checked, credential_id, holder, authorization, now, index)
            holder_ref = holder.did
        else:
            list_id = TOKEN_LIST
            index = self._allocate(session, (TOKEN_LIST,), credential_id)
            token = self._sign_sd(chosen, checked, holder, now, index, authorization.evidence)
            holder_ref = holder.key.thumbprint()
        session.add(
            CredentialRow(
                id=credential_id,
                configuration_id=chosen.configuration_id,
                format=chosen.format,
                holder=holder_ref,
                kid=self._kid,
                offer_id=offer_id,
                issued_at=now,
                valid_until=now + chosen.validity,
                status_list=list_id,
                status_index=index,
                state="valid",
                notification_id=notification_id,
            )
        )
        self._audit(
            session,
            authorization.actor,
            "issue",
            credential_id,
            {
                "configuration": chosen.configuration_id,
                "kid": self._kid,
                "status_list": list_id,
                "status_index": index,
                "offer": offer_id,
                "authorization": authorization.method,
            },
        )
        return IssuedCredential(
            credential_id, chosen.configuration_id, chosen.format, token, list_id, index
        )

    def _sign_vc(
        self,
        chosen: Template,
        claims: dict[str, Any],
        credential_id: str,
        holder: Holder,
        authorization: Authorization,
        now: datetime,
        index: int,
    ) -> str:
        status = [
            _bitstring_entry(self.status_list_url(REVOCATION_LIST), index, "revocation"),
            _bitstring_entry(self.status_list_url(SUSPENSION_LIST), index, "suspension"),
        ]
        document = chosen.vc_document(
            claims=claims,
            issuer=self.did,
            credential_id=credential_id,
            holder=holder,
            issued_at=now,
            status=status,
            authorization=authorization,
        )
        return issue_vc_jwt(document, self._signer, self._kid, x5c=self._x5c)

    def _sign_sd(
        self,
        chosen: Template,
        claims: dict[str, Any],
        holder: Holder,
        now: datetime,
        index: int,
        evidence: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        # Only pointers to claims present: a template lists every personal claim the type
        # may carry, a given credential carries some of them.
        disclosable = [p for p in chosen.disclosable if p[1:] in claims]
        if evidence:
            # The register checks, as in vc+jwt credentials, but one disclosable claim: the
            # answer they digest lists the directors, so the holder shows them when asked
            # (docs/proconnect.md "What each credential proves").
            claims = {**claims, "evidence": [dict(e) for e in evidence]}
            disclosable.append(SD_EVIDENCE_POINTER)
        issued = issue_sd_jwt_vc(
            claims,
            self._signer,
            issuer=self.did,
            vct=chosen.credential_type,
            disclosable=disclosable,
            kid=self._kid,
            x5c=self._x5c,
            holder_jwk=holder.key,
            issued_at=now,
            valid_from=now,
            valid_until=now + chosen.validity,
            status={"status_list": {"idx": index, "uri": self.status_list_url(TOKEN_LIST)}},
            decoys=2,
        )
        return issued.serialize()

    # -- revocation ------------------------------------------------------------------------

    def set_status(self, credential_id: str, action: StatusAction, *, actor: str) -> str:
        """Revoke, suspend or reinstate an issued credential, re-sign the affected status
        list and audit the change. Returns the credential's new state. Revocation is
        final: a revoked credential cannot be suspended or reinstated; those, and a change
        to the state the credential is already in, are refused with ``already_in_state``
        (409)."""
        with self._transaction() as session:
            row = session.get(CredentialRow, credential_id, with_for_update=True)
            if row is None:
                raise IssuerError(
                    Code.CREDENTIAL_NOT_FOUND, f"no credential {credential_id!r}", 404
                )
            if row.state == "revoked":
                raise IssuerError(
                    Code.ALREADY_IN_STATE, f"{credential_id} is revoked: revocation is final", 409
                )
            state = {"revoke": "revoked", "suspend": "suspended", "reinstate": "valid"}[action]
            if row.state == state:
                # Nothing to change: no re-signed list, no audit event for a no-op.
                raise IssuerError(Code.ALREADY_IN_STATE, f"{credential_id} is already {state}", 409)
            if row.format != "dc+sd-jwt":  # vc+jwt, and ldp_vc from the VC-API
                changes = {
                    REVOCATION_LIST: int(state == "revoked"),
                    SUSPENSION_LIST: int(state == "suspended"),
                }
            else:
                token_value = {
                    "valid": StatusType.VALID,
                    "revoked": StatusType.INVALID,
                    "suspended": StatusType.SUSPENDED,
                }[state]
                changes = {TOKEN_LIST: int(token_value)}
            for list_id, value in changes.items():
                session.execute(
                    update(StatusEntryRow)
                    .where(
                        StatusEntryRow.list_id == list_id, StatusEntryRow.idx == row.status_index
                    )
                    .values(value=value)
                )
                session.execute(
                    update(StatusListRow)
                    .where(StatusListRow.id == list_id)
                    .values(revision=StatusListRow.revision + 1)
                )
            previous, row.state = row.state, state
            self._audit(
                session,
                actor,
                action,
                credential_id,
                {"from": previous, "to": state, "index": row.status_index},
            )
        for list_id in changes:
            self.publish_status_list(list_id)
        return state

    def credential_info(self, credential_id: str) -> CredentialRow | None:
        with self._read() as session:
            return session.get(CredentialRow, credential_id)

    # -- status publication ---------------------------------------------------------------

    def publish_status_list(self, list_id: str) -> str:
        """Sign the current state of `list_id` and store it; returns the signed list."""
        limits = self.config.limits
        with self._read() as session:
            row = session.get(StatusListRow, list_id)
            if row is None:
                raise IssuerError(Code.CREDENTIAL_NOT_FOUND, f"no status list {list_id!r}", 404)
            revision = row.revision
            set_values = session.execute(
                select(StatusEntryRow.idx, StatusEntryRow.value).where(
                    StatusEntryRow.list_id == list_id, StatusEntryRow.value != 0
                )
            ).all()
        now = self.clock.now()
        url = self.status_list_url(list_id)
        until = now + timedelta(seconds=limits.status_list_lifetime)
        if row.kind == "bitstring":
            bitstring = BitstringStatusList(length=row.size, purpose=row.purpose)
            for index, value in set_values:
                bitstring.set(index, value)
            unsigned = bitstring.credential(
                id=url,
                issuer=self.did,
                valid_from=now,
                valid_until=until,
                ttl=timedelta(seconds=limits.status_list_ttl),
            )
            signed = issue_vc_jwt(unsigned, self._signer, self._kid, x5c=self._x5c)
        else:
            tokens = TokenStatusList(row.size, row.bits)
            for index, value in set_values:
                tokens.set(index, value)
            signed = issue_status_list_token(
                tokens,
                self._signer,
                kid=self._kid,
                uri=url,
                clock=self.clock,
                lifetime=timedelta(seconds=limits.status_list_lifetime),
                ttl=timedelta(seconds=limits.status_list_ttl),
                issuer=self.did,
                x5c=self._x5c,
            )
        with self._transaction() as session:
            # Never overwrite a publication of a newer revision (another replica's).
            session.execute(
                update(StatusListRow)
                .where(StatusListRow.id == list_id, StatusListRow.published_revision <= revision)
                .values(
                    published=signed,
                    published_url=url,
                    published_revision=revision,
                    published_at=now,
                    published_until=until,
                )
            )
        return signed

    def status_list(self, list_id: str) -> tuple[str, str]:
        """The signed status list to serve and its media type; re-signed when the list
        changed, when it was signed for another URL, or past half its lifetime."""
        with self._read() as session:
            row = session.get(StatusListRow, list_id)
        if row is None:
            raise IssuerError(Code.CREDENTIAL_NOT_FOUND, f"no status list {list_id!r}", 404)
        media = "application/vc+jwt" if row.kind == "bitstring" else "application/statuslist+jwt"
        half = timedelta(seconds=self.config.limits.status_list_lifetime / 2)
        fresh = (
            row.published is not None
            and row.published_revision == row.revision
            and row.published_url == self.status_list_url(list_id)
            and row.published_at is not None
            and self.clock.now() - row.published_at < half
        )
        if fresh and row.published is not None:
            return row.published, media
        return self.publish_status_list(list_id), media

    # -- keys ------------------------------------------------------------------------------

    def did_document(self) -> dict[str, Any]:
        """The did:web document: every signing key, current and retired, as a
        ``JsonWebKey2020`` verification method under ``assertionMethod``; a retired one
        carries its retirement time as ``revoked``."""
        methods = []
        for entry in self.config.keys:
            jwk = self.store.public_key(entry.name).to_jwk()
            method: dict[str, Any] = {
                "id": entry.kid,
                "type": "JsonWebKey2020",
                "controller": self.did,
                "publicKeyJwk": jwk,
            }
            if entry.retired_at is not None:
                # W3C Controlled Identifiers v1.0 §2.2 "Verification Methods": `revoked` is
                # "an [XMLSCHEMA11-2] dateTimeStamp string specifying when the verification
                # method MUST NOT be used", and verifiers "are expected to not verify any
                # proofs associated with the verification method at or after" it. (`expires`
                # only says when it SHOULD cease to be used.) The method stays under
                # `assertionMethod`: what it signed before then keeps verifying.
                method["revoked"] = entry.retired_at
            methods.append(method)
        context: list[Any] = [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ]
        if any("revoked" in m for m in methods):
            # Neither context above defines the term: define it as the Security Vocabulary
            # term the Ed25519 2020 suite context (shipped in ancre.trust.vcdm) maps it to.
            revoked = {"@id": "https://w3id.org/security#revoked", "@type": _XSD_DATETIME}
            context.append({"revoked": revoked})
        return {
            "@context": context,
            "id": self.did,
            "verificationMethod": methods,
            "assertionMethod": [m["id"] for m in methods],
        }

    # -- OpenID4VCI state ------------------------------------------------------------------

    def create_offer(
        self,
        configuration_id: str,
        claims: Any,
        *,
        authorization: Authorization,
        tx_code: bool = False,
        approval: bool = False,
    ) -> CreatedOffer:
        """Record an offer of one credential with a pre-authorized code (and a numeric
        tx_code to send the holder through another channel). The claims go through every
        issuance check now (a dry run with a placeholder holder key), so that an operator
        learns about a bad claims file here, not from a wallet that cannot redeem it.

        With `approval`, the wallet's credential request is held until an operator approves
        it (deferred issuance, ``ancre.issuer.deferred``)."""
        chosen, checked = self._checked(configuration_id, claims, authorization)
        now = self.clock.now()
        self._dry_run(chosen, checked, authorization, now.replace(microsecond=0))
        expires = now + timedelta(seconds=self.config.limits.offer_lifetime)
        offer_id = secrets.token_urlsafe(16)
        code = secrets.token_urlsafe(32)
        pin = None
        if tx_code:
            length = self.config.limits.tx_code_length
            pin = "".join(str(secrets.randbelow(10)) for _ in range(length))
        with self._transaction() as session:
            session.add(
                OfferRow(
                    id=offer_id,
                    configuration_id=chosen.configuration_id,
                    claims_json=canonical(checked),
                    code=code,
                    tx_code_length=len(pin) if pin is not None else None,
                    authorization_json=canonical(authorization.to_json()),
                    created_at=now,
                    expires_at=expires,
                    created_by=authorization.actor,
                    approval=approval,
                )
            )
            session.flush()
            session.add(
                PreAuthorizedCodeRow(
                    code_sha256=_sha256(code),
                    offer_id=offer_id,
                    expires_at=expires,
                    used_at=None,
                    tx_code_sha256=_tx_hash(code, pin) if pin is not None else None,
                    tx_attempts=0,
                )
            )
            details: dict[str, Any] = {
                "configuration": chosen.configuration_id,
                "tx_code": pin is not None,
            }
            if approval:
                details["approval"] = True
            self._audit(session, authorization.actor, "offer", offer_id, details)
        return CreatedOffer(offer_id, chosen.configuration_id, code, pin, expires)

    def _dry_run(
        self,
        chosen: Template,
        claims: dict[str, Any],
        authorization: Authorization,
        now: datetime,
    ) -> None:
        placeholder = holder_from_key(self.store.public_key(self.config.current_key.name))
        if chosen.format == "vc+jwt":
            chosen.vc_document(
                claims=claims,
                issuer=self.did,
                credential_id=f"urn:uuid:{uuid.UUID(int=0)}",
                holder=placeholder,
                issued_at=now,
                status=[_bitstring_entry(self.status_list_url(REVOCATION_LIST), 0, "revocation")],
                authorization=authorization,
            )
        else:
            # Signing runs the SD-JWT VC rules (personal claims never plain, schema, status
            # URL); the result is thrown away.
            self._sign_sd(chosen, claims, placeholder, now, 0, authorization.evidence)

    def offer_document(self, offer_id: str) -> dict[str, Any]:
        """The credential offer (OpenID4VCI 1.0 §4.1.1) with its pre-authorized code grant,
        as served by reference from ``/offers/{id}``: only while unredeemed and unexpired."""
        with self._read() as session:
            offer = session.get(OfferRow, offer_id)
        if offer is None or offer.code is None or offer.expires_at <= self.clock.now():
            raise IssuerError(Code.CREDENTIAL_NOT_FOUND, "no such offer (or used, or expired)", 404)
        return _offer_json(
            self.public_url, offer.configuration_id, offer.code, offer.tx_code_length
        )

    def offer_uri(self, offer: CreatedOffer, *, by_value: bool = False) -> str:
        """The ``openid-credential-offer://`` URI of `offer` (§4.1): by reference (the
        wallet fetches ``/offers/{id}``) or with the offer inline."""
        if by_value:
            document = _offer_json(
                self.public_url,
                offer.configuration_id,
                offer.pre_authorized_code,
                len(offer.tx_code) if offer.tx_code is not None else None,
            )
            return "openid-credential-offer://?" + urlencode(
                {"credential_offer": canonical(document)}
            )
        return "openid-credential-offer://?" + urlencode(
            {"credential_offer_uri": f"{self.public_url}/offers/{offer.id}"}
        )

    def redeem(self, code: str, tx_code: str | None) -> AccessGrant:
        """Exchange a pre-authorized code (and its tx_code) for an access token (§6.1).

        One conditional UPDATE consumes the code: unused, unexpired, under the attempt
        limit and with the right tx_code. A wrong tx_code counts an attempt (again one
        conditional UPDATE, in the same transaction, the row locked); at the limit the code
        is locked for good."""
        limits = self.config.limits
        digest = _sha256(code)
        now = self.clock.now()
        counted, left = 0, 0
        with self._transaction() as session:
            # Locked for the transaction (PostgreSQL: FOR UPDATE; SQLite: the write lock
            # taken at BEGIN): checking a tx_code and counting a wrong one happen together,
            # so concurrent guesses on several replicas cannot all be checked before any is
            # counted (issue 17: no more than `tx_code_attempts` guesses, whatever the race).
            row = session.get(PreAuthorizedCodeRow, digest, with_for_update=True)
            if row is None:
                raise IssuerError(Code.INVALID_GRANT, "unknown pre-authorized code")
            if row.tx_code_sha256 is not None and tx_code is None:
                raise IssuerError(Code.INVALID_REQUEST, "this offer needs its tx_code")
            if row.tx_code_sha256 is None and tx_code is not None:
                raise IssuerError(Code.INVALID_REQUEST, "this offer has no tx_code")
            tx_digest = _tx_hash(code, tx_code) if tx_code is not None else None
            # The code is still live: unused, unexpired, not locked by wrong tx_codes.
            live = (
                PreAuthorizedCodeRow.code_sha256 == digest,
                PreAuthorizedCodeRow.used_at.is_(None),
                PreAuthorizedCodeRow.expires_at > now,
                PreAuthorizedCodeRow.tx_attempts < limits.tx_code_attempts,
            )
            consumed = _rowcount(
                session.execute(
                    update(PreAuthorizedCodeRow)
                    .where(
                        *live,
                        (PreAuthorizedCodeRow.tx_code_sha256.is_(None))
                        if tx_digest is None
                        else (PreAuthorizedCodeRow.tx_code_sha256 == tx_digest),
                    )
                    .values(used_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            if consumed == 1:
                offer = session.get(OfferRow, row.offer_id)
                if offer is None:  # a foreign key
                    raise InternalError(f"offer {row.offer_id} of a pre-authorized code is gone")
                offer.code = None
                return self._grant_access(session, offer, "redeem", now)
            if tx_digest is not None:
                # Not consumed: a wrong tx_code counts when the code is still live.
                counted = _rowcount(
                    session.execute(
                        update(PreAuthorizedCodeRow)
                        .where(*live)
                        .values(tx_attempts=PreAuthorizedCodeRow.tx_attempts + 1)
                        .execution_options(synchronize_session=False)
                    )
                )
            if counted:
                # The row is locked since it was read: its count is exact.
                left = max(limits.tx_code_attempts - row.tx_attempts - 1, 0)
                self._audit(session, "wallet", "tx_code_refused", row.offer_id, {"left": left})
        if counted:
            raise IssuerError(Code.INVALID_GRANT, f"wrong tx_code ({left} attempt(s) left)")
        # Refused: say why, from a fresh read (another replica may have just used it).
        with self._transaction() as session:
            current = session.get(PreAuthorizedCodeRow, digest)
            if current is None:  # rows are never deleted
                raise InternalError("a pre-authorized code row vanished")
            if current.used_at is not None:
                raise IssuerError(Code.INVALID_GRANT, "the pre-authorized code was already used")
            if current.expires_at <= now:
                raise IssuerError(Code.INVALID_GRANT, "the pre-authorized code has expired")
            if current.tx_attempts >= limits.tx_code_attempts:
                raise IssuerError(
                    Code.INVALID_GRANT, "too many wrong tx_code attempts: the offer is locked"
                )
        # Live, unused, unlocked, yet not consumed: only a wrong tx_code gets here, and it was
        # counted above unless the code changed between the two transactions.
        raise IssuerError(Code.INVALID_GRANT, "wrong tx_code")

    def purge_expired(self) -> int:
        """Forget what has expired: nonces past their lifetime (refused anyway), and the
        claims and code of offers nobody redeemed in time — so that an abandoned offer does
        not keep personal data. Returns the number of rows changed."""
        now = self.clock.now()
        limits = self.config.limits
        grace = timedelta(seconds=limits.access_token_lifetime)
        with self._transaction() as session:
            nonces = _rowcount(session.execute(delete(NonceRow).where(NonceRow.expires_at < now)))
            offers = _rowcount(
                session.execute(
                    update(OfferRow)
                    .where(OfferRow.expires_at < now - grace, OfferRow.claims_json.is_not(None))
                    .values(claims_json=None, code=None)
                    .execution_options(synchronize_session=False)
                )
            )
        self._last_purge = now
        return nonces + offers

    def new_nonce(self) -> str:
        """A fresh c_nonce (§7), stored hashed until a key proof consumes it."""
        nonce = secrets.token_urlsafe(24)
        now = self.clock.now()
        # The nonce endpoint is unauthenticated: keep its table from growing without bound.
        if now - self._last_purge > _PURGE_EVERY:
            self.purge_expired()
        with self._transaction() as session:
            session.add(
                NonceRow(
                    nonce_sha256=_sha256(nonce),
                    expires_at=now + timedelta(seconds=self.config.limits.nonce_lifetime),
                    used_at=None,
                )
            )
        return nonce

    def consume_nonce(self, nonce: str) -> bool:
        """True once for a live nonce, then False forever (on every replica)."""
        return self.consume_nonces((nonce,))

    def consume_nonces(self, nonces: Sequence[str]) -> bool:
        """Consume every one of `nonces` (live, unused) in one transaction, or none of
        them: True when all were consumed here (the key proofs of one batch request)."""
        now = self.clock.now()
        with self._write() as session, session.begin() as transaction:
            for nonce in nonces:
                count = _rowcount(
                    session.execute(
                        update(NonceRow)
                        .where(
                            NonceRow.nonce_sha256 == _sha256(nonce),
                            NonceRow.used_at.is_(None),
                            NonceRow.expires_at > now,
                        )
                        .values(used_at=now)
                        .execution_options(synchronize_session=False)
                    )
                )
                if count != 1:
                    transaction.rollback()  # the request's other nonces stay unused
                    return False
        return bool(nonces)

    def check_access_token(self, token: str) -> str:
        """The offer an unused, unexpired access token was issued for (not consumed)."""
        with self._read() as session:
            row = session.get(AccessTokenRow, _sha256(token))
        if row is None or row.used_at is not None or row.expires_at <= self.clock.now():
            raise IssuerError(
                Code.INVALID_TOKEN, "the access token is unknown, used or expired", 401
            )
        return row.offer_id

    def issue_for_token(
        self, token: str, configuration_id: str, holder: Holder
    ) -> IssuedCredential:
        """Consume the access token and issue its offer's credential to `holder` (one
        credential, immediately: an offer that needs approval is refused here)."""
        result = self.request_credentials(token, configuration_id, (holder,))
        if not isinstance(result, IssuedBatch):
            raise InternalError("the offer was held for approval: use request_credentials")
        return result.credentials[0]

    def request_credentials(
        self, token: str, configuration_id: str, holders: Sequence[Holder]
    ) -> IssuedBatch | PendingIssuance:
        """The credential endpoint's work (OpenID4VCI §8) once the key proofs are checked:
        consume the access token (one conditional UPDATE) and, in the same transaction,
        issue one credential per holder key (each with its own status index) with one
        ``notification_id`` — all or nothing — or, for an offer that needs an operator's
        approval, hold the request (§9, ``ancre.issuer.deferred``)."""
        if not 1 <= len(holders) <= self.config.limits.batch_size:
            raise IssuerError(
                Code.INVALID_CREDENTIAL_REQUEST,
                f"1 to {self.config.limits.batch_size} holder keys per request",
            )
        offer = self._offer_of_token(token, configuration_id)
        claims = loads_strict(offer.claims_json or "null", what="stored claims")
        authorization = Authorization.from_json(
            loads_strict(offer.authorization_json, what="stored authorization")
        )
        # Outside the write transaction: the accreditation check may fetch a trust list.
        chosen, checked = self._checked(configuration_id, claims, authorization)
        now = self.clock.now()
        digest = _sha256(token)
        with self._transaction() as session:
            consumed = _rowcount(
                session.execute(
                    update(AccessTokenRow)
                    .where(
                        AccessTokenRow.token_sha256 == digest,
                        AccessTokenRow.used_at.is_(None),
                        AccessTokenRow.expires_at > now,
                    )
                    .values(used_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            current = session.get(OfferRow, offer.id)
            if consumed != 1 or current is None or current.claims_json is None:
                raise _token_refused()
            if offer.approval:
                from ancre.issuer.deferred import hold

                return hold(self, session, current, holders, digest)
            return self._issue_batch(
                session, chosen, checked, holders, authorization, offer.id, digest
            )

    def _offer_of_token(self, token: str, configuration_id: str) -> OfferRow:
        """The offer an access token is for, with its claims (not consumed yet)."""
        with self._read() as session:
            row = session.get(AccessTokenRow, _sha256(token))
            offer = session.get(OfferRow, row.offer_id) if row is not None else None
        if row is None or offer is None or offer.claims_json is None:
            raise _token_refused()
        if offer.configuration_id != configuration_id:
            # Before the token is consumed: the wallet may retry with the right id.
            raise IssuerError(
                Code.INVALID_CREDENTIAL_REQUEST,
                f"this access token is for {offer.configuration_id}, not {configuration_id}",
            )
        return offer

    def _issue_batch(
        self,
        session: Session,
        chosen: Template,
        checked: dict[str, Any],
        holders: Sequence[Holder],
        authorization: Authorization,
        offer_id: str,
        token_digest: str,
        *,
        notify: bool = True,
    ) -> IssuedBatch:
        """One credential per holder key in `session`'s transaction, the offer's claims
        forgotten, and (with `notify`) a notification id bound to the access token."""
        notification_id = secrets.token_urlsafe(16) if notify else None
        if notification_id is not None:
            now = self.clock.now()
            lifetime = timedelta(seconds=self.config.limits.notification_lifetime)
            session.add(
                NotificationRow(
                    id=notification_id,
                    token_sha256=token_digest,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        issued = tuple(
            self._issue_in(
                session, chosen, checked, holder, authorization, offer_id, notification_id
            )
            for holder in holders
        )
        _forget_claims(session, offer_id, issued[0].id)
        return IssuedBatch(issued, notification_id)

    # -- listing ----------------------------------------------------------------------------

    def credentials(self, limit: int = 100) -> list[CredentialRow]:
        with self._read() as session:
            query = select(CredentialRow).order_by(CredentialRow.issued_at.desc()).limit(limit)
            return list(session.execute(query).scalars())

    def count_credentials(self) -> int:
        with self._read() as session:
            return int(
                session.execute(select(func.count()).select_from(CredentialRow)).scalar_one()
            )


def _token_refused() -> IssuerError:
    return IssuerError(Code.INVALID_TOKEN, "the access token is unknown, used or expired", 401)


def _rowcount(result: Any) -> int:
    # An UPDATE's result is a CursorResult; its row count says whether the conditional
    # update matched (and so whether this caller consumed the value).
    return int(result.rowcount)


def _forget_claims(session: Session, offer_id: str, credential_id: str) -> None:
    # The offer's claims are personal data for SD-JWT credentials: forget them once they
    # are signed (docs/issuer.md "What is stored").
    session.execute(
        update(OfferRow)
        .where(OfferRow.id == offer_id)
        .values(claims_json=None, credential_id=credential_id)
    )


def _offer_json(
    public_url: str, configuration_id: str, code: str, tx_code_length: int | None
) -> dict[str, Any]:
    grant: dict[str, Any] = {"pre-authorized_code": code}
    if tx_code_length is not None:
        grant["tx_code"] = {
            "input_mode": "numeric",
            "length": tx_code_length,
            "description": "Code envoyé séparément par l'émetteur / code sent by the issuer",
        }
    return {
        "credential_issuer": public_url,
        "credential_configuration_ids": [configuration_id],
        "grants": {PRE_AUTHORIZED_GRANT: grant},
    }


def _bitstring_entry(url: str, index: int, purpose: str) -> dict[str, Any]:
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def holder_from_key(key: PublicKey, did: str | None = None) -> Holder:
    """A :class:`Holder` for `key`: its did:jwk unless the proof named a DID."""
    from ancre.trust.did.jwk import did_jwk_from_public_key

    return Holder(key=key, did=did or did_jwk_from_public_key(key))
