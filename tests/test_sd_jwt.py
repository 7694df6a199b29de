"""SD-JWT (RFC 9901): the RFC's own examples as vectors, issue/present/verify round trips, the
negative suite (one stable code per attack), a property test of selective disclosure, and
interop with the `sd_jwt` reference package in both directions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _support import NOW, vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import Code, ConfigurationError, MalformedError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import PrivateKey, PublicKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.disclosure import MAX_DISCLOSURES, Disclosure
from ancre.trust.sd_jwt.issue import SdJwt, issue_sd_jwt
from ancre.trust.sd_jwt.present import present
from ancre.trust.sd_jwt.verify import parse_sd_jwt, verify_sd_jwt

RFC = vectors("rfc9901.json")
RFC_ISSUER = PublicKey.from_jwk(RFC["issuer_public_jwk"])
RFC_HOLDER = PrivateKey.from_jwk({**RFC["holder_public_jwk"], "d": RFC["holder_private_d"]})
RFC_KB = RFC["key_binding"]
AUD, NONCE = "https://verifier.example", "n-0S6_WzA2Mj"
POLICY = VerificationPolicy(audience=AUD, nonce=NONCE)


def _payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64url_decode(token.split("~")[0].split(".")[1]))
    return payload


def _codes(result: VerificationResult) -> list[str | None]:
    return [c.code for c in result.errors]


# ------------------------------------------------------------------------------------------
# RFC 9901 vectors


@pytest.mark.parametrize(
    "case", RFC["disclosures"], ids=lambda c: f"{c['section']}-{c['claim'] or 'element'}"
)
def test_rfc_disclosure_digest(case: dict[str, Any]) -> None:
    disclosure = Disclosure.decode(case["disclosure"])
    assert disclosure.digest("sha-256") == case["digest"]
    contents = case["contents"]
    assert disclosure.salt == contents[0]
    assert disclosure.name == (contents[1] if len(contents) == 3 else None)
    assert disclosure.value == contents[-1]


@pytest.mark.parametrize(
    "case", RFC["sd_jwts"], ids=lambda c: f"{c['section']}-{'kb' if c['key_binding'] else 'sd'}"
)
def test_rfc_sd_jwt_verifies_to_the_rfc_payload(case: dict[str, Any]) -> None:
    policy = VerificationPolicy(
        audience=RFC_KB["aud"],
        nonce=RFC_KB["nonce"],
        # The RFC's issued forms carry `cnf` and no KB-JWT (they are what the holder keeps).
        require_key_binding=case["key_binding"],
    )
    clock = FixedClock(datetime.fromtimestamp(RFC_KB["iat"], UTC) + timedelta(seconds=30))
    result = verify_sd_jwt(case["token"], issuer_key=RFC_ISSUER, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential == case["processed"]
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert ("sd_hash matches" in binding.message) is case["key_binding"]


def test_rfc_key_binding_jwt_fails_for_another_verifier() -> None:
    case = next(c for c in RFC["sd_jwts"] if c["section"] == "5.2")
    clock = FixedClock(datetime.fromtimestamp(RFC_KB["iat"], UTC))
    policy = VerificationPolicy(audience="https://other.example", nonce=RFC_KB["nonce"])
    result = verify_sd_jwt(case["token"], issuer_key=RFC_ISSUER, clock=clock, policy=policy)
    assert _codes(result) == [Code.AUDIENCE_MISMATCH]
    # ...and the RFC's KB-JWT is long past the default 5 minutes a year later.
    late = FixedClock(datetime.fromtimestamp(RFC_KB["iat"], UTC) + timedelta(days=365))
    result = verify_sd_jwt(
        case["token"], issuer_key=RFC_ISSUER, clock=late, policy=replace(policy, audience=None)
    )
    assert _codes(result) == [Code.KEY_BINDING_TOO_OLD]


def test_rfc_issuer_key_is_required() -> None:
    case = RFC["sd_jwts"][1]
    other = PrivateKey.generate("p256").public_key
    result = verify_sd_jwt(case["token"], issuer_key=other, clock=FixedClock(NOW))
    assert _codes(result) == [Code.SIGNATURE_INVALID]


def test_rfc_issuance_presented_again_by_ancre() -> None:
    """The holder side on the RFC's own SD-JWT: selecting the claims of §5.2 picks the
    RFC's four disclosures, and the result verifies to the RFC's processed payload."""
    issued = next(c for c in RFC["sd_jwts"] if c["section"] == "5.1")
    expected = next(c for c in RFC["sd_jwts"] if c["section"] == "5.2")
    clock = FixedClock(NOW)
    token = present(
        issued["token"],
        ["/given_name", "/family_name", "/address", "/nationalities/0"],
        holder_key=RFC_HOLDER,
        audience=AUD,
        nonce=NONCE,
        clock=clock,
    )
    assert set(token.split("~")[1:-1]) == set(expected["token"].split("~")[1:-1])
    result = verify_sd_jwt(token, issuer_key=RFC_ISSUER, clock=clock, policy=POLICY)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential == expected["processed"]


def test_rfc_processed_claims_equal_the_input() -> None:
    for case in RFC["sd_jwts"]:
        if "input_claims" in case:
            claims = SdJwt.parse(case["token"]).unverified_claims()
            assert {k: v for k, v in claims.items() if k in case["input_claims"]} == case[
                "input_claims"
            ]


# ------------------------------------------------------------------------------------------
# issuance, presentation, verification


@dataclass
class Party:
    issuer: PrivateKey
    holder: PrivateKey
    clock: FixedClock

    def claims(self, **extra: Any) -> dict[str, Any]:
        return {
            "iss": "https://issuer.example",
            "iat": int(NOW.timestamp()) - 60,
            "exp": int(NOW.timestamp()) + 3600,
            "cnf": {"jwk": self.holder.public_key.to_jwk()},
            "given_name": "Marie",
            "family_name": "Curie",
            "email": "marie@example.fr",
            "address": {"street_address": "11 rue Pierre et Marie Curie", "locality": "Paris"},
            "nationalities": ["PL", "FR"],
            **extra,
        }

    def issue(self, **kwargs: Any) -> SdJwt:
        disclosable = kwargs.pop(
            "disclosable",
            [
                "/given_name",
                "/family_name",
                "/email",
                "/address",
                "/address/street_address",
                "/address/locality",
                "/nationalities/*",
            ],
        )
        return issue_sd_jwt(self.claims(), self.issuer, disclosable=disclosable, **kwargs)

    def present(self, sd_jwt: SdJwt | str, disclose: list[str], **kwargs: Any) -> str:
        options: dict[str, Any] = {
            "holder_key": self.holder,
            "audience": AUD,
            "nonce": NONCE,
            "clock": self.clock,
        }
        options.update(kwargs)
        return present(sd_jwt, disclose, **options)

    def verify(self, token: str, policy: VerificationPolicy = POLICY) -> VerificationResult:
        return verify_sd_jwt(
            token, issuer_key=self.issuer.public_key, clock=self.clock, policy=policy
        )


@pytest.fixture(params=["ed25519", "p256", "p384"])
def party(request: pytest.FixtureRequest) -> Party:
    return Party(
        PrivateKey.generate(request.param), PrivateKey.generate(request.param), FixedClock(NOW)
    )


@pytest.fixture
def ed() -> Party:
    return Party(PrivateKey.generate("ed25519"), PrivateKey.generate("p256"), FixedClock(NOW))


def test_round_trip_with_key_binding(party: Party) -> None:
    issued = party.issue()
    assert len(issued.disclosures) == 8
    token = party.present(issued, ["/given_name", "/address/locality", "/nationalities/1"])
    result = party.verify(token)
    assert result.status is Status.VALID, result.to_json()
    assert [c.step for c in result.checks] == [
        Step.PARSE, Step.SIGNATURE, Step.TIME, Step.HOLDER_BINDING,
    ]  # fmt: skip
    assert result.credential == {
        "iss": "https://issuer.example",
        "iat": int(NOW.timestamp()) - 60,
        "exp": int(NOW.timestamp()) + 3600,
        "cnf": {"jwk": party.holder.public_key.to_jwk()},
        "given_name": "Marie",
        # The parent `address` disclosure comes with the nested `locality`, not its sibling.
        "address": {"locality": "Paris"},
        "nationalities": ["FR"],
    }
    kb_header = json.loads(b64url_decode(token.rsplit("~", 1)[1].split(".")[0]))
    assert kb_header == {"alg": party.holder.alg, "typ": "kb+jwt"}


def test_issued_payload_hides_names_and_sorts_digests(ed: Party) -> None:
    issued = ed.issue(decoys=5)
    payload = _payload(issued.serialize())
    assert payload["_sd_alg"] == "sha-256"
    for hidden in ("given_name", "family_name", "email", "address"):
        assert hidden not in payload
    assert payload["_sd"] == sorted(payload["_sd"])
    assert 4 <= len(payload["_sd"]) <= 4 + 5
    assert all(set(e) == {"..."} for e in payload["nationalities"])
    # Each salt is 128 random bits, base64url (RFC 9901 §4.2.1).
    assert all(len(b64url_decode(d.salt)) == 16 for d in issued.disclosures)
    assert str(issued).endswith("~")
    assert str(issued).count("~") == 9


class _Counting:
    """A deterministic stand-in for `secrets` (salts must differ; the decoy count is fixed)."""

    def __init__(self, decoys: int) -> None:
        self.n = 0
        self.decoys = decoys

    def token_bytes(self, nbytes: int) -> bytes:
        self.n += 1
        return self.n.to_bytes(nbytes, "big")

    def randbelow(self, bound: int) -> int:
        return min(self.decoys, bound - 1)


def test_decoys_per_object_and_digest_algorithms(ed: Party) -> None:
    issued = ed.issue(decoys=3, salt_source=_Counting(3), digest_alg="sha-512")
    payload = _payload(issued.serialize())
    assert payload["_sd_alg"] == "sha-512"
    assert len(payload["_sd"]) == 4 + 3
    assert all(len(b64url_decode(d)) == 64 for d in payload["_sd"])
    address = next(d for d in issued.disclosures if d.name == "address")
    assert len(address.value["_sd"]) == 2 + 3
    token = ed.present(issued, ["/address"])
    result = ed.verify(token)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential is not None
    assert result.credential["address"] == ed.claims()["address"]
    refused = ed.verify(token, replace(POLICY, sd_jwt_digest_algs=frozenset({"sha-256"})))
    assert _codes(refused) == [Code.DIGEST_ALG_NOT_ALLOWED]


def test_present_without_key_binding_and_disclose_all(ed: Party) -> None:
    issued = ed.issue()
    token = present(issued, ["/*"])
    assert token.endswith("~")
    assert token == issued.serialize()
    result = ed.verify(token, replace(POLICY, require_key_binding=False))
    assert result.status is Status.VALID, result.to_json()
    assert result.credential == ed.claims()
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert "not required" in binding.message
    # Nothing disclosed: only the plain claims, and the array keeps no placeholder.
    bare = present(issued.serialize(), [])
    assert bare == issued.jwt + "~"
    result = ed.verify(bare, replace(POLICY, require_key_binding=False))
    assert result.credential is not None
    assert set(result.credential) == {"iss", "iat", "exp", "cnf", "nationalities"}
    assert result.credential["nationalities"] == []


def test_bearer_sd_jwt_needs_no_key_binding(ed: Party) -> None:
    claims = {"iss": "https://issuer.example", "email": "a@b.example"}
    issued = issue_sd_jwt(claims, ed.issuer, disclosable=["/email"])
    result = ed.verify(present(issued, ["/email"]), VerificationPolicy())
    assert result.status is Status.VALID, result.to_json()
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert "bearer" in binding.message
    # A bearer token proves no freshness: asked for a nonce or an audience (key binding not
    # waived), it is refused rather than passing as if bound.
    for bound in (VerificationPolicy(nonce=NONCE), VerificationPolicy(audience=AUD), POLICY):
        refused = ed.verify(present(issued, ["/email"]), bound)
        assert refused.status is Status.INVALID, refused.to_json()
        assert refused.errors[0].code is Code.KEY_BINDING_MISSING
    waived = ed.verify(present(issued, ["/email"]), replace(POLICY, require_key_binding=False))
    assert waived.status is Status.VALID, waived.to_json()


def test_recursive_disclosures_and_arrays_of_objects(ed: Party) -> None:
    claims = {
        "iss": "https://issuer.example",
        "cnf": {"jwk": ed.holder.public_key.to_jwk()},
        "roles": [{"org": "A", "role": "CEO"}, {"org": "B", "role": "CFO"}, "plain"],
        "deep": {"a": {"b": {"c": [1, 2, {"d": "x"}]}}},
    }
    issued = issue_sd_jwt(
        claims,
        ed.issuer,
        disclosable=["/roles/0", "/roles/1", "/roles/1/role", "/deep/a", "/deep/a/b/c/2/d"],
    )
    token = ed.present(issued, ["/roles/1/role", "/deep/a/b/c/2/d"])
    result = ed.verify(token)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential is not None
    assert result.credential["roles"] == [{"org": "B", "role": "CFO"}, "plain"]
    assert result.credential["deep"] == {"a": {"b": {"c": [1, 2, {"d": "x"}]}}}
    partial = ed.verify(ed.present(issued, ["/roles/1/org"]))
    assert partial.credential is not None
    assert partial.credential["roles"] == [{"org": "B"}, "plain"]
    assert partial.credential["deep"] == {}


def test_verification_time_checks(ed: Party) -> None:
    token = ed.present(ed.issue(), ["/email"])
    late = replace(ed, clock=FixedClock(NOW + timedelta(hours=2)))
    assert _codes(late.verify(token)) == [Code.EXPIRED]
    old = ed.verify(token, replace(POLICY, max_credential_age=timedelta(seconds=10)))
    assert _codes(old) == [Code.CREDENTIAL_TOO_OLD]


def test_unverified_claims_and_parse(ed: Party) -> None:
    issued = ed.issue()
    again = SdJwt.parse(issued.serialize())
    assert again == issued
    assert again.unverified_claims() == ed.claims()
    with pytest.raises(MalformedError) as info:
        SdJwt.parse(ed.present(issued, ["/email"]))
    assert info.value.code is Code.MALFORMED_TOKEN


@pytest.mark.parametrize(
    ("claims", "disclosable", "needle"),
    [
        ({"_sd": ["x"]}, [], "reserved"),
        ({"a": {"_sd_alg": "sha-256"}}, [], "reserved"),
        ({"a": [{"...": "x"}]}, [], "reserved"),
        ({"a": 1}, ["/b"], "no claim at /b"),
        ({"a": [1]}, ["/a/1"], "no claim at /a/1"),
        ({"a": 1}, "/a", "not one string"),
        ({"a": 1}, ["a"], "JSON Pointer"),
        ({"iss": "x"}, ["/iss"], "must not be selectively disclosable"),
    ],
)
def test_issuance_refuses(ed: Party, claims: dict[str, Any], disclosable: Any, needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        issue_sd_jwt(claims, ed.issuer, disclosable=disclosable, plain_claims={"iss"})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"decoys": -1}, "decoys"), ({"decoys": True}, "decoys"), ({"digest_alg": "md5"}, "md5")],
)
def test_issuance_refuses_options(ed: Party, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        issue_sd_jwt({"a": 1}, ed.issuer, disclosable=["/a"], **kwargs)


def test_issuance_refuses_non_json_claims(ed: Party) -> None:
    for claims in ({"when": NOW}, {"x": float("nan")}, {"tags": {1, 2}}):
        with pytest.raises(ConfigurationError, match="JSON data"):
            issue_sd_jwt(claims, ed.issuer, disclosable=[f"/{next(iter(claims))}"])
    with pytest.raises(ConfigurationError, match="unknown digest"):
        Disclosure.create("salt", "a", 1).digest("md5")
    with pytest.raises(ConfigurationError, match="may not be named"):
        Disclosure.create("salt", "_sd", 1)


def test_presentation_refuses(ed: Party) -> None:
    issued = ed.issue()
    with pytest.raises(ConfigurationError, match="no claim at /phone"):
        present(issued, ["/phone"])
    with pytest.raises(ConfigurationError, match="together"):
        present(issued, ["/email"], holder_key=ed.holder, audience=AUD)
    with pytest.raises(ConfigurationError, match="not one string"):
        present(issued, "/email")
    with pytest.raises(ConfigurationError, match="no claim at /email/x"):
        present(issued, ["/email/x"])
    with pytest.raises(ConfigurationError, match="no claim at /nationalities/7"):
        present(issued, ["/nationalities/7"])
    # A wildcard over an empty array selects nothing; a plain claim needs no disclosure.
    empty = issue_sd_jwt({"tags": [], "iss": "x:y"}, ed.issuer, disclosable=[])
    assert present(empty, ["/tags/*", "/iss"]) == empty.jwt + "~"


def test_json_pointer_escapes(ed: Party) -> None:
    claims = {"iss": "https://issuer.example", "a/b": 1, "c~d": 2}
    issued = issue_sd_jwt(claims, ed.issuer, disclosable=["/a~1b", "/c~0d"])
    assert {d.name for d in issued.disclosures} == {"a/b", "c~d"}
    result = ed.verify(present(issued, ["/a~1b"]))
    assert result.credential == {"iss": "https://issuer.example", "a/b": 1}


# ------------------------------------------------------------------------------------------
# the negative suite: each case must fail with exactly one code


def _sign(party: Party, payload: dict[str, Any], key: PrivateKey | None = None) -> str:
    return sign_compact(
        {"typ": "example+sd-jwt"}, dumps_compact(payload).encode(), key or party.issuer
    )


def _forge(party: Party, payload: dict[str, Any], disclosures: list[str]) -> str:
    return "~".join([_sign(party, payload), *disclosures, ""])


def _kb(party: Party, presented: str, *, key: PrivateKey | None = None, **overrides: Any) -> str:
    from ancre.trust.sd_jwt.disclosure import _digest

    claims: dict[str, Any] = {
        "iat": int(party.clock.now().timestamp()),
        "aud": AUD,
        "nonce": NONCE,
        "sd_hash": _digest("sha-256", presented),
    }
    header = overrides.pop("header", {"typ": "kb+jwt"})
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return presented + sign_compact(header, dumps_compact(claims).encode(), key or party.holder)


def _d(*array: Any) -> str:
    return b64url_encode(json.dumps(list(array)).encode())


def _raw(value: Any) -> str:
    return b64url_encode(json.dumps(value).encode())


def _with_sd(party: Party, payload: dict[str, Any], *disclosures: str) -> str:
    from ancre.trust.sd_jwt.disclosure import _digest

    payload = {**payload, "_sd": sorted(_digest("sha-256", d) for d in disclosures)}
    return _forge(party, payload, list(disclosures))


BASE: dict[str, Any] = {"iss": "https://issuer.example", "_sd_alg": "sha-256"}


def _tampered(p: Party) -> str:
    issued = p.issue()
    token = present(issued, ["/email"])
    jwt, disclosure, _ = token.split("~")
    salt, name, _ = json.loads(b64url_decode(disclosure))
    return f"{jwt}~{_d(salt, name, 'mallory@example.com')}~"


def _replayed(p: Party) -> str:
    other = p.issue()  # the same claims, another issuance: its disclosures are not signed here
    token = present(p.issue(), [])
    stolen = next(d for d in other.disclosures if d.name == "email")
    return f"{token}{stolen.encoded}~"


def _unreferenced(p: Party) -> str:
    return present(p.issue(), ["/email"]) + _d("c2FsdA", "admin", True) + "~"


def _duplicate_in_sd(p: Party) -> str:
    from ancre.trust.sd_jwt.disclosure import _digest

    d = _d("salt-1", "email", "a@b.example")
    return _forge(p, {**BASE, "_sd": [_digest("sha-256", d)] * 2}, [d])


def _duplicate_nested(p: Party) -> str:
    from ancre.trust.sd_jwt.disclosure import _digest

    d = _d("salt-1", "x")
    digest = _digest("sha-256", d)
    return _forge(p, {**BASE, "a": [{"...": digest}], "b": [{"...": digest}]}, [d])


def _duplicate_undisclosed(p: Party) -> str:
    # A digest repeated with no disclosure for it (a decoy placed twice) is still refused.
    return _forge(p, {**BASE, "_sd": ["x" * 43, "x" * 43]}, [])


def _same_disclosure_twice(p: Party) -> str:
    token = present(p.issue(), ["/email"])
    jwt, disclosure, _ = token.split("~")
    return f"{jwt}~{disclosure}~{disclosure}~"


def _sd_alg(alg: str) -> Callable[[Party], str]:
    def case(p: Party) -> str:
        d = _d("salt-1", "email", "a@b.example")
        return _forge(p, {"iss": "https://issuer.example", "_sd_alg": alg, "_sd": ["x" * 27]}, [d])

    return case


def _bad_disclosure(encoded: str) -> Callable[[Party], str]:
    def case(p: Party) -> str:
        return present(p.issue(), ["/email"]) + encoded + "~"

    return case


def _name_already_present(p: Party) -> str:
    return _with_sd(p, {**BASE, "email": "plain@example.com"}, _d("s", "email", "x@example.com"))


def _element_in_sd(p: Party) -> str:
    return _with_sd(p, dict(BASE), _d("s", "an element"))


def _property_in_array(p: Party) -> str:
    from ancre.trust.sd_jwt.disclosure import _digest

    d = _d("s", "name", "value")
    return _forge(p, {**BASE, "a": [{"...": _digest("sha-256", d)}]}, [d])


def _sd_not_array(p: Party) -> str:
    return _forge(p, {**BASE, "_sd": "digest"}, [])


def _digest_not_string(p: Party) -> str:
    return _forge(p, {**BASE, "a": [{"...": 42}]}, [])


def _nested_sd_alg(p: Party) -> str:
    return _forge(p, {**BASE, "a": {"_sd_alg": "sha-256"}}, [])


def _deep_chain(p: Party) -> str:
    from ancre.trust.sd_jwt.disclosure import _digest

    # 100 disclosures, each holding the digest of the next: each JSON document is shallow,
    # the claims they build are not.
    disclosures = [_d("s0", "leaf", 1)]
    for i in range(1, 100):
        disclosures.append(_d(f"s{i}", f"n{i}", {"_sd": [_digest("sha-256", disclosures[-1])]}))
    return _forge(p, {**BASE, "_sd": [_digest("sha-256", disclosures[-1])]}, disclosures)


def _too_many(p: Party) -> str:
    return present(p.issue(), []) + "~".join(_d(f"s{i}", f"c{i}", i) for i in range(257)) + "~"


def _too_large(p: Party) -> str:
    return present(p.issue(), []) + _d("s", "blob", "x" * 300_000) + "~"


def _no_tilde(p: Party) -> str:
    return p.issue().jwt


def _empty_disclosure(p: Party) -> str:
    return present(p.issue(), ["/email"]) + "~"


def _bad_signature(p: Party) -> str:
    token = present(p.issue(), ["/email"])
    jwt, rest = token.split("~", 1)
    head, body, sig = jwt.split(".")
    flipped = bytearray(b64url_decode(sig))
    flipped[0] ^= 1
    return f"{head}.{body}.{b64url_encode(bytes(flipped))}~{rest}"


def _other_issuer(p: Party) -> str:
    intruder = PrivateKey.generate("ed25519")
    issued = issue_sd_jwt(p.claims(), intruder, disclosable=["/email"])
    return present(issued, ["/email"])


def _presented(p: Party) -> str:
    return present(p.issue(), ["/email", "/given_name"])


def _kb_case(**overrides: Any) -> Callable[[Party], str]:
    def case(p: Party) -> str:
        return _kb(p, _presented(p), **overrides)

    return case


def _kb_other_key(p: Party) -> str:
    return _kb(p, _presented(p), key=PrivateKey.generate("p256"))


def _kb_dropped_disclosure(p: Party) -> str:
    # The holder bound the KB-JWT to two disclosures; someone drops one on the way.
    token = p.present(p.issue(), ["/email", "/given_name"])
    parts = token.split("~")
    return "~".join([parts[0], parts[2], parts[3]])


def _kb_added_disclosure(p: Party) -> str:
    issued = p.issue()
    token = p.present(issued, ["/email"])
    extra = next(d for d in issued.disclosures if d.name == "given_name").encoded
    head, kb = token.rsplit("~", 1)
    return f"{head}~{extra}~{kb}"


def _kb_missing(p: Party) -> str:
    return _presented(p)


def _kb_without_cnf(p: Party) -> str:
    claims = {k: v for k, v in p.claims().items() if k != "cnf"}
    issued = issue_sd_jwt(claims, p.issuer, disclosable=["/email"])
    return _kb(p, present(issued, ["/email"]))


def _kb_alg_none(p: Party) -> str:
    presented = _presented(p)
    from ancre.trust.sd_jwt.disclosure import _digest

    claims: dict[str, Any] = {"iat": int(NOW.timestamp()), "aud": AUD, "nonce": NONCE}
    claims["sd_hash"] = _digest("sha-256", presented)
    return presented + f"{_raw({'alg': 'none', 'typ': 'kb+jwt'})}.{_raw(claims)}."


def _at(minutes: int) -> int:
    return int((NOW + timedelta(minutes=minutes)).timestamp())


P, S, H = Step.PARSE, Step.SIGNATURE, Step.HOLDER_BINDING
BAD = Code.DISCLOSURE_INVALID
KB_BAD = Code.KEY_BINDING_INVALID
_DUP_KEYS = b64url_encode(b'["s","a",{"k":1,"k":2}]')

NEGATIVE: list[tuple[str, Callable[[Party], str], Code, Step]] = [
    ("disclosure tampered", _tampered, Code.DISCLOSURE_UNREFERENCED, S),
    ("disclosure replayed from another token", _replayed, Code.DISCLOSURE_UNREFERENCED, S),
    ("disclosure not referenced", _unreferenced, Code.DISCLOSURE_UNREFERENCED, S),
    ("duplicate digest in _sd", _duplicate_in_sd, Code.DUPLICATE_DIGEST, S),
    ("duplicate digest in two arrays", _duplicate_nested, Code.DUPLICATE_DIGEST, S),
    ("duplicate undisclosed digest", _duplicate_undisclosed, Code.DUPLICATE_DIGEST, S),
    ("same disclosure sent twice", _same_disclosure_twice, Code.DUPLICATE_DIGEST, S),
    ("_sd_alg md5", _sd_alg("md5"), Code.DIGEST_ALG_NOT_ALLOWED, S),
    ("_sd_alg sha-1", _sd_alg("sha-1"), Code.DIGEST_ALG_NOT_ALLOWED, S),
    ("_sd_alg not a string", _sd_alg(256), Code.DIGEST_ALG_NOT_ALLOWED, S),  # type: ignore[arg-type]
    ("disclosure not an array", _bad_disclosure(_raw({"salt": "s"})), BAD, P),
    ("disclosure of one element", _bad_disclosure(_d("s")), BAD, P),
    ("disclosure of four elements", _bad_disclosure(_d("s", "a", 1, 2)), BAD, P),
    ("disclosure named _sd", _bad_disclosure(_d("s", "_sd", ["x"])), BAD, P),
    ("disclosure named ...", _bad_disclosure(_d("s", "...", "x")), BAD, P),
    ("disclosure salt not a string", _bad_disclosure(_d(1, "a", 1)), BAD, P),
    ("disclosure name not a string", _bad_disclosure(_d("s", 7, 1)), BAD, P),
    ("disclosure not base64url", _bad_disclosure("WyJzIi+wIFsx"), BAD, P),
    ("disclosure not JSON", _bad_disclosure(b64url_encode(b"[salt")), BAD, P),
    ("disclosure with duplicate keys", _bad_disclosure(_DUP_KEYS), BAD, P),
    ("empty disclosure (~~)", _empty_disclosure, BAD, P),
    ("claim both plain and disclosed", _name_already_present, BAD, S),
    ("array element referenced from _sd", _element_in_sd, BAD, S),
    ("property referenced from an array", _property_in_array, BAD, S),
    ("_sd not an array", _sd_not_array, BAD, S),
    ("digest not a string", _digest_not_string, BAD, S),
    ("_sd_alg below the top level", _nested_sd_alg, BAD, S),
    ("disclosures nested too deep", _deep_chain, Code.JSON_TOO_DEEP, S),
    ("too many disclosures", _too_many, Code.INPUT_TOO_LARGE, P),
    ("token too large", _too_large, Code.INPUT_TOO_LARGE, P),
    ("no ~ at all", _no_tilde, Code.MALFORMED_TOKEN, P),
    ("issuer signature bad", _bad_signature, Code.SIGNATURE_INVALID, S),
    ("signed by another issuer", _other_issuer, Code.SIGNATURE_INVALID, S),
    ("KB-JWT missing", _kb_missing, Code.KEY_BINDING_MISSING, H),
    ("KB-JWT wrong aud", _kb_case(aud="https://evil.example"), Code.AUDIENCE_MISMATCH, H),
    ("KB-JWT wrong nonce", _kb_case(nonce="replayed"), Code.NONCE_MISMATCH, H),
    ("KB-JWT wrong sd_hash", _kb_case(sd_hash="AAAA"), Code.SD_HASH_MISMATCH, H),
    ("KB-JWT after a disclosure dropped", _kb_dropped_disclosure, Code.SD_HASH_MISMATCH, H),
    ("KB-JWT after a disclosure added", _kb_added_disclosure, Code.SD_HASH_MISMATCH, H),
    ("KB-JWT too old", _kb_case(iat=_at(-10)), Code.KEY_BINDING_TOO_OLD, H),
    ("KB-JWT from the future", _kb_case(iat=_at(10)), KB_BAD, H),
    ("KB-JWT without iat", _kb_case(iat=None), KB_BAD, H),
    ("KB-JWT without sd_hash", _kb_case(sd_hash=None), KB_BAD, H),
    ("KB-JWT signed by another key", _kb_other_key, KB_BAD, H),
    ("KB-JWT typ JWT", _kb_case(header={"typ": "JWT"}), KB_BAD, H),
    ("KB-JWT alg none", _kb_alg_none, KB_BAD, H),
    ("KB-JWT but no cnf", _kb_without_cnf, KB_BAD, H),
]


@pytest.mark.parametrize(
    ("maker", "code", "step"),
    [pytest.param(m, c, s, id=name) for name, m, c, s in NEGATIVE],
)
def test_negative(ed: Party, maker: Callable[[Party], str], code: Code, step: Step) -> None:
    result = ed.verify(maker(ed))
    assert result.status is Status.INVALID, result.to_json()
    assert [(c.step, c.code) for c in result.errors] == [(step, code)]
    assert result.malformed is (step is Step.PARSE)


def test_disclosure_limit_is_configurable(ed: Party) -> None:
    token = ed.present(ed.issue(), ["/*"])
    assert ed.verify(token).valid
    result = verify_sd_jwt(
        token, issuer_key=ed.issuer.public_key, clock=ed.clock, policy=POLICY, max_disclosures=3
    )
    assert _codes(result) == [Code.INPUT_TOO_LARGE]
    assert MAX_DISCLOSURES == 256


def test_cnf_without_jwk_is_indeterminate(ed: Party) -> None:
    claims = {**ed.claims(), "cnf": {"kid": "holder-key-1"}}
    issued = issue_sd_jwt(claims, ed.issuer, disclosable=["/email"])
    result = ed.verify(_kb(ed, present(issued, ["/email"])))
    assert result.status is Status.INDETERMINATE
    assert _codes(result) == [Code.KEY_BINDING_INVALID]


@pytest.mark.parametrize(
    ("cnf", "kb_payload"),
    [("holder", None), ({"jwk": "x"}, None), (None, ["not", "an", "object"])],
)
def test_malformed_binding_material(ed: Party, cnf: Any, kb_payload: Any) -> None:
    claims = ed.claims() if cnf is None else {**ed.claims(), "cnf": cnf}
    issued = issue_sd_jwt(claims, ed.issuer, disclosable=["/email"])
    presented = present(issued, ["/email"])
    if kb_payload is None:
        token = _kb(ed, presented)
    else:
        token = presented + sign_compact(
            {"typ": "kb+jwt"}, json.dumps(kb_payload).encode(), ed.holder
        )
    assert _codes(ed.verify(token)) == [Code.KEY_BINDING_INVALID]


def test_holder_key_forms(ed: Party) -> None:
    """`cnf.jwk` with array members is imported uncached; one with private members is refused
    every time (failures are never cached)."""
    with_ops = {**ed.holder.public_key.to_jwk(), "key_ops": ["verify"], "kid": "h1"}
    issued = issue_sd_jwt({**ed.claims(), "cnf": {"jwk": with_ops}}, ed.issuer, disclosable=[])
    assert ed.verify(ed.present(issued, [])).valid
    leaked = {"cnf": {"jwk": ed.holder.export_private_jwk()}}
    issued = issue_sd_jwt({**ed.claims(), **leaked}, ed.issuer, disclosable=[])
    for _ in range(2):
        assert _codes(ed.verify(ed.present(issued, []))) == [Code.KEY_BINDING_INVALID]


def test_key_binding_without_audience_or_nonce_is_recorded_as_replayable(ed: Party) -> None:
    token = ed.present(ed.issue(), ["/email"])
    result = ed.verify(token, VerificationPolicy())
    assert result.valid
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert binding.message.endswith("(no audience or nonce required by policy: replayable)")


def test_holder_parse_refuses_what_is_not_an_sd_jwt() -> None:
    with pytest.raises(MalformedError, match="not a JWS"):
        SdJwt("a.b", ()).unverified_payload()
    with pytest.raises(MalformedError, match="JSON object"):
        SdJwt(f"{_raw({'alg': 'EdDSA'})}.{_raw([1])}.c2ln", ()).unverified_payload()
    with pytest.raises(ConfigurationError, match="JSON object"):
        issue_sd_jwt(["a"], PrivateKey.generate("ed25519"), disclosable=[])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="strings"):
        issue_sd_jwt({"a": {1: 2}}, PrivateKey.generate("ed25519"), disclosable=[])


def test_never_raises_on_garbage(ed: Party) -> None:
    for garbage in ("", "~", "~~", "a~b~", "a.b.c~", "é~", b"\xff~", "x" * 10 + "~" * 5, "..~"):
        result = verify_sd_jwt(garbage, issuer_key=ed.issuer.public_key, clock=ed.clock)
        assert result.status is Status.INVALID
        assert result.errors[0].step is Step.PARSE


def test_parse_keeps_the_sd_hash_input(ed: Party) -> None:
    token = ed.present(ed.issue(), ["/email"])
    parsed = parse_sd_jwt(token)
    assert parsed.key_binding is not None
    assert parsed.presented + parsed.key_binding == token
    assert parsed.presented.endswith("~")


# ------------------------------------------------------------------------------------------
# property: a presentation yields exactly the disclosed subset


_NAMES = st.text(alphabet="abcdxyz_", min_size=1, max_size=5).filter(
    lambda s: s not in ("_sd", "_sd_alg")
)
_SCALARS = st.one_of(st.integers(-5, 5), st.booleans(), st.text(max_size=4), st.none())
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_NAMES, children, max_size=3)
    ),
    max_leaves=8,
)


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _nodes(item, (*path, index))


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join(f"/{p}" for p in path)


def _expected(value: Any, path: tuple[Any, ...], sd: set[Any], visible: set[Any]) -> Any:
    """The claims a verifier must see: plain nodes, and disclosable ones that were picked."""
    if isinstance(value, dict):
        return {
            k: _expected(v, (*path, k), sd, visible)
            for k, v in value.items()
            if (*path, k) not in sd or (*path, k) in visible
        }
    if isinstance(value, list):
        return [
            _expected(v, (*path, i), sd, visible)
            for i, v in enumerate(value)
            if (*path, i) not in sd or (*path, i) in visible
        ]
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=5), data=st.data())
def test_property_present_then_verify_yields_exactly_the_disclosed_subset(
    claims: dict[str, Any], data: st.DataObject
) -> None:
    party = _PROPERTY_PARTY
    nodes = list(_nodes(claims))
    sd = {n for n in nodes if data.draw(st.booleans(), label=f"sd {n}")}
    wanted = [n for n in sorted(sd, key=str) if data.draw(st.booleans(), label=f"disclose {n}")]
    cnf = {"jwk": party.holder.public_key.to_jwk()}
    issued = issue_sd_jwt(
        {**claims, "cnf": cnf}, party.issuer, disclosable=[_pointer(n) for n in sd], decoys=2
    )
    # What the holder asked for, with what it implies: everything inside a disclosed claim
    # and every disclosable parent it sits in.
    visible = {n for n in sd if any(n[: len(w)] == w or w[: len(n)] == n for w in wanted)}
    token = present(
        issued,
        [_pointer(w) for w in wanted],
        holder_key=party.holder,
        audience=AUD,
        nonce=NONCE,
        clock=party.clock,
    )
    result = party.verify(token)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential == {**_expected(claims, (), sd, visible), "cnf": cnf}
    # No undisclosed value travels, even encoded: every disclosure sent is one that was asked.
    sent = set(token.split("~")[1:-1])
    assert len(sent) == len(visible)


_PROPERTY_PARTY = Party(
    PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519"), FixedClock(NOW)
)


# ------------------------------------------------------------------------------------------
# interop with the `sd_jwt` package (openwallet-foundation-labs/sd-jwt-python, PyPI 0.10.4)


@pytest.fixture
def p256() -> Party:
    # The package signs and checks KB-JWTs with ES256 only (its DEFAULT_SIGNING_ALG).
    return Party(PrivateKey.generate("p256"), PrivateKey.generate("p256"), FixedClock(NOW))


def _jwcrypto(key: PrivateKey | PublicKey) -> Any:
    from jwcrypto import jwk as jwc_jwk

    data = key.export_private_jwk() if isinstance(key, PrivateKey) else key.to_jwk()
    return jwc_jwk.JWK(**data)


@pytest.mark.interop
def test_interop_ancre_issues_sd_jwt_package_verifies(p256: Party) -> None:
    from sd_jwt.verifier import SDJWTVerifier

    issued = p256.issue(decoys=4)
    token = p256.present(issued, ["/given_name", "/address/locality", "/nationalities/0"])
    seen: list[str | None] = []

    def issuer_key(iss: str | None, header: dict[str, Any]) -> Any:
        seen.append(iss)
        return _jwcrypto(p256.issuer.public_key)

    verifier = SDJWTVerifier(token, issuer_key, expected_aud=AUD, expected_nonce=NONCE)
    assert seen == ["https://issuer.example"]
    assert verifier.get_verified_payload() == {
        "iss": "https://issuer.example",
        "iat": int(NOW.timestamp()) - 60,
        "exp": int(NOW.timestamp()) + 3600,
        "cnf": {"jwk": p256.holder.public_key.to_jwk()},
        "given_name": "Marie",
        "address": {"locality": "Paris"},
        "nationalities": ["PL"],
    }
    # The package does check the KB-JWT: a wrong nonce is refused there too.
    with pytest.raises(ValueError, match="nonce"):
        SDJWTVerifier(token, issuer_key, expected_aud=AUD, expected_nonce="other")


@pytest.mark.interop
def test_interop_sd_jwt_package_issues_ancre_verifies(
    p256: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sd_jwt.common import SDObj
    from sd_jwt.holder import SDJWTHolder
    from sd_jwt.issuer import SDJWTIssuer

    # The package stamps the KB-JWT with time.time(): pin it to the test clock.
    monkeypatch.setattr("sd_jwt.holder.time", lambda: NOW.timestamp())
    user_claims = {
        "iss": "https://issuer.example",
        "iat": int(NOW.timestamp()),
        SDObj("given_name"): "Marie",
        SDObj("email"): "marie@example.fr",
        SDObj("address"): {SDObj("locality"): "Paris", "country": "FR"},
        "nationalities": [SDObj("PL"), SDObj("FR")],
    }
    issuer = SDJWTIssuer(
        user_claims,
        _jwcrypto(p256.issuer),
        holder_key=_jwcrypto(p256.holder),
        sign_alg="ES256",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt"},
    )
    holder = SDJWTHolder(issuer.sd_jwt_issuance)
    holder.create_presentation(
        {"given_name": True, "address": {"locality": True}, "nationalities": [False, True]},
        nonce=NONCE,
        aud=AUD,
        holder_key=_jwcrypto(p256.holder),
        sign_alg="ES256",
    )
    result = p256.verify(holder.sd_jwt_presentation)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential is not None
    claims = dict(result.credential)
    cnf = claims.pop("cnf")
    assert PublicKey.from_jwk(cnf["jwk"]) == p256.holder.public_key
    assert claims == {
        "iss": "https://issuer.example",
        "iat": int(NOW.timestamp()),
        "given_name": "Marie",
        "address": {"locality": "Paris", "country": "FR"},
        "nationalities": ["FR"],
    }
    # ancre reads the package's issuance form too, and refuses a replayed KB-JWT.
    assert SdJwt.parse(issuer.sd_jwt_issuance).unverified_claims()["email"] == "marie@example.fr"
    later = replace(p256, clock=FixedClock(NOW + timedelta(minutes=30)))
    assert _codes(later.verify(holder.sd_jwt_presentation)) == [Code.KEY_BINDING_TOO_OLD]


# ------------------------------------------------------------------------------------------
# the reference implementation's end-to-end test cases, three ways


TESTCASES = vectors("rfc9901-sd-jwt-python-testcases.json")["testcases"]
_REGISTERED = ("iss", "iat", "exp", "cnf", "_sd_alg")


def _user_claims(claims: Mapping[str, Any] | None) -> dict[str, Any]:
    assert claims is not None
    return {k: v for k, v in claims.items() if k not in _REGISTERED}


def _with_registered(case: dict[str, Any], party: Party) -> dict[str, Any]:
    return {
        "iss": "https://example.com/issuer",
        "iat": int(NOW.timestamp()),
        **case["user_claims"],
        "cnf": {"jwk": party.holder.public_key.to_jwk()},
    }


def _sd_marked(node: Any, path: str, sd: set[str]) -> Any:
    """The package's input form: disclosable keys and elements wrapped in `SDObj`."""
    from sd_jwt.common import SDObj

    def esc(token: Any) -> str:
        return str(token).replace("~", "~0").replace("/", "~1")

    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            child = f"{path}/{esc(key)}"
            out[SDObj(key) if child in sd else key] = _sd_marked(value, child, sd)
        return out
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            child = f"{path}/{index}"
            inner = _sd_marked(value, child, sd)
            items.append(SDObj(inner) if child in sd else inner)
        return items
    return node


@pytest.mark.parametrize("case", TESTCASES, ids=lambda c: c["name"])
def test_reference_testcase_ancre_round_trip(case: dict[str, Any], ed: Party) -> None:
    issued = issue_sd_jwt(
        _with_registered(case, ed), ed.issuer, disclosable=case["disclosable"], decoys=3
    )
    token = ed.present(issued, case["disclose"])
    result = ed.verify(token)
    assert result.status is Status.VALID, result.to_json()
    assert _user_claims(result.credential) == case["expect_verified_user_claims"]


@pytest.mark.interop
@pytest.mark.parametrize("case", TESTCASES, ids=lambda c: c["name"])
def test_reference_testcase_sd_jwt_package_issues_ancre_verifies(
    case: dict[str, Any], p256: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sd_jwt.holder import SDJWTHolder
    from sd_jwt.issuer import SDJWTIssuer

    monkeypatch.setattr("sd_jwt.holder.time", lambda: NOW.timestamp())
    claims = {"iss": "https://example.com/issuer", **case["user_claims"]}
    issuer = SDJWTIssuer(
        _sd_marked(claims, "", set(case["disclosable"])),
        _jwcrypto(p256.issuer),
        holder_key=_jwcrypto(p256.holder),
        sign_alg="ES256",
        add_decoy_claims=True,
    )
    holder = SDJWTHolder(issuer.sd_jwt_issuance)
    holder.create_presentation(
        case["holder_disclosed_claims"],
        nonce=NONCE,
        aud=AUD,
        holder_key=_jwcrypto(p256.holder),
        sign_alg="ES256",
    )
    result = p256.verify(holder.sd_jwt_presentation)
    assert result.status is Status.VALID, result.to_json()
    assert _user_claims(result.credential) == case["expect_verified_user_claims"]


@pytest.mark.interop
@pytest.mark.parametrize("case", TESTCASES, ids=lambda c: c["name"])
def test_reference_testcase_ancre_issues_sd_jwt_package_verifies(
    case: dict[str, Any], p256: Party
) -> None:
    from sd_jwt.verifier import SDJWTVerifier

    issued = issue_sd_jwt(
        _with_registered(case, p256), p256.issuer, disclosable=case["disclosable"], decoys=2
    )
    token = p256.present(issued, case["disclose"])
    key = _jwcrypto(p256.issuer.public_key)
    verifier = SDJWTVerifier(token, lambda _iss, _h: key, expected_aud=AUD, expected_nonce=NONCE)
    assert _user_claims(verifier.get_verified_payload()) == case["expect_verified_user_claims"]
