"""An issuer key certified by X.509: the private key and its certificate chain (``x5c``).

An issuer may sign with a key an X.509 CA certified (EUDI HAIP issuers name their key by an
``x5c`` chain): the operator brings the private key (PEM) and the chain (PEM, leaf first).
:func:`certified_key` checks, before anything is written, that

- the key is one ancre signs with (Ed25519, P-256, P-384) and unencrypted PEM;
- the chain parses and holds the leaf and the CA certificates above it (the root may be
  included; it is then left out of the ``x5c`` header — HAIP: the trust anchor is not
  sent);
- the leaf certifies exactly that key;
- the chain validates now (signatures, validity periods, CA constraints, a leaf that may
  sign) up to its last certificate, taken as the anchor — verifiers validate it to their own
  trust anchors;
- the leaf names the issuer's DID (a ``did:web`` URI subjectAltName, or the DID's host as a
  dNSName), as verifiers require (SD-JWT VC §3.5).

The issuer then signs with ``kid`` *and* ``x5c`` in the JWS header of every ``vc+jwt``,
``dc+sd-jwt`` and status list it signs, so a verifier may find the key either way.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ancre.trust.errors import AncreError, ConfigurationError
from ancre.trust.keys.jwk import PrivateKey, PublicKey
from ancre.trust.x509.chain import leaf_public_key, parse_pem_chain, parse_x5c, validate_chain

__all__ = ["CertifiedSigningKey", "certified_key", "check_x5c_key"]

_MAX_KEY_PEM: Final = 16 * 1024


@dataclass(frozen=True, slots=True, repr=False)
class CertifiedSigningKey:
    """A signing key and the ``x5c`` header value of its chain (leaf first, no root)."""

    key: PrivateKey
    x5c: tuple[str, ...]

    def __repr__(self) -> str:
        return f"CertifiedSigningKey({self.key.key_type}, {len(self.x5c)} certificate(s))"


def _private_key(pem: bytes) -> PrivateKey:
    if len(pem) > _MAX_KEY_PEM:
        raise ConfigurationError("the key file is too large for a PEM private key")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ConfigurationError(
            "the private key is encrypted: give it unencrypted (it is stored encrypted in "
            "the key store), e.g. `openssl pkey -in KEY.pem -out plain.pem`"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError("the key file is not a PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in (
        "secp256r1",
        "secp384r1",
    ):
        raise ConfigurationError(f"ancre signs with P-256 or P-384, not {key.curve.name}")
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError(
            f"ancre signs with Ed25519, P-256 or P-384 keys, not {type(key).__name__}"
        )
    public = PublicKey(key.public_key())
    return PrivateKey(key=key, key_type=public.key_type, public_key=public)


def _b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def certified_key(key_pem: bytes, chain_pem: str, *, did: str, at: datetime) -> CertifiedSigningKey:
    """Check a private key and its chain (see the module docstring) for the issuer `did` at
    the time `at`; ``ConfigurationError`` saying what does not hold."""
    key = _private_key(key_pem)
    try:
        certs = parse_pem_chain(chain_pem)
    except AncreError as error:
        raise ConfigurationError(f"the x5c chain: {error.message}") from None
    if len(certs) < 2:
        raise ConfigurationError(
            "the x5c chain holds only one certificate: give the leaf, then the CA "
            "certificate(s) that issued it (the root may be left out)"
        )
    try:
        leaf_key = leaf_public_key(certs[0])
    except AncreError as error:
        raise ConfigurationError(f"the x5c leaf: {error.message}") from None
    if leaf_key != key.public_key:
        raise ConfigurationError(
            "the x5c leaf certifies another key than the private key given (--key): the "
            f"leaf's is {leaf_key.thumbprint()}, the key's {key.public_key.thumbprint()} "
            "(JWK thumbprints); the chain must start with the certificate of that key"
        )
    try:
        chain = validate_chain(certs, anchors=[certs[-1]], at=at)
        chain.require_identity(did)
    except AncreError as error:
        raise ConfigurationError(f"the x5c chain is not usable: {error}") from None
    sent = certs[:-1] if _self_signed(certs[-1]) else certs
    return CertifiedSigningKey(key, tuple(_b64(c) for c in sent))


def check_x5c_key(x5c: Sequence[str], key: PublicKey, what: str) -> None:
    """Check that a stored ``x5c`` parses and that its leaf certifies `key` (the key store's
    key it goes with); ``ConfigurationError`` naming `what` otherwise."""
    try:
        leaf = parse_x5c(list(x5c))[0]
        certified = leaf_public_key(leaf)
    except AncreError as error:
        raise ConfigurationError(f"{what}: x5c: {error.message}") from None
    if certified != key:
        raise ConfigurationError(f"{what}: the x5c leaf does not certify the signing key")
