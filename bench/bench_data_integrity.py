"""Data Integrity verification throughput: ecdsa-rdfc-2019 (P-256) and eddsa-jcs-2022.

Each row is timed *paired* with the floor, as in `bench/__main__.py`: the floor is what any
verifier of this credential must do at the least — the suite's transformation of the
document and of the proof configuration (pyld's RDFC-1.0 with a static context loader, or
RFC 8785 JCS), the two hashes and a bare `cryptography` signature verification. The ratio
reported is the median of per-repeat ratios; time is this process's CPU time. The credential
is the reference gx:LegalPerson of `bench/_harness.py`, its issuer a did:key.
Run: `python -m bench.bench_data_integrity`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pyld import jsonld

from ancre.trust.clock import FixedClock
from ancre.trust.codec.multibase import base58btc_decode
from ancre.trust.data_integrity.proofs import add_proof, verify_data_integrity
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.vcdm.jsonld import default_context_store
from bench._harness import paired, reference_credential

REPEATS = 5
NOW = datetime(2026, 6, 1, tzinfo=UTC)
ROWS = (("ecdsa-rdfc-2019", "p256"), ("eddsa-jcs-2022", "ed25519"))


def _signed(suite: str, key_type: str) -> tuple[PrivateKey, str, dict[str, Any]]:
    key = PrivateKey.generate(key_type)
    did = did_key_from_public_key(key.public_key)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    signed = add_proof(
        reference_credential(did), key, kid, created=datetime(2026, 1, 2, tzinfo=UTC),
        cryptosuite=suite,
    )  # fmt: skip
    return key, did, signed


def _floor(suite: str, key: PrivateKey, signed: dict[str, Any]) -> Callable[[], object]:
    document = {k: v for k, v in signed.items() if k != "proof"}
    options = {k: v for k, v in signed["proof"].items() if k != "proofValue"}
    signature = base58btc_decode(signed["proof"]["proofValue"][1:])
    public = key.public_key.key
    if "-jcs-" in suite:

        def transform(value: dict[str, Any]) -> bytes:
            return rfc8785.dumps(value)
    else:
        store = default_context_store()
        options = {**options, "@context": document["@context"]}
        normalize_options = {
            "algorithm": "URDNA2015",
            "format": "application/n-quads",
            "documentLoader": store.load,
        }

        def transform(value: dict[str, Any]) -> bytes:
            return str(jsonld.normalize(value, normalize_options)).encode()

    if isinstance(public, ed25519.Ed25519PublicKey):
        edkey = public

        def check(data: bytes) -> None:
            edkey.verify(signature, data)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        eckey = public
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )

        def check(data: bytes) -> None:
            eckey.verify(der, data, ec.ECDSA(hashes.SHA256()))

    def floor() -> object:
        data = hashlib.sha256(transform(options)).digest()
        data += hashlib.sha256(transform(document)).digest()
        check(data)
        return data

    floor()  # raises if the floor does not verify what ancre signed
    return floor


def bench_row(suite: str, key_type: str) -> tuple[str, float, float, float]:
    key, did, signed = _signed(suite, key_type)
    resolver = default_resolver()
    clock = FixedClock(NOW)
    policy = VerificationPolicy(trusted_issuers=frozenset({did}))
    result = verify_data_integrity(signed, resolver=resolver, clock=clock, policy=policy)
    assert result.valid, result.to_json()

    def ancre_full() -> object:
        return verify_data_integrity(signed, resolver=resolver, clock=clock, policy=policy)

    f, r, ratio = paired(
        _floor(suite, key, signed), ancre_full, repeats=REPEATS, timer=time.process_time
    )
    return f"{suite} {key.alg:<6} ancre full verification", f, r, ratio


def main() -> None:
    print(__doc__.strip().splitlines()[0])
    print(f"{'row':<45}{'floor ops/s':>12}{'row ops/s':>12}{'row/floor':>11}")
    for suite, key_type in ROWS:
        name, f, r, ratio = bench_row(suite, key_type)
        print(f"{name:<45}{f:>12,.0f}{r:>12,.0f}{ratio:>10.2f}x")


if __name__ == "__main__":
    main()
