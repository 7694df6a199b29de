"""X.509 certificate chains as issuer keys: the JOSE `x5c` header (RFC 7515 §4.1.6).

HAIP 1.0 allows only `x5c` issuer keys for `dc+sd-jwt`, and Gaia-X notaries publish
`x5c`/`x5u` chains rooted in EV-SSL or eIDAS CAs. A chain proves a key only when:

1. it parses strictly (standard base64 — *not* base64url — of DER, leaf first, bounded
   count and size): :func:`parse_x5c`;
2. a path from the leaf to one of the verifier's trust anchors validates at the
   verification time — signatures, validity periods, basicConstraints and path lengths,
   name constraints, no unknown critical extension — done by
   `cryptography.x509.verification` (RFC 5280 path building, CA/B Forum algorithm
   allow-list): :func:`validate_chain`;
3. the leaf may sign: keyUsage present with digitalSignature and without keyCertSign; an
   extendedKeyUsage, if present, lists one of the allowed purposes;
4. the leaf *names* the issuer the credential claims (SD-JWT VC §3.5 "X.509
   Certificates"): :func:`leaf_identities`, :meth:`ValidatedChain.require_identity`.

:class:`X5cKeySource` puts the four together behind the pipeline's `KeySource` protocol, with
a cache so a chain seen before costs a dictionary lookup instead of a path validation.

What `cryptography` (≥ 44) accepts, and so what ancre accepts: CA keys and certificate
signatures are RSA (≥ 2048 bits; PKCS#1 v1.5 or PSS with SHA-256/384/512), ECDSA P-256,
P-384 or P-521 — Ed25519 CAs and Ed25519-signed certificates are refused (CA/B Forum BR
§7.1.3). A *leaf* key may be anything the CA certifies; ancre then accepts Ed25519, P-256,
P-384 or RSA ≥ 2048 leaf keys. Revocation (CRL/OCSP) is not checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ancre.trust.clock import Clock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.did.document import DidResolver, parse_did
from ancre.trust.did.web import did_web_to_url
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError, MalformedError
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.steps import KeySource, resolve_key

__all__ = [
    "DEFAULT_LEAF_EKUS",
    "DEFAULT_MAX_DEPTH",
    "DOCUMENT_SIGNING_EKU",
    "MAX_CERT_BYTES",
    "MAX_X5C_CERTS",
    "OrganizationIdentifier",
    "ValidatedChain",
    "X5cKeySource",
    "chain_is_rooted",
    "leaf_identities",
    "leaf_public_key",
    "organization_identifier",
    "parse_pem_chain",
    "parse_x5c",
    "subject_organization",
    "validate_chain",
]

#: At most this many certificates in an `x5c` (a leaf, a few intermediates, maybe a root).
MAX_X5C_CERTS: Final = 10
#: At most this many DER bytes per certificate; real ones are 0.5–3 KiB.
MAX_CERT_BYTES: Final = 16 * 1024
#: Intermediates allowed between the leaf and the anchor (RFC 5280 §6.1 path length,
#: self-issued intermediates not counted).
DEFAULT_MAX_DEPTH: Final = 4
#: RFC 9336 id-kp-documentSigning.
DOCUMENT_SIGNING_EKU: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
#: Purposes a leaf's extendedKeyUsage may list for it to sign credentials: document signing
#: (RFC 9336), and the TLS purposes, because Gaia-X issuers sign with the key of the EV-SSL
#: certificate their `x5u`/`x5c` chain carries. A leaf without the extension may sign
#: (RFC 5280 §4.2.1.12: absent means unrestricted).
DEFAULT_LEAF_EKUS: Final = frozenset(
    {DOCUMENT_SIGNING_EKU, ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
)

_STD_B64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_PEM_BLOCK: Final = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
_WHITESPACE: Final = re.compile(r"\s+")
# What an ancre extension validator raised, as the library reports it (the exception itself
# is not kept: `VerificationError` carries only its text). str(AncreError) is "code: message".
_CALLBACK_ERROR: Final = re.compile(
    r"Python extension validator failed: \w+: ([a-z_]+): (.*?)(?: \(encountered processing .*)?$",
    re.S,
)
_CODES: Final = frozenset(c.value for c in Code)
_ETSI_ORG_ID: Final = re.compile(r"([A-Z]{3}|[A-Z]{2}:)([A-Z]{2})-(.+)", re.S)


def _malformed(message: str) -> MalformedError:
    return MalformedError(Code.INVALID_CERTIFICATE, message)


# ------------------------------------------------------------------------------------------
# parsing


def _strict_b64(text: str, what: str, max_bytes: int) -> bytes:
    """Standard base64 (RFC 4648 §4) with padding, nothing else, canonical."""
    # Checked on the text, before decoding anything: a megabyte of base64 costs nothing.
    if len(text) > 4 * ((max_bytes + 2) // 3):
        raise _malformed(f"{what} is larger than {max_bytes} bytes")
    if not text.isascii() or _STD_B64.fullmatch(text) is None or len(text) % 4:
        # `-` and `_` land here: RFC 7515 §4.1.6 says base64, *not* base64url.
        raise _malformed(f"{what} is not padded standard base64 (A-Z a-z 0-9 + /, then =)")
    try:
        der = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        raise _malformed(f"{what} is not valid base64") from None
    # One certificate, one encoding: non-zero spare bits before the padding would give the
    # same DER several spellings (and several cache keys).
    if base64.b64encode(der).decode("ascii") != text:
        raise _malformed(f"{what} is non-canonical base64")
    return der


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """One DER tag-length-value at `pos`: (tag, content start, content end)."""
    if pos + 2 > len(der):
        raise ValueError("truncated")
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        size = first & 0x7F
        if not 0 < size <= 4 or pos + size > len(der):
            raise ValueError("bad length")
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("truncated")
    return tag, pos, pos + length


def _serial_is_positive(der: bytes) -> bool | None:
    """Whether the certificate's serialNumber is positive; None if the DER is too broken to
    tell (the full parser then refuses it). Checked before `cryptography` loads the
    certificate because it *warns* about a non-positive serial instead of refusing it, and
    a warning is noise in production and an error under `-W error`."""
    try:
        tag, start, _ = _tlv(der, 0)  # Certificate ::= SEQUENCE
        if tag != 0x30:
            return None
        tag, start, _ = _tlv(der, start)  # tbsCertificate ::= SEQUENCE
        if tag != 0x30:
            return None
        tag, start, end = _tlv(der, start)
        if tag == 0xA0:  # [0] EXPLICIT version
            tag, start, end = _tlv(der, end)
    except ValueError:
        return None
    if tag != 0x02 or end == start:  # serialNumber INTEGER
        return None
    content = der[start:end]
    return content[0] < 0x80 and any(content)


def _load_der(der: bytes, what: str, max_bytes: int) -> x509.Certificate:
    if not der:
        raise _malformed(f"{what} is empty")
    if len(der) > max_bytes:
        raise _malformed(f"{what} is {len(der)} bytes, the limit is {max_bytes}")
    if _serial_is_positive(der) is False:
        raise _malformed(f"{what} has a serial number that is not positive (RFC 5280 §4.1.2.2)")
    try:
        cert = x509.load_der_x509_certificate(der)
        # Extensions are decoded lazily: decode them now so a malformed one is reported as a
        # bad certificate here, not as a surprise exception deep inside validation.
        _ = cert.extensions
    except (
        ValueError,
        x509.InvalidVersion,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ) as exc:
        raise _malformed(f"{what} is not a DER X.509 certificate: {str(exc)[:200]}") from None
    return cert


def parse_x5c(
    value: Any, *, max_certs: int = MAX_X5C_CERTS, max_cert_bytes: int = MAX_CERT_BYTES
) -> tuple[x509.Certificate, ...]:
    """Parse an `x5c` header value: a non-empty JSON array of standard-base64 DER
    certificates, the leaf first (RFC 7515 §4.1.6). Raises `MalformedError`
    (`invalid_certificate`) for anything else — base64url, bad padding, whitespace, an
    empty array, more than `max_certs` entries, a certificate over `max_cert_bytes`, DER
    that is not a certificate."""
    if not isinstance(value, list) or not value:
        raise _malformed("`x5c` must be a non-empty array of base64 certificates")
    if len(value) > max_certs:
        raise _malformed(f"`x5c` has {len(value)} certificates, the limit is {max_certs}")
    certs = []
    for i, item in enumerate(value):
        what = f"`x5c`[{i}]"
        if not isinstance(item, str):
            raise _malformed(f"{what} must be a string")
        certs.append(_load_der(_strict_b64(item, what, max_cert_bytes), what, max_cert_bytes))
    return tuple(certs)


def parse_pem_chain(text: str, *, max_certs: int = MAX_X5C_CERTS) -> tuple[x509.Certificate, ...]:
    """Parse concatenated PEM certificates, leaf first. Line breaks are optional: the Gaia-X
    registry's `POST /api/trustAnchor/chain` receives the whole chain as one line. Nothing
    but whitespace may appear between the blocks."""
    if not isinstance(text, str):
        raise _malformed("a PEM chain must be a string")
    if len(text) > max_certs * (MAX_CERT_BYTES * 3 // 2 + 128):
        raise _malformed("the PEM chain is too large")
    blocks = _PEM_BLOCK.findall(text)
    if not blocks or _WHITESPACE.sub("", _PEM_BLOCK.sub("", text)):
        raise _malformed("not a chain of PEM `CERTIFICATE` blocks")
    if len(blocks) > max_certs:
        raise _malformed(f"the PEM chain has {len(blocks)} certificates, the limit is {max_certs}")
    return tuple(
        _load_der(
            _strict_b64(_WHITESPACE.sub("", body), f"PEM certificate {i}", MAX_CERT_BYTES),
            f"PEM certificate {i}",
            MAX_CERT_BYTES,
        )
        for i, body in enumerate(blocks)
    )


# ------------------------------------------------------------------------------------------
# what a leaf says


def leaf_public_key(cert: x509.Certificate) -> PublicKey:
    """The certificate's key as an ancre `PublicKey` (Ed25519, P-256, P-384, RSA ≥ 2048)."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidError(Code.INVALID_KEY, f"the certificate key is unusable: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise InvalidError(
            Code.UNSUPPORTED_KEY_TYPE, f"certificate key {type(key).__name__} is not supported"
        )
    return PublicKey(key)


def _dns_identities(name: str) -> tuple[str, ...]:
    host = name.lower().rstrip(".")
    try:
        # did_web_to_url validates the host (LDH labels, no wildcard, no percent tricks).
        did_web_to_url("did:web:" + host)
    except AncreError:
        return ()
    return ("did:web:" + host, "dns:" + host)


def _uri_identity(uri: str) -> str | None:
    if uri.startswith("did:"):
        try:
            parse_did(uri)  # a DID, not a DID URL (no path, query or fragment)
        except AncreError:
            return None
        return uri
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return uri
    return None


def leaf_identities(cert: x509.Certificate) -> set[str]:
    """The issuer identifiers this certificate names, from its subjectAltName.

    - dNSName `example.org` → `did:web:example.org` and `dns:example.org` (the RFC 4501
      form SD-JWT VC §3.5 matches against dNSName); wildcards name nobody;
    - uniformResourceIdentifier that is an https URL or a DID → itself, exactly.

    These are the names the certificate *claims*; :attr:`ValidatedChain.identities` further
    drops those a CA's name constraints do not allow (see there)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    out: set[str] = set()
    for name in san.get_values_for_type(x509.DNSName):
        out.update(_dns_identities(name))
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        ident = _uri_identity(uri)
        if ident is not None:
            out.add(ident)
    return out


def _subject_attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def subject_organization(cert: x509.Certificate) -> str | None:
    """The subject's organizationName (O), if any."""
    return _subject_attr(cert, NameOID.ORGANIZATION_NAME)


class OrganizationIdentifier(NamedTuple):
    """ETSI EN 319 412-1 §5.1.4 legal-person semantics identifier, e.g. `NTRFR-552100554`:
    `scheme` (`VAT`, `NTR`, `PSD`…, or two characters and `:` for a national scheme),
    `country` (ISO 3166-1 alpha-2) and the `reference` itself (a SIREN for `NTRFR`)."""

    raw: str
    scheme: str | None
    country: str | None
    reference: str | None


def organization_identifier(cert: x509.Certificate) -> OrganizationIdentifier | None:
    """The subject's organizationIdentifier (2.5.4.97), split per ETSI EN 319 412-1 when it
    follows that structure (otherwise only `raw` is set)."""
    raw = _subject_attr(cert, NameOID.ORGANIZATION_IDENTIFIER)
    if raw is None:
        return None
    m = _ETSI_ORG_ID.fullmatch(raw)
    if m is None:
        return OrganizationIdentifier(raw, None, None, None)
    return OrganizationIdentifier(raw, m.group(1), m.group(2), m.group(3))


# ------------------------------------------------------------------------------------------
# name constraints on identities


def _identity_host(identity: str) -> str | None:
    if identity.startswith("dns:"):
        return identity[4:]
    if identity.startswith("did:web:"):
        try:
            return urlsplit(did_web_to_url(identity)).hostname
        except AncreError:
            return None
    if identity.startswith("https:"):
        return urlsplit(identity).hostname
    return None  # did:key, did:jwk…: no host a CA could be constrained to


def _dns_within(host: str, base: str) -> bool:
    # RFC 5280 §4.2.1.10: a dNSName constraint matches the name and every subdomain of it.
    base = base.lower().lstrip(".")
    return host == base or host.endswith("." + base)


def _uri_within(host: str, base: str) -> bool:
    # RFC 5280 §4.2.1.10: a URI constraint is a host; a leading "." means subdomains only.
    base = base.lower()
    return host.endswith(base) if base.startswith(".") else host == base


def _subtree_match(host: str, subtree: x509.GeneralName) -> bool | None:
    """True/False when `subtree` constrains host names, None when it is another name type."""
    if isinstance(subtree, x509.DNSName):
        return _dns_within(host, subtree.value)
    if isinstance(subtree, x509.UniformResourceIdentifier):
        return _uri_within(host, subtree.value)
    return None


def _allowed_by(identity: str, constraints: x509.NameConstraints) -> bool:
    host = _identity_host(identity)
    permitted = [
        s
        for s in constraints.permitted_subtrees or ()
        if isinstance(s, x509.DNSName | x509.UniformResourceIdentifier)
    ]
    if permitted and (host is None or not any(_subtree_match(host, s) for s in permitted)):
        return False
    excluded = constraints.excluded_subtrees or ()
    return host is None or not any(_subtree_match(host, s) for s in excluded)


def _constrained(identities: set[str], path: Sequence[x509.Certificate]) -> frozenset[str]:
    # RFC 5280 applies a dNSName constraint to dNSName SANs only, and `cryptography` refuses
    # URI constraints outright: a CA limited to `example.org` could otherwise certify a leaf
    # with the URI SAN `did:web:evil.com` or `https://evil.com`, and that leaf would then
    # speak for evil.com. So every identity's *host* must also fit the DNS and URI subtrees
    # of every CA on the path; a host-less identity (did:key) fits no permitted subtree.
    kept = set(identities)
    for ca in path[1:]:
        try:
            nc = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        kept = {i for i in kept if _allowed_by(i, nc)}
    return frozenset(kept)


# ------------------------------------------------------------------------------------------
# validation


@dataclass(frozen=True, slots=True)
class ValidatedChain:
    """A chain that validated to a trust anchor at `validated_at`."""

    #: leaf → … → the trust anchor, as the path builder found it.
    path: tuple[x509.Certificate, ...]
    public_key: PublicKey
    #: Identifiers the leaf names *and* every CA on the path may vouch for.
    identities: frozenset[str]
    organization: str | None
    organization_identifier: OrganizationIdentifier | None
    validated_at: datetime
    #: The path is valid (as far as time goes) from `valid_from` to `valid_until` inclusive.
    valid_from: datetime
    valid_until: datetime

    @property
    def leaf(self) -> x509.Certificate:
        return self.path[0]

    @property
    def anchor(self) -> x509.Certificate:
        return self.path[-1]

    def names(self, identifier: str) -> bool:
        """True if the leaf names `identifier` (exact match; DNS-derived forms lower-case)."""
        return identifier in self.identities

    def require_identity(self, identifier: str) -> None:
        """Raise `certificate_identity_mismatch` unless the leaf names `identifier`."""
        if identifier not in self.identities:
            shown = ", ".join(sorted(self.identities)[:5]) or "nothing"
            raise InvalidError(
                Code.CERTIFICATE_IDENTITY_MISMATCH,
                f"the certificate names {shown}, not {identifier}",
            )


def _ee_key_usage(_policy: Policy, _cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    # RFC 5280 §4.2.1.3 reads an absent keyUsage as "any use": ancre fails closed and wants
    # digitalSignature, the bit for verifying signatures other than on certificates and
    # CRLs — which is what a credential signature is. A leaf that may sign certificates is a
    # CA in disguise.
    if ku is None:
        raise InvalidError(Code.CERTIFICATE_KEY_USAGE, "the leaf has no keyUsage extension")
    if not ku.digital_signature:
        raise InvalidError(Code.CERTIFICATE_KEY_USAGE, "the leaf keyUsage lacks digitalSignature")
    if ku.key_cert_sign:
        raise InvalidError(Code.CERTIFICATE_KEY_USAGE, "the leaf keyUsage asserts keyCertSign")


def _eku_validators(
    allowed: frozenset[x509.ObjectIdentifier],
) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    def ee_eku(_p: Policy, _c: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is not None and allowed.isdisjoint(eku):
            raise InvalidError(
                Code.CERTIFICATE_KEY_USAGE,
                "the leaf extendedKeyUsage allows none of "
                + ", ".join(sorted(o.dotted_string for o in allowed)),
            )

    def ca_eku(_p: Policy, _c: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        # An EKU in a CA certificate limits what it may certify (the usual reading, and
        # CA/B Forum's): it must allow a purpose a credential-signing leaf may have.
        if (
            eku is not None
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
            and allowed.isdisjoint(eku)
        ):
            raise InvalidError(
                Code.CERTIFICATE_CHAIN_INVALID,
                "a CA's extendedKeyUsage does not allow signing credentials",
            )

    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, ca_eku
    )
    ee_policy = (
        ExtensionPolicy.webpki_defaults_ee()
        # "may be present" so that an absent keyUsage reaches _ee_key_usage, which refuses it
        # with its own code (a required extension's absence is reported by the library).
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ee_key_usage)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, ee_eku)
    )
    return ca_policy, ee_policy


_DEFAULT_POLICIES: Final = _eku_validators(DEFAULT_LEAF_EKUS)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ConfigurationError("the validation time must be an aware datetime")
    return at.astimezone(UTC)


def _window(cert: x509.Certificate) -> tuple[datetime, datetime]:
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def _describe(cert: x509.Certificate) -> str:
    return repr(cert.subject.rfc4514_string()[:120])


def _expired_message(certs: Sequence[x509.Certificate], at: datetime) -> str:
    for cert in certs:
        start, end = _window(cert)
        if at > end:
            return f"certificate {_describe(cert)} expired at {end.isoformat()}"
        if at < start:
            return f"certificate {_describe(cert)} is not valid before {start.isoformat()}"
    return f"a certificate on the path is not valid at {at.isoformat()}"


def _translate(error: VerificationError) -> InvalidError:
    """Map the library's message onto a stable code. Its wording is not an API: anything
    not recognised is `certificate_chain_invalid`, which still fails closed."""
    text = str(error)
    m = _CALLBACK_ERROR.search(text)
    if m is not None and m.group(1) in _CODES:
        return InvalidError(Code(m.group(1)), m.group(2))
    detail = text.removeprefix("validation failed: ").removeprefix("candidates exhausted: ")
    if "not valid at validation time" in detail:
        return InvalidError(Code.CERTIFICATE_EXPIRED, detail)  # message refined by the caller
    if "no interior errors" in detail:
        # Path building ran out of issuers without meeting an anchor: unknown root, or a
        # missing intermediate.
        return InvalidError(
            Code.CERTIFICATE_UNTRUSTED, "the chain does not lead to a trusted anchor"
        )
    if "Forbidden public key algorithm" in detail or "Forbidden signature algorithm" in detail:
        # CA/B Forum BR §7.1.3: CA keys and certificate signatures are RSA or ECDSA
        # P-256/P-384/P-521 with SHA-2; Ed25519 CAs and SHA-1 signatures land here.
        return InvalidError(
            Code.CERTIFICATE_CHAIN_INVALID,
            "a CA key or certificate signature uses an algorithm outside RSA/ECDSA with SHA-2",
        )
    return InvalidError(Code.CERTIFICATE_CHAIN_INVALID, detail[:300])


def _validate(
    chain: Sequence[x509.Certificate],
    store: Store,
    anchors: Sequence[x509.Certificate],
    at: datetime,
    max_depth: int,
    policies: tuple[ExtensionPolicy, ExtensionPolicy],
) -> ValidatedChain:
    if not chain:
        raise _malformed("the certificate chain is empty")
    leaf = chain[0]
    ca_policy, ee_policy = policies
    verifier = (
        PolicyBuilder()
        .store(store)
        .time(at)
        .max_chain_depth(max_depth)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, list(chain[1:]))
    except VerificationError as exc:
        error = _translate(exc)
        if error.code is Code.CERTIFICATE_EXPIRED:
            error = InvalidError(Code.CERTIFICATE_EXPIRED, _expired_message([*chain, *anchors], at))
        raise error from None
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        raise InvalidError(Code.CERTIFICATE_CHAIN_INVALID, str(exc)[:300]) from None
    path = tuple(verified.chain)
    if len(path) == 1:
        # The leaf is itself an anchor (a pinned end-entity certificate, often self-signed):
        # HAIP forbids self-signed x5c leaves, and a pinned key is `PinnedKeys`' job.
        raise InvalidError(Code.CERTIFICATE_CHAIN_INVALID, "the leaf is itself a trust anchor")
    key = leaf_public_key(leaf)
    windows = [_window(c) for c in path]
    return ValidatedChain(
        path=path,
        public_key=key,
        identities=_constrained(leaf_identities(leaf), path),
        organization=subject_organization(leaf),
        organization_identifier=organization_identifier(leaf),
        validated_at=at,
        valid_from=max(w[0] for w in windows),
        valid_until=min(w[1] for w in windows),
    )


def _check_depth(max_depth: int) -> int:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or not 0 <= max_depth <= 16:
        raise ConfigurationError("max_depth must be an integer from 0 to 16")
    return max_depth


def _anchor_store(anchors: Sequence[x509.Certificate]) -> Store:
    if not anchors or not all(isinstance(a, x509.Certificate) for a in anchors):
        raise ConfigurationError("trust anchors must be a non-empty list of certificates")
    return Store(list(anchors))


def _policies(
    leaf_ekus: Collection[x509.ObjectIdentifier] | None,
) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    if leaf_ekus is None:
        return _DEFAULT_POLICIES
    if not leaf_ekus:
        raise ConfigurationError("leaf_ekus must allow at least one purpose")
    return _eku_validators(frozenset(leaf_ekus))


def validate_chain(
    chain: Sequence[x509.Certificate],
    *,
    anchors: Sequence[x509.Certificate],
    at: datetime,
    max_depth: int = DEFAULT_MAX_DEPTH,
    leaf_ekus: Collection[x509.ObjectIdentifier] | None = None,
) -> ValidatedChain:
    """Validate `chain` (leaf first; the others are a pool of candidate intermediates, in any
    order) to one of `anchors` at the time `at`.

    Raises `InvalidError` with
    `certificate_untrusted` (no path to an anchor: unknown root, missing intermediate),
    `certificate_expired` (a certificate on the path is expired or not yet valid),
    `certificate_key_usage` (the leaf may not sign: keyUsage without digitalSignature or
    with keyCertSign, no keyUsage at all, or an extendedKeyUsage outside `leaf_ekus` —
    default :data:`DEFAULT_LEAF_EKUS`), or `certificate_chain_invalid` (anything else:
    a CA without basicConstraints cA, path length or name constraints violated, a bad
    signature, a forbidden algorithm, an unknown critical extension, a leaf that is itself
    an anchor); `MalformedError(invalid_certificate)` for an empty chain."""
    store = _anchor_store(anchors)
    depth = _check_depth(max_depth)
    return _validate(chain, store, anchors, _utc(at), depth, _policies(leaf_ekus))


def _header_thumbprints(header: Mapping[str, Any], leaf_der: bytes) -> None:
    # RFC 7515 §4.1.7–4.1.8: when the header also carries a certificate thumbprint, it must
    # be the leaf's; a mismatch means the header was stitched together.
    for name, digest in (
        ("x5t#S256", hashlib.sha256(leaf_der).digest),
        ("x5t", hashlib.new("sha1", leaf_der, usedforsecurity=False).digest),
    ):
        if name in header and header[name] != b64url_encode(digest()):
            raise InvalidError(Code.INVALID_HEADER, f"`{name}` is not the x5c leaf's thumbprint")


class _CacheEntry(NamedTuple):
    chain: ValidatedChain
    leaf_der: bytes


class X5cKeySource:
    """A `KeySource` for JOSE headers carrying `x5c`: the chain must validate to `anchors`
    at the clock's time and its leaf must name the controller (issuer or holder) the key is
    asked for; then the leaf's key is the key. Headers without `x5c` go to `fallback` (a
    DID resolver or another key source), or fail with `verification_method_not_found`.

    Validated chains are cached (LRU, `cache_size` entries, 0 disables), keyed by the exact
    `x5c` strings and reused only while the clock stays inside every certificate's validity
    period: the answer is the one a fresh validation would give — apart from revocation,
    which ancre does not check for certificates. Failures are never cached."""

    def __init__(
        self,
        anchors: Sequence[x509.Certificate],
        *,
        clock: Clock,
        fallback: DidResolver | KeySource | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
        leaf_ekus: Collection[x509.ObjectIdentifier] | None = None,
        cache_size: int = 256,
    ) -> None:
        self._anchors = tuple(anchors)
        self._store = _anchor_store(self._anchors)
        self._clock = clock
        self._fallback = fallback
        self._max_depth = _check_depth(max_depth)
        self._policies = _policies(leaf_ekus)
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, ...], _CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    def chain_for(self, header: Mapping[str, Any]) -> ValidatedChain:
        """Parse and validate the header's `x5c` at the clock's time (cached)."""
        value = header.get("x5c")
        at = _utc(self._clock.now())
        key = tuple(value) if isinstance(value, list) and len(value) <= MAX_X5C_CERTS else None
        if key is not None and all(isinstance(v, str) for v in key):
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is not None and hit.chain.valid_from <= at <= hit.chain.valid_until:
                _header_thumbprints(header, hit.leaf_der)
                return hit.chain
        certs = parse_x5c(value)
        leaf_der = certs[0].public_bytes(serialization.Encoding.DER)
        _header_thumbprints(header, leaf_der)
        chain = _validate(certs, self._store, self._anchors, at, self._max_depth, self._policies)
        if key is not None and self._cache_size > 0:
            with self._lock:
                self._cache[key] = _CacheEntry(chain, leaf_der)
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return chain

    def key_for(
        self, controller: str, header: Mapping[str, Any], *, authentication: bool
    ) -> PublicKey:
        """The leaf key of a valid `x5c` chain naming `controller`; without `x5c`, the
        fallback's key."""
        if "x5c" not in header:
            if self._fallback is None:
                raise InvalidError(
                    Code.VERIFICATION_METHOD_NOT_FOUND,
                    "the JWS header has no `x5c` and no other key source is configured",
                )
            return resolve_key(header, controller, self._fallback, authentication=authentication)
        chain = self.chain_for(header)
        chain.require_identity(controller)
        return chain.public_key


def chain_is_rooted(
    pem_chain: str,
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> bool:
    """Whether a PEM chain (leaf first, line breaks optional — the Gaia-X registry's
    `POST /api/trustAnchor/chain` form) validates to one of `anchors` at `at`.

    False for a chain that parses but does not validate (the registry's 409
    `{"result": false}`); `MalformedError(invalid_certificate)` for input that is not a PEM
    chain at all (its 400)."""
    certs = parse_pem_chain(pem_chain)
    try:
        validate_chain(certs, anchors=anchors, at=at, max_depth=max_depth)
    except InvalidError:
        return False
    return True
