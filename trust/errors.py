"""One error base with stable codes.

Every failure ancre reports carries a ``code`` (a stable, documented string, see
``docs/errors.md``), a human message saying what was expected and what was found, and an
``outcome``: whether the failure *proves* the input bad (``invalid``) or only means ancre
could not decide (``indeterminate``: a resolver down, a list stale). Third-party exceptions
are translated into these at the boundary and never leak.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "AncreError",
    "Code",
    "ConfigurationError",
    "IndeterminateError",
    "InternalError",
    "InvalidError",
    "MalformedError",
    "Outcome",
]


class Outcome(StrEnum):
    """What a failure means for a verification result."""

    INVALID = "invalid"
    INDETERMINATE = "indeterminate"


class Code(StrEnum):
    """Stable error codes. Never rename one: clients match on them."""

    # input parsing (MalformedError)
    INPUT_TOO_LARGE = "input_too_large"
    MALFORMED_TOKEN = "malformed_token"  # noqa: S105 - an error code, not a secret
    MALFORMED_JSON = "malformed_json"
    DUPLICATE_JSON_KEY = "duplicate_json_key"
    JSON_TOO_DEEP = "json_too_deep"
    NON_CANONICAL_BASE64URL = "non_canonical_base64url"
    UNSUPPORTED_FORMAT = "unsupported_format"
    #: A secured document that is not a JSON object (VC Data Integrity: "the secured document
    #: is not a map"): a list, a number, a JSON string holding a JSON object.
    DOCUMENT_NOT_A_MAP = "document_not_a_map"
    # JOSE header and signature
    INVALID_HEADER = "invalid_header"
    UNSUPPORTED_TYP = "unsupported_typ"
    ALG_NOT_ALLOWED = "alg_not_allowed"
    ALG_KEY_MISMATCH = "alg_key_mismatch"
    UNKNOWN_CRIT = "unknown_crit"
    SIGNATURE_INVALID = "signature_invalid"
    # keys
    INVALID_KEY = "invalid_key"
    WEAK_KEY = "weak_key"
    UNSUPPORTED_KEY_TYPE = "unsupported_key_type"
    KEY_NOT_FOUND = "key_not_found"
    KEYSTORE_LOCKED = "keystore_locked"
    KEYSTORE_CORRUPT = "keystore_corrupt"
    PKCS11_UNAVAILABLE = "pkcs11_unavailable"
    PKCS11_PIN_INCORRECT = "pkcs11_pin_incorrect"
    # DIDs
    INVALID_DID = "invalid_did"
    UNSUPPORTED_DID_METHOD = "unsupported_did_method"
    #: A JWS with no `kid` whose signer's DID document has several keys usable for the
    #: proof's purpose: ancre tries none (which one signed is not said), indeterminate.
    AMBIGUOUS_KEY = "ambiguous_key"
    #: SD-JWT VC issuer metadata (`/.well-known/jwt-vc-issuer`) that could not be fetched
    #: (indeterminate) or is malformed / names another issuer (invalid).
    ISSUER_METADATA_UNAVAILABLE = "issuer_metadata_unavailable"
    INVALID_ISSUER_METADATA = "invalid_issuer_metadata"
    DID_NOT_FOUND = "did_not_found"
    DID_RESOLUTION_FAILED = "did_resolution_failed"
    INVALID_DID_DOCUMENT = "invalid_did_document"
    KID_MISMATCH = "kid_mismatch"
    VERIFICATION_METHOD_NOT_FOUND = "verification_method_not_found"
    KEY_NOT_ASSERTION_METHOD = "key_not_assertion_method"
    KEY_NOT_AUTHENTICATION = "key_not_authentication"
    CONTROLLER_MISMATCH = "controller_mismatch"
    KEY_REVOKED = "key_revoked"
    # network guard
    URL_NOT_ALLOWED = "url_not_allowed"
    RESPONSE_TOO_LARGE = "response_too_large"
    NETWORK_TIMEOUT = "network_timeout"
    NETWORK_ERROR = "network_error"
    # data model (VCDM 2.0 / 1.1)
    INVALID_CONTEXT = "invalid_context"
    INVALID_TYPE = "invalid_type"
    INVALID_ID = "invalid_id"
    INVALID_ISSUER = "invalid_issuer"
    ISSUER_MISMATCH = "issuer_mismatch"
    INVALID_DATETIME = "invalid_datetime"
    INVALID_CREDENTIAL_SUBJECT = "invalid_credential_subject"
    INVALID_PROPERTY = "invalid_property"
    # time
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    CREDENTIAL_TOO_OLD = "credential_too_old"
    # status (revocation / suspension): W3C Bitstring Status List, IETF Token Status List
    STATUS_UNCHECKED = "status_unchecked"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    STATUS_UNAVAILABLE = "status_unavailable"
    STATUS_LIST_INVALID = "status_list_invalid"
    STATUS_LIST_TOO_LARGE = "status_list_too_large"
    STATUS_LIST_ISSUER_MISMATCH = "status_list_issuer_mismatch"
    STATUS_INDEX_OUT_OF_RANGE = "status_index_out_of_range"
    # SD-JWT (RFC 9901) and SD-JWT VC
    DISCLOSURE_INVALID = "disclosure_invalid"
    DISCLOSURE_UNREFERENCED = "disclosure_unreferenced"
    DUPLICATE_DIGEST = "duplicate_digest"
    DIGEST_ALG_NOT_ALLOWED = "digest_alg_not_allowed"
    KEY_BINDING_MISSING = "key_binding_missing"
    KEY_BINDING_INVALID = "key_binding_invalid"
    KEY_BINDING_TOO_OLD = "key_binding_too_old"
    SD_HASH_MISMATCH = "sd_hash_mismatch"
    INVALID_VCT = "invalid_vct"
    # X.509 certificate chains (x5c)
    INVALID_CERTIFICATE = "invalid_certificate"
    CERTIFICATE_UNTRUSTED = "certificate_untrusted"
    CERTIFICATE_CHAIN_INVALID = "certificate_chain_invalid"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_KEY_USAGE = "certificate_key_usage"
    CERTIFICATE_IDENTITY_MISMATCH = "certificate_identity_mismatch"
    # Data Integrity / JSON-LD proofs
    UNKNOWN_CONTEXT = "unknown_context"
    UNSUPPORTED_CRYPTOSUITE = "unsupported_cryptosuite"
    INVALID_PROOF = "invalid_proof"
    #: A Data Integrity proof whose key is not of the cryptosuite's type or curve
    #: (an Ed25519 key on ecdsa-rdfc-2019, a P-384 key on eddsa-jcs-2022…).
    CRYPTOSUITE_KEY_MISMATCH = "cryptosuite_key_mismatch"
    #: A multikey (`publicKeyMultibase`, the ephemeral key of an ecdsa-sd-2023 proof) that
    #: does not decode to a key of the expected type.
    INVALID_MULTIKEY = "invalid_multikey"
    #: A proof chain whose `previousProof` names a proof the document does not carry.
    PREVIOUS_PROOF_MISSING = "previous_proof_missing"
    #: An ecdsa-sd-2023 derived proof that does not match the disclosed document (as many
    #: signatures as non-mandatory statements, mandatory indexes in range).
    DERIVED_PROOF_MISMATCH = "derived_proof_mismatch"
    PROOF_PURPOSE_MISMATCH = "proof_purpose_mismatch"
    CANONICALIZATION_FAILED = "canonicalization_failed"
    CANONICALIZATION_TIMEOUT = "canonicalization_timeout"
    # schema
    SCHEMA_VIOLATION = "schema_violation"
    # trust and policy
    ISSUER_NOT_TRUSTED = "issuer_not_trusted"
    TRUST_LIST_INVALID = "trust_list_invalid"
    TRUST_LIST_STALE = "trust_list_stale"
    TRUST_LIST_ROLLBACK = "trust_list_rollback"
    TRUST_LIST_UNAVAILABLE = "trust_list_unavailable"
    POLICY_VIOLATION = "policy_violation"
    TRUST_NOT_CONFIGURED = "trust_not_configured"
    # presentations / holder binding
    AUDIENCE_MISMATCH = "audience_mismatch"
    NONCE_MISMATCH = "nonce_mismatch"
    HOLDER_MISMATCH = "holder_mismatch"
    INVALID_PRESENTATION = "invalid_presentation"
    # French register identifiers
    INVALID_SIREN = "invalid_siren"
    INVALID_SIRET = "invalid_siret"
    INVALID_VAT_ID = "invalid_vat_id"
    # configuration / usage
    CONFIGURATION = "configuration_error"
    # OpenID4VP verifier (ancre.verifier.openid4vp)
    INVALID_DCQL_QUERY = "invalid_dcql_query"
    INVALID_VP_TOKEN = "invalid_vp_token"  # noqa: S105 - an error code, not a secret
    DCQL_NOT_SATISFIED = "dcql_not_satisfied"
    WALLET_ERROR = "wallet_error"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    TRANSACTION_EXPIRED = "transaction_expired"
    TOO_MANY_TRANSACTIONS = "too_many_transactions"
    # company registers (ancre.issuer.registers): lookups, then checks of what a login claims
    INVALID_LEI = "invalid_lei"
    REGISTER_NOT_FOUND = "register_not_found"
    REGISTER_UNAVAILABLE = "register_unavailable"
    REGISTER_ANSWER_INVALID = "register_answer_invalid"
    REGISTER_NOT_DIFFUSIBLE = "register_not_diffusible"
    ORGANIZATION_CLOSED = "organization_closed"
    ESTABLISHMENT_CLOSED = "establishment_closed"
    VAT_NOT_REGISTERED = "vat_not_registered"
    LEI_NOT_ISSUED = "lei_not_issued"
    NOT_PUBLIC_BODY = "not_public_body"
    DIRECTOR_NOT_MATCHED = "director_not_matched"
    DIRECTORS_UNAVAILABLE = "directors_unavailable"
    # registry (ancre.registry)
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAUTHORIZED = "unauthorized"
    SAME_PERSON = "same_person"
    INVALID_CHARACTERS = "invalid_characters"
    REGISTRY_BUSY = "registry_busy"
    AUDIT_CHAIN_BROKEN = "audit_chain_broken"
    AUDIT_STATE_MISMATCH = "audit_state_mismatch"
    # issuer (ancre.issuer); the OpenID4VCI / OAuth ones keep the spec's names
    INVALID_CLAIMS = "invalid_claims"
    UNKNOWN_CERTIFICATION_SCHEME = "unknown_certification_scheme"
    AUTHORIZATION_INSUFFICIENT = "authorization_insufficient"
    UNKNOWN_CREDENTIAL_CONFIGURATION = "unknown_credential_configuration"
    INVALID_REQUEST = "invalid_request"
    INVALID_GRANT = "invalid_grant"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
    INVALID_NONCE = "invalid_nonce"
    INVALID_CREDENTIAL_REQUEST = "invalid_credential_request"
    CREDENTIAL_NOT_FOUND = "credential_not_found"
    STATUS_LIST_FULL = "status_list_full"
    # OpenID4VCI 1.0 deferred issuance (§9.3) and notification (§11.3)
    INVALID_TRANSACTION_ID = "invalid_transaction_id"
    CREDENTIAL_REQUEST_DENIED = "credential_request_denied"
    INVALID_NOTIFICATION_ID = "invalid_notification_id"
    INVALID_NOTIFICATION_REQUEST = "invalid_notification_request"
    # verifier service (ancre.verifier.service): requests it refuses before verifying
    SERVICE_BUSY = "service_busy"
    #: Any service (registry, issuer, verifier): its database is unreachable (PostgreSQL
    #: down or restarting, a SQLite file that cannot be opened); 503 with `Retry-After`.
    SERVICE_UNAVAILABLE = "service_unavailable"
    #: Any service: a failure no route expected (a bug); 500, logged with its traceback,
    #: nothing of it in the answer.
    INTERNAL_ERROR = "internal_error"
    RATE_LIMITED = "rate_limited"
    # issuer VC-API (ancre.issuer.vc_api, ancre.issuer.accreditation)
    ISSUER_NOT_ALLOWED = "issuer_not_allowed"
    TYPE_NOT_ALLOWED = "type_not_allowed"
    NOT_ACCREDITED = "not_accredited"
    UNKNOWN_OPTION = "unknown_option"
    # login bridge (ancre.issuer.login, ancre.issuer.bridge)
    LOGIN_STATE_INVALID = "login_state_invalid"
    LOGIN_NONCE_INVALID = "login_nonce_invalid"
    LOGIN_PROVIDER_ERROR = "login_provider_error"
    LOGIN_PROVIDER_UNAVAILABLE = "login_provider_unavailable"
    ID_TOKEN_INVALID = "id_token_invalid"  # noqa: S105 - an error code, not a secret
    ID_TOKEN_WRONG_ISSUER = "id_token_wrong_issuer"  # noqa: S105 - an error code, not a secret
    ID_TOKEN_WRONG_AUDIENCE = "id_token_wrong_audience"  # noqa: S105 - an error code, not a secret
    ID_TOKEN_EXPIRED = "id_token_expired"  # noqa: S105 - an error code, not a secret
    USERINFO_INVALID = "userinfo_invalid"
    ACR_TOO_LOW = "acr_too_low"
    LOGIN_CLAIM_MISSING = "login_claim_missing"
    NOT_PUBLIC_AGENT = "not_public_agent"
    CONSENT_REFUSED = "consent_refused"
    LOGIN_REJECTED = "login_rejected"
    CSRF_INVALID = "csrf_invalid"
    # delegation of a Mandate by a director (ancre.issuer.delegation)
    DELEGATION_UNKNOWN = "delegation_unknown"
    DELEGATION_NOT_DIRECTOR = "delegation_not_director"
    DELEGATION_EXPIRED = "delegation_expired"
    DELEGATION_ALREADY_DECIDED = "delegation_already_decided"
    DELEGATION_ORGANIZATION_MISMATCH = "delegation_organization_mismatch"
    DELEGATION_SELF_APPROVAL = "delegation_self_approval"
    DELEGATION_REJECTED = "delegation_rejected"
    # wallet (ancre.wallet)
    WALLET_NOT_FOUND = "wallet_not_found"
    WALLET_LOCKED = "wallet_locked"
    WALLET_CORRUPT = "wallet_corrupt"
    WALLET_BUSY = "wallet_busy"
    RECORD_TAMPERED = "record_tampered"
    RECORD_NOT_FOUND = "record_not_found"
    OFFER_INVALID = "offer_invalid"
    ISSUER_REFUSED = "issuer_refused"
    CREDENTIAL_REFUSED = "credential_refused"
    NO_MATCHING_CREDENTIAL = "no_matching_credential"
    VERIFIER_REFUSED = "verifier_refused"
    ARCHIVE_INVALID = "archive_invalid"
    ARCHIVE_LOCKED = "archive_locked"
    ONBOARDING_INCOMPLETE = "onboarding_incomplete"
    # registry (ancre.registry): one code per refusal, each formerly `policy_violation`
    FORBIDDEN = "forbidden"
    TWO_PERSON_REQUIRED = "two_person_required"
    ALREADY_IN_STATE = "already_in_state"
    BACKDATED_CHANGE = "backdated_change"
    UNKNOWN_ANCHOR = "unknown_anchor"
    NO_SIGNING_KEY = "no_signing_key"
    INVALID_STATE = "invalid_state"


class AncreError(Exception):
    """Base of every error ancre raises on purpose."""

    outcome: Outcome = Outcome.INVALID

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code: Final[Code] = code
        self.message: Final[str] = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value!r}, {self.message!r})"


class MalformedError(AncreError):
    """The input could not be parsed at all (CLI exit code 65)."""


class InvalidError(AncreError):
    """The input parsed, and is proven bad: bad signature, expired, untrusted…"""


class IndeterminateError(AncreError):
    """ancre could not decide: a resolver or list was unreachable, stale or too slow."""

    outcome = Outcome.INDETERMINATE


class ConfigurationError(AncreError):
    """The caller asked for something inconsistent (a usage error, CLI exit code 64)."""

    def __init__(self, message: str) -> None:
        super().__init__(Code.CONFIGURATION, message)


class InternalError(AncreError):
    """An invariant of ancre's own state does not hold: a bug, or a database changed behind
    ancre's back (a row a foreign key promises is gone). Never the caller's fault: services
    answer 500, the CLI exits 70. Raised where an ``assert`` would vanish under ``-O``."""

    def __init__(self, message: str) -> None:
        super().__init__(Code.INVALID_STATE, message)
