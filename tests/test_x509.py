"""X.509 `x5c` chains as issuer keys: strict parsing, path validation to trust anchors with a
stable code per failure, the leaf's identities, and `X5cKeySource` end to end through
`verify_vc_jwt`.

PKIs are built per test with `_x509_pki`; the one external vector is the
`x5c` example of RFC 7515 Appendix B (a real 2006 Go Daddy chain)."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _support import NOW, Issuer, credential
from _x509_pki import (
    CertifiedKey,
    RsaSigner,
    make_ca,
    make_leaf,
    pem_chain,
    x5c_header_value,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given
from hypothesis import strategies as st

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.did.document import CompositeResolver
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    InvalidError,
    MalformedError,
)
from ancre.trust.jose.jws import sign_compact
from ancre.trust.jose.vc_jose import issue_vc_jwt, verify_vc_jwt
from ancre.trust.keys.jwk import KeyType, Signer
from ancre.trust.result import Status, Step
from ancre.trust.steps import PinnedKeys
from ancre.trust.x509.chain import (
    DOCUMENT_SIGNING_EKU,
    MAX_X5C_CERTS,
    OrganizationIdentifier,
    X5cKeySource,
    chain_is_rooted,
    leaf_identities,
    organization_identifier,
    parse_pem_chain,
    parse_x5c,
    subject_organization,
    validate_chain,
)

ISSUER = "did:web:issuer.example"
PAST = datetime(2025, 1, 1, tzinfo=UTC)
FUTURE = datetime(2027, 1, 1, tzinfo=UTC)

#: RFC 7515 Appendix B, "Example Use of "x5c" (X.509 Certificate Chain) Header Parameter".
RFC7515_APPENDIX_B: Mapping[str, Any] = {
    "source": "RFC 7515 Appendix B, https://www.rfc-editor.org/rfc/rfc7515#appendix-B ; "
    "unwrapped transcription from github.com/lestrrat-go/jwx jwe/headers_test.go "
    "(commit 4b4001f4b9ee5b45bb6aa7b3da7237840ccdf596, TestHeaders certSrc)",
    "notes": "Standard base64 with '+', '/' and '=' padding, as RFC 7515 §4.1.6 requires. "
    "Go Daddy Secure CA ← Go Daddy Class 2 CA ← ValiCert Class 2 root (a v1 certificate); all "
    "SHA-1 signed. The first entry is itself a CA certificate.",
    "x5c": [
        "MIIE3jCCA8agAwIBAgICAwEwDQYJKoZIhvcNAQEFBQAwYzELMAkGA1UEBhMCVVMxITAfBgNVBAoTGFRoZSBHbyBE"
        "YWRkeSBHcm91cCwgSW5jLjExMC8GA1UECxMoR28gRGFkZHkgQ2xhc3MgMiBDZXJ0aWZpY2F0aW9uIEF1dGhvcml0"
        "eTAeFw0wNjExMTYwMTU0MzdaFw0yNjExMTYwMTU0MzdaMIHKMQswCQYDVQQGEwJVUzEQMA4GA1UECBMHQXJpem9u"
        "YTETMBEGA1UEBxMKU2NvdHRzZGFsZTEaMBgGA1UEChMRR29EYWRkeS5jb20sIEluYy4xMzAxBgNVBAsTKmh0dHA6"
        "Ly9jZXJ0aWZpY2F0ZXMuZ29kYWRkeS5jb20vcmVwb3NpdG9yeTEwMC4GA1UEAxMnR28gRGFkZHkgU2VjdXJlIENl"
        "cnRpZmljYXRpb24gQXV0aG9yaXR5MREwDwYDVQQFEwgwNzk2OTI4NzCCASIwDQYJKoZIhvcNAQEBBQADggEPADCC"
        "AQoCggEBAMQt1RWMnCZM7DI161+4WQFapmGBWTtwY6vj3D3HKrjJM9N55DrtPDAjhI6zMBS2sofDPZVUBJ7fmd0L"
        "JR4h3mUpfjWoqVTr9vcyOdQmVZWt7/v+WIbXnvQAjYwqDL1CBM6nPwT27oDyqu9SoWlm2r4arV3aLGbqGmu75RpR"
        "SgAvSMeYddi5Kcju+GZtCpyz8/x4fKL4o/K1w/O5epHBp+YlLpyo7RJlbmr2EkRTcDCVw5wrWCs9CHRK8r5RsL+H"
        "0EwnWGu1NcWdrxcx+AuP7q2BNgWJCJjPOq8lh8BJ6qf9Z/dFjpfMFDniNoW1fho3/Rb2cRGadDAW/hOUoz+EDU8C"
        "AwEAAaOCATIwggEuMB0GA1UdDgQWBBT9rGEyk2xF1uLuhV+auud2mWjM5zAfBgNVHSMEGDAWgBTSxLDSkdRMEXGz"
        "Ycs9of7dqGrU4zASBgNVHRMBAf8ECDAGAQH/AgEAMDMGCCsGAQUFBwEBBCcwJTAjBggrBgEFBQcwAYYXaHR0cDov"
        "L29jc3AuZ29kYWRkeS5jb20wRgYDVR0fBD8wPTA7oDmgN4Y1aHR0cDovL2NlcnRpZmljYXRlcy5nb2RhZGR5LmNv"
        "bS9yZXBvc2l0b3J5L2dkcm9vdC5jcmwwSwYDVR0gBEQwQjBABgRVHSAAMDgwNgYIKwYBBQUHAgEWKmh0dHA6Ly9j"
        "ZXJ0aWZpY2F0ZXMuZ29kYWRkeS5jb20vcmVwb3NpdG9yeTAOBgNVHQ8BAf8EBAMCAQYwDQYJKoZIhvcNAQEFBQAD"
        "ggEBANKGwOy9+aG2Z+5mC6IGOgRQjhVyrEp0lVPLN8tESe8HkGsz2ZbwlFalEzAFPIUyIXvJxwqoJKSQ3kbTJSMU"
        "A2fCENZvD117esyfxVgqwcSeIaha86ykRvOe5GPLL5CkKSkB2XIsKd83ASe8T+5o0yGPwLPk9Qnt0hCqU7S+8MxZ"
        "C9Y7lhyVJEnfzuz9p0iRFEUOOjZv2kWzRaJBydTXRE4+uXR21aITVSzGh6O1mawGhId/dQb8vxRMDsxuxN89txJx"
        "9OjxUUAiKEngHUuHqDTMBqLdElrRhjZkAzVvb3du6/KFUJheqwNTrZEjYx8WnM25sgVjOuH0aBsXBTWVU+4=",
        "MIIE+zCCBGSgAwIBAgICAQ0wDQYJKoZIhvcNAQEFBQAwgbsxJDAiBgNVBAcTG1ZhbGlDZXJ0IFZhbGlkYXRpb24g"
        "TmV0d29yazEXMBUGA1UEChMOVmFsaUNlcnQsIEluYy4xNTAzBgNVBAsTLFZhbGlDZXJ0IENsYXNzIDIgUG9saWN5"
        "IFZhbGlkYXRpb24gQXV0aG9yaXR5MSEwHwYDVQQDExhodHRwOi8vd3d3LnZhbGljZXJ0LmNvbS8xIDAeBgkqhkiG"
        "9w0BCQEWEWluZm9AdmFsaWNlcnQuY29tMB4XDTA0MDYyOTE3MDYyMFoXDTI0MDYyOTE3MDYyMFowYzELMAkGA1UE"
        "BhMCVVMxITAfBgNVBAoTGFRoZSBHbyBEYWRkeSBHcm91cCwgSW5jLjExMC8GA1UECxMoR28gRGFkZHkgQ2xhc3Mg"
        "MiBDZXJ0aWZpY2F0aW9uIEF1dGhvcml0eTCCASAwDQYJKoZIhvcNAQEBBQADggENADCCAQgCggEBAN6d1+pXGEmh"
        "W+vXX0iG6r7d/+TvZxz0ZWizV3GgXne77ZtJ6XCAPVYYYwhv2vLM0D9/AlQiVBDYsoHUwHU9S3/Hd8M+eKsaA7Ug"
        "ay9qK7HFiH7Eux6wwdhFJ2+qN1j3hybX2C32qRe3H3I2TqYXP2WYktsqbl2i/ojgC95/5Y0V4evLOtXiEqITLdiO"
        "r18SPaAIBQi2XKVlOARFmR6jYGB0xUGlcmIbYsUfb18aQr4CUWWoriMYavx4A6lNf4DD+qta/KFApMoZFv6yyO9e"
        "cw3ud72a9nmYvLEHZ6IVDd2gWMZEewo+YihfukEHU1jPEX44dMX4/7VpkI+EdOqXG68CAQOjggHhMIIB3TAdBgNV"
        "HQ4EFgQU0sSw0pHUTBFxs2HLPaH+3ahq1OMwgdIGA1UdIwSByjCBx6GBwaSBvjCBuzEkMCIGA1UEBxMbVmFsaUNl"
        "cnQgVmFsaWRhdGlvbiBOZXR3b3JrMRcwFQYDVQQKEw5WYWxpQ2VydCwgSW5jLjE1MDMGA1UECxMsVmFsaUNlcnQg"
        "Q2xhc3MgMiBQb2xpY3kgVmFsaWRhdGlvbiBBdXRob3JpdHkxITAfBgNVBAMTGGh0dHA6Ly93d3cudmFsaWNlcnQu"
        "Y29tLzEgMB4GCSqGSIb3DQEJARYRaW5mb0B2YWxpY2VydC5jb22CAQEwDwYDVR0TAQH/BAUwAwEB/zAzBggrBgEF"
        "BQcBAQQnMCUwIwYIKwYBBQUHMAGGF2h0dHA6Ly9vY3NwLmdvZGFkZHkuY29tMEQGA1UdHwQ9MDswOaA3oDWGM2h0"
        "dHA6Ly9jZXJ0aWZpY2F0ZXMuZ29kYWRkeS5jb20vcmVwb3NpdG9yeS9yb290LmNybDBLBgNVHSAERDBCMEAGBFUd"
        "IAAwODA2BggrBgEFBQcCARYqaHR0cDovL2NlcnRpZmljYXRlcy5nb2RhZGR5LmNvbS9yZXBvc2l0b3J5MA4GA1Ud"
        "DwEB/wQEAwIBBjANBgkqhkiG9w0BAQUFAAOBgQC1QPmnHfbq/qQaQlpE9xXUhUaJwL6e4+PrxeNYiY+Sn1eocSxI"
        "0YGyeR+sBjUZsE4OWBsUs5iB0QQeyAfJg594RAoYC5jcdnplDQ1tgMQLARzLrUc+cb53S8wGd9D0VmsfSxOaFIqI"
        "I6hR8INMqzW/Rn453HWkrugp++85j09VZw==",
        "MIIC5zCCAlACAQEwDQYJKoZIhvcNAQEFBQAwgbsxJDAiBgNVBAcTG1ZhbGlDZXJ0IFZhbGlkYXRpb24gTmV0d29y"
        "azEXMBUGA1UEChMOVmFsaUNlcnQsIEluYy4xNTAzBgNVBAsTLFZhbGlDZXJ0IENsYXNzIDIgUG9saWN5IFZhbGlk"
        "YXRpb24gQXV0aG9yaXR5MSEwHwYDVQQDExhodHRwOi8vd3d3LnZhbGljZXJ0LmNvbS8xIDAeBgkqhkiG9w0BCQEW"
        "EWluZm9AdmFsaWNlcnQuY29tMB4XDTk5MDYyNjAwMTk1NFoXDTE5MDYyNjAwMTk1NFowgbsxJDAiBgNVBAcTG1Zh"
        "bGlDZXJ0IFZhbGlkYXRpb24gTmV0d29yazEXMBUGA1UEChMOVmFsaUNlcnQsIEluYy4xNTAzBgNVBAsTLFZhbGlD"
        "ZXJ0IENsYXNzIDIgUG9saWN5IFZhbGlkYXRpb24gQXV0aG9yaXR5MSEwHwYDVQQDExhodHRwOi8vd3d3LnZhbGlj"
        "ZXJ0LmNvbS8xIDAeBgkqhkiG9w0BCQEWEWluZm9AdmFsaWNlcnQuY29tMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCB"
        "iQKBgQDOOnHK5avIWZJV16vYdA757tn2VUdZZUcOBVXc65g2PFxTXdMwzzjsvUGJ7SVCCSRrCl6zfN1SLUzm1NZ9"
        "WlmpZdRJEy0kTRxQb7XBhVQ7/nHk01xC+YDgkRoKWzk2Z/M/VXwbP7RfZHM047QSv4dk+NoS/zcnwbNDu+97bi5p"
        "9wIDAQABMA0GCSqGSIb3DQEBBQUAA4GBADt/UG9vUJSZSWI4OB9L+KXIPqeCgfYrx+jFzug6EILLGACOTb2oWH+h"
        "eQC1u+mNr0HZDzTuIYEZoDJJKPTEjlbVUjP9UNV+mWwD5MlM/Mtsq2azSiGM5bUMMj4QssxsodyamEwCW/POuZ6l"
        "cg5Ktz885hZo+L7tdEy8W9ViH0Pd",
    ],
}


# ------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def root() -> CertifiedKey:
    return make_ca("ancre test root", organization="ancre tests")


@pytest.fixture(scope="module")
def inter(root: CertifiedKey) -> CertifiedKey:
    return make_ca("ancre test issuing CA", issuer=root, path_length=0)


def _x5c_token(
    leaf: CertifiedKey,
    issuer: str = ISSUER,
    *,
    x5c: list[str] | None = None,
    extra_header: Mapping[str, Any] | None = None,
    signer: Signer | None = None,
) -> str:
    """A `vc+jwt` signed by the leaf key, the chain in `x5c` (`issue_vc_jwt` needs a DID kid)."""
    header = {
        "typ": "vc+jwt",
        "cty": "vc",
        "iss": issuer,
        "x5c": leaf.x5c() if x5c is None else x5c,
        **(extra_header or {}),
    }
    payload = {**credential(issuer), "iss": issuer}
    return sign_compact(header, dumps_compact(payload).encode(), signer or leaf.signer)


def _code(exc: pytest.ExceptionInfo[AncreError]) -> Code:
    return exc.value.code


def _failed(result: Any) -> tuple[Step, str | None]:
    failing = result.errors[0]
    return failing.step, failing.code


# ------------------------------------------------------------------------------------------
# valid chains


@pytest.mark.parametrize("key_type", ["p256", "p384", "ed25519", "rsa"])
def test_three_level_chain_validates(
    root: CertifiedKey, inter: CertifiedKey, key_type: str
) -> None:
    leaf = make_leaf(
        inter,
        dns_names=["issuer.example"],
        key_type=key_type,
        organization="Issuer SAS",
        organization_identifier="NTRFR-552100554",
    )
    chain = validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert chain.path == (leaf.certificate, inter.certificate, root.certificate)
    assert chain.leaf is leaf.certificate
    assert chain.anchor == root.certificate
    assert chain.public_key.key_type is KeyType(key_type)
    assert chain.public_key == leaf.signer.public_key
    assert chain.identities == {"did:web:issuer.example", "dns:issuer.example"}
    assert chain.organization == "Issuer SAS"
    assert chain.organization_identifier == OrganizationIdentifier(
        "NTRFR-552100554", "NTR", "FR", "552100554"
    )
    assert chain.validated_at == NOW
    # The path's validity is the intersection of its certificates' windows.
    assert chain.valid_from == max(c.not_valid_before_utc for c in chain.path)
    assert chain.valid_until == min(c.not_valid_after_utc for c in chain.path)


@pytest.mark.parametrize("ca_type", ["p384", "rsa"])
def test_p384_and_rsa_cas_validate(ca_type: str) -> None:
    root = make_ca("root", key_type=ca_type)
    inter = make_ca("inter", key_type=ca_type, issuer=root)
    leaf = make_leaf(inter, dns_names=["issuer.example"], key_type="ed25519")
    chain = validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert len(chain.path) == 3


def test_intermediates_are_a_pool_in_any_order_and_a_root_in_x5c_is_tolerated(
    root: CertifiedKey, inter: CertifiedKey
) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    shuffled = [leaf.certificate, root.certificate, inter.certificate]
    chain = validate_chain(shuffled, anchors=[root.certificate], at=NOW)
    assert chain.path == (leaf.certificate, inter.certificate, root.certificate)


def test_an_intermediate_may_be_the_anchor(inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    chain = validate_chain([leaf.certificate], anchors=[inter.certificate], at=NOW)
    assert chain.path == (leaf.certificate, inter.certificate)


def test_ed25519_cas_are_refused_by_the_library() -> None:
    # cryptography's verifier applies the CA/B Forum BR §7.1.3 allow-list to CA keys and
    # certificate signatures: RSA and ECDSA only. Ed25519 *leaves* are fine (test above).
    root = make_ca("ed root", key_type="ed25519")
    leaf = make_leaf(root, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain([leaf.certificate], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID
    assert "RSA/ECDSA" in err.value.message


@pytest.mark.parametrize(
    "ekus",
    [
        [DOCUMENT_SIGNING_EKU],
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        None,
    ],
)
def test_leaf_ekus_that_may_sign(root: CertifiedKey, inter: CertifiedKey, ekus: Any) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"], extended_key_usage=ekus)
    assert validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW).identities


# ------------------------------------------------------------------------------------------
# failures, each with its code


def test_unknown_root_is_untrusted(inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    stranger = make_ca("some other root")
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[stranger.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_UNTRUSTED


def test_missing_intermediate_is_untrusted(root: CertifiedKey, inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain([leaf.certificate], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_UNTRUSTED


def test_expired_intermediate(root: CertifiedKey) -> None:
    old = make_ca("expired CA", issuer=root, not_after=PAST)
    leaf = make_leaf(old, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_EXPIRED
    assert "'CN=expired CA' expired at 2025-01-01" in err.value.message


def test_expired_anchor() -> None:
    root = make_ca("expired root", not_after=PAST)
    leaf = make_leaf(make_ca("inter", issuer=root), dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_EXPIRED


def test_leaf_not_yet_valid(root: CertifiedKey, inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"], not_before=FUTURE)
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_EXPIRED
    assert "not valid before 2027-01-01" in err.value.message
    # …and the same chain validates once its time has come.
    assert validate_chain(leaf.path[:-1], anchors=[root.certificate], at=FUTURE).identities


@pytest.mark.parametrize(
    ("key_usage", "ekus", "says"),
    [
        (["key_encipherment"], None, "lacks digitalSignature"),
        (None, None, "no keyUsage"),
        (["digital_signature", "key_cert_sign"], None, "keyCertSign"),
        (["digital_signature"], [ExtendedKeyUsageOID.EMAIL_PROTECTION], "extendedKeyUsage"),
    ],
)
def test_leaf_that_may_not_sign(
    root: CertifiedKey, inter: CertifiedKey, key_usage: Any, ekus: Any, says: str
) -> None:
    leaf = make_leaf(
        inter, dns_names=["issuer.example"], key_usage=key_usage, extended_key_usage=ekus
    )
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_KEY_USAGE
    assert says in err.value.message


def test_leaf_ekus_are_configurable(root: CertifiedKey, inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"], extended_key_usage=[DOCUMENT_SIGNING_EKU])
    with pytest.raises(InvalidError) as err:
        validate_chain(
            leaf.path[:-1],
            anchors=[root.certificate],
            at=NOW,
            leaf_ekus=[ExtendedKeyUsageOID.SERVER_AUTH],
        )
    assert _code(err) is Code.CERTIFICATE_KEY_USAGE
    with pytest.raises(ConfigurationError):
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW, leaf_ekus=[])


def test_ca_eku_that_excludes_signing_breaks_the_chain(root: CertifiedKey) -> None:
    mail_ca = make_ca(
        "mail CA", issuer=root, extended_key_usage=[ExtendedKeyUsageOID.EMAIL_PROTECTION]
    )
    leaf = make_leaf(mail_ca, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID


def test_intermediate_without_ca_basic_constraint(root: CertifiedKey) -> None:
    fake = make_ca("not a CA", issuer=root, ca=False)
    leaf = make_leaf(fake, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID
    assert "basicConstraints" in err.value.message


def test_path_length_violated(root: CertifiedKey, inter: CertifiedKey) -> None:
    # `inter` has pathLenConstraint 0: it may not certify another CA.
    sub = make_ca("sub CA", issuer=inter)
    leaf = make_leaf(sub, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID
    assert "path length" in err.value.message


def test_max_depth(root: CertifiedKey) -> None:
    first = make_ca("first", issuer=root)
    second = make_ca("second", issuer=first)
    leaf = make_leaf(second, dns_names=["issuer.example"])
    assert validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW, max_depth=2)
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW, max_depth=1)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID


def test_name_constraints_violated(root: CertifiedKey) -> None:
    constrained = make_ca("example.org CA", issuer=root, name_constraints=["example.org"])
    inside = make_leaf(constrained, dns_names=["issuer.example.org"])
    chain = validate_chain(inside.path[:-1], anchors=[root.certificate], at=NOW)
    assert chain.identities == {"did:web:issuer.example.org", "dns:issuer.example.org"}
    evil = make_leaf(constrained, dns_names=["evil.com"])
    with pytest.raises(InvalidError) as err:
        validate_chain(evil.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID
    assert "name constraints" in err.value.message


def test_name_constraints_also_bind_uri_identities(root: CertifiedKey) -> None:
    # RFC 5280 applies dNSName constraints to dNSName SANs only: a CA limited to example.org
    # could certify the URI `did:web:evil.com`. The library accepts that chain; ancre keeps
    # only the identities whose host the constraints allow.
    constrained = make_ca("example.org CA", issuer=root, name_constraints=["example.org"])
    leaf = make_leaf(
        constrained,
        uris=[
            "did:web:evil.com",
            "https://evil.com/issuer",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "did:web:a.example.org:users:alice",
            "https://b.example.org/issuer",
        ],
    )
    chain = validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert leaf_identities(leaf.certificate) >= {"did:web:evil.com", "https://evil.com/issuer"}
    assert chain.identities == {"did:web:a.example.org:users:alice", "https://b.example.org/issuer"}
    with pytest.raises(InvalidError) as err:
        chain.require_identity("did:web:evil.com")
    assert _code(err) is Code.CERTIFICATE_IDENTITY_MISMATCH


def test_excluded_subtree_binds_identities(root: CertifiedKey) -> None:
    constraints = x509.NameConstraints(
        permitted_subtrees=None, excluded_subtrees=[x509.DNSName("blocked.example")]
    )
    ca = make_ca("CA", issuer=root, name_constraints=constraints)
    leaf = make_leaf(ca, uris=["did:web:x.blocked.example", "did:web:ok.example"])
    chain = validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert chain.identities == {"did:web:ok.example"}


def test_leaf_that_is_itself_an_anchor_is_refused(root: CertifiedKey) -> None:
    leaf = make_leaf(root, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain([leaf.certificate], anchors=[leaf.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID
    assert "itself a trust anchor" in err.value.message


def test_forged_intermediate_signature(root: CertifiedKey, inter: CertifiedKey) -> None:
    # Same issuer name, different key: the name chains, the signature does not.
    impostor = make_ca("ancre test issuing CA", issuer=make_ca("ancre test root"))
    leaf = make_leaf(impostor, dns_names=["issuer.example"])
    with pytest.raises(InvalidError) as err:
        validate_chain([leaf.certificate, inter.certificate], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID


def test_unknown_critical_extension(root: CertifiedKey, inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    # Re-issue the leaf with an extra critical extension ancre does not understand.
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.certificate.subject)
        .issuer_name(inter.certificate.subject)
        .public_key(leaf.certificate.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf.certificate.not_valid_before_utc)
        .not_valid_after(leaf.certificate.not_valid_after_utc)
    )
    for ext in leaf.certificate.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    builder = builder.add_extension(
        x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
        critical=True,
    )
    odd = builder.sign(inter.private_key, hashes.SHA256())
    with pytest.raises(InvalidError) as err:
        validate_chain([odd, inter.certificate], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID
    assert "critical" in err.value.message


def test_weak_rsa_leaf_key(root: CertifiedKey, inter: CertifiedKey) -> None:
    # The library checks RSA sizes of CA keys only; ancre refuses a weak leaf key itself.
    leaf = make_leaf(inter, dns_names=["issuer.example"], key_type="rsa", rsa_bits=1024)
    with pytest.raises(InvalidError) as err:
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.WEAK_KEY


def test_bad_configuration(root: CertifiedKey, inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    with pytest.raises(ConfigurationError):
        validate_chain(leaf.path[:-1], anchors=[], at=NOW)
    with pytest.raises(ConfigurationError):
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError):
        validate_chain(leaf.path[:-1], anchors=[root.certificate], at=NOW, max_depth=-1)
    with pytest.raises(ConfigurationError):
        X5cKeySource([root.certificate], clock=FixedClock(NOW), max_depth=99)
    with pytest.raises(MalformedError) as err:
        validate_chain([], anchors=[root.certificate], at=NOW)
    assert _code(err) is Code.INVALID_CERTIFICATE


# ------------------------------------------------------------------------------------------
# x5c parsing


def test_rfc7515_appendix_b_vector() -> None:
    certs = parse_x5c(RFC7515_APPENDIX_B["x5c"])
    assert len(certs) == 3
    assert certs[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == (
        "Go Daddy Secure Certification Authority"
    )
    assert certs[1].issuer == certs[2].subject
    assert x5c_header_value(certs) == RFC7515_APPENDIX_B["x5c"]
    # The example's first certificate is a CA, and the chain is SHA-1 signed with a v1 root:
    # nothing a verifier should accept as an issuer key.
    with pytest.raises(InvalidError) as err:
        validate_chain(
            certs[:2], anchors=[certs[2]], at=datetime(2010, 1, 1, tzinfo=UTC), max_depth=2
        )
    assert _code(err) is Code.CERTIFICATE_CHAIN_INVALID


def _valid_b64(inter: CertifiedKey) -> str:
    return x5c_header_value([inter.certificate])[0]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s: s.replace("+", "-").replace("/", "_"), id="base64url-alphabet"),
        pytest.param(lambda s: s.rstrip("="), id="missing-padding"),
        pytest.param(lambda s: s[:40] + "\n" + s[40:], id="line-break"),
        pytest.param(lambda s: " " + s, id="leading-space"),
        pytest.param(lambda s: s + "====", id="extra-padding"),
        pytest.param(lambda s: s[:-4], id="truncated-der"),
        pytest.param(lambda s: base64.b64encode(b"garbage, not DER").decode(), id="garbage-der"),
        pytest.param(lambda s: "", id="empty-string"),
        pytest.param(lambda s: "QR==", id="non-canonical-bits"),
        pytest.param(lambda s: s[:10] + "é" + s[11:], id="non-ascii"),
        pytest.param(lambda s: "A" * 1_400_000, id="one-megabyte"),
    ],
)
def test_malformed_x5c_entries(mutate: Any) -> None:
    # Mutations of a certificate whose base64 has '+', '/' and '=' padding.
    original = RFC7515_APPENDIX_B["x5c"][0]
    assert parse_x5c([original])
    value = mutate(original)
    with pytest.raises(MalformedError) as err:
        parse_x5c([value])
    assert _code(err) is Code.INVALID_CERTIFICATE


@pytest.mark.parametrize(
    "value",
    [None, "MIIB...", {}, [], [None], [1], {"0": "x"}],
    ids=["null", "string", "object", "empty", "null-entry", "number-entry", "dict"],
)
def test_malformed_x5c_shapes(value: Any) -> None:
    with pytest.raises(MalformedError) as err:
        parse_x5c(value)
    assert _code(err) is Code.INVALID_CERTIFICATE


def test_too_many_certificates(inter: CertifiedKey) -> None:
    assert len(parse_x5c([_valid_b64(inter)] * MAX_X5C_CERTS)) == MAX_X5C_CERTS
    with pytest.raises(MalformedError) as err:
        parse_x5c([_valid_b64(inter)] * (MAX_X5C_CERTS + 1))
    assert _code(err) is Code.INVALID_CERTIFICATE
    assert "11 certificates" in err.value.message


def test_one_megabyte_of_valid_base64_der_is_refused_before_decoding() -> None:
    big = base64.b64encode(b"\x30\x83\x10\x00\x00" + b"\x00" * 1_048_576).decode()
    with pytest.raises(MalformedError) as err:
        parse_x5c([big])
    assert _code(err) is Code.INVALID_CERTIFICATE
    assert "larger than" in err.value.message


def test_non_positive_serial_is_refused_without_a_warning(inter: CertifiedKey) -> None:
    # cryptography only *warns* on a negative serial (an error under -W error): ancre
    # refuses it first. Byte 15 is the serial's first content byte in this DER layout.
    der = bytearray(inter.certificate.public_bytes(serialization.Encoding.DER))
    assert der[4] == 0x30  # tbsCertificate
    assert der[8:13] == b"\xa0\x03\x02\x01\x02"  # [0] version v3
    assert der[13] == 0x02  # serialNumber INTEGER
    der[15] = 0x80
    with pytest.raises(MalformedError) as err:
        parse_x5c([base64.b64encode(bytes(der)).decode()])
    assert _code(err) is Code.INVALID_CERTIFICATE
    assert "serial" in err.value.message


def test_mutated_chains_never_validate_nor_leak(root: CertifiedKey, inter: CertifiedKey) -> None:
    # Seeded byte flips anywhere in the leaf or the intermediate: every outcome is an
    # AncreError with an x509 code, never a third-party exception, never a valid chain.
    leaf = make_leaf(inter, dns_names=["issuer.example"], uris=["did:web:x.example"])
    ders = [c.public_bytes(serialization.Encoding.DER) for c in leaf.path[:-1]]
    source = X5cKeySource([root.certificate], clock=FixedClock(NOW), cache_size=0)
    rng = random.Random(20260115)
    seen: set[Code] = set()
    for _ in range(400):
        which = rng.randrange(2)
        mutated = bytearray(ders[which])
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] ^= rng.randrange(1, 256)
        chain = list(ders)
        chain[which] = bytes(mutated)
        with pytest.raises(AncreError) as err:
            source.key_for(ISSUER, {"x5c": x5c_strings(chain)}, authentication=False)
        seen.add(err.value.code)
    assert seen <= {
        Code.INVALID_CERTIFICATE,
        Code.CERTIFICATE_CHAIN_INVALID,
        Code.CERTIFICATE_UNTRUSTED,
        Code.CERTIFICATE_EXPIRED,
        Code.CERTIFICATE_KEY_USAGE,
        Code.CERTIFICATE_IDENTITY_MISMATCH,
        Code.INVALID_KEY,
        Code.UNSUPPORTED_KEY_TYPE,
    }
    assert Code.INVALID_CERTIFICATE in seen


def x5c_strings(ders: list[bytes]) -> list[str]:
    return [base64.b64encode(d).decode() for d in ders]


@given(st.lists(st.one_of(st.text(max_size=64), st.binary(max_size=64)), max_size=12))
def test_parse_x5c_only_ever_raises_malformed(items: list[str | bytes]) -> None:
    value = [base64.b64encode(i).decode() if isinstance(i, bytes) else i for i in items]
    code: Code | None = None
    try:
        parse_x5c(value)
    except MalformedError as exc:
        code = exc.code
    assert code in (None, Code.INVALID_CERTIFICATE)


# ------------------------------------------------------------------------------------------
# identities and subject attributes


def test_leaf_identities_mapping(inter: CertifiedKey) -> None:
    leaf = make_leaf(
        inter,
        dns_names=["Issuer.Example", "*.wild.example", "issuer2.example"],
        uris=[
            "https://issuer.example/vc",
            "did:web:other.example",
            "http://plain.example/",
            "urn:uuid:1234",
            "mailto:a@b.example",
            "did:web:issuer.example#key-1",
            "did:",
        ],
    )
    assert leaf_identities(leaf.certificate) == {
        "did:web:issuer.example",
        "dns:issuer.example",
        "did:web:issuer2.example",
        "dns:issuer2.example",
        "https://issuer.example/vc",
        "did:web:other.example",
    }


def test_subject_attributes(inter: CertifiedKey) -> None:
    plain = make_leaf(inter, dns_names=["a.example"])
    assert subject_organization(plain.certificate) is None
    assert organization_identifier(plain.certificate) is None
    vat = make_leaf(
        inter, dns_names=["a.example"], organization="ACME", organization_identifier="VATFR-1"
    )
    assert subject_organization(vat.certificate) == "ACME"
    assert organization_identifier(vat.certificate) == ("VATFR-1", "VAT", "FR", "1")
    national = make_leaf(inter, dns_names=["a.example"], organization_identifier="EI:SE-2000")
    assert organization_identifier(national.certificate) == ("EI:SE-2000", "EI:", "SE", "2000")
    free = make_leaf(inter, dns_names=["a.example"], organization_identifier="552100554")
    assert organization_identifier(free.certificate) == ("552100554", None, None, None)


# ------------------------------------------------------------------------------------------
# X5cKeySource through verify_vc_jwt


@pytest.mark.parametrize("key_type", ["p256", "p384", "ed25519", "rsa"])
def test_vc_jwt_with_x5c_verifies(
    root: CertifiedKey, inter: CertifiedKey, clock: FixedClock, key_type: str
) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"], key_type=key_type)
    token = _x5c_token(leaf)
    source = X5cKeySource([root.certificate], clock=clock)
    result = verify_vc_jwt(token, resolver=source, clock=clock)
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == ISSUER
    assert next(c for c in result.checks if c.step is Step.ISSUER_KEY).ok


def test_rsa_leaf_signing_rs256(root: CertifiedKey, inter: CertifiedKey, clock: FixedClock) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"], key_type="rsa")
    assert isinstance(leaf.private_key, rsa.RSAPrivateKey)
    signer = RsaSigner(leaf.private_key, "RS256")
    token = _x5c_token(leaf, signer=signer)
    result = verify_vc_jwt(
        token, resolver=X5cKeySource([root.certificate], clock=clock), clock=clock
    )
    assert result.status is Status.VALID, result.to_json()


def test_vc_jwt_with_unknown_root_is_untrusted(inter: CertifiedKey, clock: FixedClock) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    source = X5cKeySource([make_ca("some other root").certificate], clock=clock)
    result = verify_vc_jwt(_x5c_token(leaf), resolver=source, clock=clock)
    assert result.status is Status.INVALID
    assert _failed(result) == (Step.ISSUER_KEY, "certificate_untrusted")


def test_vc_jwt_whose_leaf_names_another_issuer(
    root: CertifiedKey, inter: CertifiedKey, clock: FixedClock
) -> None:
    leaf = make_leaf(inter, dns_names=["other.example"], uris=["did:web:third.example"])
    source = X5cKeySource([root.certificate], clock=clock)
    result = verify_vc_jwt(_x5c_token(leaf), resolver=source, clock=clock)
    assert result.status is Status.INVALID
    assert _failed(result) == (Step.ISSUER_KEY, "certificate_identity_mismatch")
    with pytest.raises(InvalidError) as err:
        source.key_for(ISSUER, {"x5c": leaf.x5c()}, authentication=False)
    assert _code(err) is Code.CERTIFICATE_IDENTITY_MISMATCH
    assert "did:web:third.example" in err.value.message


@pytest.mark.parametrize(
    ("x5c", "code"),
    [
        (["not base64!"], "invalid_certificate"),
        ("MIIB", "invalid_certificate"),
        ([], "invalid_certificate"),
    ],
)
def test_vc_jwt_with_malformed_x5c(
    root: CertifiedKey, inter: CertifiedKey, clock: FixedClock, x5c: Any, code: str
) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    token = _x5c_token(leaf, x5c=x5c)
    result = verify_vc_jwt(
        token, resolver=X5cKeySource([root.certificate], clock=clock), clock=clock
    )
    assert result.status is Status.INVALID
    assert _failed(result) == (Step.ISSUER_KEY, code)


def test_vc_jwt_signed_by_another_key_than_the_leaf(
    root: CertifiedKey, inter: CertifiedKey, clock: FixedClock
) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    other = make_leaf(inter, dns_names=["issuer.example"])
    token = _x5c_token(leaf, signer=other.signer)
    result = verify_vc_jwt(
        token, resolver=X5cKeySource([root.certificate], clock=clock), clock=clock
    )
    assert _failed(result) == (Step.SIGNATURE, "signature_invalid")


def test_certificate_thumbprint_headers_must_match_the_leaf(
    root: CertifiedKey, inter: CertifiedKey, clock: FixedClock
) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    der = leaf.certificate.public_bytes(serialization.Encoding.DER)
    good = {"x5t#S256": b64url_encode(hashlib.sha256(der).digest())}
    source = X5cKeySource([root.certificate], clock=clock)
    assert verify_vc_jwt(_x5c_token(leaf, extra_header=good), resolver=source, clock=clock).valid
    for name in ("x5t#S256", "x5t"):
        bad = {name: b64url_encode(b"\0" * 20)}
        # Twice: the second run hits the cache, which must check the thumbprint too.
        for _ in range(2):
            result = verify_vc_jwt(_x5c_token(leaf, extra_header=bad), resolver=source, clock=clock)
            assert _failed(result) == (Step.ISSUER_KEY, "invalid_header")


def test_without_x5c_and_without_fallback(root: CertifiedKey, clock: FixedClock) -> None:
    issuer = Issuer.new()
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    result = verify_vc_jwt(
        token, resolver=X5cKeySource([root.certificate], clock=clock), clock=clock
    )
    assert _failed(result) == (Step.ISSUER_KEY, "verification_method_not_found")


def test_without_x5c_the_fallback_answers(
    root: CertifiedKey, inter: CertifiedKey, clock: FixedClock, resolver: CompositeResolver
) -> None:
    issuer = Issuer.new()
    did_token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    source = X5cKeySource([root.certificate], clock=clock, fallback=resolver)
    assert verify_vc_jwt(did_token, resolver=source, clock=clock).valid
    assert verify_vc_jwt(_x5c_token(leaf), resolver=source, clock=clock).valid
    pinned = X5cKeySource(
        [root.certificate],
        clock=clock,
        fallback=PinnedKeys({issuer.did: [{**issuer.key.public_key.to_jwk(), "kid": issuer.kid}]}),
    )
    assert verify_vc_jwt(did_token, resolver=pinned, clock=clock).valid


def test_cache_reuses_a_chain_only_within_its_validity(
    root: CertifiedKey, inter: CertifiedKey
) -> None:
    clock = FixedClock(NOW)
    leaf = make_leaf(inter, dns_names=["issuer.example"], not_after=NOW + timedelta(days=1))
    header = {"x5c": leaf.x5c()}
    source = X5cKeySource([root.certificate], clock=clock)
    first = source.chain_for(header)
    assert source.chain_for(header) is first  # cached
    clock.advance(timedelta(days=2))
    with pytest.raises(InvalidError) as err:
        source.chain_for(header)
    assert _code(err) is Code.CERTIFICATE_EXPIRED
    uncached = X5cKeySource([root.certificate], clock=FixedClock(NOW), cache_size=0)
    assert uncached.chain_for(header) is not uncached.chain_for(header)


def test_cache_is_bounded(root: CertifiedKey, inter: CertifiedKey) -> None:
    clock = FixedClock(NOW)
    source = X5cKeySource([root.certificate], clock=clock, cache_size=2)
    headers = [{"x5c": make_leaf(inter, dns_names=["issuer.example"]).x5c()} for _ in range(3)]
    chains = [source.chain_for(h) for h in headers]
    assert source.chain_for(headers[2]) is chains[2]
    assert source.chain_for(headers[0]) is not chains[0]  # evicted, validated again


# ------------------------------------------------------------------------------------------
# Gaia-X registry style PEM chains


def test_chain_is_rooted_with_one_line_pem(root: CertifiedKey, inter: CertifiedKey) -> None:
    leaf = make_leaf(
        inter, dns_names=["issuer.example"], extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH]
    )
    one_line = pem_chain(leaf.path, newlines=False)
    assert "\n" not in one_line
    assert chain_is_rooted(one_line, [root.certificate], at=NOW)
    assert chain_is_rooted(pem_chain(leaf.path[:-1]), [root.certificate], at=NOW)
    assert not chain_is_rooted(one_line, [make_ca("other").certificate], at=NOW)
    assert not chain_is_rooted(one_line, [root.certificate], at=datetime(2041, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a pem",
        "-----BEGIN CERTIFICATE-----AAAA-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----@@@@-----END CERTIFICATE-----",
    ],
)
def test_chain_is_rooted_refuses_garbage(root: CertifiedKey, text: str) -> None:
    with pytest.raises(MalformedError) as err:
        chain_is_rooted(text, [root.certificate], at=NOW)
    assert _code(err) is Code.INVALID_CERTIFICATE


def test_pem_chain_refuses_text_between_blocks(root: CertifiedKey, inter: CertifiedKey) -> None:
    leaf = make_leaf(inter, dns_names=["issuer.example"])
    text = pem_chain([leaf.certificate]) + "junk\n" + pem_chain([inter.certificate])
    with pytest.raises(MalformedError) as err:
        parse_pem_chain(text)
    assert _code(err) is Code.INVALID_CERTIFICATE
    assert parse_pem_chain(pem_chain(leaf.path)) == leaf.path
