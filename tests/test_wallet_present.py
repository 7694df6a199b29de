"""The wallet's library in-process: storing a checked credential, holder binding, building
presentations that ancre's verifier accepts for exactly their audience and nonce."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _support import NOW, Issuer, credential

from ancre.trust.clock import FixedClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status
from ancre.verifier.pipeline import verify
from ancre.wallet.credentials import Checker, check_binding, list_credentials, store_credential
from ancre.wallet.http import Http, network_policy
from ancre.wallet.identities import Identity, create_identity
from ancre.wallet.present import build_presentation
from ancre.wallet.store import WalletStore

CLOCK = FixedClock(NOW)


@pytest.fixture
def checker() -> Iterator[Checker]:
    with httpx.Client(trust_env=False) as client:
        yield Checker(Http(client, network_policy(insecure_loopback=False)), CLOCK)


def _member_credential(holder: Identity, issuer: Issuer) -> str:
    doc = credential(
        issuer.did, credentialSubject={"id": holder.did, "memberOf": "Data space Loire"}
    )
    return issue_vc_jwt(doc, issuer.key, issuer.kid)


def _wallet(tmp_path: Path) -> tuple[WalletStore, Identity]:
    store = WalletStore.create(tmp_path / "w", "pass", scrypt_n=2**14)
    identity = create_identity(store, method="jwk", key_type="p256", name="acme", now=NOW)
    return store, identity


def test_store_then_present_a_vp_jwt_bound_to_audience_and_nonce(
    tmp_path: Path, checker: Checker
) -> None:
    store, holder = _wallet(tmp_path)
    token = _member_credential(holder, Issuer.new())
    result = checker.verify(token)
    assert result.status is Status.VALID, result.to_json()
    check_binding(token, result, holder)
    held = store_credential(store, token, result, holder, NOW)
    assert held.types == ("VerifiableCredential", "ExampleMembership")
    assert held.valid_until == "2027-01-01T00:00:00Z"
    assert [c.id for c in list_credentials(store)[0]] == [held.id]

    vp = build_presentation(
        store,
        types=["ExampleMembership"],
        audience="https://connector.example",
        nonce="n-0S6",
        clock=CLOCK,
    )
    assert vp.format == "vp+jwt"
    assert vp.credentials == (held.id,)
    assert vp.holder == holder.did
    resolver = default_resolver()
    ok = verify(
        vp.token,
        resolver=resolver,
        clock=CLOCK,
        policy=VerificationPolicy(audience="https://connector.example", nonce="n-0S6"),
    )
    assert ok.status is Status.VALID, ok.to_json()
    replay = verify(
        vp.token,
        resolver=resolver,
        clock=CLOCK,
        policy=VerificationPolicy(audience="https://connector.example", nonce="other"),
    )
    assert [e.code for e in replay.errors] == ["nonce_mismatch"]


def test_a_credential_for_someone_else_is_refused(tmp_path: Path, checker: Checker) -> None:
    store, holder = _wallet(tmp_path)
    other = create_identity(store, method="key", key_type="ed25519", name="other", now=NOW)
    token = _member_credential(other, Issuer.new())
    result = checker.verify(token)
    with pytest.raises(AncreError) as caught:
        check_binding(token, result, holder)
    assert caught.value.code is Code.CREDENTIAL_REFUSED


def test_presenting_what_the_wallet_cannot(tmp_path: Path, checker: Checker) -> None:
    store, holder = _wallet(tmp_path)
    token = _member_credential(holder, Issuer.new())
    store_credential(store, token, checker.verify(token), holder, NOW)
    common = {"audience": "https://connector.example", "nonce": "n", "clock": CLOCK}
    with pytest.raises(AncreError) as caught:
        build_presentation(store, types=["LegalPerson"], **common)  # type: ignore[arg-type]
    assert caught.value.code is Code.NO_MATCHING_CREDENTIAL
    with pytest.raises(ConfigurationError, match="--disclose needs an SD-JWT VC"):
        build_presentation(
            store,
            types=["ExampleMembership"],
            disclose=["memberOf"],
            **common,  # type: ignore[arg-type]
        )


def test_a_trusted_issuer_list_is_enforced_on_receipt(tmp_path: Path) -> None:
    _, holder = _wallet(tmp_path)
    token = _member_credential(holder, Issuer.new())
    with httpx.Client(trust_env=False) as client:
        strict = Checker(
            Http(client, network_policy(insecure_loopback=False)),
            CLOCK,
            trusted_issuers=frozenset({"did:web:agency.example"}),
        )
        result = strict.verify(token)
    assert result.status is Status.INVALID
    assert [e.code for e in result.errors] == ["issuer_not_trusted"]
