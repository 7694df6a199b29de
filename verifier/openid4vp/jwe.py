"""The encrypted Authorization Response of `direct_post.jwt` (OpenID4VP 1.0 §8.3): a compact
JWE (RFC 7516) with `alg` ECDH-ES in direct key agreement mode (RFC 7518 §4.6) and an
AES-GCM `enc` (§5.3), made for the transaction's ephemeral P-256 key."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError
from ancre.trust.keys.jwk import KeyType, PublicKey

from .errors import RefusedError

__all__ = ["JWE_ALG", "SUPPORTED_ENC", "decrypt_response"]

#: The JWE `enc` values ancre decrypts (RFC 7518 §5.3); AES-CBC-HMAC is not offered.
SUPPORTED_ENC: Final = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
JWE_ALG: Final = "ECDH-ES"


def _len_prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


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
        apu = b64url_decode(header["apu"], what="apu") if "apu" in header else b""
        apv = b64url_decode(header["apv"], what="apv") if "apv" in header else b""
        if ek64:
            raise RefusedError("ECDH-ES direct key agreement has an empty encrypted key")
        iv = b64url_decode(iv64, what="JWE iv")
        ciphertext = b64url_decode(ct64, what="JWE ciphertext")
        tag = b64url_decode(tag64, what="JWE tag")
    except AncreError as error:
        raise RefusedError(f"malformed JWE: {error.message}") from None
    if len(iv) != 12 or len(tag) != 16:
        raise RefusedError("AES-GCM needs a 96-bit iv and a 128-bit tag")
    size = SUPPORTED_ENC[enc]
    shared = key.exchange(ec.ECDH(), ephemeral.key)
    # RFC 7518 §4.6.2: Concat KDF; AlgorithmID is `enc` in direct key agreement mode.
    other_info = (
        _len_prefixed(enc.encode("ascii"))
        + _len_prefixed(apu)
        + _len_prefixed(apv)
        + (size * 8).to_bytes(4, "big")
    )
    cek = ConcatKDFHash(hashes.SHA256(), size, other_info).derive(shared)
    try:
        # RFC 7516 §5.2: the AAD is the ASCII of the encoded protected header.
        plaintext = AESGCM(cek).decrypt(iv, ciphertext + tag, h64.encode("ascii"))
    except InvalidTag:
        raise RefusedError("the JWE does not decrypt with this request's key") from None
    try:
        return loads_strict(plaintext, what="the decrypted response", max_depth=max_depth)
    except AncreError as error:
        raise RefusedError(error.message) from None
