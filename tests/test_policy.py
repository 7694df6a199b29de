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
        "require_holder": True,
        "audiences": ["did:web:connector.example"],
        "cryptosuites": ["ecdsa-rdfc-2019"],
        "require_all_proofs": False,
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
        require_holder=True,
        audiences=frozenset({"did:web:connector.example"}),
        cryptosuites=frozenset({"ecdsa-rdfc-2019"}),
        require_all_proofs=False,
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


def test_several_accepted_audiences_for_vp_jwt_and_sd_jwt() -> None:
    """A verifier known by its URL and its DID accepts a presentation bound to either, and
    no other; the binding is still required (a bare credential is refused)."""
    from dataclasses import replace as _replace

    from _support import NOW, Issuer, credential

    from ancre.trust.clock import FixedClock
    from ancre.trust.did.jwk import did_jwk_from_public_key
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.jose.vc_jose import issue_vc_jwt, issue_vp_jwt
    from ancre.trust.keys.jwk import PrivateKey
    from ancre.trust.sd_jwt.present import present
    from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc
    from ancre.verifier.pipeline import verify

    url, did = "https://connector.example", "did:web:connector.example"
    policy = VerificationPolicy(audience=url, audiences=frozenset({did}), nonce="n-7")
    assert policy.accepted_audiences == {url, did}
    issuer, holder_key = Issuer.new(), PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vc = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    clock = FixedClock(NOW)
    sd = issue_sd_jwt_vc(
        {"given_name": "Marie"},
        issuer.key,
        issuer=issuer.did,
        kid=issuer.kid,
        vct="https://credentials.example/membership",
        issued_at=NOW,
        valid_from=NOW,
        holder_jwk=holder_key.public_key,
        disclosable=["/given_name"],
    )

    def outcome(data: str, check: VerificationPolicy = policy) -> tuple[str, list[str]]:
        result = verify(data, resolver=default_resolver(), clock=clock, policy=check)
        return result.status.value, [e.code for e in result.errors]

    for audience, expected in ((url, []), (did, []), ("https://other.example", ["x"])):
        vp = issue_vp_jwt(
            [vc],
            holder_key,
            holder=holder,
            kid=f"{holder}#0",
            audience=audience,
            nonce="n-7",
            clock=clock,
        )
        kb = present(
            sd, ["/given_name"], holder_key=holder_key, audience=audience, nonce="n-7", clock=clock
        )
        for data in (vp, kb):
            status, codes = outcome(data)
            if expected:
                assert (status, codes) == ("invalid", ["audience_mismatch"]), data[:40]
            else:
                assert (status, codes) == ("valid", []), (audience, codes)
    assert outcome(vc) == ("invalid", ["policy_violation"])
    only_did = _replace(policy, audience=None, nonce=None)
    assert outcome(vc, only_did) == ("invalid", ["policy_violation"])
