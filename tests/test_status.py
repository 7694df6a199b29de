"""ancre.trust.status.checker.StatusListChecker against a real HTTP server on 127.0.0.1.

Status lists are signed by test issuers (did:key) with ancre's own issuers
(`issue_vc_jwt`, `issue_status_list_token`) and served by tests/_http_server.py, which
counts requests: cache hits and 304 revalidations are proved server-side, and the checker's
own counters prove that a list version is decoded once. Time is a FixedClock the tests
advance; nothing leaves the loopback interface.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from _http_server import (
    LoopbackOnlyTransport,
    LoopbackServer,
    Route,
    free_port,
    loopback_client,
    running_server,
)
from _support import NOW, Issuer, credential, vectors

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.did.document import CompositeResolver
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
)
from ancre.trust.jose.jws import sign_compact
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt, verify_vc_jwt
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.result import Status, Step
from ancre.trust.status.bitstring import MIN_ENTRIES, BitstringStatusList
from ancre.trust.status.checker import StatusListChecker
from ancre.trust.status.token import StatusType, TokenStatusList, issue_status_list_token
from ancre.trust.steps import StatusChecker

LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True, max_bytes=1024 * 1024)
W3C = vectors("bitstring-status-list.json")
MESSAGES = ["pending_review", "accepted", "rejected", "withdrawn"]


class Env:
    def __init__(
        self,
        server: LoopbackServer,
        client: httpx.Client,
        transport: LoopbackOnlyTransport,
    ) -> None:
        self.server = server
        self.client = client
        self.transport = transport
        self.clock = FixedClock(NOW)
        self.issuer = Issuer.new()
        self.resolver: CompositeResolver = default_resolver()

    def url(self, path: str) -> str:
        return self.server.base + path

    def checker(self, **kwargs: Any) -> StatusListChecker:
        kwargs.setdefault("network", LOOPBACK)
        return StatusListChecker(client=self.client, resolver=self.resolver, **kwargs)

    def list_document(
        self,
        path: str,
        lst: BitstringStatusList,
        *,
        issuer: str | None = None,
        valid_for: timedelta = timedelta(days=30),
        ttl: timedelta | None = None,
    ) -> dict[str, Any]:
        return lst.credential(
            id=self.url(path),
            issuer=issuer or self.issuer.did,
            valid_from=NOW - timedelta(days=1),
            valid_until=NOW + valid_for,
            ttl=ttl,
        )

    def publish(
        self,
        path: str,
        lst: BitstringStatusList | None = None,
        *,
        signer: Issuer | None = None,
        document: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        **doc_kwargs: Any,
    ) -> str:
        signer = signer or self.issuer
        if document is None:
            assert lst is not None
            document = self.list_document(path, lst, issuer=signer.did, **doc_kwargs)
        token = issue_vc_jwt(document, signer.key, signer.kid)
        self.serve(path, token.encode(), headers=headers, etag=etag)
        return token

    def serve(
        self,
        path: str,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        etag: str | None = None,
    ) -> None:
        self.server.routes[path] = Route(
            body=body, headers={"Content-Type": "application/vc+jwt", **(headers or {})}, etag=etag
        )

    def entry(
        self, path: str, index: int, purpose: str = "revocation", **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": f"{self.url(path)}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": str(index),
            "statusListCredential": self.url(path),
            **extra,
        }

    def holding(self, *entries: dict[str, Any]) -> dict[str, Any]:
        status: Any = entries[0] if len(entries) == 1 else list(entries)
        return credential(self.issuer.did, credentialStatus=status)

    def check(self, checker: StatusChecker, document: dict[str, Any]) -> str:
        return checker.check(document, issuer=self.issuer.did, clock=self.clock)


@pytest.fixture
def env() -> Iterator[Env]:
    with running_server() as server, loopback_client() as (client, transport):
        yield Env(server, client, transport)


def expect(
    error: type[InvalidError | IndeterminateError],
    code: Code,
    env: Env,
    checker: StatusChecker,
    document: dict[str, Any],
) -> str:
    with pytest.raises(error) as err:
        env.check(checker, document)
    assert err.value.code is code, err.value
    return err.value.message


# --------------------------------------------------------------------------------------
# Outcomes (W3C Bitstring Status List)


def test_checker_is_a_status_checker(env: Env) -> None:
    assert isinstance(env.checker(), StatusChecker)


def test_valid_revoked_suspended(env: Env) -> None:
    revocation = BitstringStatusList()
    suspension = BitstringStatusList(purpose="suspension")
    revocation.set(77)
    suspension.set(78)
    env.publish("/rev", revocation)
    env.publish("/sus", suspension)
    checker = env.checker()
    message = env.check(checker, env.holding(env.entry("/rev", 76)))
    assert message == f"revocation: status 0 (unset) at {env.url('/rev')} index 76"
    text = expect(InvalidError, Code.REVOKED, env, checker, env.holding(env.entry("/rev", 77)))
    assert "index 77" in text
    expect(
        InvalidError, Code.SUSPENDED, env, checker, env.holding(env.entry("/sus", 78, "suspension"))
    )
    assert env.check(checker, env.holding(env.entry("/sus", 77, "suspension"))).startswith(
        "suspension: status 0"
    )
    suspension.clear(78)  # a suspension is reversible
    env.publish("/sus", suspension)
    checker.invalidate(env.url("/sus"))
    assert "status 0" in env.check(checker, env.holding(env.entry("/sus", 78, "suspension")))


def test_message_purpose_returns_the_message(env: Env) -> None:
    lst = BitstringStatusList(status_size=2, purpose="message", messages=MESSAGES)
    lst.set(5, 2)
    env.publish("/msg", lst)
    checker = env.checker()
    entry = lst.entry(5, status_list_credential=env.url("/msg"))
    assert env.check(checker, env.holding(entry)) == (
        f"message: status 0x2 (rejected) at {env.url('/msg')} index 5"
    )
    other = lst.entry(6, status_list_credential=env.url("/msg"))
    assert "(pending_review)" in env.check(checker, env.holding(other))


def test_refresh_purpose_is_information_and_unknown_purposes_are_undecidable(env: Env) -> None:
    lst = BitstringStatusList(purpose=["refresh", "x-custom"])
    lst.set(3)
    env.publish("/misc", lst)
    checker = env.checker()
    assert env.check(checker, env.holding(env.entry("/misc", 3, "refresh"))).startswith(
        "refresh: status 0x1 (set)"
    )
    assert "status 0" in env.check(checker, env.holding(env.entry("/misc", 4, "x-custom")))
    expect(
        IndeterminateError,
        Code.STATUS_UNAVAILABLE,
        env,
        checker,
        env.holding(env.entry("/misc", 3, "x-custom")),
    )


def test_several_entries_invalid_beats_indeterminate(env: Env) -> None:
    revocation = BitstringStatusList()
    suspension = BitstringStatusList(purpose="suspension")
    suspension.set(9)
    env.publish("/rev", revocation)
    env.publish("/sus", suspension)
    checker = env.checker()
    both = env.holding(env.entry("/rev", 9), env.entry("/sus", 10, "suspension"))
    assert env.check(checker, both).count("status 0") == 2
    expect(
        InvalidError,
        Code.SUSPENDED,
        env,
        checker,
        env.holding(env.entry("/rev", 9), env.entry("/sus", 9, "suspension")),
    )
    unsupported = {"type": "StatusList2021Entry", "statusListIndex": "1"}
    unreachable = env.entry("/missing", 1)
    # A proven suspension wins over an unsupported entry and an unreachable list…
    expect(
        InvalidError,
        Code.SUSPENDED,
        env,
        checker,
        env.holding(unsupported, unreachable, env.entry("/sus", 9, "suspension")),
    )
    # …which alone leave the status undecided.
    text = expect(IndeterminateError, Code.STATUS_UNCHECKED, env, checker, env.holding(unsupported))
    assert "unsupported status type 'StatusList2021Entry'" in text


def test_same_list_for_revocation_and_suspension(env: Env) -> None:
    # Appendix A.4: one list, two purposes.
    lst = BitstringStatusList(purpose=["revocation", "suspension"])
    lst.set(12345)
    env.publish("/5", lst)
    checker = env.checker()
    expect(
        InvalidError,
        Code.SUSPENDED,
        env,
        checker,
        env.holding(env.entry("/5", 94567), env.entry("/5", 12345, "suspension")),
    )
    assert env.server.hits["/5"] == 1


# --------------------------------------------------------------------------------------
# Lists that must not be believed


def test_list_signed_by_a_stranger(env: Env) -> None:
    stranger = Issuer.new()
    env.publish("/rev", BitstringStatusList(), signer=stranger)
    text = expect(
        InvalidError,
        Code.STATUS_LIST_ISSUER_MISMATCH,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )
    assert stranger.did in text


def test_list_claiming_the_issuer_but_signed_with_a_strangers_key(env: Env) -> None:
    stranger = Issuer.new()
    document = env.list_document("/rev", BitstringStatusList())
    header = {"kid": stranger.kid, "typ": "vc+jwt", "cty": "vc", "iss": env.issuer.did}
    payload = {**document, "iss": env.issuer.did}
    token = sign_compact(header, dumps_compact(payload).encode(), stranger.key)
    env.serve("/rev", token.encode())
    expect(
        InvalidError,
        Code.STATUS_LIST_ISSUER_MISMATCH,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )


def test_delegated_status_issuer(env: Env) -> None:
    delegate = Issuer.new()
    env.publish("/rev", BitstringStatusList(), signer=delegate)
    checker = env.checker(also_trusted={env.issuer.did: [delegate.did]})
    assert "status 0" in env.check(checker, env.holding(env.entry("/rev", 1)))
    other = StatusListChecker(client=env.client, resolver=env.resolver, network=LOOPBACK)
    expect(
        InvalidError,
        Code.STATUS_LIST_ISSUER_MISMATCH,
        env,
        other,
        env.holding(env.entry("/rev", 1)),
    )


def test_tampered_list_is_undecidable(env: Env) -> None:
    token = env.publish("/rev", BitstringStatusList())
    head, _, sig = token.split(".")
    other = issue_vc_jwt(
        env.list_document("/rev", BitstringStatusList(length=2 * MIN_ENTRIES)),
        env.issuer.key,
        env.issuer.kid,
    )
    env.serve("/rev", f"{head}.{other.split('.')[1]}.{sig}".encode())
    text = expect(
        IndeterminateError,
        Code.STATUS_UNAVAILABLE,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )
    assert "signature_invalid" in text


def test_expired_list_is_undecidable(env: Env) -> None:
    env.publish("/rev", BitstringStatusList(), valid_for=timedelta(minutes=10))
    checker = env.checker()
    assert "status 0" in env.check(checker, env.holding(env.entry("/rev", 1)))
    env.clock.advance(timedelta(hours=1))
    text = expect(
        IndeterminateError, Code.STATUS_UNAVAILABLE, env, checker, env.holding(env.entry("/rev", 1))
    )
    assert "expired" in text
    assert env.server.hits["/rev"] == 2  # the cache never outlives validUntil


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"@context": [], "type": "VerifiableCredential"}', "not secured"),
        (b'{"type": "VerifiableCredential", "proof": {}}', "unsupported_cryptosuite"),
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "not a compact JWS"),
        (b"a.b", "malformed_token"),
    ],
)
def test_unsecured_or_unsupported_list_formats(env: Env, body: bytes, fragment: str) -> None:
    env.serve("/rev", body)
    text = expect(
        IndeterminateError,
        Code.STATUS_UNAVAILABLE,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )
    assert fragment in text


def test_enveloped_list_credential_is_accepted(env: Env) -> None:
    lst = BitstringStatusList()
    lst.set(4)
    token = issue_vc_jwt(env.list_document("/rev", lst), env.issuer.key, env.issuer.kid)
    env.serve("/rev", json.dumps(envelope_credential(token)).encode())
    expect(InvalidError, Code.REVOKED, env, env.checker(), env.holding(env.entry("/rev", 4)))


def test_purpose_mismatch(env: Env) -> None:
    env.publish("/rev", BitstringStatusList())
    text = expect(
        InvalidError,
        Code.STATUS_LIST_INVALID,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1, "suspension")),
    )
    assert "['revocation']" in text


def test_list_served_under_another_url(env: Env) -> None:
    # The issuer's list /a served at /b: its `id` says it is not the referenced list.
    document = env.list_document("/a", BitstringStatusList())
    env.publish("/b", document=document)
    expect(
        InvalidError, Code.STATUS_LIST_INVALID, env, env.checker(), env.holding(env.entry("/b", 1))
    )


def test_index_out_of_range(env: Env) -> None:
    env.publish("/rev", BitstringStatusList())
    checker = env.checker()
    assert "status 0" in env.check(checker, env.holding(env.entry("/rev", MIN_ENTRIES - 1)))
    expect(
        InvalidError,
        Code.STATUS_INDEX_OUT_OF_RANGE,
        env,
        checker,
        env.holding(env.entry("/rev", MIN_ENTRIES)),
    )


def test_multi_bit_entries_need_the_minimum_number_of_entries(env: Env) -> None:
    # 16 KB hold 131,072 one-bit entries but only 65,536 two-bit ones (§3.2 step 9).
    env.publish("/rev", BitstringStatusList())
    messages = [{"status": f"0x{i}", "message": m} for i, m in enumerate(MESSAGES)]
    entry = env.entry("/rev", 1, statusSize=2, statusMessage=messages)
    text = expect(InvalidError, Code.STATUS_LIST_INVALID, env, env.checker(), env.holding(entry))
    assert "65536 entries of 2 bits" in text


def test_malformed_entry_is_a_credential_problem(env: Env) -> None:
    entry = {**env.entry("/rev", 1), "statusListIndex": 1}
    expect(InvalidError, Code.INVALID_PROPERTY, env, env.checker(), env.holding(entry))
    assert env.server.hits == {}


def test_gzip_bomb_list(env: Env) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(32)) + compressor.flush()
    document = env.list_document("/rev", BitstringStatusList())
    document["credentialSubject"]["encodedList"] = "u" + b64url_encode(bomb)
    env.publish("/rev", document=document)
    text = expect(
        InvalidError,
        Code.STATUS_LIST_TOO_LARGE,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )
    assert str(16 * 1024 * 1024) in text


def test_oversized_response(env: Env) -> None:
    env.serve("/rev", b"x" * (LOOPBACK.max_bytes + 1))
    expect(
        InvalidError,
        Code.STATUS_LIST_TOO_LARGE,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )


# --------------------------------------------------------------------------------------
# Unreachable lists: indeterminate, never valid


def test_unreachable_list(env: Env) -> None:
    port = free_port()
    entry = {**env.entry("/rev", 1), "statusListCredential": f"http://127.0.0.1:{port}/rev"}
    text = expect(
        IndeterminateError, Code.STATUS_UNAVAILABLE, env, env.checker(), env.holding(entry)
    )
    assert "network_error" in text


@pytest.mark.parametrize("status", [500, 502, 503, 404, 410, 403, 204])
def test_http_errors(env: Env, status: int) -> None:
    env.server.routes["/rev"] = Route(status=status, body=b"nope")
    text = expect(
        IndeterminateError,
        Code.STATUS_UNAVAILABLE,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )
    assert f"HTTP {status}" in text


def test_slow_list_times_out(env: Env) -> None:
    env.server.routes["/rev"] = Route(drip="body")
    policy = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=0.3)
    text = expect(
        IndeterminateError,
        Code.STATUS_UNAVAILABLE,
        env,
        env.checker(network=policy),
        env.holding(env.entry("/rev", 1)),
    )
    assert "network_timeout" in text


def test_list_url_naming_an_internal_address_is_never_fetched(env: Env) -> None:
    entry = {**env.entry("/rev", 1), "statusListCredential": "http://169.254.169.254/latest"}
    text = expect(
        IndeterminateError, Code.STATUS_UNAVAILABLE, env, env.checker(), env.holding(entry)
    )
    assert "url_not_allowed" in text
    assert env.transport.requests == []


def test_stale_list_is_not_served_when_the_server_fails(env: Env) -> None:
    env.publish("/rev", BitstringStatusList(), headers={"Cache-Control": "max-age=60"})
    checker = env.checker()
    env.check(checker, env.holding(env.entry("/rev", 1)))
    env.server.routes["/rev"] = Route(status=503)
    env.clock.advance(timedelta(seconds=61))
    expect(
        IndeterminateError, Code.STATUS_UNAVAILABLE, env, checker, env.holding(env.entry("/rev", 1))
    )


# --------------------------------------------------------------------------------------
# Caching


def test_second_check_makes_no_request(env: Env) -> None:
    lst = BitstringStatusList()
    lst.set(2)
    env.publish("/rev", lst)
    checker = env.checker()
    env.check(checker, env.holding(env.entry("/rev", 1)))
    expect(InvalidError, Code.REVOKED, env, checker, env.holding(env.entry("/rev", 2)))
    for index in range(10, 20):
        env.check(checker, env.holding(env.entry("/rev", index)))
    assert env.server.hits["/rev"] == 1
    stats = checker.stats()
    assert (stats.fetches, stats.decodes, stats.hits, stats.lists) == (1, 1, 11, 1)
    assert stats.cached_bytes == 16384
    assert "application/vc+jwt" in env.server.seen[0].headers["accept"]


def test_etag_revalidation_reuses_the_decoded_list(env: Env) -> None:
    env.publish("/rev", BitstringStatusList(), headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    checker = env.checker()
    env.check(checker, env.holding(env.entry("/rev", 1)))
    env.clock.advance(timedelta(seconds=30))
    env.check(checker, env.holding(env.entry("/rev", 1)))
    assert env.server.hits["/rev"] == 1
    env.clock.advance(timedelta(seconds=31))
    env.check(checker, env.holding(env.entry("/rev", 1)))
    assert env.server.hits["/rev"] == 2
    assert env.server.seen[1].headers["if-none-match"] == '"v1"'
    stats = checker.stats()
    assert (stats.fetches, stats.not_modified, stats.decodes) == (2, 1, 1)
    env.clock.advance(timedelta(seconds=59))  # the 304 renewed the lifetime
    env.check(checker, env.holding(env.entry("/rev", 1)))
    assert env.server.hits["/rev"] == 2


def test_new_list_version_is_fetched_after_expiry(env: Env) -> None:
    lst = BitstringStatusList()
    env.publish("/rev", lst, headers={"Cache-Control": "max-age=60"})
    checker = env.checker()
    env.check(checker, env.holding(env.entry("/rev", 8)))
    lst.set(8)
    env.publish("/rev", lst, headers={"Cache-Control": "max-age=60"})
    env.check(checker, env.holding(env.entry("/rev", 8)))  # still cached: not yet known
    env.clock.advance(timedelta(seconds=61))
    expect(InvalidError, Code.REVOKED, env, checker, env.holding(env.entry("/rev", 8)))
    assert checker.stats().decodes == 2


def test_resigned_unchanged_list_is_not_decoded_again(env: Env) -> None:
    lst = BitstringStatusList()
    env.publish("/rev", lst, headers={"Cache-Control": "max-age=60"})
    checker = env.checker()
    env.check(checker, env.holding(env.entry("/rev", 8)))
    # The issuer re-signs the same statuses with a later validUntil: a new document…
    env.publish("/rev", lst, headers={"Cache-Control": "max-age=60"}, valid_for=timedelta(days=60))
    env.clock.advance(timedelta(seconds=61))
    env.check(checker, env.holding(env.entry("/rev", 8)))
    stats = checker.stats()
    assert stats.fetches == 2
    assert stats.decodes == 1  # …the same list version


def test_list_ttl_shortens_http_max_age(env: Env) -> None:
    env.publish(
        "/rev",
        BitstringStatusList(),
        headers={"Cache-Control": "max-age=3600"},
        ttl=timedelta(seconds=30),
    )
    checker = env.checker()
    env.check(checker, env.holding(env.entry("/rev", 1)))
    env.clock.advance(timedelta(seconds=31))
    env.check(checker, env.holding(env.entry("/rev", 1)))
    assert env.server.hits["/rev"] == 2


def test_no_store_lists_are_fetched_every_time(env: Env) -> None:
    env.publish("/rev", BitstringStatusList(), headers={"Cache-Control": "no-store"})
    checker = env.checker()
    for _ in range(3):
        env.check(checker, env.holding(env.entry("/rev", 1)))
    assert env.server.hits["/rev"] == 3
    assert checker.stats().lists == 0


def test_cache_is_bounded_and_can_be_invalidated(env: Env) -> None:
    for path in ("/a", "/b", "/c"):
        env.publish(path, BitstringStatusList())
    checker = env.checker(max_lists=2)
    for path in ("/a", "/b", "/c"):
        env.check(checker, env.holding(env.entry(path, 1)))
    assert checker.stats().lists == 2
    env.check(checker, env.holding(env.entry("/a", 1)))  # evicted first: fetched again
    assert env.server.hits["/a"] == 2
    by_bytes = env.checker(max_cached_bytes=20000)
    for path in ("/a", "/b"):
        env.check(by_bytes, env.holding(env.entry(path, 1)))
    assert (by_bytes.stats().lists, by_bytes.stats().cached_bytes) == (1, 16384)
    checker.invalidate(env.url("/c"))
    assert checker.stats().lists == 1
    checker.invalidate()
    assert (checker.stats().lists, checker.stats().cached_bytes) == (0, 0)


def test_concurrent_checks(env: Env) -> None:
    lst = BitstringStatusList()
    lst.set(3)
    env.publish("/rev", lst)
    checker = env.checker()

    def one(index: int) -> str:
        try:
            return env.check(checker, env.holding(env.entry("/rev", index % 6)))
        except InvalidError as error:
            return error.code.value

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(400)))
    assert results.count("revoked") == len([i for i in range(400) if i % 6 == 3])
    assert all(r == "revoked" or r.startswith("revocation: status 0") for r in results)
    stats = checker.stats()
    # One fetch: the other threads wait for it rather than fetching the list again.
    assert stats.fetches == env.server.hits["/rev"] == 1
    assert stats.hits + stats.fetches == 400


# --------------------------------------------------------------------------------------
# W3C test suite fixtures, signed by a test issuer


@pytest.mark.parametrize("case", W3C["test_suite"], ids=lambda c: c["name"])
def test_suite_fixtures_end_to_end(env: Env, case: dict[str, Any]) -> None:
    document = {
        **case["list"],
        "id": env.url("/suite"),
        "issuer": env.issuer.did,
        "validFrom": "2026-01-01T00:00:00Z",
    }
    subject = dict(document["credentialSubject"])
    subject["encodedList"] = "u" + subject["encodedList"]  # see the vector file's notes
    document["credentialSubject"] = subject
    env.publish("/suite", document=document)
    held = json.loads(json.dumps(case["credential"]))
    held["credentialStatus"]["statusListCredential"] = env.url("/suite")
    code = {"revoked": Code.REVOKED, "suspended": Code.SUSPENDED}.get(
        case["expected"], Code.STATUS_LIST_INVALID
    )
    with pytest.raises(InvalidError) as err:
        env.checker().check(held, issuer=env.issuer.did, clock=env.clock)
    assert err.value.code is code


# --------------------------------------------------------------------------------------
# IETF Token Status List (SD-JWT VC / JWT claims)


def _claims(env: Env, path: str, idx: int) -> dict[str, Any]:
    return {"iss": env.issuer.did, "status": {"status_list": {"idx": idx, "uri": env.url(path)}}}


def _publish_token(
    env: Env,
    path: str,
    lst: TokenStatusList,
    *,
    signer: Issuer | None = None,
    uri: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> None:
    signer = signer or env.issuer
    token = issue_status_list_token(
        lst, signer.key, kid=signer.kid, uri=uri or env.url(path), clock=env.clock, **kwargs
    )
    env.server.routes[path] = Route(
        body=token.encode(),
        headers={"Content-Type": "application/statuslist+jwt", **(headers or {})},
    )


def test_token_status_list_outcomes(env: Env) -> None:
    lst = TokenStatusList(1000, 2)
    lst.set(1, StatusType.INVALID)
    lst.set(2, StatusType.SUSPENDED)
    lst.set(3, StatusType.APPLICATION_SPECIFIC)
    _publish_token(env, "/tsl", lst)
    checker = env.checker()
    assert env.check(checker, _claims(env, "/tsl", 0)) == f"status VALID ({env.url('/tsl')} idx 0)"
    expect(InvalidError, Code.REVOKED, env, checker, _claims(env, "/tsl", 1))
    expect(InvalidError, Code.SUSPENDED, env, checker, _claims(env, "/tsl", 2))
    expect(IndeterminateError, Code.STATUS_UNCHECKED, env, checker, _claims(env, "/tsl", 3))
    expect(InvalidError, Code.STATUS_INDEX_OUT_OF_RANGE, env, checker, _claims(env, "/tsl", 1000))
    assert env.server.hits["/tsl"] == 1
    assert env.server.seen[0].headers["accept"] == "application/statuslist+jwt"


def test_token_status_list_for_another_uri_or_by_a_stranger(env: Env) -> None:
    _publish_token(env, "/tsl", TokenStatusList(8), uri=env.url("/other"))
    checker = env.checker()
    expect(InvalidError, Code.STATUS_LIST_INVALID, env, checker, _claims(env, "/tsl", 0))
    stranger = Issuer.new()
    _publish_token(env, "/tsl2", TokenStatusList(8), signer=stranger)
    expect(InvalidError, Code.STATUS_LIST_ISSUER_MISMATCH, env, checker, _claims(env, "/tsl2", 0))
    _publish_token(env, "/tsl3", TokenStatusList(8), lifetime=timedelta(seconds=-120))
    expect(IndeterminateError, Code.STATUS_UNAVAILABLE, env, checker, _claims(env, "/tsl3", 0))


def test_token_ttl_takes_priority_over_http_caching(env: Env) -> None:
    # TSL §8.2: the token's ttl/exp decide caching, not the HTTP headers.
    _publish_token(
        env,
        "/tsl",
        TokenStatusList(8),
        headers={"Cache-Control": "max-age=3600"},
        ttl=timedelta(seconds=60),
    )
    _publish_token(
        env,
        "/nostore",
        TokenStatusList(8),
        headers={"Cache-Control": "no-store"},
        ttl=timedelta(seconds=60),
    )
    checker = env.checker()
    for path in ("/tsl", "/nostore"):
        env.check(checker, _claims(env, path, 0))
        env.check(checker, _claims(env, path, 0))
        assert env.server.hits[path] == 1
    env.clock.advance(timedelta(seconds=61))
    env.check(checker, _claims(env, "/tsl", 0))
    assert env.server.hits["/tsl"] == 2
    assert checker.stats().decodes == 2  # the re-fetched token carries the same list


def test_token_status_with_unsupported_mechanism(env: Env) -> None:
    claims = {"status": {"identifier_list": {"id": "1", "uri": env.url("/x")}}}
    expect(IndeterminateError, Code.STATUS_UNCHECKED, env, env.checker(), claims)


# --------------------------------------------------------------------------------------
# End to end through verify_vc_jwt


def test_verify_vc_jwt_with_status(env: Env) -> None:
    lst = BitstringStatusList()
    env.publish("/rev", lst)
    index = lst.allocate()
    entry = lst.entry(index, status_list_credential=env.url("/rev"))
    token = issue_vc_jwt(env.holding(entry), env.issuer.key, env.issuer.kid)
    checker = env.checker()
    result = verify_vc_jwt(token, resolver=env.resolver, clock=env.clock, status=checker)
    assert result.status is Status.VALID, result.to_json()
    status_check = next(c for c in result.checks if c.step is Step.STATUS)
    assert status_check.message.startswith("revocation: status 0")
    lst.set(index)
    env.publish("/rev", lst)
    checker.invalidate()
    result = verify_vc_jwt(token, resolver=env.resolver, clock=env.clock, status=checker)
    assert result.status is Status.INVALID
    assert [(e.step, e.code) for e in result.errors] == [(Step.STATUS, "revoked")]
    env.server.routes["/rev"] = Route(status=503)
    checker.invalidate()
    result = verify_vc_jwt(token, resolver=env.resolver, clock=env.clock, status=checker)
    assert result.status is Status.INDETERMINATE
    assert [(e.step, e.code) for e in result.errors] == [(Step.STATUS, "status_unavailable")]


# --------------------------------------------------------------------------------------
# Limits and configuration


def test_too_many_status_entries(env: Env) -> None:
    entries = [env.entry(f"/l{i}", 1) for i in range(9)]
    expect(IndeterminateError, Code.STATUS_UNCHECKED, env, env.checker(), env.holding(*entries))
    assert env.server.hits == {}


def test_empty_or_absent_status(env: Env) -> None:
    checker = env.checker()
    expect(
        InvalidError,
        Code.INVALID_PROPERTY,
        env,
        checker,
        credential(env.issuer.did, credentialStatus=[]),
    )
    assert env.check(checker, credential(env.issuer.did)) == "no status information to check"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_lists": -1},
        {"max_cached_bytes": -1},
        {"default_ttl": 10, "max_ttl": 5},
        {"default_ttl": -1},
        {"max_decoded_bytes": 0},
        {"min_entries": -1},
    ],
)
def test_bad_configuration(env: Env, kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        env.checker(**kwargs)


def test_no_network_defers_without_counting_a_fetch(env: Env) -> None:
    """Inside net.no_network() (the service's event loop) an uncached list is not fetched:
    WouldBlock, nothing counted; the same check then runs normally and fetches once."""
    from ancre.trust.net.guard import WouldBlock, no_network

    env.publish("/rev", BitstringStatusList())
    checker = env.checker()
    holding = env.holding(env.entry("/rev", 1))
    with no_network(), pytest.raises(WouldBlock):
        env.check(checker, holding)
    assert (checker.stats().fetches, env.server.hits["/rev"]) == (0, 0)
    assert env.check(checker, holding).startswith("revocation: status 0")
    with no_network():
        assert env.check(checker, holding).startswith("revocation: status 0")  # warm: no fetch
    assert (checker.stats().fetches, env.server.hits["/rev"]) == (1, 1)
