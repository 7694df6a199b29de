"""schemathesis drives the registry API from its own OpenAPI document: whatever it sends,
with or without a valid token, the server never answers 5xx (every refusal is a problem
document with a code).

Driven through schemathesis's Python API and Hypothesis rather than its pytest plugin,
whose lazy fixture loader does not work with the pinned pytest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemathesis
from _support import Issuer
from hypothesis import HealthCheck, given, settings

from ancre.registry.api import create_app
from ancre.registry.db import make_engine, migrate
from ancre.registry.service import Registry, Role
from ancre.trust.clock import FixedClock


def test_no_server_errors(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    key = Issuer.new("ed25519")
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    migrate(engine)
    registry = Registry(engine, clock=clock)
    registry.configure(
        registry_did=key.did, kid=key.kid, operator_name="o", scheme_name="s", two_person_rule=False
    )
    registry.add_anchor("setup", anchor_id="did:web:anchor.example", name="Anchor")
    registry.add_issuer(
        "setup",
        did="did:web:issuer.example",
        legal_name="I",
        accredited_by="did:web:anchor.example",
        credential_types={"gx:LegalPerson": []},
    )
    registry.publish(key.key)
    token = registry.create_token("setup", "fuzzer", Role.APPROVER)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(registry, signer=key.key))

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    seen: dict[str, int] = {}

    def exercise(operation: Any) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: Any) -> None:
            for headers in ({"Authorization": f"Bearer {token}"}, {}):
                response = case.call(headers=headers)
                seen[operation.label] = seen.get(operation.label, 0) + 1
                assert response.status_code < 500, (operation.label, response.text[:300])

        run()

    for operation in operations:
        exercise(operation)
    assert set(seen) == {op.label for op in operations}  # every operation was exercised
    engine.dispose()
