"""`make bench`: throughput of ancre's verification against the floor and against peers.

Every row is timed *paired* with the floor (bare `cryptography` signature verify plus
base64url/JSON decode of the same token): floor and row run back to back in each repeat and
the ratio reported is the median of the per-repeat ratios, because this machine's speed
drifts 20-40 % between repeats. Figures are ops/s from one run; compare ratios, not ops/s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jws as jwc_jws

from ancre.trust.clock import FixedClock
from ancre.trust.credentials import Address, legal_person_credential
from ancre.trust.did_key import did_key_from_public_key
from ancre.trust.keys import PrivateKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.resolvers import default_resolver
from ancre.trust.vc_jose import issue_vc_jwt, verify_vc_jwt
from bench._harness import b64, paired


def _token(key_type: str) -> tuple[PrivateKey, str, str]:
    key = PrivateKey.generate(key_type)
    did = did_key_from_public_key(key.public_key)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    credential = legal_person_credential(
        issuer=did,
        credential_id="urn:uuid:0f6c1a3c-1b9e-4d0e-9d1c-5c7f0b5d2a11",
        subject_id="https://danone.example/participant#lp",
        name="DANONE",
        registration_number_id="https://danone.example/participant#lrn",
        legal_address=Address("FR", "FR-75", "17 boulevard Haussmann", "75009", "Paris"),
        valid_from=now,
        valid_until=datetime(2027, 1, 1, tzinfo=UTC),
    )
    return key, did, issue_vc_jwt(credential, key, f"{did}#{did.removeprefix('did:key:')}")


def bench_alg(key_type: str) -> list[tuple[str, float, float, float]]:
    key, did, token = _token(key_type)
    public = key.public_key.key
    head, body, sig = token.split(".")
    signing_input = f"{head}.{body}".encode()
    alg = key.alg

    if key_type == "ed25519":

        def floor() -> object:
            json.loads(b64(head))
            payload = json.loads(b64(body))
            public.verify(b64(sig), signing_input)  # type: ignore[call-arg]
            return payload
    else:

        def floor() -> object:
            json.loads(b64(head))
            payload = json.loads(b64(body))
            raw = b64(sig)
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
            return payload

    resolver = default_resolver()
    clock = FixedClock(datetime(2026, 6, 1, tzinfo=UTC))
    policy = VerificationPolicy(trusted_issuers=frozenset({did}))
    assert verify_vc_jwt(token, resolver=resolver, clock=clock, policy=policy).valid

    def ancre_full() -> object:
        return verify_vc_jwt(token, resolver=resolver, clock=clock, policy=policy)

    def pyjwt_sig() -> object:
        return pyjwt.decode(
            token,
            key=public,
            algorithms=[alg],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
            },
        )

    jkey = jwc_jwk.JWK(**key.public_key.to_jwk())

    def jwcrypto_sig() -> object:
        obj = jwc_jws.JWS()
        obj.deserialize(token)
        obj.verify(jkey, alg=alg)
        return obj.payload

    rows = []
    for name, fn in (
        ("ancre full verification", ancre_full),
        ("pyjwt.decode (signature only)", pyjwt_sig),
        ("jwcrypto (signature only)", jwcrypto_sig),
    ):
        f, r, ratio = paired(floor, fn)
        rows.append((f"{alg:<6} {name}", f, r, ratio))
    return rows


def bench_startup() -> tuple[float, float]:
    """Median wall time of `ancre --help` and of `ancre verify` on garbage (ms)."""

    def run(args: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ancre.cli.main", *args],
            input="x",
            capture_output=True,
            text=True,
            check=False,
        )
        return (time.perf_counter() - start) * 1000

    helps = [run(["--help"]) for _ in range(5)]
    verifies = [run(["verify", "-", "--json"]) for _ in range(5)]
    return statistics.median(helps), statistics.median(verifies)


def main() -> None:
    import importlib
    import pkgutil

    print(__doc__.strip().splitlines()[0])
    print(f"{'row':<45}{'floor ops/s':>12}{'row ops/s':>12}{'row/floor':>11}")
    for key_type in ("ed25519", "p256"):
        for name, f, r, ratio in bench_alg(key_type):
            print(f"{name:<45}{f:>12,.0f}{r:>12,.0f}{ratio:>10.2f}x")
    # The other benchmark modules (bench/bench_*.py), each with a main().
    for module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
        if module.startswith("bench_"):
            print()
            importlib.import_module(f"bench.{module}").main()
    help_ms, verify_ms = bench_startup()
    print(
        f"\nstart-up (median of 5): ancre --help {help_ms:.0f} ms,"
        f" ancre verify {verify_ms:.0f} ms (budget 300 ms)"
    )


if __name__ == "__main__":
    main()
