"""Throw-away X.509 PKIs for tests: roots, intermediates and leaves built with `cryptography`.

Not for production: keys live in memory, serial numbers are random, and the helpers
happily build *broken* certificates on request (a CA without `cA`, a leaf without
`digitalSignature`, an expired intermediate) because negative tests need them.

    root = make_ca("Test Root")
    inter = make_ca("Test Issuing CA", issuer=root, path_length=0)
    leaf = make_leaf(inter, dns_names=["issuer.example"], key_type="p256")
    header = {"typ": "vc+jwt", "x5c": leaf.x5c()}      # leaf + intermediate, no root
    token = sign_compact(header, payload, leaf.signer)

The certificates follow the profile `cryptography.x509.verification` checks (RFC 5280 plus
the CA/B Forum rules it applies): v3, positive serials of at most 20 octets, a critical
basicConstraints on CAs with keyCertSign, subject/authority key identifiers, and a SAN on
leaves. CA keys may be P-256, P-384 or RSA; an Ed25519 CA can be made, but the verifier
refuses Ed25519 *issuer* keys and signatures (see `ancre.trust.x509.chain`).
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from ancre.trust.errors import ConfigurationError
from ancre.trust.keys.jwk import KeyType, PrivateKey, PublicKey

__all__ = [
    "DEFAULT_NOT_AFTER",
    "DEFAULT_NOT_BEFORE",
    "CertifiedKey",
    "RsaSigner",
    "make_ca",
    "make_leaf",
    "pem_chain",
    "x5c_header_value",
]

#: A window wide enough around any test clock (tests/_support.NOW is 2026-01-15).
DEFAULT_NOT_BEFORE: Final = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULT_NOT_AFTER: Final = datetime(2040, 1, 1, tzinfo=UTC)

_CertKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_KEY_USAGE_BITS: Final = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


class RsaSigner:
    """A JWS signer over an RSA key (PS256 by default, as Gaia-X notaries sign; RS256 on
    request). ancre never *issues* with RSA: this exists so tests can produce what RSA
    issuers send."""

    def __init__(self, key: rsa.RSAPrivateKey, alg: str = "PS256") -> None:
        if alg not in ("PS256", "RS256"):
            raise ConfigurationError(f"RsaSigner signs PS256 or RS256, not {alg}")
        self._key = key
        self._alg = alg
        self._public = PublicKey(key.public_key())

    @property
    def key_type(self) -> KeyType:
        return KeyType.RSA

    @property
    def alg(self) -> str:
        return self._alg

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        pad: padding.AsymmetricPadding
        if self._alg == "PS256":
            # RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash.
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        else:
            pad = padding.PKCS1v15()
        return self._key.sign(data, pad, hashes.SHA256())


@dataclass(frozen=True, slots=True, repr=False)
class CertifiedKey:
    """A certificate, its private key, and the path from it up to its root (leaf first)."""

    certificate: x509.Certificate
    private_key: _CertKey
    #: This certificate, then its issuer, …, then the self-signed root.
    path: tuple[x509.Certificate, ...]

    @property
    def signer(self) -> PrivateKey | RsaSigner:
        """A JWS signer over this certificate's key (`PrivateKey` for Ed25519/P-256/P-384,
        `RsaSigner` with PS256 for RSA)."""
        key = self.private_key
        if isinstance(key, rsa.RSAPrivateKey):
            return RsaSigner(key)
        public = PublicKey(key.public_key())
        return PrivateKey(key=key, key_type=public.key_type, public_key=public)

    @property
    def root(self) -> x509.Certificate:
        return self.path[-1]

    def x5c(self, *, include_root: bool = False) -> list[str]:
        """The `x5c` header value for this certificate's path. The root is left out by
        default: HAIP and ETSI profiles say the trust anchor is not sent, the verifier has it."""
        chain = self.path if include_root or len(self.path) == 1 else self.path[:-1]
        return x5c_header_value(chain)

    def __repr__(self) -> str:
        return f"CertifiedKey({self.certificate.subject.rfc4514_string()})"


def x5c_header_value(chain: Sequence[x509.Certificate]) -> list[str]:
    """RFC 7515 §4.1.6: standard base64 (not base64url) of each DER certificate, leaf first."""
    return [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain
    ]


def pem_chain(chain: Sequence[x509.Certificate], *, newlines: bool = True) -> str:
    """The chain as concatenated PEM; `newlines=False` gives the one-line form the Gaia-X
    registry's `POST /api/trustAnchor/chain` receives."""
    text = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain)
    return text if newlines else text.replace("\n", "")


def _generate(key_type: KeyType | str, rsa_bits: int) -> _CertKey:
    kt = KeyType(key_type)
    if kt is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if kt is KeyType.P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kt is KeyType.P384:
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def _hash_for(key: _CertKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None  # Ed25519 signs the message itself (RFC 8410 §6)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _name(
    common_name: str, organization: str | None = None, organization_identifier: str | None = None
) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if organization_identifier is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organization_identifier))
    return x509.Name(attrs)


def _key_usage(bits: Collection[str]) -> x509.KeyUsage:
    unknown = set(bits).difference(_KEY_USAGE_BITS)
    if unknown:
        raise ConfigurationError(f"unknown key usage bits {sorted(unknown)}")
    flags = {name: name in bits for name in _KEY_USAGE_BITS}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def _build(
    *,
    subject: x509.Name,
    public_key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: CertifiedKey | None,
    self_key: _CertKey,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    signing_key = issuer.private_key if issuer is not None else self_key
    issuer_name = issuer.certificate.subject if issuer is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(signing_key, _hash_for(signing_key))


def make_ca(
    name: str,
    *,
    key_type: KeyType | str = KeyType.P256,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
    path_length: int | None = None,
    name_constraints: x509.NameConstraints | Sequence[str] | None = None,
    issuer: CertifiedKey | None = None,
    ca: bool = True,
    organization: str | None = None,
    extended_key_usage: Sequence[x509.ObjectIdentifier] | None = None,
    rsa_bits: int = 2048,
) -> CertifiedKey:
    """A CA certificate: self-signed root when `issuer` is None, else an intermediate.

    `name_constraints` given as DNS names become permitted dNSName subtrees (RFC 5280
    §4.2.1.10). `ca=False` builds a broken "CA" whose basicConstraints says it is not one,
    for negative tests."""
    key = _generate(key_type, rsa_bits)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        # RFC 5280 §4.2.1.9: basicConstraints MUST be critical in CA certificates.
        (x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True),
        (_key_usage(("digital_signature", "key_cert_sign", "crl_sign")), True),
    ]
    if name_constraints is not None:
        if not isinstance(name_constraints, x509.NameConstraints):
            names = [name_constraints] if isinstance(name_constraints, str) else name_constraints
            name_constraints = x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(n) for n in names], excluded_subtrees=None
            )
        extensions.append((name_constraints, True))
    if extended_key_usage is not None:
        extensions.append((x509.ExtendedKeyUsage(extended_key_usage), False))
    cert = _build(
        subject=_name(name, organization),
        public_key=key.public_key(),
        issuer=issuer,
        self_key=key,
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )
    path = (cert,) if issuer is None else (cert, *issuer.path)
    return CertifiedKey(certificate=cert, private_key=key, path=path)


def make_leaf(
    ca: CertifiedKey,
    *,
    dns_names: Sequence[str] = (),
    uris: Sequence[str] = (),
    key_type: KeyType | str = KeyType.P256,
    key_usage: Collection[str] | None = ("digital_signature",),
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
    common_name: str | None = None,
    organization: str | None = None,
    organization_identifier: str | None = None,
    extended_key_usage: Sequence[x509.ObjectIdentifier] | None = None,
    rsa_bits: int = 2048,
) -> CertifiedKey:
    """An end-entity certificate issued by `ca`.

    `key_usage` names `x509.KeyUsage` bits (`"digital_signature"`…); None leaves the
    extension out. `organization_identifier` goes in the subject as 2.5.4.97 (ETSI EN
    319 412-1 §5.1.4 semantics: `VATFR-…`, `NTRFR-<SIREN>`). At least one SAN is needed:
    the verifier maps SAN entries to the issuer identifiers a leaf may sign for."""
    if not dns_names and not uris:
        raise ConfigurationError("a leaf needs at least one dNSName or URI subjectAltName")
    key = _generate(key_type, rsa_bits)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.UniformResourceIdentifier(u) for u in uris]
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.SubjectAlternativeName(sans), False),
    ]
    if key_usage is not None:
        extensions.append((_key_usage(key_usage), True))
    if extended_key_usage is not None:
        extensions.append((x509.ExtendedKeyUsage(extended_key_usage), False))
    cn = common_name or (dns_names[0] if dns_names else "leaf")
    cert = _build(
        subject=_name(cn, organization, organization_identifier),
        public_key=key.public_key(),
        issuer=ca,
        self_key=key,
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )
    return CertifiedKey(certificate=cert, private_key=key, path=(cert, *ca.path))
