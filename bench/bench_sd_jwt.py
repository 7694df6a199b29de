"""SD-JWT VC verification throughput: 10 disclosures + a Key Binding JWT, warm caches.

Each row is timed *paired* with the floor, as in `bench/__main__.py`: the floor is what any
verifier of this token must do at the least — bare `cryptography` verification of the two
signatures (issuer JWT, KB-JWT), base64url + JSON decoding of the two JWTs and the 10
disclosures, and the 11 SHA-256 digests (10 disclosures + `sd_hash`). The ratio reported is the
median of per-repeat ratios. Time is this process's CPU time (`time.process_time`), not wall
time: on a shared 2-core machine other processes' load otherwise moves the ratio by ±0.15.
Run: `python -m bench.bench_sd_jwt`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ancre.trust.clock import FixedClock
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.sd_jwt.present import present
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc, verify_sd_jwt_vc
from ancre.trust.sd_jwt.verify import verify_sd_jwt
from ancre.trust.vcdm.credentials import MANDATE_VCT
from bench._harness import b64, paired

REPEATS = 9

NOW = datetime(2026, 6, 1, tzinfo=UTC)
AUD, NONCE = "https://verifier.example", "bench-nonce"
CLAIMS = {
    "legal_person_identifier": "FR.SIREN.552032534",
    "legal_name": "DANONE",
    "full_powers": False,
    "eService": "Data space onboarding",
    "effective_from_date": "2026-01-01",
    "effective_until_date": "2026-12-31",
    "issuing_authority": "ancre bench registry",
    "issuing_country": "FR",
    "role": "Directeur général",
    "given_name": "Antoine",
    "family_name": "de Saint-Affrique",
}
#: Ten selectively disclosable claims; the legal person's identifier stays in the clear.
DISCLOSABLE = [f"/{name}" for name in CLAIMS if name != "legal_person_identifier"]


def _verifier(key: PrivateKey) -> Callable[[bytes, bytes], None]:
    public = key.public_key.key
    if isinstance(public, ed25519.Ed25519PublicKey):
        return public.verify
    assert isinstance(public, ec.EllipticCurvePublicKey)
    curve_key = public

    def ecdsa(signature: bytes, data: bytes) -> None:
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        curve_key.verify(der, data, ec.ECDSA(hashes.SHA256()))

    return ecdsa


def _token(key_type: str) -> tuple[PrivateKey, PrivateKey, str, str]:
    issuer = PrivateKey.generate(key_type)
    holder = PrivateKey.generate(key_type)
    did = did_key_from_public_key(issuer.public_key)
    issued = issue_sd_jwt_vc(
        CLAIMS,
        issuer,
        issuer=did,
        kid=f"{did}#{did.removeprefix('did:key:')}",
        vct=MANDATE_VCT,
        disclosable=DISCLOSABLE,
        holder_jwk=holder.public_key,
        issued_at=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=365),
        decoys=4,
    )
    token = present(
        issued, DISCLOSABLE, holder_key=holder, audience=AUD, nonce=NONCE, clock=FixedClock(NOW)
    )
    assert token.count("~") == 11  # 10 disclosures, then the KB-JWT
    return issuer, holder, did, token


def bench_alg(key_type: str) -> list[tuple[str, float, float, float]]:
    issuer, holder, did, token = _token(key_type)
    verify_issuer, verify_holder = _verifier(issuer), _verifier(holder)
    jwt, *disclosures, kb = token.split("~")
    head, body, sig = jwt.split(".")
    kb_head, kb_body, kb_sig = kb.split(".")
    signing_input = f"{head}.{body}".encode()
    kb_input = f"{kb_head}.{kb_body}".encode()
    presented = token[: len(token) - len(kb)].encode()

    def floor() -> object:
        json.loads(b64(head))
        payload = json.loads(b64(body))
        verify_issuer(b64(sig), signing_input)
        for disclosure in disclosures:
            json.loads(b64(disclosure))
            hashlib.sha256(disclosure.encode()).digest()
        json.loads(b64(kb_head))
        json.loads(b64(kb_body))
        hashlib.sha256(presented).digest()
        verify_holder(b64(kb_sig), kb_input)
        return payload

    resolver = default_resolver()
    clock = FixedClock(NOW)
    policy = VerificationPolicy(audience=AUD, nonce=NONCE, trusted_issuers=frozenset({did}))
    result = verify_sd_jwt_vc(token, resolver=resolver, clock=clock, policy=policy)
    assert result.valid, result.to_json()
    assert result.credential is not None
    assert len(result.credential) == len(CLAIMS) + 5  # + iss, vct, iat, exp, cnf

    def ancre_vc() -> object:
        return verify_sd_jwt_vc(token, resolver=resolver, clock=clock, policy=policy)

    def ancre_core() -> object:
        return verify_sd_jwt(token, issuer_key=issuer.public_key, clock=clock, policy=policy)

    rows = [
        ("SD-JWT VC full verification", ancre_vc),
        ("SD-JWT core (issuer key given)", ancre_core),
    ]
    if key_type == "p256":
        rows.append(("sd_jwt package SDJWTVerifier", _peer(issuer, token)))
    out = []
    for name, fn in rows:
        f, r, ratio = paired(floor, fn, repeats=REPEATS, timer=time.process_time)
        out.append((f"{issuer.alg:<6} {name}", f, r, ratio))
    return out


def _peer(issuer: PrivateKey, token: str) -> Callable[[], object]:
    """The reference implementation (jwcrypto underneath), issuer key and KB-JWT checked."""
    from jwcrypto import jwk as jwc_jwk
    from sd_jwt.verifier import SDJWTVerifier

    key = jwc_jwk.JWK(**issuer.public_key.to_jwk())

    def peer() -> object:
        return SDJWTVerifier(
            token, lambda _iss, _header: key, expected_aud=AUD, expected_nonce=NONCE
        ).get_verified_payload()

    return peer


def main() -> None:
    print(__doc__.strip().splitlines()[0])
    print(f"{'row':<45}{'floor ops/s':>12}{'row ops/s':>12}{'row/floor':>11}")
    for key_type in ("ed25519", "p256"):
        for name, f, r, ratio in bench_alg(key_type):
            print(f"{name:<45}{f:>12,.0f}{r:>12,.0f}{ratio:>10.2f}x")


if __name__ == "__main__":
    main()
