"""The negative suite as data: each case makes a token that must fail with one code.

Shared by the library tests (test_vc_jose.py) and the CLI tests (test_cli.py), so the same
status and code are asserted through both."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from _support import Issuer, StaticResolver, b64json, credential, forge

from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.did.document import CompositeResolver
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.result import Status


def _header(issuer: Issuer, **extra: Any) -> dict[str, Any]:
    return {
        "alg": issuer.key.alg,
        "kid": issuer.kid,
        "typ": "vc+jwt",
        "cty": "vc",
        "iss": issuer.did,
        **extra,
    }


def _case_alg_none(i: Issuer) -> str:
    return (
        f"{b64json({'alg': 'none', 'typ': 'vc+jwt', 'kid': i.kid})}.{b64json(credential(i.did))}."
    )


def _case_hs256(i: Issuer) -> str:
    # The classic confusion: an HMAC keyed with the issuer's public key.
    import hashlib
    import hmac

    secret = json.dumps(i.key.public_key.to_jwk()).encode()
    head = b64json(_header(i, alg="HS256"))
    body = b64json(credential(i.did))
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url_encode(mac)}"


def _case_alg_key_mismatch(i: Issuer) -> str:
    # Signed with the Ed25519 key, but the header claims ES256.
    return forge(_header(i, alg="ES256"), credential(i.did), i.key)


def _case_unknown_crit(i: Issuer) -> str:
    return forge(_header(i, crit=["exp-policy"], **{"exp-policy": 1}), credential(i.did), i.key)


def _case_tampered_payload(i: Issuer) -> str:
    token = issue_vc_jwt(credential(i.did), i.key, i.kid)
    head, _, sig = token.split(".")
    forged = dict(credential(i.did), iss=i.did)
    forged["credentialSubject"] = {"id": "did:example:member", "memberOf": "Somewhere else"}
    return f"{head}.{b64json(forged)}.{sig}"


def _case_tampered_header(i: Issuer) -> str:
    token = issue_vc_jwt(credential(i.did), i.key, i.kid)
    _, body, sig = token.split(".")
    return f"{b64json(_header(i, typ='vc+ld+json+jwt'))}.{body}.{sig}"


def _case_kid_of_other_did(i: Issuer) -> str:
    other = Issuer.new()
    return forge(_header(i, kid=other.kid), credential(i.did), other.key)


def _case_kid_unknown_fragment(i: Issuer) -> str:
    return forge(_header(i, kid=f"{i.did}#nope"), credential(i.did), i.key)


def _case_key_not_assertion(i: Issuer) -> str:
    return forge(
        _header(i, kid="did:example:authonly#key-1", iss="did:example:authonly"),
        credential("did:example:authonly"),
        i.key,
    )


def _case_expired(i: Issuer) -> str:
    return issue_vc_jwt(
        credential(i.did, validFrom="2025-01-01T00:00:00Z", validUntil="2025-12-31T23:59:59Z"),
        i.key,
        i.kid,
    )


def _case_not_yet_valid(i: Issuer) -> str:
    return issue_vc_jwt(
        credential(i.did, validFrom="2026-06-01T00:00:00Z", validUntil="2027-06-01T00:00:00Z"),
        i.key,
        i.kid,
    )


def _case_non_canonical_b64(i: Issuer) -> str:
    token = issue_vc_jwt(credential(i.did), i.key, i.kid)
    head, body, sig = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # Ed25519 signatures are 64 bytes = 86 chars: the last char carries 4 spare bits.
    sig = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]
    return f"{head}.{body}.{sig}"


def _case_duplicate_keys(i: Issuer) -> str:
    body = json.dumps(credential(i.did), separators=(",", ":"))
    body = body[:-1] + ',"issuer":"did:web:evil.example"}'
    return forge(_header(i), body, i.key)


def _case_huge(i: Issuer) -> str:
    return forge(_header(i), credential(i.did, padding="A" * (10 * 1024 * 1024)), None)


def _case_deep(i: Issuer) -> str:
    return forge(_header(i), '{"a":' + "[" * 200 + "]" * 200 + "}", i.key)


def _case_wrong_typ(i: Issuer) -> str:
    return forge(_header(i, typ="JWT"), credential(i.did), i.key)


def _case_issuer_mismatch(i: Issuer) -> str:
    return forge(_header(i, iss="did:web:someone.else"), credential(i.did), i.key)


def _case_bad_context(i: Issuer) -> str:
    doc = credential(i.did)
    doc["@context"] = ["https://www.w3.org/2018/credentials/v1x"]
    return forge(_header(i), doc, i.key)


def _case_empty_subject(i: Issuer) -> str:
    return forge(_header(i), credential(i.did, credentialSubject={}), i.key)


def _case_unknown_did_method(i: Issuer) -> str:
    return forge(
        _header(i, kid="did:ion:abc#k", iss="did:ion:abc"), credential("did:ion:abc"), i.key
    )


def _case_status_unchecked(i: Issuer) -> str:
    status = {
        "id": "https://127.0.0.1:9/status/1#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": "https://127.0.0.1:9/status/1",
    }
    return issue_vc_jwt(credential(i.did, credentialStatus=status), i.key, i.kid)


def _case_did_jwk_encryption_key(i: Issuer) -> str:
    # did:jwk with "use":"enc" has no assertionMethod (did:jwk spec): not a signing key.
    jwk = dict(i.key.public_key.to_jwk(), use="enc")
    did = "did:jwk:" + b64json(jwk)
    return forge(_header(i, kid=f"{did}#0", iss=did), credential(did), i.key)


# name → (token maker, status, code, malformed)
NEGATIVE: dict[str, tuple[Callable[[Issuer], str], Status, str, bool]] = {
    "alg none": (_case_alg_none, Status.INVALID, "alg_not_allowed", False),
    "HS256 with public key as secret": (_case_hs256, Status.INVALID, "alg_not_allowed", False),
    "alg/key-type mismatch": (_case_alg_key_mismatch, Status.INVALID, "alg_key_mismatch", False),
    "unknown crit": (_case_unknown_crit, Status.INVALID, "unknown_crit", False),
    "tampered payload": (_case_tampered_payload, Status.INVALID, "signature_invalid", False),
    "tampered header": (_case_tampered_header, Status.INVALID, "signature_invalid", False),
    "kid of another DID": (_case_kid_of_other_did, Status.INVALID, "kid_mismatch", False),
    "kid not in the DID document": (
        _case_kid_unknown_fragment,
        Status.INVALID,
        "verification_method_not_found",
        False,
    ),
    "key not in assertionMethod": (
        _case_key_not_assertion,
        Status.INVALID,
        "key_not_assertion_method",
        False,
    ),
    "expired": (_case_expired, Status.INVALID, "expired", False),
    "not yet valid": (_case_not_yet_valid, Status.INVALID, "not_yet_valid", False),
    "non-canonical base64url": (
        _case_non_canonical_b64,
        Status.INVALID,
        "non_canonical_base64url",
        True,
    ),
    "duplicate JSON keys": (_case_duplicate_keys, Status.INVALID, "duplicate_json_key", True),
    "10 MB token": (_case_huge, Status.INVALID, "input_too_large", True),
    "200-deep JSON nesting": (_case_deep, Status.INVALID, "json_too_deep", True),
    "typ JWT without vc claim": (_case_wrong_typ, Status.INVALID, "unsupported_typ", False),
    "header iss is not the issuer": (
        _case_issuer_mismatch,
        Status.INVALID,
        "issuer_mismatch",
        False,
    ),
    "wrong base context": (_case_bad_context, Status.INVALID, "invalid_context", False),
    "empty credentialSubject": (
        _case_empty_subject,
        Status.INVALID,
        "invalid_credential_subject",
        False,
    ),
    "unsupported DID method": (
        _case_unknown_did_method,
        Status.INDETERMINATE,
        "unsupported_did_method",
        False,
    ),
    # Without a status checker the library cannot decide; see test_cli for the CLI's answer.
    "status list not checkable yet": (
        _case_status_unchecked,
        Status.INDETERMINATE,
        "status_unchecked",
        False,
    ),
}


def negative_resolver(issuer: Issuer) -> CompositeResolver:
    from ancre.trust.did.key import DidKeyResolver

    authonly = {
        "id": "did:example:authonly",
        "verificationMethod": [
            {
                "id": "#key-1",
                "type": "JsonWebKey",
                "controller": "did:example:authonly",
                "publicKeyJwk": issuer.key.public_key.to_jwk(),
            }
        ],
        "authentication": ["#key-1"],
    }
    return CompositeResolver(
        {"key": DidKeyResolver(), "example": StaticResolver({"did:example:authonly": authonly})}
    )
