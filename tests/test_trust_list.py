"""Trust lists: LoTE codec, point-in-time trust, constraints, signed publication."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from _support import Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, IndeterminateError, InvalidError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.trust_list.index import TrustList
from ancre.trust.trust_list.model import (
    ANCHOR_SERVICE,
    ClaimConstraint,
    EntryStatus,
    StatusPeriod,
    TrustedEntity,
    TrustedService,
    TrustListDocument,
)
from ancre.trust.trust_list.signed import sign_trust_list, verify_trust_list

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AGENCY = "did:web:agency.example"
ANCHOR = "did:web:association.example"
LP, CERT = "gx:LegalPerson", "ancre:Certification"


def document(sequence: int = 1, issued_at: datetime = T0 + timedelta(days=40)) -> TrustListDocument:
    anchor = TrustedEntity(
        id=ANCHOR,
        name="Data space association",
        services=(TrustedService(ANCHOR_SERVICE, (StatusPeriod(EntryStatus.ACTIVE, T0),)),),
    )
    agency = TrustedEntity(
        id=AGENCY,
        name="Agence de certification",
        registration_number="55203253400646",
        accredited_by=ANCHOR,
        services=(
            TrustedService(
                LP,
                (
                    StatusPeriod(EntryStatus.ACTIVE, T0),
                    StatusPeriod(EntryStatus.SUSPENDED, T0 + timedelta(days=30), "audit pending"),
                    StatusPeriod(EntryStatus.ACTIVE, T0 + timedelta(days=35), "audit passed"),
                ),
                constraints=(
                    ClaimConstraint("credentialSubject.gx:legalAddress.gx:countryCode", ("FR",)),
                ),
            ),
        ),
    )
    return TrustListDocument(
        sequence=sequence,
        issued_at=issued_at,
        next_update=issued_at + timedelta(days=1),
        operator_name="Loire data space",
        scheme_name="Trusted credential issuers",
        entities=(agency, anchor),
    )


def test_round_trip_is_deterministic() -> None:
    doc = document()
    as_json = doc.to_json()
    assert TrustListDocument.from_json(as_json) == doc
    # Entities in another order serialize to the same bytes.
    swapped = TrustListDocument(
        **{**{f: getattr(doc, f) for f in doc.__slots__}, "entities": doc.entities[::-1]}
    )
    assert json.dumps(swapped.to_json()) == json.dumps(as_json)
    info = as_json["LoTE"]["ListAndSchemeInformation"]
    assert info["LoTESequenceNumber"] == 1
    assert info["NextUpdate"] == "2026-02-11T00:00:00Z"


def test_point_in_time_trust() -> None:
    tl = TrustList(document())
    assert tl.is_trusted(AGENCY, LP, T0 + timedelta(days=1))
    assert not tl.is_trusted(AGENCY, LP, T0 + timedelta(days=31))  # suspended then
    assert tl.status_at(AGENCY, LP, T0 + timedelta(days=31)) is EntryStatus.SUSPENDED
    assert tl.is_trusted(AGENCY, LP, T0 + timedelta(days=36))
    assert tl.status_at(AGENCY, LP, T0 - timedelta(days=1)) is None  # not listed yet
    assert not tl.is_trusted(AGENCY, CERT, T0 + timedelta(days=1))  # not for that type
    assert not tl.is_trusted("did:web:stranger.example", LP, T0 + timedelta(days=1))


def test_check_applies_types_history_and_constraints() -> None:
    tl = TrustList(document())
    now = T0 + timedelta(days=40)
    fr = {"credentialSubject": {"gx:legalAddress": {"gx:countryCode": "FR"}}}
    de = {"credentialSubject": {"gx:legalAddress": {"gx:countryCode": "DE"}}}
    assert "trusted for gx:LegalPerson" in tl.check(
        AGENCY, [LP], issued_at=T0 + timedelta(days=2), now=now, credential=fr
    )
    cases = [
        ([LP], T0 + timedelta(days=31), fr, "was suspended"),
        ([LP, CERT], T0 + timedelta(days=2), fr, "not listed for ancre:Certification"),
        ([LP], T0 + timedelta(days=2), de, "only with"),
        ([], T0 + timedelta(days=2), fr, "names no type"),
    ]
    for types, issued, credential, message in cases:
        with pytest.raises(InvalidError) as err:
            tl.check(AGENCY, types, issued_at=issued, now=now, credential=credential)
        assert err.value.code is Code.ISSUER_NOT_TRUSTED
        assert message in err.value.message


def test_withdrawn_now_defeats_earlier_trust() -> None:
    doc = document()
    agency = doc.entities[0]
    lp = agency.services[0]
    withdrawn = TrustedService(
        LP, (*lp.history, StatusPeriod(EntryStatus.WITHDRAWN, T0 + timedelta(days=38)))
    )
    tl = TrustList(
        TrustListDocument(
            **{
                **{f: getattr(doc, f) for f in doc.__slots__},
                "entities": (TrustedEntity(AGENCY, "A", (withdrawn,)),),
            }
        )
    )
    assert tl.is_trusted(AGENCY, LP, T0 + timedelta(days=2))
    with pytest.raises(InvalidError, match="withdrawn"):
        tl.check(AGENCY, [LP], issued_at=T0 + timedelta(days=2), now=T0 + timedelta(days=39))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["LoTE"]["ListAndSchemeInformation"].update(LoTESequenceNumber=0),
        lambda d: d["LoTE"]["ListAndSchemeInformation"].update(LoTEVersionIdentifier=2),
        lambda d: d["LoTE"]["ListAndSchemeInformation"].update(NextUpdate="tomorrow"),
        lambda d: d["LoTE"]["TrustedEntitiesList"].append(d["LoTE"]["TrustedEntitiesList"][0]),
        lambda d: d["LoTE"]["TrustedEntitiesList"][0]["TrustedEntityServices"][0][
            "ServiceHistory"
        ].reverse(),
        lambda d: d["LoTE"]["TrustedEntitiesList"][0]["TrustedEntityServices"][0][
            "ServiceInformation"
        ].update(ServiceStatus="urn:ancre:trust-list:status:revoked"),
        lambda d: d["LoTE"].pop("TrustedEntitiesList"),
    ],
)
def test_malformed_lists_are_refused(mutate: object) -> None:
    doc = document().to_json()
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(InvalidError) as err:
        TrustListDocument.from_json(doc)
    assert err.value.code is Code.TRUST_LIST_INVALID


def _registry() -> Issuer:
    return Issuer.new("p256")


def test_signed_publication_and_verification() -> None:
    registry = _registry()
    token = sign_trust_list(
        document(sequence=7), registry.key, kid=registry.kid, issuer=registry.did
    )
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header["typ"] == "trust-list+jwt"
    clock = FixedClock(T0 + timedelta(days=40, hours=1))
    resolver = default_resolver()
    tl = verify_trust_list(
        token, registry=registry.did, resolver=resolver, clock=clock, min_sequence=7
    )
    assert tl.sequence == 7
    assert tl.is_trusted(AGENCY, LP, T0 + timedelta(days=1))
    # Same state, same payload: publication is deterministic.
    again = sign_trust_list(
        document(sequence=7), registry.key, kid=registry.kid, issuer=registry.did
    )
    assert again.split(".")[1] == token.split(".")[1]


def test_tampered_wrong_signer_rollback_and_stale() -> None:
    registry, stranger = _registry(), _registry()
    resolver = default_resolver()
    clock = FixedClock(T0 + timedelta(days=40, hours=1))
    token = sign_trust_list(
        document(sequence=7), registry.key, kid=registry.kid, issuer=registry.did
    )
    head, body, sig = token.split(".")
    payload = json.loads(b64url_decode(body))
    payload["LoTE"]["TrustedEntitiesList"][0]["TrustedEntityInformation"][
        "TEInformationExtensions"
    ]["ancre:entityId"] = "did:web:evil.example"
    tampered = f"{head}.{b64url_encode(json.dumps(payload).encode())}.{sig}"
    cases = [
        (tampered, registry.did, None, Code.TRUST_LIST_INVALID),
        (
            sign_trust_list(document(), stranger.key, kid=stranger.kid, issuer=stranger.did),
            registry.did,
            None,
            Code.TRUST_LIST_INVALID,
        ),
        (token, registry.did, 8, Code.TRUST_LIST_ROLLBACK),
    ]
    for tok, expected_registry, min_seq, code in cases:
        with pytest.raises(InvalidError) as err:
            verify_trust_list(
                tok,
                registry=expected_registry,
                resolver=resolver,
                clock=clock,
                min_sequence=min_seq,
            )
        assert err.value.code is code
    with pytest.raises(IndeterminateError) as stale:
        verify_trust_list(
            token,
            registry=registry.did,
            resolver=resolver,
            clock=FixedClock(T0 + timedelta(days=42)),
        )
    assert stale.value.code is Code.TRUST_LIST_STALE
    forged = sign_compact(
        {"kid": registry.kid, "typ": "JWT"},
        json.dumps(document().to_json()).encode(),
        registry.key,
    )
    with pytest.raises(InvalidError) as typ:
        verify_trust_list(forged, registry=registry.did, resolver=resolver, clock=clock)
    assert typ.value.code is Code.TRUST_LIST_INVALID


def test_constraint_paths_through_arrays() -> None:
    c = ClaimConstraint("credentialSubject.gx:countryCode", ("FR", "BE"))
    assert c.satisfied_by(
        {"credentialSubject": [{"gx:countryCode": "FR"}, {"gx:countryCode": "BE"}]}
    )
    assert not c.satisfied_by(
        {"credentialSubject": [{"gx:countryCode": "FR"}, {"gx:countryCode": "DE"}]}
    )
    assert not c.satisfied_by({"credentialSubject": {}})
    assert not c.satisfied_by({"credentialSubject": {"gx:countryCode": 33}})


def test_verification_consults_the_trust_list_per_type_and_time() -> None:
    # A verifier's view: the agency signs credentials; the trust list decides.
    from _support import credential as vc

    from ancre.trust.jose.vc_jose import issue_vc_jwt
    from ancre.trust.policy import VerificationPolicy
    from ancre.trust.result import Status
    from ancre.verifier.pipeline import verify

    NO_SCHEMA = VerificationPolicy(check_schema=False)  # noqa: N806
    agency = Issuer.new("ed25519")
    base = document()
    entity = TrustedEntity(agency.did, "Agence", base.entities[0].services)
    tl = TrustList(
        TrustListDocument(
            **{**{f: getattr(base, f) for f in base.__slots__}, "entities": (entity,)}
        )
    )
    resolver = default_resolver()
    now = FixedClock(T0 + timedelta(days=40))
    address = {"gx:legalAddress": {"gx:countryCode": "FR"}}

    def token(
        types: list[str], valid_from: datetime, subject: dict[str, object] | None = None
    ) -> str:
        doc = vc(
            agency.did,
            type=["VerifiableCredential", *types],
            validFrom=valid_from.isoformat().replace("+00:00", "Z"),
            validUntil="2027-01-01T00:00:00Z",
            credentialSubject={"id": "did:example:org", **(subject or address)},
        )
        return issue_vc_jwt(doc, agency.key, agency.kid)

    def outcome(tok: str) -> tuple[Status, str | None]:
        # Schemas are not what this test is about: trust is.
        result = verify(tok, resolver=resolver, clock=now, trust=tl, policy=NO_SCHEMA)
        return result.status, (result.errors[0].code if result.errors else None)

    assert outcome(token([LP], T0 + timedelta(days=2))) == (Status.VALID, None)
    assert outcome(token([LP], T0 + timedelta(days=31))) == (
        Status.INVALID,
        "issuer_not_trusted",
    )  # issued while suspended
    assert outcome(token([CERT], T0 + timedelta(days=2))) == (
        Status.INVALID,
        "issuer_not_trusted",
    )  # not accredited for it
    de = {"gx:legalAddress": {"gx:countryCode": "DE"}}
    assert outcome(token([LP], T0 + timedelta(days=2), de)) == (
        Status.INVALID,
        "issuer_not_trusted",
    )  # constraint
    ok = verify(
        token([LP], T0 + timedelta(days=2)),
        resolver=resolver,
        clock=now,
        trust=tl,
        policy=NO_SCHEMA,
    )
    trust = next(c for c in ok.checks if c.step.value == "trust")
    assert "trust list #1" in trust.message


def test_the_state_file_is_never_lowered(tmp_path: object) -> None:
    """Two processes accepting #7 and #6 at about the same time must leave 7 (the file is
    raised under a lock, not overwritten by the last writer)."""
    from pathlib import Path

    from ancre.trust.trust_list.client import _raise_state

    state = Path(str(tmp_path)) / "seq"
    assert _raise_state(str(state), 7) == 7
    assert _raise_state(str(state), 6) == 7
    assert state.read_text() == "7\n"
    assert _raise_state(str(state), 8) == 8


def test_state_file_and_state_dir_are_exclusive(tmp_path: object) -> None:
    from ancre.trust.errors import ConfigurationError
    from ancre.trust.trust_list.client import TrustListClient

    with pytest.raises(ConfigurationError):
        TrustListClient(
            "list.jwt",
            registry="did:web:registry.example",
            resolver=default_resolver(),
            clock=FixedClock(T0),
            state_file=f"{tmp_path}/a",
            state_dir=f"{tmp_path}/b",
        )


def test_a_sequence_that_cannot_be_recorded_is_not_accepted(tmp_path: object) -> None:
    """Fail closed: a list whose sequence the state file cannot keep would be forgotten at the
    next restart, so it is not accepted — indeterminate, not a traceback."""
    from pathlib import Path

    from ancre.trust.trust_list.client import TrustListClient

    registry = _registry()
    folder = Path(str(tmp_path))
    saved = folder / "list.jwt"
    saved.write_text(
        sign_trust_list(document(sequence=3), registry.key, kid=registry.kid, issuer=registry.did)
    )
    (folder / "seq.lock").mkdir()  # the lock file cannot be opened (even by root)
    client = TrustListClient(
        str(saved),
        registry=registry.did,
        resolver=default_resolver(),
        clock=FixedClock(T0 + timedelta(days=40, hours=1)),
        state_file=str(folder / "seq"),
    )
    with pytest.raises(IndeterminateError) as error:
        client.current()
    assert error.value.code is Code.TRUST_LIST_UNAVAILABLE
    assert "cannot record the trust-list sequence" in error.value.message
