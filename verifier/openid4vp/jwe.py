"""The encrypted Authorization Response of `direct_post.jwt` (OpenID4VP 1.0 §8.3): a compact
JWE (RFC 7516) with `alg` ECDH-ES in direct key agreement mode (RFC 7518 §4.6) and an
AES-GCM `enc` (§5.3), made for the transaction's ephemeral P-256 key."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwe
from joserfc.errors import DecodeError, JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import ECKey

from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError
from ancre.trust.keys.jwk import KeyType, PublicKey

from .errors import RefusedError

__all__ = ["JWE_ALG", "SUPPORTED_ENC", "decrypt_response"]

#: The JWE `enc` values ancre decrypts (RFC 7518 §5.3); AES-CBC-HMAC is not offered.
SUPPORTED_ENC: Final = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
JWE_ALG: Final = "ECDH-ES"


def _decrypt(token: str, key: ec.EllipticCurvePrivateKey, enc: str) -> bytes:
    """ECDH-ES, the Concat KDF and AES-GCM, by joserfc, for a token whose header, sizes and
    algorithms were checked already. The registry allows exactly `alg` and this `enc`."""
    registry = JWERegistry(algorithms=[JWE_ALG, enc], strict_check_header=False)
    # The body limit (`max_body_bytes`) bounds the token; joserfc's own caps (64 kB of
    # ciphertext, 1 kB of header) would be new, smaller limits than before.
    bound = len(token)
    registry.max_protected_header_length = bound
    registry.max_encrypted_key_length = bound
    registry.max_initialization_vector_length = bound
    registry.max_ciphertext_length = bound
    registry.max_auth_tag_length = bound
    try:
        decrypted = jwe.decrypt_compact(token, ECKey(key, key), registry=registry)
    except DecodeError:
        raise RefusedError("the JWE does not decrypt with this request's key") from None
    except (JoseError, ValueError) as error:
        raise RefusedError(f"malformed JWE: {error}") from None
    if decrypted.plaintext is None:
        raise RefusedError("the JWE does not decrypt with this request's key")
    return decrypted.plaintext


def decrypt_response(
    token: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    kid: str,
    enc_values: Sequence[str],
    max_depth: int,
) -> Any:
    """Decrypt an encrypted Authorization Response (§8.3): a compact JWE with `alg`
    ECDH-ES (direct key agreement: no encrypted key) and an allowed AES-GCM `enc`, made
    for the transaction's key (`kid`). Everything is checked before any cryptography; an
    algorithm outside the allow-list is refused, never negotiated."""
    parts = token.split(".")
    if len(parts) != 5:
        raise RefusedError("`response` must be a compact JWE (5 parts)")
    h64, ek64, iv64, ct64, tag64 = parts
    try:
        header = loads_strict(b64url_decode(h64, what="JWE header"), what="JWE header")
        if not isinstance(header, dict):
            raise RefusedError("the JWE header must be a JSON object")
        if header.get("alg") != JWE_ALG:
            raise RefusedError(f"JWE alg {header.get('alg')!r} is not allowed (only {JWE_ALG})")
        enc = header.get("enc")
        if not isinstance(enc, str) or enc not in enc_values:
            raise RefusedError(f"JWE enc {enc!r} is not allowed (only {', '.join(enc_values)})")
        if "zip" in header or "crit" in header:
            raise RefusedError("JWE `zip` and `crit` are not supported")
        if not isinstance(header.get("kid"), str) or not hmac.compare_digest(
            header["kid"].encode(), kid.encode()
        ):
            raise RefusedError("the JWE is not for this request's encryption key (`kid`)")
        epk = header.get("epk")
        if (
            not isinstance(epk, dict)
            or epk.get("kty") != "EC"
            or epk.get("crv") != "P-256"
            or not all(isinstance(epk.get(n), str) for n in ("x", "y"))
        ):
            raise RefusedError("JWE `epk` must be a P-256 EC public key")
        # from_jwk refuses private members and points not on the curve (invalid-curve attack).
        ephemeral = PublicKey.from_jwk(epk)
        if ephemeral.key_type is not KeyType.P256 or not isinstance(
            ephemeral.key, ec.EllipticCurvePublicKey
        ):
            raise RefusedError("JWE `epk` must be a P-256 EC public key")
        for name in ("apu", "apv"):
            if name in header and not isinstance(header[name], str):
                raise RefusedError(f"JWE `{name}` must be a base64url string")
            if name in header:
                b64url_decode(header[name], what=name)  # canonical base64url only
        if ek64:
            raise RefusedError("ECDH-ES direct key agreement has an empty encrypted key")
        iv = b64url_decode(iv64, what="JWE iv")
        b64url_decode(ct64, what="JWE ciphertext")  # canonical base64url only
        tag = b64url_decode(tag64, what="JWE tag")
    except AncreError as error:
        raise RefusedError(f"malformed JWE: {error.message}") from None
    if len(iv) != 12 or len(tag) != 16:
        raise RefusedError("AES-GCM needs a 96-bit iv and a 128-bit tag")
    plaintext = _decrypt(token, key, enc)
    try:
        return loads_strict(plaintext, what="the decrypted response", max_depth=max_depth)
    except AncreError as error:
        raise RefusedError(error.message) from None
