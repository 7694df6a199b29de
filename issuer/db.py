"""The issuer's database: SQLAlchemy 2.0 tables and Alembic migrations.

What is kept (docs/issuer.md "What is stored"): metadata of every issued credential (id,
configuration, holder key thumbprint or DID, signing key, dates, status entry) — never the
personal claims of an SD-JWT VC; status-list allocations and values; the signed status lists;
offers (their claims only until the credential is issued); and every single-use value
(pre-authorized codes with their tx_code attempt counters, c_nonces, access tokens) stored as
SHA-256 hashes, so that a value consumed through one replica is refused by every other
replica on the same database. Times are integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ancre.storage.sql import UtcMicros, make_engine, migration_lock, write_engine

__all__ = [
    "VERSION_TABLE",
    "AccessTokenRow",
    "AdminKeyRow",
    "AuditRow",
    "AuthorizationCodeRow",
    "AuthorizationRequestRow",
    "Base",
    "CredentialRow",
    "DeferredRequestRow",
    "DelegationRow",
    "IssuerStateRow",
    "LoginStateRow",
    "LogoutSessionRow",
    "MetaRow",
    "NonceRow",
    "NotificationRow",
    "OfferRow",
    "PreAuthorizedCodeRow",
    "StatusEntryRow",
    "StatusListRow",
    "make_engine",
    "migrate",
    "session_factory",
    "write_engine",
]

#: Alembic's version table: named for the issuer so that its database may also hold others.
VERSION_TABLE: Final = "issuer_alembic_version"


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Issuer-wide values (the audit chain head), one row per key."""

    __tablename__ = "issuer_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class StatusListRow(Base):
    """A status list and its newest signed publication (re-signed on every change)."""

    __tablename__ = "status_lists"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "bitstring" | "token"
    purpose: Mapped[str] = mapped_column(String(32))  # "revocation", "suspension", "status"
    size: Mapped[int] = mapped_column(Integer)  # entries
    bits: Mapped[int] = mapped_column(Integer)  # bits per entry
    #: Bumped on every change; a publication records the revision it was signed at.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The URL the publication names (a service started with another public URL re-signs).
    published_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    published_revision: Mapped[int] = mapped_column(Integer, default=-1)
    published_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    published_until: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class StatusEntryRow(Base):
    """One allocated index. The primary key makes an index unique per list: two concurrent
    allocations of the same random index cannot both commit, and rows are never deleted, so
    an index is never reused."""

    __tablename__ = "status_entries"
    list_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("status_lists.id"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    credential_id: Mapped[str] = mapped_column(String(128), index=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
    allocated_at: Mapped[datetime] = mapped_column(UtcMicros)


class CredentialRow(Base):
    """Metadata of an issued credential: enough to find and revoke it, no personal claims."""

    __tablename__ = "issued_credentials"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # urn:uuid:…
    configuration_id: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    #: did:jwk/did:key of the holder (vc+jwt) or the JWK thumbprint of `cnf` (dc+sd-jwt).
    holder: Mapped[str] = mapped_column(String(2048))
    kid: Mapped[str] = mapped_column(String(2048))
    offer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UtcMicros)
    valid_until: Mapped[datetime] = mapped_column(UtcMicros)
    status_list: Mapped[str] = mapped_column(String(64))
    status_index: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="valid")
    #: The OpenID4VCI ``notification_id`` of the response that carried it (shared by a
    #: batch), and the last event the wallet notified (``credential_accepted``, …) — 0004.
    notification_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    wallet_event: Mapped[str | None] = mapped_column(String(32), nullable=True)
    wallet_event_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class OfferRow(Base):
    """A credential offer. `code` is erased when redeemed, `claims_json` once the credential
    is issued."""

    __tablename__ = "offers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    configuration_id: Mapped[str] = mapped_column(String(64))
    claims_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The pre-authorized code, for the offer served by reference; erased when redeemed.
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tx_code_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    authorization_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    created_by: Mapped[str] = mapped_column(String(256))
    credential_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: The wallet's request waits for an operator's approval (deferred issuance) — 0004.
    approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PreAuthorizedCodeRow(Base):
    """A pre-authorized code (hashed), its tx_code (hashed with the code) and the attempts."""

    __tablename__ = "pre_authorized_codes"
    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(64), ForeignKey("offers.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    used_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    tx_code_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tx_attempts: Mapped[int] = mapped_column(Integer, default=0)


class AccessTokenRow(Base):
    """An access token (hashed) for one offer's credential request."""

    __tablename__ = "access_tokens"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(64), ForeignKey("offers.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    used_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class NonceRow(Base):
    """A c_nonce (hashed) from the nonce endpoint, consumed by one key proof."""

    __tablename__ = "nonces"
    nonce_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class AuditRow(Base):
    """Append-only, hash-chained audit log (`ancre.storage.audit`)."""

    __tablename__ = "issuer_audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcMicros)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(2048))
    details_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# -- authorization code grant and login bridge (migration 0002) -----------------------------


class IssuerStateRow(Base):
    """An ``issuer_state`` (hashed) of a credential offer for the authorization code grant
    (OpenID4VCI 1.0 §4.1.1): which configuration the wallet may ask for, until when."""

    __tablename__ = "issuer_states"
    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    configuration_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)


class AuthorizationRequestRow(Base):
    """A wallet's pending authorization request (RFC 6749 §4.1.1 + PKCE), while the user
    authenticates. `completed_at` is set once, by the one conditional UPDATE that turns it
    into an authorization code or a refusal."""

    __tablename__ = "authorization_requests"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(256))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    code_challenge: Mapped[str] = mapped_column(String(128))
    configuration_id: Mapped[str] = mapped_column(String(64))
    #: The wallet's `state`, echoed back on the redirect.
    wallet_state: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: SHA-256 of the browser-binding cookie the request started in.
    browser_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    completed_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    #: The login's approval (authorization and claims) while the user reads the consent
    #: page; erased when the request completes (personal data).
    approved_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuthorizationCodeRow(Base):
    """An authorization code (hashed), bound to the client, redirect URI and PKCE challenge
    of its request; consumed by one conditional UPDATE at the token endpoint."""

    __tablename__ = "authorization_codes"
    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), ForeignKey("authorization_requests.id"))
    offer_id: Mapped[str] = mapped_column(String(64), ForeignKey("offers.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(256))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    code_challenge: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    used_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class LoginStateRow(Base):
    """The relying party's side of one OpenID Connect login (ancre.issuer.login): `state`
    (hashed: the key), the `nonce` and PKCE verifier it must check the answer against, the
    browser it is bound to, and the pending authorization request it serves. Consumed once
    by a conditional UPDATE, on whichever replica the provider's redirect lands."""

    __tablename__ = "login_states"
    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    browser_sha256: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    acr_values: Mapped[str] = mapped_column(String(1024))
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    used_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


Index("ix_issued_credentials_offer", CredentialRow.offer_id)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        # Replicas starting together: one migrates, the others wait, then find it done.
        migration_lock(connection, "issuer")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# -- VC-API clients and CSV offers (migration 0003) ---------------------------------------
# Defined here, with the other models, so that `Base.metadata` always holds every table the
# migrations create, whatever was imported.


class ClientRow(Base):
    """A VC-API client: its key (hashed), the issuer it may name and the types it may
    issue (configuration ids, JSON list)."""

    __tablename__ = "vc_api_clients"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    issuer_id: Mapped[str] = mapped_column(String(2048))
    types_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    created_by: Mapped[str] = mapped_column(String(256))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class VcApiCredentialRow(Base):
    """Which client issued a credential over the VC-API, and with which proof: a client may
    change the status of its own credentials only."""

    __tablename__ = "vc_api_credentials"
    credential_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    proof: Mapped[str] = mapped_column(String(32))


class CsvOfferRow(Base):
    """The offer a CSV row key created (row keys are hashed with the configuration id)."""

    __tablename__ = "csv_offer_rows"
    row_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    claims_sha256: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcMicros)


# -- deferred issuance and notifications (migration 0004) -----------------------------------


class DeferredRequestRow(Base):
    """A credential request held for an operator's approval (OpenID4VCI 1.0 §9): the holder
    keys its proofs established (public keys, no claims: those stay on the offer until the
    credentials are issued or the request is rejected or expires), the access token it
    came with (hashed: the wallet polls with the same one) and the decision.

    `id` is what the operator sees and decides on; the wallet's ``transaction_id`` is only
    stored hashed. `state`: ``pending`` → ``approved`` or ``rejected`` (by an operator),
    ``approved`` → ``issued`` (by the wallet's poll) — each by one conditional UPDATE."""

    __tablename__ = "deferred_requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    transaction_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[str] = mapped_column(String(64), ForeignKey("offers.id"), index=True)
    configuration_id: Mapped[str] = mapped_column(String(64))
    #: JSON list of {"jwk", "did"}: the proven holder keys, one credential each.
    holders_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    decided_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    collected_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class NotificationRow(Base):
    """A ``notification_id`` handed out with the credentials of one response (§8.3), bound
    to the access token (hashed) the wallet must present to the notification endpoint
    (§11). The events themselves are recorded on the credentials (`CredentialRow`)."""

    __tablename__ = "notifications"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)


# -- admin API keys (migration 0005) --------------------------------------------------------


class AdminKeyRow(Base):
    """An admin API key (hashed, like a VC-API client's): its holder may change the status
    of any credential this issuer issued, over ``/admin`` (ancre.issuer.admin_api)."""

    __tablename__ = "admin_keys"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    created_by: Mapped[str] = mapped_column(String(256))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


# -- operator approval of logins (migration 0006) --------------------------------------------


class LoginApprovalRow(Base):
    """A wallet's authorization request waiting for an operator's decision (the
    operator-approval user-authentication step, ancre.issuer.operator_approval): bound to
    the browser that started it, single use (`state`: pending → approved|rejected →
    resumed, each by one conditional UPDATE), expiring with its request. `decision_json`
    holds the approved authorization and claims until the browser resumes (personal data,
    then erased)."""

    __tablename__ = "login_approvals"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    browser_sha256: Mapped[str] = mapped_column(String(64))
    configuration_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(256))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    decided_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    decision_json: Mapped[str | None] = mapped_column(Text, nullable=True)


# -- RP-initiated logout (migration 0007) ----------------------------------------------------


class LogoutSessionRow(Base):
    """The ID token of one login, kept for RP-initiated logout (``id_token_hint``): bound to
    the browser that logged in, single use (`used_at`: the logout was started, by one
    conditional UPDATE), expiring. `state_sha256` is the logout's ``state`` (hashed),
    consumed once when the provider sends the browser back (`returned_at`)."""

    __tablename__ = "logout_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    browser_sha256: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    id_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    used_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    state_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


# -- delegation of a Mandate by a director (migration 0008) -----------------------------------


class DelegationRow(Base):
    """A logged-in person (not a director) asking for a Mandate of an organization, waiting
    for one of its directors to approve (ancre.issuer.delegation). `state`: pending →
    approved|rejected → used (an approved delegation yields one Mandate), each by one
    conditional UPDATE. The approval code is kept hashed; the approving director is kept as a
    digest of their subject key, with the register check that found them a director."""

    __tablename__ = "delegations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    siren: Mapped[str] = mapped_column(String(9), index=True)
    organization_name: Mapped[str] = mapped_column(String(256))
    requester_key: Mapped[str] = mapped_column(String(512), index=True)
    requester_name: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(150))
    approval_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    expires_at: Mapped[datetime] = mapped_column(UtcMicros)
    approver_sha256: Mapped[str | None] = mapped_column(String(80), nullable=True)
    approver_browser_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approver_checked_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    approver_evidence_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)
