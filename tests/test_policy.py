"""Policy files: every member maps onto the typed policy; anything unknown is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ancre.trust.errors import ConfigurationError
from ancre.trust.policy import POLICY_FILE_MEMBERS, VerificationPolicy, policy_from_json


def test_every_member_is_read() -> None:
    document: dict[str, Any] = {
        "algorithms": ["ES256"],
        "clock_skew_seconds": 5,
        "max_credential_age_seconds": 3600,
        "trusted_issuers": ["did:web:agency.example"],
        "required_types": ["gx:LegalPerson"],
        "check_schema": False,
        "check_status": False,
        "accept_untyped_evidence": True,
        "accept_vcdm11": False,
        "audience": "https://connector.example",
        "nonce": "n-1",
        "sd_jwt_digest_algs": ["sha-256"],
        "require_key_binding": False,
        "key_binding_max_age_seconds": 30,
        "formats": ["vc+jwt", "dc+sd-jwt"],
        "require_trust": True,
    }
    assert set(document) == POLICY_FILE_MEMBERS
    policy = policy_from_json(document)
    assert policy == VerificationPolicy(
        algorithms=frozenset({"ES256"}),
        clock_skew=timedelta(seconds=5),
        max_credential_age=timedelta(hours=1),
        trusted_issuers=frozenset({"did:web:agency.example"}),
        required_types=frozenset({"gx:LegalPerson"}),
        check_schema=False,
        check_status=False,
        accept_untyped_evidence=True,
        accept_vcdm11=False,
        audience="https://connector.example",
        nonce="n-1",
        sd_jwt_digest_algs=frozenset({"sha-256"}),
        require_key_binding=False,
        key_binding_max_age=timedelta(seconds=30),
        formats=frozenset({"vc+jwt", "dc+sd-jwt"}),
        require_trust=True,
    )


def test_empty_file_is_the_strict_default() -> None:
    assert policy_from_json({}) == VerificationPolicy()


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "one JSON object"),
        ({"required_type": ["x"]}, "unknown policy member"),
        ({"algorithms": ["none"]}, "not supported"),
        ({"algorithms": ["HS256"]}, "not supported"),
        ({"algorithms": "ES256"}, "array of strings"),
        ({"clock_skew_seconds": 1.5}, "whole number"),
        ({"clock_skew_seconds": -1}, "whole number"),
        ({"clock_skew_seconds": True}, "whole number"),
        ({"check_status": "no"}, "true or false"),
        ({"nonce": 3}, "string"),
        ({"formats": ["jwt"]}, "unknown"),
    ],
)
def test_bad_files_are_refused(document: Any, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        policy_from_json(document)
    assert fragment in caught.value.message
