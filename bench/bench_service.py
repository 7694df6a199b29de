"""Verifier service under concurrent loopback load: verifications/s, p50/p99, failures.

`python -m bench.bench_service` starts the VC-API verifier (`ancre.verifier.service`) under
uvicorn in separate processes (1 worker, 2 workers) and drives `POST /credentials/verify`
from this process over HTTP/1.1 keep-alive loopback connections, CONCURRENCY requests in
flight. The machine drifts, so 1 worker and 2 workers take turns, ROUNDS windows of
SECONDS each, and are compared round by round. All checks are on: the
reference `gx:LegalPerson` vc+jwt (Ed25519, did:key) carries a W3C BitstringStatusList
entry, and its issuer must be listed, for that type and with an FR-only constraint, in a
signed `trust-list+jwt` (registry did:key). A loopback HTTP server in this process serves
both lists; each service process fetches them once and then answers from its caches. A
response counts as a success only if its JSON says `"verified": true`; a first request per
server, with `returnResults`, checks that nothing failed or was skipped, and the library
pipeline, run once with the same settings, must report the status and trust steps as run
and passed.

Two load generators, so the reader can tell which side limits a figure:
- `raw`: one asyncio `Protocol` per connection writing a pre-built request and parsing the
  response by Content-Length (~15 µs of CPU per request);
- `httpx`: an `httpx.AsyncClient` per in-flight request (see `_httpx_load` for why not one
  shared pool), what a Python client would use.
Both are also run against a bare asyncio HTTP responder in another process (their own
ceiling), and the raw one against the service's `GET /health` (the framework's ceiling).
Columns `srv`/`gen`: cores used over the measured window by the server's processes (from
/proc) and by this process (the generator); `µs/req`: server CPU per request. The machine
has 2 vCPUs that do not always deliver 2 cores (the header line measures it): under
contention a vCPU's CPU time runs slower, so `µs/req` is inflated when both are busy.

Last, a diagnostic: one worker under cProfile during a measured window (the service
verifies on its event loop while its caches are warm, so one thread is the whole story),
its own time grouped by layer (h11, uvicorn, starlette/FastAPI, ancre
pipeline, ...). cProfile inflates pure-Python layers more than C ones: read proportions.
`ANCRE_BENCH_SECONDS` (default 1) and `ANCRE_BENCH_CONCURRENCY` (48) change the load.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench._harness import calibrate, rate, reference_credential

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = int(os.environ.get("ANCRE_BENCH_CONCURRENCY", "48"))
#: The measured window of one round; the single rows measure 1-2 of these.
SECONDS = float(os.environ.get("ANCRE_BENCH_SECONDS", "1"))
#: Warm-up before a measured window (first contact with a server; shorter on a warm one).
WARMUP = 1.0
NOW = datetime(2026, 6, 1, tzinfo=UTC)
_ENV = "ANCRE_BENCH_SERVICE_"
_FAST_OK = b'"verified":true'
_TICK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------
# server side (runs in the uvicorn process: settings come from the environment)


def app_factory() -> Any:
    """`uvicorn bench.bench_service:app_factory --factory`: the service, all checks on."""
    from ancre.trust.clock import FixedClock
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.policy import VerificationPolicy
    from ancre.verifier.service import VerifierSettings, create_app

    env = os.environ
    return create_app(
        VerifierSettings(
            policy=VerificationPolicy(),
            trust_list_url=env[_ENV + "TRUST_LIST_URL"],
            registry_did=env[_ENV + "REGISTRY_DID"],
            network=NetworkPolicy(allow_loopback=True, allow_http=True),
            clock=FixedClock(datetime.fromisoformat(env[_ENV + "NOW"])),
        )
    )


def _null_server(port: int) -> None:
    """A bare asyncio HTTP/1.1 responder: the generators' ceiling (no framework at all)."""
    body = b'{"verified":true}'
    reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    reply += b"content-length: %d\r\n\r\n%s" % (len(body), body)

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].lower()
                length = 0
                at = head.find(b"content-length:")
                if at >= 0:
                    length = int(head[at + 15 :].split(b"\r\n", 1)[0])
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length :]
                self.transport.write(reply)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def _serve(port: int, *, profile_out: str | None) -> None:
    """One uvicorn worker in this process (diagnostics only). `profile_out`: cProfile the
    worker between SIGUSR1 and SIGUSR2, write the stats there when SIGINT stops it (the
    service verifies on its event loop when its caches are warm, so one thread is the
    whole story)."""
    import uvicorn

    profile = cProfile.Profile()
    if profile_out:
        # Profile the measured window only (not start-up, imports, first fetches): the load
        # generator sends SIGUSR1 when its window opens and SIGUSR2 when it closes.
        signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
        signal.signal(signal.SIGUSR2, lambda *_: profile.disable())
    try:
        uvicorn.run(
            app_factory(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        if profile_out:
            profile.disable()
            profile.create_stats()
            profile.dump_stats(profile_out)


# ------------------------------------------------------------------------------------------
# fixture: the credential, its status list and the trust list, served on loopback


@dataclass
class Fixture:
    token: str
    did: str
    body: bytes
    env: dict[str, str]


def _fixture(base: str, documents: dict[str, bytes]) -> Fixture:
    from ancre.trust.did.key import did_key_from_public_key
    from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
    from ancre.trust.keys.jwk import PrivateKey
    from ancre.trust.status.bitstring import BitstringStatusList
    from ancre.trust.trust_list.model import (
        ANCHOR_SERVICE,
        ClaimConstraint,
        EntryStatus,
        StatusPeriod,
        TrustedEntity,
        TrustedService,
        TrustListDocument,
    )
    from ancre.trust.trust_list.signed import sign_trust_list

    # The reference credential of bench/__main__.py (`_token`), plus a status entry.
    key = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(key.public_key)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    credential = reference_credential(did)
    revocations = BitstringStatusList()
    list_url = f"{base}/status/1"
    for _ in range(1300):  # ~1 % of the 131,072 entries revoked, none of them ours
        revocations.set(revocations.allocate())
    index = revocations.allocate()
    credential["credentialStatus"] = revocations.entry(index, status_list_credential=list_url)
    token = issue_vc_jwt(credential, key, kid)
    status_list = revocations.credential(id=list_url, issuer=did, valid_from=start)
    documents["/status/1"] = issue_vc_jwt(status_list, key, kid).encode()

    registry_key = PrivateKey.generate("ed25519")
    registry = did_key_from_public_key(registry_key.public_key)
    anchor_id = "did:web:association.example"
    since = StatusPeriod(EntryStatus.ACTIVE, datetime(2025, 1, 1, tzinfo=UTC))
    fr_only = (ClaimConstraint("credentialSubject.gx:legalAddress.gx:countryCode", ("FR",)),)
    agency = TrustedEntity(
        id=did,
        name="Agence de certification",
        accredited_by=anchor_id,
        services=(
            TrustedService("gx:LegalPerson", (since,), constraints=fr_only),
            TrustedService("gx:VatID", (since,)),
        ),
    )
    anchor = TrustedEntity(
        id=anchor_id, name="Association", services=(TrustedService(ANCHOR_SERVICE, (since,)),)
    )
    document = TrustListDocument(
        sequence=1,
        issued_at=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=30),
        operator_name="Bench data space",
        scheme_name="Trusted credential issuers",
        entities=(agency, anchor),
    )
    documents["/trust-list"] = sign_trust_list(
        document,
        registry_key,
        kid=f"{registry}#{registry.removeprefix('did:key:')}",
        issuer=registry,
    ).encode()
    body = json.dumps({"verifiableCredential": envelope_credential(token)}).encode()
    env = {
        _ENV + "TRUST_LIST_URL": f"{base}/trust-list",
        _ENV + "REGISTRY_DID": registry,
        _ENV + "NOW": NOW.isoformat(),
    }
    return Fixture(token, did, body, env)


@contextlib.contextmanager
def _documents_host() -> Iterator[tuple[str, dict[str, bytes], dict[str, int]]]:
    documents: dict[str, bytes] = {}
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[self.path] = hits.get(self.path, 0) + 1
            found = documents.get(self.path)
            if found is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(found)))
            self.send_header("Cache-Control", "max-age=3600")
            self.end_headers()
            self.wfile.write(found)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", documents, hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _cross_check(fixture: Fixture) -> tuple[list[str], float]:
    """The library pipeline, same settings: status and trust ran and passed (not skipped);
    and its cost per verification in this process, caches warm (seconds)."""
    import httpx

    from ancre.trust.clock import FixedClock
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.result import Step
    from ancre.trust.status.checker import StatusListChecker
    from ancre.trust.trust_list.client import TrustListClient
    from ancre.verifier.pipeline import verify

    loopback = NetworkPolicy(allow_loopback=True, allow_http=True)
    clock = FixedClock(NOW)
    with httpx.Client(trust_env=False) as client:
        resolver = default_resolver(http_client=client, network=loopback, clock=clock)
        status = StatusListChecker(client=client, resolver=resolver, network=loopback)
        trust = TrustListClient(
            fixture.env[_ENV + "TRUST_LIST_URL"],
            registry=fixture.env[_ENV + "REGISTRY_DID"],
            resolver=resolver,
            clock=clock,
            http_client=client,
            network=loopback,
        )
        result = verify(fixture.token, resolver=resolver, clock=clock, status=status, trust=trust)
        assert result.valid, result.errors
        ran = {c.step: c for c in result.checks}
        for step in (Step.SIGNATURE, Step.SCHEMA, Step.STATUS, Step.TRUST):
            assert step in ran, step
            assert ran[step].ok, ran[step]
            assert not ran[step].skipped, ran[step]

        def once() -> object:
            return verify(fixture.token, resolver=resolver, clock=clock, status=status, trust=trust)

        n = calibrate(once, 0.1)
        per_call = statistics.median(1 / rate(once, n) for _ in range(3))
    return [c.step.value for c in result.checks if c.ok and not c.skipped], per_call


# ------------------------------------------------------------------------------------------
# processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _cpu(pids: list[int]) -> dict[int, tuple[float, float]]:
    """CPU seconds (user, system) of each process."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) / _TICK, int(fields[12]) / _TICK)
        except (OSError, ValueError, IndexError):
            continue
    return out


class Server:
    """A server subprocess on a free loopback port; stopped (SIGINT, then kill) on exit."""

    def __init__(
        self, args: list[str], env: dict[str, str], ready_path: str = "/", *, wait: bool = True
    ) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args, self.ready_path = args, ready_path
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, *[a.replace("{port}", str(self.port)) for a in args]]
        self.process = subprocess.Popen(command, env=full_env, cwd=ROOT)
        if wait:
            self.wait()

    def wait(self) -> None:
        """Until the server answers an HTTP request (30 s at most)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.args}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(f"GET {self.ready_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.args}")

    def pids(self) -> list[int]:
        return _tree(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _uvicorn(workers: int) -> list[str]:
    return [
        "-m",
        "uvicorn",
        "bench.bench_service:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


# ------------------------------------------------------------------------------------------
# load generators


@dataclass
class Load:
    seconds: float
    latencies: list[float]
    failures: int
    server_cores: float
    generator_cores: float
    per_worker: list[float]
    #: The share of the server's CPU time spent in the kernel (sockets, scheduling).
    server_sys: float
    #: For merged rounds: the median of the rounds' rates.
    median_rate: float | None = None

    @property
    def rate(self) -> float:
        if self.median_rate is not None:
            return self.median_rate
        return len(self.latencies) / self.seconds

    @classmethod
    def merge(cls, loads: list[Load]) -> Load:
        """Rounds of one configuration: latencies and CPU pooled, rate the median round."""
        seconds = sum(x.seconds for x in loads)
        width = max(len(x.per_worker) for x in loads)
        return cls(
            seconds,
            [t for x in loads for t in x.latencies],
            sum(x.failures for x in loads),
            sum(x.server_cores * x.seconds for x in loads) / seconds,
            sum(x.generator_cores * x.seconds for x in loads) / seconds,
            [
                sum(x.per_worker[i] * x.seconds for x in loads if i < len(x.per_worker)) / seconds
                for i in range(width)
            ],
            sum(x.server_sys * x.server_cores * x.seconds for x in loads)
            / max(sum(x.server_cores * x.seconds for x in loads), 1e-9),
            statistics.median(len(x.latencies) / x.seconds for x in loads),
        )

    def line(self, label: str) -> str:
        lat = sorted(self.latencies) or [float("nan")]
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        cpu = self.server_cores / self.rate * 1e6 if self.latencies else float("nan")
        workers = "+".join(f"{c:.2f}" for c in self.per_worker) if len(self.per_worker) > 1 else ""
        return (
            f"{label:<38}{self.rate:>7,.0f}{p50:>7.1f}{p99:>7.1f}{self.failures:>5}"
            f"{self.server_cores:>6.2f}{self.generator_cores:>5.2f}{cpu:>7,.0f}"
            f"{self.server_sys:>5.0%}  {workers}"
        )


HEADER = (
    f"{'row':<38}{'req/s':>7}{'p50ms':>7}{'p99ms':>7}{'fail':>5}"
    f"{'srv':>6}{'gen':>5}{'µs/req':>7}{'sys':>5}  (srv/gen: cores; µs/req, sys: server CPU)"
)


def _request(method: str, path: str, body: bytes) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class _RawConnection(asyncio.Protocol):
    """Keep-alive HTTP/1.1 client: one request in flight, sent again on each response."""

    def __init__(self, run: _RawRun) -> None:
        self.run = run
        self.buffer = b""
        self.sent = 0.0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send()

    def send(self) -> None:
        self.sent = time.perf_counter()
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end]
        at = head.lower().find(b"content-length:")
        length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        self.run.record(self.sent, head, body)
        if not self.run.stopping:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.closed += 1


class _RawRun:
    def __init__(self, request: bytes, check: bool) -> None:
        self.request = request
        self.check = check
        self.stopping = False
        self.measuring = False
        self.latencies: list[float] = []
        self.failures = 0
        self.closed = 0

    def record(self, sent: float, head: bytes, body: bytes) -> None:
        if not self.measuring:
            return
        self.latencies.append(time.perf_counter() - sent)
        if self.check and not _ok(head, body):
            self.failures += 1


def _ok(head: bytes, body: bytes) -> bool:
    if _FAST_OK in body:
        return True
    try:
        return json.loads(body).get("verified") is True
    except (ValueError, AttributeError):
        return False


@dataclass
class _Window:
    """CPU of the server processes and of this process over the measured window."""

    pids: list[int]
    warmup: float
    hooks: tuple[Any, Any] = (None, None)
    start_wall: float = 0.0
    start_server: dict[int, tuple[float, float]] = field(default_factory=dict)
    start_self: float = 0.0

    def open(self) -> None:
        if self.hooks[0] is not None:
            self.hooks[0]()
        self.start_server = _cpu(self.pids)
        times = os.times()
        self.start_self = times.user + times.system
        self.start_wall = time.perf_counter()

    def close(self, latencies: list[float], failures: int) -> Load:
        wall = time.perf_counter() - self.start_wall
        times = os.times()
        end = _cpu(self.pids)
        if self.hooks[1] is not None:
            self.hooks[1]()
        user = {p: end[p][0] - self.start_server.get(p, (0.0, 0.0))[0] for p in end}
        system = {p: end[p][1] - self.start_server.get(p, (0.0, 0.0))[1] for p in end}
        used = {p: user[p] + system[p] for p in end}
        busy = sorted((u / wall for u in used.values() if u / wall > 0.05), reverse=True)
        total = sum(used.values())
        return Load(
            wall,
            latencies,
            failures,
            total / wall,
            (times.user + times.system - self.start_self) / wall,
            busy,
            sum(system.values()) / total if total else 0.0,
        )


async def _raw_load(
    base: str, request: bytes, window: _Window, seconds: float, check: bool
) -> Load:
    loop = asyncio.get_running_loop()
    run = _RawRun(request, check)
    host, port = base.removeprefix("http://").split(":")
    connections = [
        await loop.create_connection(lambda: _RawConnection(run), host, int(port))
        for _ in range(CONCURRENCY)
    ]
    await asyncio.sleep(window.warmup)
    run.measuring = True
    window.open()
    await asyncio.sleep(seconds)
    run.measuring = False
    load = window.close(run.latencies, run.failures)
    run.stopping = True
    await asyncio.sleep(0.2)
    for transport, _ in connections:
        transport.close()
    return load


@contextlib.contextmanager
def _no_sniffio_probe() -> Iterator[None]:
    """httpcore 1.0.9 runs `import sniffio` several times per async request; sniffio is not
    installed (anyio 4.16 dropped it), so each attempt scans sys.path (~1 ms a request
    here). A None entry in sys.modules makes the import fail at once, with the same
    outcome ("asyncio"). Only while the httpx generator runs, and only if it is absent."""
    if "sniffio" in sys.modules:
        yield
        return
    try:
        __import__("sniffio")
    except ImportError:
        sys.modules["sniffio"] = None  # type: ignore[assignment]
        try:
            yield
        finally:
            sys.modules.pop("sniffio", None)
    else:
        yield


async def _httpx_load(
    base: str, method: str, path: str, body: bytes, window: _Window, seconds: float, check: bool
) -> Load:
    """CONCURRENCY tasks, each with its own `httpx.AsyncClient` (one keep-alive connection):
    one shared pool is quadratic in httpcore 1.0.9 (encode/httpcore#1035; 48 tasks on one
    client managed 75 req/s against the bare server here)."""
    import httpx

    latencies: list[float] = []
    failures = 0
    state = {"measuring": False, "stop": False}
    headers = {"Content-Type": "application/json"} if body else {}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=base, limits=limits, trust_env=False) for _ in range(CONCURRENCY)
    ]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not state["stop"]:
            sent = time.perf_counter()
            response = await client.request(method, path, content=body, headers=headers)
            if state["measuring"]:
                latencies.append(time.perf_counter() - sent)
                if check and not _ok(b"", response.content):
                    failures += 1

    tasks = [asyncio.create_task(worker(c)) for c in clients]
    await asyncio.sleep(window.warmup)
    state["measuring"] = True
    window.open()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    load = window.close(latencies, failures)
    state["stop"] = True
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    return load


def _load(
    kind: str,
    server: Server,
    method: str,
    path: str,
    body: bytes,
    check: bool,
    *,
    seconds: float = SECONDS,
    warmup: float = WARMUP,
    hooks: tuple[Any, Any] = (None, None),
) -> Load:
    window = _Window(server.pids(), warmup, hooks)
    if kind == "raw":
        request = _request(method, path, body)
        return asyncio.run(_raw_load(server.base, request, window, seconds, check))
    with _no_sniffio_probe():
        return asyncio.run(_httpx_load(server.base, method, path, body, window, seconds, check))


def _first_response(server: Server, fixture: Fixture) -> str:
    """One request asking for the detailed results: every step ran, none was skipped.

    Either response shape is accepted: the older `{"checks": [steps run]}` or VC-API's
    `{"problemDetails": [...], "results": {...}}`, where a skipped step is a warning in
    `problemDetails` (so an empty list means the status and trust steps ran and passed)."""
    import httpx

    body = json.loads(fixture.body)
    body["options"] = {"returnResults": True}
    with httpx.Client(base_url=server.base, trust_env=False) as client:
        answer = client.post("/credentials/verify", json=body).json()
    assert answer.get("verified") is True, answer
    if "checks" in answer:
        assert {"status", "trust"} <= set(answer["checks"]), answer
        return "response lists the status and trust checks"
    assert answer.get("problemDetails") == [], answer
    status = answer.get("results", {}).get("credentialStatus", [])
    assert status, answer
    assert all(item["verified"] for item in status), answer
    return "no problemDetails (nothing failed or skipped), results.credentialStatus verified"


# ------------------------------------------------------------------------------------------
# the profile diagnostic

_LAYERS = (
    ("h11 (HTTP/1.1 parser, pure Python)", ("/h11/",)),
    ("uvicorn (protocol, ASGI glue)", ("/uvicorn/",)),
    ("FastAPI's OpenTelemetry hooks (no exporter set)", ("/fastapi/telemetry/", "opentelemetry")),
    ("starlette + FastAPI (routing, request, response)", ("/starlette/", "/fastapi/")),
    ("pydantic", ("/pydantic", "pydantic_core")),
    ("anyio (thread pool, streams)", ("/anyio/",)),
    ("ancre verifier service (handler, _vc_api, metrics)", ("/verifier/service.py",)),
    ("Ed25519 signature check (cryptography, C)", ("ed25519",)),
    (
        "ancre pipeline (parse, data model, schema, status, trust)",
        ("/trust/", "/verifier/pipeline.py", "jsonschema_rs"),
    ),
    ("json (stdlib)", ("/json/",)),
    ("asyncio event loop + socket calls", ("/asyncio/", "epoll", "socket")),
)
_OTHER = "other (stdlib: contextlib, typing, abc, ...)"


def _layer(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for label, needles in _LAYERS:
        if any(n in where for n in needles):
            return label
    return _OTHER


def _profile_summary(path: str) -> list[str]:
    """Own time per layer. A builtin (isinstance, dict.get, re, str methods, ...) that no
    layer names is charged to its callers' layers, in proportion to their calls' time."""
    stats = pstats.Stats(path)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    # Verifications profiled: calls of the pipeline's entry point (one per request).
    requests = max(
        (v[1] for (f, _, n), v in raw.items() if n == "verify" and f.endswith("pipeline.py")),
        default=0,
    )
    if not requests:
        return ["  profile: no verification recorded"]
    per_layer: dict[str, float] = {}
    top: list[tuple[float, str]] = []
    for (filename, line, name), (_cc, _nc, tottime, _ct, callers) in raw.items():
        if "method 'poll' of 'select.epoll'" in name:
            continue  # idle: waiting for the network
        layer = _layer(filename, name)
        where = Path(filename).name if filename != "~" else ""
        top.append((tottime, f"{where}:{line}({name})" if where else name))
        if layer == _OTHER and filename == "~" and callers:
            edges = {caller: edge[2] for caller, edge in callers.items()}
            total = sum(edges.values()) or 1.0
            for (cfile, _, cname), edge_time in edges.items():
                share = tottime * edge_time / total
                clayer = _layer(cfile, cname)
                per_layer[clayer] = per_layer.get(clayer, 0.0) + share
            continue
        per_layer[layer] = per_layer.get(layer, 0.0) + tottime
    busy = sum(per_layer.values())
    lines = [f"  profile, {requests:,} requests: {busy / requests * 1e6:,.0f} µs/request busy"]
    for layer, seconds in sorted(per_layer.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {layer:<58}{seconds / requests * 1e6:>6,.0f} µs {seconds / busy:>6.1%}")
    top.sort(reverse=True)
    lines.append("    top functions (own µs/request):")
    for seconds, name in top[:5]:
        lines.append(f"      {seconds / requests * 1e6:>5,.0f}  {name[:90]}")
    return lines


def _parallelism() -> float:
    """How many cores' worth of pure-Python work 2 processes get now, vs 1 (this machine's
    2 vCPUs do not always deliver 2 cores): median of 3 alternating pairs."""
    code = (
        "import time\nn=0\nend=time.perf_counter()+0.25\n"
        "while time.perf_counter()<end:\n    n+=1\nprint(n)"
    )

    def spin(k: int) -> int:
        procs = [
            subprocess.Popen([sys.executable, "-S", "-c", code], stdout=subprocess.PIPE)
            for _ in range(k)
        ]
        return sum(int(p.communicate()[0]) for p in procs)

    return statistics.median(spin(2) / spin(1) for _ in range(3))


ROUNDS = 3


def main() -> None:
    print(__doc__.strip().splitlines()[0])
    missing = [m for m in ("uvloop", "httptools") if not _importable(m)]
    if missing:
        print(f"  {' and '.join(missing)} not installed: uvicorn runs on asyncio + h11")
    print(
        f"  {CONCURRENCY} requests in flight; right now 2 processes get {_parallelism():.2f}x"
        " one core's work (2 vCPUs)"
    )
    post = ("POST", "/credentials/verify")
    with contextlib.ExitStack() as stack, _documents_host() as (base, documents, hits):
        fixture = _fixture(base, documents)
        steps, per_call = _cross_check(fixture)
        print(f"  library cross-check, same settings: valid; ran {', '.join(steps)}")
        print(
            f"  pipeline alone (in-process, caches warm): {per_call * 1e6:,.0f} µs/verification"
            f" = {1 / per_call:,.0f}/s per core"
        )
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        out = str(Path(tmp) / "worker.prof")
        profiled = ["-m", "bench.bench_service", "serve", "{port}", "--profile", out]
        null = ["-m", "bench.bench_service", "null-server", "{port}"]
        servers = [
            stack.enter_context(Server(args, env, "/health", wait=False))
            for args, env in (
                (_uvicorn(1), fixture.env),
                (_uvicorn(2), fixture.env),
                (profiled, fixture.env),
                (null, {}),
            )
        ]
        for server in servers:
            server.wait()
        one, two, diag, bare = servers
        evidence = ""
        for server in (one, two, diag):
            fetched = sum(hits.values())
            evidence = _first_response(server, fixture)
            assert sum(hits.values()) > fetched  # each service fetched the lists itself

        # The machine drifts: the three configurations take turns, ROUNDS times, and each
        # is compared with 1 worker round by round (median of the per-round ratios).
        rounds: list[list[Load]] = [[], []]
        for n in range(ROUNDS):
            for i, server in enumerate((one, two)):
                warm = WARMUP / 2 if n == 0 else WARMUP / 4
                load = _load("raw", server, *post, fixture.body, True, seconds=SECONDS, warmup=warm)
                rounds[i].append(load)
        print(
            f"{ROUNDS} rounds of {SECONDS:g} s per configuration, in turn;"
            " x: vs 1 worker, median of per-round ratios"
        )
        print(HEADER)
        labels = ("verify, 1 worker, raw client", "verify, 2 workers, raw client")
        for i, label in enumerate(labels):
            ratio = statistics.median(
                a.rate / b.rate for a, b in zip(rounds[i], rounds[0], strict=True)
            )
            print(Load.merge(rounds[i]).line(label) + (f" x{ratio:.2f}" if i else ""))
        load = _load("httpx", two, *post, fixture.body, True, seconds=2 * SECONDS, warmup=0.25)
        print(load.line("verify, 2 workers, httpx client"))
        load = _load("raw", two, "GET", "/health", b"", False, seconds=2 * SECONDS, warmup=0.25)
        print(load.line("GET /health, 2 workers, raw client"))
        for kind in ("raw", "httpx"):
            load = _load(kind, bare, "POST", "/", fixture.body, False, seconds=SECONDS, warmup=0.3)
            print(load.line(f"generator ceiling (bare server), {kind}"))
        print(f"  each service: {evidence}")
        print(f"  list fetches (service processes + cross-check): {dict(sorted(hits.items()))}")
        print("  diag: where one worker's time goes, under cProfile:")
        hooks = (
            lambda: diag.process.send_signal(signal.SIGUSR1),
            lambda: diag.process.send_signal(signal.SIGUSR2),
        )
        load = _load(
            "raw", diag, *post, fixture.body, True, seconds=2 * SECONDS, warmup=0.25, hooks=hooks
        )
        print(load.line("diag: 1 worker, cProfile"))
        diag.stop()
        for line in _profile_summary(out):
            print(line)


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "null-server":
        _null_server(int(sys.argv[2]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "serve":
        _serve(
            int(sys.argv[2]),
            profile_out=sys.argv[sys.argv.index("--profile") + 1]
            if "--profile" in sys.argv
            else None,
        )
    else:
        main()
