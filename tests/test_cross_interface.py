"""One table (tests/_cases.py), four interfaces, one answer: every case must give the same
status and error codes through the library (`ancre.verifier.pipeline.verify`), the VC-API
verifier service over real HTTP on loopback — in both failure-status modes: VCALM's 200
with `verified: false`, and `failure_status=400`, where a failed verification answers 400
with the same body —, `ancre verify` run as a subprocess, and — for
the cases OpenID4VP can carry — the service's OpenID4VP endpoints driven by a test wallet
(tests/_oid4vp_holder.py): the caller creates a request, the wallet fetches and checks it
and answers with the case's presentation, bound to the transaction's nonce and Client
Identifier; the caller reads the verdict.

The four are configured alike, as `verifier.service.create_app` configures itself: one
httpx client, `default_resolver` and `StatusListChecker` with the same loopback network
policy, a `TrustListClient` when the case's profile has a trust list, the same fixed clock
(`--at` for the command) and trusted issuers. The VC-API and OpenID4VP endpoints share one
app (and uvicorn server) per verifier configuration for the whole module. The command runs
once per case in a small thread pool (it is a process start each time), the first time any
case needs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _cases import (
    AT,
    AUD,
    CASES,
    CLI,
    INTERFACES,
    LIBRARY,
    NONCE,
    OPENID4VP,
    SERVICE,
    SERVICE_400,
    VC_V2,
    VCT,
    Case,
    Profile,
    World,
)
from _http_server import running_server
from _oid4vp_holder import Wallet, routed_client
from _support import NOW

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.jose.jws import unverified_header
from ancre.trust.jose.vc_jose import envelope_credential
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.policy import VerificationPolicy, policy_from_json
from ancre.trust.result import Status
from ancre.trust.status.checker import StatusListChecker
from ancre.trust.trust_list.client import TrustListClient
from ancre.verifier.openid4vp import OpenID4VPSettings
from ancre.verifier.pipeline import verify
from ancre.verifier.service import VerifierSettings, create_app

LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True)
EXIT = {Status.VALID.value: 0, Status.INVALID.value: 1, Status.INDETERMINATE.value: 2}
EXIT_MALFORMED = 65
CLI_WORKERS = 3
#: The OpenID4VP verifier's public origin (the wallet's client routes it to loopback).
PUBLIC = "https://verifier.example"
API_TOKEN = "cross-interface-caller-token"
#: How every interface names the presented credential that made a presentation fail:
#: "presented credential 1 of 1 is invalid (<code>: <message>)".
_REASON = re.compile(r"presented credential \d+ of \d+ is \w+ \((\w+):")


def _presentation_media(token: str) -> str | None:
    """The EnvelopedVerifiablePresentation media type for a token, or None for a credential."""
    if "~" in token:
        return "dc+sd-jwt"
    header = unverified_header(token)
    if str(header.get("typ", "")).lower().removeprefix("application/").startswith("vp"):
        return "vp+jwt"
    parts = token.split(".")
    payload = json.loads(b64url_decode(parts[1])) if len(parts) == 3 else {}
    return "vp+jwt" if isinstance(payload, dict) and "vp" in payload else None


@dataclass(frozen=True)
class Outcome:
    """What one interface answered: the status and the error codes, in order."""

    status: str
    codes: tuple[str, ...]
    #: Only the library and the command tell "could not even parse" apart.
    malformed: bool | None = None
    detail: str = ""
    #: The pipeline step of each error (compared across interfaces, not with the table).
    steps: tuple[str, ...] = ()
    #: For `invalid_presentation`: the code of the presented credential that decided it.
    reason: str | None = None

    def key(self) -> tuple[str, tuple[str, ...], str | None]:
        return self.status, self.codes, self.reason


def _reason(codes: tuple[str, ...], messages: list[str]) -> str | None:
    for code, message in zip(codes, messages, strict=True):
        found = _REASON.search(message) if code == "invalid_presentation" else None
        if found is not None:
            return found.group(1)
    return None


def expected(case: Case, interface: str) -> Outcome:
    if interface in (SERVICE, SERVICE_400) and case.service_http != 200:
        return Outcome(f"HTTP {case.service_http}", case.codes)
    malformed = None if interface in (SERVICE, SERVICE_400, OPENID4VP) else case.malformed
    return Outcome(case.status.value, case.codes, malformed, reason=case.reason)


# ------------------------------------------------------------------------------------------
# the three interfaces


def _text(data: str | dict[str, Any]) -> str:
    return data if isinstance(data, str) else json.dumps(data)


def _policy(world: World, profile: Profile, case: Case | None = None) -> VerificationPolicy:
    trusted = None
    if profile.trusted is not None:
        trusted = frozenset(world.issuer(name) for name in profile.trusted)
    base = VerificationPolicy()
    if profile.policy_file is not None:
        base = policy_from_json(json.loads(profile.policy_file))
    changes: dict[str, Any] = {}
    if trusted is not None:
        changes["trusted_issuers"] = trusted
    if case is not None and case.audience is not None:
        changes["audience"] = case.audience
    if case is not None and case.nonce is not None:
        changes["nonce"] = case.nonce
    return replace(base, **changes)


class Library:
    """`pipeline.verify` with what `create_app` builds: one set of shared components per
    verifier configuration."""

    def __init__(self, world: World, stack: ExitStack) -> None:
        self.world, self.stack = world, stack
        self.clock = FixedClock(NOW)
        self._built: dict[str, dict[str, Any]] = {}

    def _components(self, profile: Profile) -> dict[str, Any]:
        if profile.name not in self._built:
            client = self.stack.enter_context(httpx.Client(trust_env=False, follow_redirects=False))
            resolver = default_resolver(http_client=client, network=LOOPBACK, clock=self.clock)
            trust = None
            if profile.trust_list is not None:
                trust = TrustListClient(
                    self.world.trust_list_source(profile.trust_list),
                    registry=self.world.registry.did,
                    resolver=resolver,
                    clock=self.clock,
                    http_client=client,
                    network=LOOPBACK,
                )
            self._built[profile.name] = {
                "resolver": resolver,
                "status": StatusListChecker(client=client, resolver=resolver, network=LOOPBACK),
                "trust": trust,
            }
        return self._built[profile.name]

    def run(self, case: Case) -> Outcome:
        result = verify(
            _text(self.world.input(case)),
            clock=self.clock,
            policy=_policy(self.world, case.profile, case),
            **self._components(case.profile),
        )
        codes = tuple(str(e.code) for e in result.errors)
        return Outcome(
            result.status.value,
            codes,
            result.malformed,
            detail="; ".join(f"{e.step.value}: {e.message}" for e in result.errors),
            steps=tuple(e.step.value for e in result.errors),
            reason=_reason(codes, [e.message for e in result.errors]),
        )


def _openid4vp_settings() -> OpenID4VPSettings:
    key = PrivateKey.generate("p256")
    did = did_jwk_from_public_key(key.public_key)
    return OpenID4VPSettings(
        key=key,
        did=did,
        kid=f"{did}#0",
        base_url=PUBLIC,
        api_token=API_TOKEN,
        # One caller address creates a transaction per case (the limit has its own tests).
        create_burst=10_000,
    )


class Service:
    """The VC-API service, one app (and uvicorn server) per verifier configuration; the app
    serves the OpenID4VP endpoints too. `failure_status` is the service's: 200 (VCALM, the
    default) or 400 (`--failure-status 400`), the HTTP status of a verification that ran
    and did not succeed; the body must be the same either way."""

    def __init__(self, world: World, stack: ExitStack, failure_status: int = 200) -> None:
        self.world, self.stack, self.failure_status = world, stack, failure_status
        self._bases: dict[str, str] = {}
        self.http = stack.enter_context(httpx.Client(trust_env=False, timeout=60))

    def base(self, profile: Profile) -> str:
        if profile.name not in self._bases:
            trust_list = registry = None
            if profile.trust_list is not None:
                trust_list = self.world.trust_list_source(profile.trust_list)
                registry = self.world.registry.did
            policy = _policy(self.world, profile)
            settings = VerifierSettings(
                policy=policy,
                trust_list_url=trust_list,
                registry_did=registry,
                network=LOOPBACK,
                clock=FixedClock(NOW),
                # The CLI and the library verify without a trust source when the profile
                # has none; the service must be told so explicitly (issue 12, point 16).
                no_trust_check=trust_list is None and policy.trusted_issuers is None,
                openid4vp=_openid4vp_settings(),
                failure_status=self.failure_status,
            )
            self._bases[profile.name] = self.stack.enter_context(serve(create_app(settings)))
        return self._bases[profile.name]

    def run(self, case: Case) -> Outcome:
        data: Any = self.world.input(case)
        options = {
            name: value
            for name, value in (("challenge", case.nonce), ("domain", case.audience))
            if value is not None
        }
        if isinstance(data, str) and data.startswith(('"', "[")):
            # JSON text of a value that is not an object (a string holding a document, an
            # array): sent as that JSON value, as a client would.
            data = json.loads(data)
        elif isinstance(data, str):
            # Presentations travel as EnvelopedVerifiablePresentation: vp+jwt, or an SD-JWT VC
            # with its KB-JWT (dc+sd-jwt). A bare credential sent where a bound presentation
            # is required stays an EnvelopedVerifiableCredential.
            media = _presentation_media(data) if case.presentation or options else None
            if media is not None:
                data = {
                    "@context": [VC_V2],
                    "id": f"data:application/{media},{data}",
                    "type": "EnvelopedVerifiablePresentation",
                }
            else:
                data = envelope_credential(data)
        # /credentials/verify takes no challenge/domain (400 unknown_option): an SD-JWT VC
        # with a KB-JWT the verifier binds to a nonce and audience is, as RFC 9901 has it, a
        # presentation, and goes to /presentations/verify.
        if case.presentation or options:
            path, body = "/presentations/verify", {"verifiablePresentation": data}
        else:
            path, body = "/credentials/verify", {"verifiableCredential": data}
        if options:
            body["options"] = options
        response = self.http.post(self.base(case.profile) + path, json=body)
        answer = response.json()
        if "verified" not in answer:  # a refused request: a problem body
            return Outcome(
                f"HTTP {response.status_code}", (str(answer.get("code")),), detail=response.text
            )
        if response.status_code != (200 if answer["verified"] else self.failure_status):
            return Outcome(
                f"HTTP {response.status_code} for verified={answer['verified']}",
                (),
                detail=response.text[:500],
            )
        status = response.headers.get("Ancre-Status")
        problems = answer.get("problemDetails")
        if status is None or problems is None:
            return Outcome(
                "BAD RESPONSE",
                (),
                detail=f"no Ancre-Status header or problemDetails: {response.text[:500]}",
            )
        # Failed checks carry a `code` (and type urn:ancre:error:<code>); skipped checks come
        # as warnings without one.
        errors = [p for p in problems if "code" in p]
        codes = tuple(str(p["code"]) for p in errors)
        if any(p.get("type") != f"urn:ancre:error:{p['code']}" for p in errors):
            return Outcome("BAD PROBLEM TYPE", codes, detail=response.text[:500])
        if answer.get("verified") is not (status == Status.VALID.value):
            return Outcome(f"{status} but verified={answer.get('verified')}", codes)
        return Outcome(
            status,
            codes,
            detail="; ".join(f"{p.get('step')}: {p.get('detail')}" for p in errors),
            steps=tuple(str(p.get("step")) for p in errors),
            reason=_reason(codes, [str(p.get("detail")) for p in errors]),
        )


class OpenID4VP:
    """The service's OpenID4VP endpoints: the caller (RP backend) creates a request for one
    credential of the case's format, the test wallet fetches and checks the signed Request
    Object and answers with the case's presentation, the caller reads the verdict.

    The verifier binds to the transaction's nonce and its Client Identifier, so the input is
    rebuilt for each transaction: where the table binds to its NONCE/AUD, to the
    transaction's; where it expects another value than the holder used (a mismatch case),
    to the table's own, which the transaction does not expect either."""

    def __init__(self, world: World, stack: ExitStack, service: Service) -> None:
        self.world, self.stack, self.service = world, stack, service
        self._wallets: dict[str, Wallet] = {}
        self._callers: dict[str, httpx.Client] = {}
        self.count = 0

    def _parties(self, profile: Profile) -> tuple[httpx.Client, Wallet]:
        if profile.name not in self._wallets:
            base = self.service.base(profile)
            self._callers[profile.name] = self.stack.enter_context(
                httpx.Client(
                    base_url=base,
                    trust_env=False,
                    timeout=60,
                    headers={"Authorization": f"Bearer {API_TOKEN}"},
                )
            )
            http = self.stack.enter_context(routed_client(PUBLIC, base))
            self._wallets[profile.name] = Wallet(http, FixedClock(NOW))
        return self._callers[profile.name], self._wallets[profile.name]

    def run(self, case: Case) -> Outcome:
        caller, wallet = self._parties(case.profile)
        # Both response modes: the encrypted one (the default) and the form.
        self.count += 1
        mode = "direct_post.jwt" if self.count % 2 else "direct_post"
        probe = self.world.input(case)
        query: dict[str, Any] = {"id": "case"}
        if isinstance(probe, str) and "~" in probe:
            query.update(format="dc+sd-jwt", meta={"vct_values": [VCT]})
        else:
            query.update(format="jwt_vc_json", meta={"type_values": [["VerifiableCredential"]]})
        created = caller.post(
            "/openid4vp/requests",
            json={"dcql_query": {"credentials": [query]}, "response_mode": mode},
        )
        if created.status_code != 201:
            return Outcome(f"create: HTTP {created.status_code}", (), detail=created.text)
        request = wallet.fetch(created.json()["authorization_request"])
        nonce = request.nonce if case.nonce == NONCE else NONCE
        audience = request.client_id if case.audience == AUD else AUD
        with self.world.bound_to(audience, nonce):
            data = case.build(self.world)
        if not isinstance(data, str):
            return Outcome("NOT A STRING", (), detail="OpenID4VP presentations are strings")
        if data.startswith('"'):  # JSON text of a string: the vp_token carries that string
            data = json.loads(data)
        answer = wallet.respond(request, {"case": [data]})
        transaction = created.json()["transaction_id"]
        verdict = caller.get(f"/openid4vp/requests/{transaction}/result")
        if verdict.status_code != 200:
            return Outcome(f"result: HTTP {verdict.status_code}", (), detail=verdict.text)
        body = verdict.json()
        errors = body["errors"]
        codes = tuple(str(e["code"]) for e in errors)
        # The wallet learns only accepted (200) or not (400).
        if answer.status_code != (200 if body["verified"] else 400):
            return Outcome(f"{body['status']} but the wallet got {answer.status_code}", codes)
        if body["verified"] is not (body["status"] == Status.VALID.value):
            return Outcome(f"{body['status']} but verified={body['verified']}", codes)
        return Outcome(
            str(body["status"]),
            codes,
            detail="; ".join(f"{e.get('step')}: {e['message']}" for e in errors),
            steps=tuple(str(e.get("step")) for e in errors),
            reason=_reason(codes, [str(e["message"]) for e in errors]),
        )


class Command:
    """`ancre verify FILE --json` as a subprocess, with the same configuration."""

    def __init__(self, world: World, workdir: Path) -> None:
        self.world, self.workdir = world, workdir
        self._results: dict[str, Outcome] | None = None

    def argv(self, case: Case, path: Path) -> list[str]:
        profile = case.profile
        argv = [sys.executable, "-m", "ancre.cli.main", "verify", str(path)]
        argv += ["--at", AT, "--json", "--insecure-loopback"]
        for name in profile.trusted or ():
            argv += ["--trusted-issuer", self.world.issuer(name)]
        if profile.trust_list is not None:
            argv += ["--trust-list", self.world.trust_list_source(profile.trust_list)]
            argv += ["--registry-key", self.world.registry.did]
        if profile.policy_file is not None:
            # One file per case: cases run in parallel, and a file shared by the cases of a
            # profile was read empty by one subprocess while another rewrote it.
            policy = path.with_name(path.stem + ".policy.json")
            policy.write_text(profile.policy_file, encoding="utf-8")
            argv += ["--policy", str(policy)]
        if case.nonce is not None:
            argv += ["--nonce", case.nonce]
        if case.audience is not None:
            argv += ["--audience", case.audience]
        return argv

    def _one(self, index: int, case: Case) -> Outcome:
        path = self.workdir / f"case-{index}.input"
        path.write_text(_text(self.world.input(case)), encoding="utf-8")
        # Each run is a fresh verifier, like each profile's client in the other interfaces:
        # its own rollback memory (the world's one registry signs lists #7 and a stale #3).
        env = {**os.environ, "ANCRE_STATE_DIR": str(self.workdir / f"state-{index}")}
        done = subprocess.run(
            self.argv(case, path), capture_output=True, text=True, check=False, timeout=120, env=env
        )
        if "Traceback" in done.stderr:
            return Outcome("CRASH", (), detail=done.stderr[-2000:])
        try:
            report = json.loads(done.stdout)
        except ValueError:
            return Outcome(f"exit {done.returncode}", (), detail=done.stdout + done.stderr)
        status = str(report.get("status"))
        codes = tuple(str(e.get("code")) for e in report.get("errors", []))
        malformed = done.returncode == EXIT_MALFORMED
        if not malformed and done.returncode != EXIT.get(status):
            return Outcome(f"{status} but exit {done.returncode}", codes, malformed)
        errors = report.get("errors", [])
        steps = tuple(str(e.get("step")) for e in errors)
        reason = _reason(codes, [str(e.get("message")) for e in errors])
        return Outcome(
            status, codes, malformed, detail=done.stderr.strip(), steps=steps, reason=reason
        )

    def run(self, case: Case) -> Outcome:
        if self._results is None:
            todo = [(i, c) for i, c in enumerate(CASES) if CLI in c.interfaces]
            # Build every input here, in this thread: World is not thread-safe.
            linked_data = [(i, c) for i, c in todo if _is_json_ld(self.world.input(c))]
            rest = [item for item in todo if item not in linked_data]
            # JSON-LD inputs go first, at most one per core: RDF canonicalization has a 1 s
            # wall-clock budget that includes a cold process's context loading, and under CPU
            # contention a valid credential then comes out `invalid` (a product bug, pinned by
            # test_canonicalization_budget_overrun_is_not_proof_of_invalidity).
            results: dict[str, Outcome] = {}
            for batch, workers in ((linked_data, os.cpu_count() or 1), (rest, CLI_WORKERS)):
                with ThreadPoolExecutor(workers) as pool:
                    outcomes = pool.map(lambda item: self._one(*item), batch)
                    results.update((c.name, o) for (_, c), o in zip(batch, outcomes, strict=True))
            self._results = results
        return self._results[case.name]


def _is_json_ld(data: str | dict[str, Any]) -> bool:
    return isinstance(data, dict) and "proof" in data


# ------------------------------------------------------------------------------------------
# fixtures and the test


@dataclass
class Interfaces:
    library: Library
    service: Service
    service_400: Service
    command: Command
    openid4vp: OpenID4VP

    def run(self, interface: str, case: Case) -> Outcome:
        if interface == LIBRARY:
            return self.library.run(case)
        if interface == SERVICE:
            return self.service.run(case)
        if interface == SERVICE_400:
            return self.service_400.run(case)
        if interface == OPENID4VP:
            return self.openid4vp.run(case)
        assert interface == CLI, interface
        return self.command.run(case)


@pytest.fixture(scope="module")
def interfaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interfaces]:
    with ExitStack() as stack:
        server = stack.enter_context(running_server())
        world = World(server)
        service = Service(world, stack)
        yield Interfaces(
            Library(world, stack),
            service,
            Service(world, stack, failure_status=400),
            Command(world, tmp_path_factory.mktemp("cross")),
            OpenID4VP(world, stack, service),
        )


def _param(case: Case) -> Any:
    marks = []
    if case.bug is not None:
        marks.append(pytest.mark.xfail(strict=True, reason=f"BUG: {case.bug}"))
    return pytest.param(case, id=case.name, marks=marks)


def test_the_table_is_big_and_names_are_unique() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    for case in CASES:
        assert (case.status is Status.VALID) == (not case.codes), case.name
        if case.reason is not None:
            assert case.codes[:1] == ("invalid_presentation",), case.name


def test_openid4vp_carries_60_cases_and_says_why_not_the_others() -> None:
    everywhere = [c for c in CASES if set(c.interfaces) == set(INTERFACES)]
    assert len(everywhere) >= 60, len(everywhere)
    # Every format OpenID4VP carries: vc+jwt inside vp+jwt, dc+sd-jwt (and a bare vc+jwt
    # where a presentation is required).
    assert any(c.name.startswith("vp+jwt") for c in everywhere)
    assert any(c.name.startswith("SD-JWT") for c in everywhere)
    for case in CASES:
        if OPENID4VP not in case.interfaces:
            assert case.not_openid4vp, f"{case.name}: excluded from OpenID4VP without a reason"
        else:
            assert case.not_openid4vp is None, case.name


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_same_answer_through_every_interface(case: Case, interfaces: Interfaces) -> None:
    got = {name: interfaces.run(name, case) for name in case.interfaces}
    wrong = []
    for name, outcome in got.items():
        want = expected(case, name)
        same = outcome.key() == want.key()
        if want.malformed is not None:
            same = same and outcome.malformed == want.malformed
        if not same:
            wrong.append(
                f"{name}: got {outcome.status} {list(outcome.codes)}"
                f"{'' if outcome.malformed is None else f' malformed={outcome.malformed}'}"
                f"{'' if outcome.reason is None else f' reason={outcome.reason}'}"
                f" — expected {want.status} {list(want.codes)}"
                f"{'' if want.malformed is None else f' malformed={want.malformed}'}"
                f"{'' if want.reason is None else f' reason={want.reason}'}"
                f"\n    ({outcome.detail[:400]})"
            )
    assert not wrong, f"{case.name}: {len(wrong)} interface(s) differ\n  " + "\n  ".join(wrong)
    steps = {name: outcome.steps for name, outcome in got.items() if outcome.steps}
    assert len(set(steps.values())) <= 1, f"{case.name}: the failing steps differ: {steps}"


def test_canonicalization_budget_overrun_is_not_proof_of_invalidity(
    interfaces: Interfaces,
) -> None:
    """Deterministic form of what a loaded machine does to a cold `ancre verify`: the clock
    the budget reads jumps 2 s per reading, as a starved process would see it."""
    from types import SimpleNamespace
    from unittest import mock

    import ancre.trust.vcdm.jsonld as jsonld

    case = next(c for c in CASES if c.name == "DI eddsa-rdfc-2022 minimal VCDM 2.0")
    ticks = iter(range(0, 10_000, 2))
    slow = SimpleNamespace(perf_counter=lambda: float(next(ticks)))
    with mock.patch.object(jsonld, "time", slow):
        outcome = interfaces.library.run(case)
    assert (outcome.status, list(outcome.codes)) == (
        Status.INDETERMINATE.value,
        ["canonicalization_timeout"],
    ), outcome
