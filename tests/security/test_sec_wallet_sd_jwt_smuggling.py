"""SD-JWT disclosure smuggling (issue 17): what a hostile issuer or holder may try to slip
through disclosures, against `ancre.trust.sd_jwt` (RFC 9901 §7.1) — the one processing the
verifier and the wallet share. Each SD-JWT here is validly signed: only the processing
stands between it and a forged claim."""

from __future__ import annotations

from typing import Any

import pytest
from _support import NOW

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import Code
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.result import Status
from ancre.trust.sd_jwt.disclosure import Disclosure
from ancre.trust.sd_jwt.verify import verify_sd_jwt

ISSUER = PrivateKey.generate("p256")


def _raw(array: list[Any]) -> str:
    """A disclosure encoded as is (no check of the name, as a hostile issuer would)."""
    return b64url_encode(dumps_compact(array).encode())


def _digest(encoded: str) -> str:
    return Disclosure(encoded, "", None, None).digest()


def _token(payload: dict[str, Any], disclosures: list[str]) -> str:
    jwt = sign_compact({"typ": "example+sd-jwt"}, dumps_compact(payload).encode(), ISSUER)
    return "~".join([jwt, *disclosures]) + "~"


def _code(token: str) -> str | None:
    result = verify_sd_jwt(token, issuer_key=ISSUER.public_key, clock=FixedClock(NOW))
    if result.status is Status.VALID:
        return None
    return result.errors[0].code


def _base(**claims: Any) -> dict[str, Any]:
    return {"iss": "https://issuer.example", "iat": int(NOW.timestamp()), **claims}


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_a_disclosure_naming_a_reserved_key_is_refused(name: str) -> None:
    smuggled = _raw(["salt", name, [_digest(_raw(["s", "admin", True]))]])
    token = _token(_base(_sd=[_digest(smuggled)]), [smuggled])
    assert _code(token) == Code.DISCLOSURE_INVALID


def test_sd_alg_inside_a_disclosed_object_is_refused() -> None:
    inner = _raw(["salt", "address", {"_sd_alg": "sha-512", "city": "Paris"}])
    token = _token(_base(_sd=[_digest(inner)]), [inner])
    assert _code(token) == Code.DISCLOSURE_INVALID


def test_a_disclosure_overriding_a_signed_claim_is_refused() -> None:
    role = _raw(["salt", "role", "admin"])
    token = _token(_base(role="reader", _sd=[_digest(role)]), [role])
    assert _code(token) == Code.DISCLOSURE_INVALID


def test_the_same_digest_twice_in_the_payload_is_refused() -> None:
    role = _raw(["salt", "role", "admin"])
    payload = _base(_sd=[_digest(role)], nested={"_sd": [_digest(role)]})
    assert _code(_token(payload, [role])) == Code.DUPLICATE_DIGEST


def test_the_same_disclosure_sent_twice_is_refused() -> None:
    role = _raw(["salt", "role", "admin"])
    assert _code(_token(_base(_sd=[_digest(role)]), [role, role])) == Code.DUPLICATE_DIGEST


def test_a_decoy_colliding_with_a_disclosure_digest_is_refused() -> None:
    """A "decoy" equal to a real disclosure's digest would place it twice."""
    role = _raw(["salt", "role", "reader"])
    payload = _base(_sd=[_digest(role), _digest(role)])
    assert _code(_token(payload, [role])) == Code.DUPLICATE_DIGEST


def test_a_disclosure_referenced_from_inside_another_and_the_top_is_refused() -> None:
    leaf = _raw(["s1", "city", "Paris"])
    parent = _raw(["s2", "address", {"_sd": [_digest(leaf)]}])
    payload = _base(_sd=[_digest(parent), _digest(leaf)])
    assert _code(_token(payload, [parent, leaf])) == Code.DUPLICATE_DIGEST


def test_an_array_element_disclosure_used_as_a_property_is_refused() -> None:
    element = _raw(["salt", "admin"])
    token = _token(_base(_sd=[_digest(element)]), [element])
    assert _code(token) == Code.DISCLOSURE_INVALID


def test_a_property_disclosure_used_as_an_array_element_is_refused() -> None:
    prop = _raw(["salt", "role", "admin"])
    token = _token(_base(roles=[{"...": _digest(prop)}]), [prop])
    assert _code(token) == Code.DISCLOSURE_INVALID


def test_a_disclosure_the_issuer_did_not_sign_is_refused() -> None:
    signed = _raw(["salt", "role", "reader"])
    extra = _raw(["salt2", "admin", True])
    token = _token(_base(_sd=[_digest(signed)]), [signed, extra])
    assert _code(token) == Code.DISCLOSURE_UNREFERENCED


def test_recursive_disclosures_done_right_still_verify() -> None:
    """The refusals above are not a refusal of every nested disclosure."""
    leaf = _raw(["s1", "city", "Paris"])
    parent = _raw(["s2", "address", {"_sd": [_digest(leaf)]}])
    element = _raw(["s3", "FR"])
    payload = _base(_sd=[_digest(parent)], nationalities=[{"...": _digest(element)}])
    token = _token(payload, [parent, leaf, element])
    result = verify_sd_jwt(token, issuer_key=ISSUER.public_key, clock=FixedClock(NOW))
    assert result.status is Status.VALID, result.errors
    assert result.credential["address"] == {"city": "Paris"}
    assert result.credential["nationalities"] == ["FR"]
