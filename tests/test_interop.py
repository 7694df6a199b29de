"""Interop, both directions, with real third-party JOSE/VC implementations."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from _support import Issuer, credential
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jws as jwc_jws

from ancre.trust.clock import FixedClock
from ancre.trust.did.document import CompositeResolver
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.jose.vc_jose import issue_vc_jwt, verify_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.result import Status

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _header_fields(i: Issuer) -> dict[str, Any]:
    return {"kid": i.kid, "typ": "vc+jwt", "cty": "vc", "iss": i.did}


# ---- ancre → peers ------------------------------------------------------------------------


def test_ancre_token_verifies_in_pyjwt(issuer: Issuer) -> None:
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    decoded = pyjwt.decode(
        token,
        key=issuer.key.public_key.key,
        algorithms=[issuer.key.alg],
        options={
            "verify_aud": False,
            "verify_iat": False,
            "verify_nbf": False,
            "verify_exp": False,
        },
    )
    assert decoded["issuer"] == issuer.did
    assert pyjwt.get_unverified_header(token)["typ"] == "vc+jwt"


def test_ancre_token_verifies_in_jwcrypto(issuer: Issuer) -> None:
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    key = jwc_jwk.JWK(**issuer.key.public_key.to_jwk())
    verifier = jwc_jws.JWS()
    verifier.deserialize(token)
    verifier.verify(key, alg=issuer.key.alg)
    assert json.loads(verifier.payload)["issuer"] == issuer.did


def test_ancre_token_verifies_in_joserfc(issuer: Issuer) -> None:
    from joserfc import jws
    from joserfc.errors import SecurityWarning
    from joserfc.jwk import import_key
    from joserfc.registry import HeaderParameter, is_str

    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    # joserfc refuses header names it does not know: register VC-JOSE's `iss`.
    registry = jws.JWSRegistry(
        header_registry={"iss": HeaderParameter("Issuer", is_str)}, algorithms=[issuer.key.alg]
    )
    key = import_key(issuer.key.public_key.to_jwk())
    if issuer.key.alg == "EdDSA":
        # joserfc flags RFC 9864's deprecation of the `EdDSA` name; ancre still emits it
        # because most verifiers in the field (pyjwt, jwcrypto, didkit) do not know `Ed25519`.
        with pytest.warns(SecurityWarning, match="RFC 9864"):
            obj = jws.deserialize_compact(token, key, registry=registry)
    else:
        obj = jws.deserialize_compact(token, key, registry=registry)
    assert json.loads(obj.payload)["issuer"] == issuer.did


def test_ancre_signature_is_rejected_by_peers_when_tampered(ed_issuer: Issuer) -> None:
    token = issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, ed_issuer.kid)
    head, body, sig = token.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    with pytest.raises(pyjwt.InvalidTokenError):
        pyjwt.decode(
            tampered,
            key=ed_issuer.key.public_key.key,
            algorithms=["EdDSA"],
            options={"verify_signature": True},
        )


# ---- peers → ancre ------------------------------------------------------------------------


def test_pyjwt_token_verifies_in_ancre(
    issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    token = pyjwt.encode(
        credential(issuer.did),
        issuer.key.key,
        algorithm=issuer.key.alg,
        headers=_header_fields(issuer),
    )
    result = verify_vc_jwt(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.to_json()


def test_jwcrypto_token_verifies_in_ancre(
    issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    key = jwc_jwk.JWK(**issuer.key.export_private_jwk())
    signer = jwc_jws.JWS(json.dumps(credential(issuer.did)).encode())
    signer.add_signature(
        key,
        alg=issuer.key.alg,
        protected=json.dumps({"alg": issuer.key.alg, **_header_fields(issuer)}),
    )
    token = signer.serialize(compact=True)
    result = verify_vc_jwt(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.to_json()


def test_peer_token_signed_by_wrong_key_is_invalid(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer, other = Issuer.new("p256"), PrivateKey.generate("p256")
    token = pyjwt.encode(
        credential(issuer.did), other.key, algorithm="ES256", headers=_header_fields(issuer)
    )
    assert [e.code for e in verify_vc_jwt(token, resolver=resolver, clock=clock).errors] == [
        "signature_invalid"
    ]


# ---- didkit (Spruce, Rust): VCDM 1.1 JWT with a did:key issuer -----------------------------


async def _didkit_issue(jwk: dict[str, str], subject: str) -> tuple[str, str]:
    import didkit

    key = json.dumps(jwk)
    did = didkit.key_to_did("key", key)
    vm = await didkit.key_to_verification_method("key", key)
    vc = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential"],
        "issuer": did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "expirationDate": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": subject},
    }
    token = await didkit.issue_credential(
        json.dumps(vc), json.dumps({"proofFormat": "jwt", "verificationMethod": vm}), key
    )
    return did, token


@pytest.mark.parametrize("key_type", ["ed25519", "p256"])
def test_didkit_credential_verifies_with_ancre_cli(key_type: str, tmp_path: Path) -> None:
    key = PrivateKey.generate(key_type)
    did, token = asyncio.run(_didkit_issue(key.export_private_jwk(), "did:example:holder"))
    assert did == did_key_from_public_key(key.public_key)  # same did:key encoding as didkit
    path = tmp_path / "didkit.jwt"
    path.write_text(token)
    base = [
        sys.executable,
        "-m",
        "ancre.cli.main",
        "verify",
        str(path),
        "--at",
        "2026-06-01T00:00:00Z",
        "--json",
    ]
    trusted = subprocess.run(
        [*base, "--trusted-issuer", did], capture_output=True, text=True, check=False
    )
    report = json.loads(trusted.stdout)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert report["status"] == "valid"
    assert report["issuer"] == did
    assert report["format"] == "jwt_vc (VCDM 1.1)"
    stranger = subprocess.run(
        [*base, "--trusted-issuer", "did:web:other.example"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert stranger.returncode == 1
    assert [e["code"] for e in json.loads(stranger.stdout)["errors"]] == ["issuer_not_trusted"]


# ---- presentations: ancre vp+jwt in pyjwt and jwcrypto ----------------------------------


def test_ancre_presentation_verifies_in_pyjwt_and_jwcrypto(
    issuer: Issuer, clock: FixedClock
) -> None:
    from ancre.trust.did.jwk import did_jwk_from_public_key
    from ancre.trust.jose.vc_jose import issue_vp_jwt

    holder_key = PrivateKey.generate("p384")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vc = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    vp = issue_vp_jwt(
        [vc],
        holder_key,
        holder=holder,
        kid=f"{holder}#0",
        audience="https://v.example",
        nonce="n1",
        clock=clock,
    )
    claims = pyjwt.decode(
        vp,
        key=holder_key.public_key.key,
        algorithms=["ES384"],
        audience="https://v.example",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["nonce"] == "n1"
    obj = jwc_jws.JWS()
    obj.deserialize(vp)
    obj.verify(jwc_jwk.JWK(**holder_key.public_key.to_jwk()), alg="ES384")
    assert json.loads(obj.payload)["holder"] == holder
