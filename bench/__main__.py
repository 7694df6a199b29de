"""`make bench`: throughput of ancre's verification against the floor and against peers.

Every row is timed *paired* with the floor (bare `cryptography` signature verify plus
base64url/JSON decode of the same token): floor and row run back to back in each repeat and
the ratio reported is the median of the per-repeat ratios, because this machine's speed
drifts 20-40 % between repeats. Figures are ops/s from one run; compare ratios, not ops/s.
ancre verifies Ed25519 with libsodium, not OpenSSL: one extra EdDSA row pairs ancre with a
floor that does the same, to show the cost of everything but the signature.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jws as jwc_jws

from ancre.trust.clock import FixedClock
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.jose.vc_jose import issue_vc_jwt, verify_vc_jwt
from ancre.trust.keys.jwk import PrivateKey, _sodium
from ancre.trust.policy import VerificationPolicy
from bench._harness import b64, paired, reference_credential


def _token(key_type: str) -> tuple[PrivateKey, str, str]:
    key = PrivateKey.generate(key_type)
    did = did_key_from_public_key(key.public_key)
    credential = reference_credential(did)
    return key, did, issue_vc_jwt(credential, key, f"{did}#{did.removeprefix('did:key:')}")


#: Printed under the table when a didkit row was timed.
DIDKIT_NOTE = (
    "didkit rows: didkit 0.3.3 (Rust, Python bindings) `verify_credential` with proofFormat jwt,"
    " on the same credential\nissued by didkit as a VCDM 1.1 JWT (`vc` claim, iss/nbf/exp):"
    " it resolves the did:key, checks the JWS signature\nand nbf/exp, nothing else (its result"
    ' lists only "JWS": no data model, schema, status or trust). Each call includes\nthe'
    " asyncio/tokio round trip of didkit's async API (one `run_until_complete` per verification)."
)


def _didkit_row(
    key: PrivateKey, token: str, floor: Callable[[], object]
) -> tuple[str, float, float, float]:
    """didkit verifying the reference credential as a VCDM 1.1 JWT, paired with `floor`.

    didkit 0.3.3 cannot read a VCDM 2.0 vc+jwt ("Missing credential": it wants the `vc`
    claim), so it verifies the equivalent VCDM 1.1 JWT it issues itself with the same key.
    If it cannot be measured, the row's label says why and the figures are NaN."""
    label = f"{key.alg:<6} didkit (1.1 JWT; did:key+sig+nbf/exp)"
    nan = float("nan")
    try:
        import didkit
    except ImportError as error:
        return (f"{key.alg:<6} didkit: not measurable ({error})", nan, nan, nan)
    credential = json.loads(b64(token.split(".")[1]))
    credential["@context"] = ["https://www.w3.org/2018/credentials/v1", *credential["@context"][1:]]
    # didkit checks nbf/exp against the wall clock: keep the window around today.
    today = datetime.now(UTC).replace(microsecond=0)
    valid_from = datetime.fromisoformat(credential.pop("validFrom"))
    valid_until = datetime.fromisoformat(credential.pop("validUntil"))
    for name, moment in (
        ("issuanceDate", min(valid_from, today - timedelta(days=1))),
        ("expirationDate", max(valid_until, today + timedelta(days=365))),
    ):
        credential[name] = moment.isoformat().replace("+00:00", "Z")
    jwk = json.dumps(key.export_private_jwk())
    options = json.dumps({"proofFormat": "jwt"})
    loop = asyncio.new_event_loop()

    def run(make: Callable[[], Awaitable[str]]) -> str:
        # didkit's coroutines must be created inside a running loop.
        async def call() -> str:
            return await make()

        return loop.run_until_complete(call())

    try:
        vm = run(lambda: didkit.key_to_verification_method("key", jwk))
        issue = json.dumps({"proofFormat": "jwt", "verificationMethod": vm})
        vc_jwt = run(lambda: didkit.issue_credential(json.dumps(credential), issue, jwk))
        answer = json.loads(run(lambda: didkit.verify_credential(vc_jwt, options)))
        head, body, sig = vc_jwt.split(".")
        forged = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
        refused = json.loads(run(lambda: didkit.verify_credential(forged, options)))
        if answer["errors"] or answer["checks"] != ["JWS"] or not refused["errors"]:
            reason = f"verify answered {answer}, forged copy {refused}"
            return (f"{key.alg:<6} didkit: not measurable ({reason})", nan, nan, nan)

        def didkit_sig() -> object:
            return run(lambda: didkit.verify_credential(vc_jwt, options))

        return (label, *paired(floor, didkit_sig))
    except didkit.DIDKitException as error:
        return (f"{key.alg:<6} didkit: not measurable ({error})", nan, nan, nan)
    finally:
        loop.close()


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
    rows.append(_didkit_row(key, token, floor))
    if key_type == "ed25519":
        # ancre verifies Ed25519 with libsodium (trust/keys/jwk.py), twice as fast as the floor's
        # OpenSSL: this row shows what the rest of the pipeline costs over the faster primitive.
        sodium = _sodium().verify
        raw = key.public_key.raw_public_bytes()

        def sodium_floor() -> object:
            json.loads(b64(head))
            payload = json.loads(b64(body))
            if not sodium(b64(sig), signing_input, raw):
                raise AssertionError("libsodium refused the reference token")
            return payload

        f, r, ratio = paired(sodium_floor, ancre_full)
        rows.append((f"{alg:<6} ancre full / floor with libsodium verify", f, r, ratio))
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
    didkit_timed = False
    for key_type in ("ed25519", "p256"):
        for name, f, r, ratio in bench_alg(key_type):
            if math.isnan(r):
                print(name)
                continue
            didkit_timed = didkit_timed or " didkit " in name
            print(f"{name:<45}{f:>12,.0f}{r:>12,.0f}{ratio:>10.2f}x")
    if didkit_timed:
        print(DIDKIT_NOTE)
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
    if "didkit" in sys.modules:
        # didkit 0.3.3's tokio threads crash CPython's finalization (SIGSEGV, or SIGABRT in
        # PyGILState_Release) in about half the runs here: leave without finalizing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
