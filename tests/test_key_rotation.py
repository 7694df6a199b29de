"""Key rotation (issue 13, acceptance 4): a credential signed before `keys rotate` still
verifies after it; one signed with the retired key after the rotation does not.

The issuer publishes the retirement as the retired method's `revoked` (W3C Controlled
Identifiers v1.0 §2.2); ancre's engine refuses, at the time step, a proof made at or after
the `revoked` time of the method whose key verified it (`key_revoked`), for every format
and for presentations' holder proofs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    PASSPHRASE,
    Tls,
    bound_socket,
    make_issuer,
    make_tls,
    open_issuer,
    serve_on,
)
from _support import NOW, StaticResolver, credential, forge

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.config import CONFIG_FILE, KEYSTORE_FILE, load_config, rotate_key
from ancre.issuer.service import holder_from_key
from ancre.issuer.templates import Authorization
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.data_integrity.proofs import (
    add_proof,
    verify_data_integrity,
    verify_data_integrity_presentation,
)
from ancre.trust.did.document import DidDocument, RevokedKey
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.jose.jws import unverified_header
from ancre.trust.jose.vc_jose import issue_vc_jwt, issue_vp_jwt, verify_vc_jwt, verify_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.keys.keystore import FileKeyStore
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc, verify_sd_jwt_vc
from ancre.trust.status.checker import StatusListChecker
from ancre.trust.status.token import (
    TokenStatusList,
    issue_status_list_token,
    verify_status_list_token,
)
from ancre.verifier.pipeline import verify

OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)
LOOPBACK = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)
NO_KB = VerificationPolicy(require_key_binding=False)

DID = "did:web:issuer.example"
KID = f"{DID}#key-1"
REVOKED = datetime(2026, 1, 10, tzinfo=UTC)
REVOKED_TEXT = "2026-01-10T00:00:00Z"
BEFORE = REVOKED - timedelta(seconds=1)
AFTER = REVOKED + timedelta(days=1)
assert AFTER < NOW  # the unit tests verify at NOW (the `clock` fixture)


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _did_document(key: PrivateKey, revoked: Any = REVOKED_TEXT) -> dict[str, Any]:
    method = {
        "id": KID,
        "type": "JsonWebKey2020",
        "controller": DID,
        "publicKeyJwk": key.public_key.to_jwk(),
        "revoked": revoked,
    }
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": DID,
        "verificationMethod": [method],
        "assertionMethod": [KID],
        "authentication": [KID],
    }


@pytest.fixture
def key() -> PrivateKey:
    return PrivateKey.generate("ed25519")


@pytest.fixture
def resolver(key: PrivateKey) -> StaticResolver:
    return StaticResolver({DID: _did_document(key)})


def _refused(result: VerificationResult, signed: str | None = None) -> None:
    """Refused at the time step with `key_revoked`, naming the method and both times."""
    assert result.status is Status.INVALID, result.to_json()
    failed = result.checks[-1]
    assert (failed.step, failed.code) == (Step.TIME, Code.KEY_REVOKED), result.to_json()
    assert KID in failed.message
    assert REVOKED_TEXT in failed.message
    if signed is not None:
        assert signed in failed.message


def _kept(result: VerificationResult) -> None:
    assert result.status is Status.VALID, result.to_json()
    time = next(c for c in result.checks if c.step is Step.TIME)
    assert f"before {KID} was revoked at {REVOKED_TEXT}" in time.message


# ------------------------------------------------------------------------------------------
# the DID document's `revoked`


def test_a_revoked_method_hands_out_a_key_that_says_so(key: PrivateKey) -> None:
    document = DidDocument.from_json(_did_document(key), expected_id=DID)
    method = document.method(KID)
    assert method.revoked == REVOKED
    found = document.assertion_key(KID)
    assert isinstance(found, RevokedKey)
    assert (found.method, found.revoked) == (KID, REVOKED)
    assert found == key.public_key  # the same key material

    plain = _did_document(key)
    del plain["verificationMethod"][0]["revoked"]
    unrevoked = DidDocument.from_json(plain, expected_id=DID)
    assert type(unrevoked.assertion_key(KID)) is not RevokedKey
    assert unrevoked.method(KID).revoked is None


MALFORMED_REVOKED = [
    "yesterday",
    "2026-01-10T00:00:00",  # no time zone: a dateTime, not a dateTimeStamp
    "2026-01-10",
    "",
    1767225600,
    None,
    True,
    ["2026-01-10T00:00:00Z"],
    {"@value": "2026-01-10T00:00:00Z"},
]


@pytest.mark.parametrize("value", MALFORMED_REVOKED, ids=repr)
def test_a_malformed_revoked_value_fails_the_document_closed(
    key: PrivateKey, clock: FixedClock, value: Any
) -> None:
    with pytest.raises(InvalidError) as info:
        DidDocument.from_json(_did_document(key, value), expected_id=DID)
    assert info.value.code is Code.INVALID_DID_DOCUMENT
    assert KID in info.value.message
    assert "`revoked` must be an XML Schema dateTimeStamp" in info.value.message

    # Through the engine: a verdict with the code at the issuer-key step, never a traceback,
    # however early the credential says it was signed.
    resolver = StaticResolver({DID: _did_document(key, value)})
    token = issue_vc_jwt(credential(DID, validFrom=_stamp(BEFORE)), key, KID)
    result = verify_vc_jwt(token, resolver=resolver, clock=clock)
    assert result.status is Status.INVALID
    assert (result.checks[-1].step, result.checks[-1].code) == (
        Step.ISSUER_KEY,
        Code.INVALID_DID_DOCUMENT,
    )


# ------------------------------------------------------------------------------------------
# vc+jwt


def test_vc_jwt_signed_before_the_revocation_keeps_verifying(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock
) -> None:
    token = issue_vc_jwt(credential(DID, validFrom=_stamp(BEFORE)), key, KID)
    _kept(verify_vc_jwt(token, resolver=resolver, clock=clock))


@pytest.mark.parametrize("signed", [REVOKED, AFTER], ids=["at", "after"])
def test_vc_jwt_signed_at_or_after_the_revocation_is_refused(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock, signed: datetime
) -> None:
    token = issue_vc_jwt(credential(DID, validFrom=_stamp(signed)), key, KID)
    _refused(verify_vc_jwt(token, resolver=resolver, clock=clock), _stamp(signed))


def test_vc_jwt_iat_not_valid_from_says_when_it_was_signed(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock
) -> None:
    # Valid from a day before the revocation, signed (iat) after it: refused.
    document = {**credential(DID, validFrom=_stamp(BEFORE)), "iat": int(AFTER.timestamp())}
    token = forge({"alg": "EdDSA", "typ": "vc+jwt", "kid": KID}, document, key)
    _refused(verify_vc_jwt(token, resolver=resolver, clock=clock), _stamp(AFTER))


def test_vc_jwt_that_does_not_say_when_it_was_signed_is_refused(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock
) -> None:
    document = credential(DID)
    del document["validFrom"]
    token = issue_vc_jwt(document, key, KID)
    result = verify_vc_jwt(token, resolver=resolver, clock=clock)
    _refused(result)
    assert "does not say when it was signed" in result.checks[-1].message


def test_a_key_without_revoked_is_not_judged_by_time_of_signing(
    key: PrivateKey, clock: FixedClock
) -> None:
    plain = _did_document(key)
    del plain["verificationMethod"][0]["revoked"]
    token = issue_vc_jwt(credential(DID, validFrom=_stamp(AFTER)), key, KID)
    result = verify_vc_jwt(token, resolver=StaticResolver({DID: plain}), clock=clock)
    assert result.status is Status.VALID, result.to_json()
    time = next(c for c in result.checks if c.step is Step.TIME)
    assert "revoked" not in time.message


# ------------------------------------------------------------------------------------------
# dc+sd-jwt


def _sd_jwt(key: PrivateKey, **times: datetime) -> str:
    return issue_sd_jwt_vc(
        {"memberOf": "Data space Loire"},
        key,
        issuer=DID,
        vct="https://issuer.example/membership",
        disclosable=["/memberOf"],
        kid=KID,
        **times,
    ).serialize()


def test_sd_jwt_vc_signed_before_the_revocation_keeps_verifying(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock
) -> None:
    token = _sd_jwt(key, issued_at=BEFORE)
    _kept(verify_sd_jwt_vc(token, resolver=resolver, clock=clock, policy=NO_KB))


@pytest.mark.parametrize("signed", [REVOKED, AFTER], ids=["at", "after"])
def test_sd_jwt_vc_signed_at_or_after_the_revocation_is_refused(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock, signed: datetime
) -> None:
    # `nbf` before the revocation does not help: `iat` says when it was signed.
    token = _sd_jwt(key, issued_at=signed, valid_from=BEFORE)
    result = verify_sd_jwt_vc(token, resolver=resolver, clock=clock, policy=NO_KB)
    _refused(result, _stamp(signed))


def test_sd_jwt_vc_without_iat_or_nbf_is_refused(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock
) -> None:
    result = verify_sd_jwt_vc(_sd_jwt(key), resolver=resolver, clock=clock, policy=NO_KB)
    _refused(result)


# ------------------------------------------------------------------------------------------
# Data Integrity


def _di_credential(valid_from: datetime) -> dict[str, Any]:
    """A credential every term of which the VCDM 2.0 context defines (JSON-LD safe mode)."""
    return credential(
        DID,
        type=["VerifiableCredential"],
        validFrom=_stamp(valid_from),
        credentialSubject={"id": "did:example:member"},
    )


def test_data_integrity_signed_before_the_revocation_keeps_verifying(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock
) -> None:
    document = add_proof(_di_credential(BEFORE), key, KID, created=BEFORE)
    _kept(verify_data_integrity(document, resolver=resolver, clock=clock))


@pytest.mark.parametrize("signed", [REVOKED, AFTER], ids=["at", "after"])
def test_data_integrity_created_at_or_after_the_revocation_is_refused(
    key: PrivateKey, resolver: StaticResolver, clock: FixedClock, signed: datetime
) -> None:
    # Valid from before the revocation, but the proof was created at or after it.
    document = add_proof(_di_credential(BEFORE), key, KID, created=signed)
    _refused(verify_data_integrity(document, resolver=resolver, clock=clock), _stamp(signed))


# ------------------------------------------------------------------------------------------
# presentations: the holder's proof


def _inner_credential() -> str:
    issuer = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(issuer.public_key)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    return issue_vc_jwt(credential(did), issuer, kid)


def _holder_resolver(key: PrivateKey) -> Any:
    documents = default_resolver()

    class Both:
        def resolve(self, did: str) -> DidDocument:
            if did == DID:
                return DidDocument.from_json(_did_document(key), expected_id=DID)
            return documents.resolve(did)

    return Both()


@pytest.mark.parametrize(("signed", "valid"), [(BEFORE, True), (AFTER, False)])
def test_vp_jwt_holder_proof_follows_the_same_rule(
    key: PrivateKey, clock: FixedClock, signed: datetime, valid: bool
) -> None:
    inner = _inner_credential()
    policy = VerificationPolicy(audience="https://verifier.example", nonce="n-1")
    token = issue_vp_jwt(
        [inner],
        key,
        holder=DID,
        kid=KID,
        audience="https://verifier.example",
        nonce="n-1",
        clock=FixedClock(signed),
        lifetime=timedelta(days=30),
    )
    result = verify_vp_jwt(token, resolver=_holder_resolver(key), clock=clock, policy=policy)
    if valid:
        _kept(result)
    else:
        _refused(result, _stamp(signed))
        assert "the presentation was signed" in result.checks[-1].message


@pytest.mark.parametrize(("signed", "valid"), [(BEFORE, True), (AFTER, False)])
def test_data_integrity_presentation_holder_proof_follows_the_same_rule(
    key: PrivateKey, clock: FixedClock, signed: datetime, valid: bool
) -> None:
    presentation = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": DID,
        "verifiableCredential": [],
    }
    secured = add_proof(
        presentation,
        key,
        KID,
        created=signed,
        proof_purpose="authentication",
        challenge="n-1",
        domain="https://verifier.example",
    )
    policy = VerificationPolicy(audience="https://verifier.example", nonce="n-1")
    result = verify_data_integrity_presentation(
        secured, resolver=_holder_resolver(key), clock=clock, policy=policy
    )
    if valid:
        _kept(result)
    else:
        _refused(result, _stamp(signed))


# ------------------------------------------------------------------------------------------
# Token Status List tokens, verified outside the engine, follow the same rule


@pytest.mark.parametrize(("signed", "valid"), [(BEFORE, True), (AFTER, False)])
def test_status_list_token_signed_with_a_revoked_key(
    key: PrivateKey, resolver: StaticResolver, signed: datetime, valid: bool
) -> None:
    uri = "https://issuer.example/status/1"
    token = issue_status_list_token(
        TokenStatusList(16),
        key,
        kid=KID,
        uri=uri,
        clock=FixedClock(signed),
        lifetime=timedelta(days=30),
        issuer=DID,
    )
    clock = FixedClock(signed + timedelta(hours=1))
    if valid:
        verify_status_list_token(token, uri=uri, issuer=DID, resolver=resolver, clock=clock)
        return
    with pytest.raises(InvalidError) as info:
        verify_status_list_token(token, uri=uri, issuer=DID, resolver=resolver, clock=clock)
    assert info.value.code is Code.KEY_REVOKED
    assert "the status list token was signed" in info.value.message


# ------------------------------------------------------------------------------------------
# the issuer: `keys rotate`, its did:web document, ancre's verifier (end to end)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def verifier_client(tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http:
        yield http


def test_rotation_keeps_what_the_old_key_signed_and_refuses_what_it_signs_after(
    tmp_path: Path, tls: Tls, verifier_client: httpx.Client
) -> None:
    # A clock near the real time (the test TLS certificate is valid now), in whole seconds.
    clock = FixedClock(SystemClock().now().replace(microsecond=0))
    sock, port = bound_socket()
    directory = tmp_path / "issuer"
    # `before` stands for a `serve` process started before the rotation and never
    # restarted: it keeps signing with signing-1.
    before = make_issuer(directory, port, clock=clock)
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)

    def issue(issuer: Any, configuration: str) -> str:
        claims = LEGAL_PERSON_CLAIMS if configuration == "LegalPerson" else DIRECTOR_CLAIMS
        issued = issuer.issue(configuration, claims, holder=holder, authorization=OPERATOR)
        token: str = issued.credential
        return token

    old = {c: issue(before, c) for c in ("LegalPerson", "DirectorCertification")}
    clock.advance(timedelta(minutes=1))
    rotate_key(load_config(directory), FileKeyStore(directory / KEYSTORE_FILE, PASSPHRASE), clock)
    retired_at = clock.now()
    clock.advance(timedelta(minutes=1))
    after = open_issuer(directory, clock=clock)
    stale = {c: issue(before, c) for c in old}
    new = {c: issue(after, c) for c in old}
    for token in (*old.values(), *stale.values()):
        assert unverified_header(token.split("~")[0])["kid"].endswith("#signing-1")
    for token in new.values():
        assert unverified_header(token.split("~")[0])["kid"].endswith("#signing-2")

    resolver = default_resolver(http_client=verifier_client, network=LOOPBACK, clock=clock)
    status = StatusListChecker(client=verifier_client, resolver=resolver, network=LOOPBACK)
    with serve_on(sock, create_app(IssuerSettings(after)), tls) as url:
        document = verifier_client.get(f"{url}/.well-known/did.json").json()
        signing_1, signing_2 = document["verificationMethod"]
        assert signing_1["revoked"] == _stamp(retired_at)
        assert "revoked" not in signing_2
        # Both stay assertion methods: the retired one for what it signed before.
        assert document["assertionMethod"] == [signing_1["id"], signing_2["id"]]
        assert {"revoked"} <= set(document["@context"][-1])

        def check(token: str) -> VerificationResult:
            return verify(token, resolver=resolver, clock=clock, policy=NO_KB, status=status)

        for token in (*old.values(), *new.values()):
            result = check(token)
            assert result.status is Status.VALID, result.to_json()
        for token in stale.values():
            result = check(token)
            assert result.status is Status.INVALID, result.to_json()
            failed = result.checks[-1]
            assert (failed.step, failed.code) == (Step.TIME, Code.KEY_REVOKED)
            assert signing_1["id"] in failed.message
            assert _stamp(retired_at) in failed.message


def test_rotation_time_is_rounded_up_to_the_whole_second(tmp_path: Path) -> None:
    # Credentials state whole seconds: one issued earlier in the second of the rotation
    # (stamped with that second) must stay before the retirement.
    start = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
    clock = FixedClock(start)
    directory = tmp_path / "issuer"
    make_issuer(directory, 4436, clock=clock)
    clock.advance(timedelta(milliseconds=300))
    rotated = rotate_key(
        load_config(directory), FileKeyStore(directory / KEYSTORE_FILE, PASSPHRASE), clock
    )
    assert rotated.keys[0].retired_at == "2026-01-15T12:00:01Z"
    assert load_config(directory).keys[0].retired_at == "2026-01-15T12:00:01Z"


def test_a_retirement_time_that_is_not_a_datetime_stamp_is_refused_at_load(
    tmp_path: Path,
) -> None:
    import json

    directory = tmp_path / "issuer"
    make_issuer(directory, 4437)
    rotate_key(
        load_config(directory),
        FileKeyStore(directory / KEYSTORE_FILE, PASSPHRASE),
        SystemClock(),
    )
    path = directory / CONFIG_FILE
    data = json.loads(path.read_text())
    data["keys"][0]["retired_at"] = "last Tuesday"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="signing-1: `retired_at` must be"):
        load_config(directory)
