"""Registry figures: publication time for 10,000 issuers (SQLite), the audit verification
of the resulting log (over 11,000 events: chain, signatures, replay and table cross-check)
and `is_trusted` lookups per second against the verified 10,000-issuer list in memory."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from ancre.registry.db import make_engine, migrate
from ancre.registry.service import IssuerSpec, Registry
from ancre.trust.clock import FixedClock
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.trust_list.model import EntryStatus
from ancre.trust.trust_list.signed import verify_trust_list

ISSUERS = 10_000
TYPES = ("gx:LegalPerson", "gx:LocalRegistrationNumber", "gx:VatID", "ancre:Certification")


def main() -> None:
    key = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(key.public_key)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    clock = FixedClock(t0)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            # Building the state is not what is measured: skip fsync while filling.
            dbapi_connection.execute("PRAGMA synchronous=OFF")

        migrate(engine)
        registry = Registry(engine, clock=clock)
        registry.configure(
            registry_did=did,
            kid=f"{did}#{did[8:]}",
            operator_name="bench",
            scheme_name="bench",
            two_person_rule=False,
        )
        registry.add_anchor("bench", anchor_id="did:web:anchor.example", name="Anchor")
        rng = random.Random(7)
        start = time.perf_counter()
        registry.add_issuers(
            "bench",
            (
                IssuerSpec(
                    f"did:web:issuer{i}.example",
                    f"Issuer {i}",
                    "did:web:anchor.example",
                    {t: [] for t in rng.sample(TYPES, rng.randint(1, 3))},
                )
                for i in range(ISSUERS)
            ),
        )
        filled = time.perf_counter() - start
        for i in range(0, ISSUERS, 10):  # a tenth get a suspension in their history
            clock.advance(timedelta(seconds=1))
            registry.set_issuer_status(
                "bench", f"did:web:issuer{i}.example", EntryStatus.SUSPENDED, reason="bench"
            )
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            row = registry.publish(key)
            timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        trust_list = verify_trust_list(
            row.jws, registry=did, resolver=default_resolver(), clock=clock
        )
        verified = time.perf_counter() - start
        start = time.perf_counter()
        audit = registry.verify_audit(key=key.public_key)
        audited = time.perf_counter() - start
        engine.dispose()

    queries = [
        (
            f"did:web:issuer{rng.randrange(ISSUERS)}.example",
            rng.choice(TYPES),
            t0 + timedelta(seconds=rng.randrange(2000)),
        )
        for _ in range(1000)
    ]
    rates = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(100):
            for issuer, ctype, at in queries:
                trust_list.is_trusted(issuer, ctype, at)
        rates.append(100 * len(queries) / (time.perf_counter() - start))
    print(f"registry: {ISSUERS:,} issuers bulk-added in {filled:.1f} s")
    median = statistics.median(timings)
    size = len(row.jws) / 1e6
    print(f"registry: publish {ISSUERS:,} issuers: {median:.2f} s (median of 3); {size:.1f} MB")
    print(f"registry: verify + index the published list: {verified:.2f} s")
    verdict = "ok" if audit.ok else f"NOT OK: {audit.reason}"
    print(
        f"registry: audit verify, {audit.events:,} events, tables cross-checked: "
        f"{audited:.2f} s ({verdict})"
    )
    rate = statistics.median(rates)
    print(f"registry: is_trusted, {ISSUERS:,}-issuer list: {rate:,.0f} lookups/s (goal 200,000)")


if __name__ == "__main__":
    main()
