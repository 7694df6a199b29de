"""`uvicorn bench.soak.verifier_app:create --factory`: the VC-API verifier with every check
on (signed trust list from the soak's registry, status lists from its issuer), trusting the
soak's private CA for those fetches."""

from __future__ import annotations

import os
from typing import Any


def create() -> Any:
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.verifier.service import VerifierSettings, create_app

    env = os.environ
    return create_app(
        VerifierSettings(
            trust_list_url=env["ANCRE_SOAK_TRUST_LIST"],
            registry_did=env["ANCRE_SOAK_REGISTRY_DID"],
            network=NetworkPolicy(allow_loopback=True),
            ca_file=env["ANCRE_SOAK_CA"],
            cache_dir=env["ANCRE_SOAK_CACHE"],
        )
    )
