"""Status-list checks: cost per check on a cached list, and the one-time decode.

`python -m bench.bench_status` prints checks/s through `StatusListChecker.check` against a
cached W3C Bitstring Status List of 131,072 entries and of 1,048,576 entries (and the same
for IETF Token Status Lists): after the list is decoded, a check is one O(1) lookup, so the
rate must not depend on the list size. It also prints the one-time costs: inflating the
`encodedList` alone, and a cold check (fetch + signature verification + decode).

No network: the checker's `httpx.Client` has a `MockTransport` and the SSRF guard is handed a
fixed public address for the made-up host name. Lists have 1 % of their entries set at
random (a realistic revocation rate; compression, hence decode time, depends on it).
Figures are medians of several repeats on this machine; compare rows, not absolute rates.
"""

from __future__ import annotations

import random
import socket
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ancre.trust.clock import FixedClock
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, InvalidError
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.status.bitstring import Bitstring, BitstringStatusList, decode_encoded_list
from ancre.trust.status.checker import StatusListChecker
from ancre.trust.status.token import TokenStatusList, issue_status_list_token
from bench._harness import calibrate
from bench._harness import rate as timed_rate

REPEATS = 7
TARGET_SECONDS = 0.3
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BASE = "https://status.example"
SIZES = (131_072, 1_048_576)


def rate(fn: Callable[[], object]) -> float:
    n = calibrate(fn, TARGET_SECONDS)
    return statistics.median(timed_rate(fn, n) for _ in range(REPEATS))


def seconds(fn: Callable[[], object], n: int = 20) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


class Site:
    """Serves documents from memory through httpx.MockTransport."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.requests = 0
        self.client = httpx.Client(transport=httpx.MockTransport(self._handle), trust_env=False)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        body = self.bodies.get(request.url.path)
        if body is None:
            return httpx.Response(404)
        return httpx.Response(200, content=body, headers={"Cache-Control": "max-age=3600"})


def _public_address(host: str, port: int) -> list[tuple[Any, Any, Any, Any, tuple[Any, ...]]]:
    # A documentation-free public address: the guard accepts it, MockTransport answers.
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]


def _marked(size: int, rng: random.Random) -> list[int]:
    return rng.sample(range(size), size // 100)


def main() -> None:
    rng = random.Random(20260115)
    key = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(key.public_key)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    clock = FixedClock(NOW)
    site = Site()
    checker = StatusListChecker(
        client=site.client,
        resolver=default_resolver(),
        network=NetworkPolicy(max_bytes=4 * 1024 * 1024),
        getaddrinfo=_public_address,
    )
    rows: list[Row] = []
    for size in SIZES:
        lst = BitstringStatusList(length=size)
        marked = _marked(size, rng)
        for index in marked:
            lst.set(index)
        path = f"/w3c/{size}"
        document = lst.credential(
            id=BASE + path,
            issuer=did,
            valid_from=NOW - timedelta(days=1),
            valid_until=NOW + timedelta(days=1),
        )
        site.bodies[path] = issue_vc_jwt(document, key, kid).encode()
        marked_set = set(marked)
        clear = [i for i in rng.sample(range(size), 600) if i not in marked_set][:500]
        rows.append(
            Row(
                "W3C",
                size,
                document["credentialSubject"]["encodedList"],
                [held(path, i) for i in clear],
                [held(path, i) for i in marked[:500]],
            )
        )
    for size in SIZES:
        tsl = TokenStatusList(size, 1)
        marked = _marked(size, rng)
        for index in marked:
            tsl.set(index, 1)
        path = f"/tsl/{size}"
        site.bodies[path] = issue_status_list_token(
            tsl, key, kid=kid, uri=BASE + path, clock=clock
        ).encode()
        marked_set = set(marked)
        clear = [i for i in rng.sample(range(size), 600) if i not in marked_set][:500]
        rows.append(
            Row(
                "IETF",
                size,
                tsl.to_claim()["lst"],
                [token_claims(path, i, did) for i in clear],
                [token_claims(path, i, did) for i in marked[:500]],
            )
        )

    # One-time costs: inflate only (W3C), and a cold check (fetch, verify, decode).
    for row in rows:
        if row.kind == "W3C":
            encoded = row.encoded
            row.decode = seconds(lambda encoded=encoded: Bitstring(decode_encoded_list(encoded)))

        def cold(row: Row = row) -> None:
            checker.invalidate()
            run(checker, row.clear[0], did, clock)

        row.cold = seconds(cold)

    # Warm every list, then time the rows interleaved (this machine's speed drifts between
    # repeats; interleaving keeps the comparison between list sizes fair).
    for row in rows:
        run(checker, row.clear[0], did, clock)
    requests = site.requests
    loops = {}
    for row in rows:
        for name, docs in (("clear", row.clear), ("revoked", row.revoked)):
            loops[row.kind, row.size, name] = _loop(checker, docs, did, clock)
    counts = {key: calibrate(fn, TARGET_SECONDS) for key, fn in loops.items()}
    samples: dict[tuple[str, int, str], list[float]] = {key: [] for key in loops}
    for _ in range(REPEATS):
        for key, fn in loops.items():
            samples[key].append(timed_rate(fn, counts[key]))
    assert site.requests == requests, "a check on a cached list made a request"
    gets = {}
    for row in rows:
        if row.kind == "W3C":
            bits = Bitstring(decode_encoded_list(row.encoded))
            indexes = [rng.randrange(row.size) for _ in range(1024)]
            gets[row.size] = rate(lambda b=bits, ix=indexes: [b.get(i) for i in ix]) * 1024

    print("Status list checks on a cached list (1 % of entries revoked), medians")
    print(f"{'list':>5} {'entries':>10} {'encoded':>9} {'decode':>9} {'cold check':>11} "
          f"{'checks/s clear':>15} {'µs':>6} {'checks/s revoked':>17} {'get/s':>11}")  # fmt: skip
    for row in rows:
        clear = statistics.median(samples[row.kind, row.size, "clear"])
        revoked = statistics.median(samples[row.kind, row.size, "revoked"])
        decode = f"{row.decode * 1e3:.3f}ms" if row.decode is not None else "-"
        get = f"{gets[row.size]:,.0f}" if row.kind == "W3C" else "-"
        print(f"{row.kind:>5} {row.size:>10,} {len(row.encoded):>8,}B {decode:>9} "
              f"{row.cold * 1e3:>9.2f}ms {clear:>15,.0f} {1e6 / clear:>6.1f} "
              f"{revoked:>17,.0f} {get:>11}")  # fmt: skip
    for kind in ("W3C", "IETF"):
        small, large = (samples[kind, size, "clear"] for size in SIZES)
        ratio = statistics.median(b / a for a, b in zip(small, large, strict=True))
        print(f"{kind}: checks/s on {SIZES[1]:,} entries / on {SIZES[0]:,} entries = {ratio:.2f} "
              "(median of per-repeat ratios; 1.00 = independent of list size)")  # fmt: skip
    stats = checker.stats()
    print(f"cache: {stats.lists} lists, {stats.cached_bytes:,} decoded bytes; "
          f"{stats.fetches} fetches, {stats.decodes} decodes, {stats.hits:,} hits")  # fmt: skip


class Row:
    def __init__(
        self,
        kind: str,
        size: int,
        encoded: str,
        clear: list[dict[str, Any]],
        revoked: list[dict[str, Any]],
    ) -> None:
        self.kind, self.size, self.encoded = kind, size, encoded
        self.clear, self.revoked = clear, revoked
        self.decode: float | None = None
        self.cold = 0.0


def _loop(
    checker: StatusListChecker, docs: list[dict[str, Any]], issuer: str, clock: Any
) -> Callable[[], None]:
    cursor = iter(range(1 << 62))

    def one() -> None:
        run(checker, docs[next(cursor) % len(docs)], issuer, clock)

    return one


def token_claims(path: str, idx: int, issuer: str) -> dict[str, Any]:
    return {"iss": issuer, "status": {"status_list": {"idx": idx, "uri": BASE + path}}}


def run(checker: StatusListChecker, document: dict[str, Any], issuer: str, clock: Any) -> None:
    """One check; a revoked entry raises by design and counts as a check like any other."""
    try:
        checker.check(document, issuer=issuer, clock=clock)
    except InvalidError as error:
        if error.code is not Code.REVOKED:
            raise


def held(path: str, index: int) -> dict[str, Any]:
    return {
        "credentialStatus": {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index),
            "statusListCredential": BASE + path,
        }
    }


if __name__ == "__main__":
    main()
