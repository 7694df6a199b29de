"""Verifier service under concurrent loopback load: verifications/s, p50/p99, failures.

`python -m bench.bench_service` starts the VC-API verifier (`ancre.verifier.service`) under
uvicorn in a separate process (1, then 2 workers) and drives `POST /credentials/verify`
from this process over HTTP/1.1 keep-alive loopback connections, CONCURRENCY requests in
flight, for SECONDS after a warm-up. All checks are on: the reference `gx:LegalPerson`
vc+jwt (Ed25519, did:key) carries a W3C BitstringStatusList entry, and the issuer must be
listed, for that type and with an FR-only constraint, in a signed `trust-list+jwt` (registry
did:key). A loopback HTTP server in this process serves both lists; the service fetches
them once (warm-up) and then answers from its caches. A response counts as a success only
if its JSON says `"verified": true`; the checks it lists must include status and trust.

Two load generators, so the reader can tell which side limits a figure:
- `raw`: one asyncio `Protocol` per connection writing a pre-built request and parsing the
  response by Content-Length (a few µs of CPU per request);
- `httpx`: an `httpx.AsyncClient` (limits sized to the concurrency), what a Python client
  would use. Its ceiling is printed against a trivial server (a bare asyncio HTTP
  responder in another process), as is the service's own `GET /health`.
CPU columns are the cores used over the measured window: the server's processes (from
/proc) and this process (the generator). The machine has 2 cores shared by both sides.

Last, a diagnostic: one worker run under cProfile while the raw generator loads it, its
own time grouped by layer (HTTP parser, uvicorn, starlette/FastAPI, ancre pipeline, ...).
cProfile inflates pure-Python layers more than C ones; read it as proportions.
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

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = int(os.environ.get("ANCRE_BENCH_CONCURRENCY", "48"))
SECONDS = float(os.environ.get("ANCRE_BENCH_SECONDS", "4"))
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
    from ancre.trust.net import NetworkPolicy
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


def _profiled_server(port: int, out: str) -> None:
    """One uvicorn worker under cProfile until SIGINT; the stats go to `out`."""
    import uvicorn

    profile = cProfile.Profile()
    profile.enable()
    try:
        uvicorn.run(
            app_factory(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    except KeyboardInterrupt:
        pass
    finally:
        profile.disable()
        profile.dump_stats(out)


# ------------------------------------------------------------------------------------------
# fixture: the credential, its status list and the trust list, served on loopback


@dataclass
class Fixture:
    token: str
    did: str
    body: bytes
    env: dict[str, str]
    documents: dict[str, bytes] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)


def _fixture(base: str, documents: dict[str, bytes]) -> Fixture:
    from ancre.trust.bitstring_status import BitstringStatusList
    from ancre.trust.credentials import Address, legal_person_credential
    from ancre.trust.did_key import did_key_from_public_key
    from ancre.trust.keys import PrivateKey
    from ancre.trust.trust_list import (
        ANCHOR_SERVICE,
        ClaimConstraint,
        EntryStatus,
        StatusPeriod,
        TrustedEntity,
        TrustedService,
        TrustListDocument,
        sign_trust_list,
    )
    from ancre.trust.vc_jose import envelope_credential, issue_vc_jwt

    # The reference credential of bench/__main__.py (`_token`), plus a status entry.
    key = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(key.public_key)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    credential = legal_person_credential(
        issuer=did,
        credential_id="urn:uuid:0f6c1a3c-1b9e-4d0e-9d1c-5c7f0b5d2a11",
        subject_id="https://danone.example/participant#lp",
        name="DANONE",
        registration_number_id="https://danone.example/participant#lrn",
        legal_address=Address("FR", "FR-75", "17 boulevard Haussmann", "75009", "Paris"),
        valid_from=start,
        valid_until=datetime(2027, 1, 1, tzinfo=UTC),
    )
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
        document, registry_key, kid=f"{registry}#{registry.removeprefix('did:key:')}", issuer=registry
    ).encode()
    body = json.dumps({"verifiableCredential": envelope_credential(token)}).encode()
    env = {
        _ENV + "TRUST_LIST_URL": f"{base}/trust-list",
        _ENV + "REGISTRY_DID": registry,
        _ENV + "NOW": NOW.isoformat(),
    }
    return Fixture(token, did, body, env, documents)


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


def _cross_check(fixture: Fixture) -> list[str]:
    """The library pipeline, same settings: status and trust ran and passed (not skipped)."""
    import httpx

    from ancre.trust.clock import FixedClock
    from ancre.trust.net import NetworkPolicy
    from ancre.trust.resolvers import default_resolver
    from ancre.trust.status import StatusListChecker
    from ancre.trust.result import Step
    from ancre.trust.trust_list import TrustListClient
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
        assert step in ran and ran[step].ok and not ran[step].skipped, (step, ran.get(step))
    return [c.step.value for c in result.checks if c.ok and not c.skipped]


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


def _cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each process."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, ValueError, IndexError):
            continue
    return out


class Server:
    """A server subprocess on a free loopback port; stopped (SIGINT, then kill) on exit."""

    def __init__(self, args: list[str], env: dict[str, str], ready_path: str = "/") -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, *[a.replace("{port}", str(self.port)) for a in args]]
        self.process = subprocess.Popen(command, env=full_env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {args}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(f"GET {ready_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1"):
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"server did not start: {args}")

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

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def line(self, label: str) -> str:
        lat = sorted(self.latencies) or [float("nan")]
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        workers = "+".join(f"{c:.2f}" for c in self.per_worker) if len(self.per_worker) > 1 else ""
        return (
            f"{label:<40}{self.rate:>8,.0f}/s{p50:>8.1f}{p99:>8.1f}{self.failures:>6}"
            f"{self.server_cores:>7.2f}{self.generator_cores:>6.2f}  {workers}"
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
    start_wall: float = 0.0
    start_server: dict[int, float] = field(default_factory=dict)
    start_self: float = 0.0

    def open(self) -> None:
        self.start_server = _cpu(self.pids)
        times = os.times()
        self.start_self = times.user + times.system
        self.start_wall = time.perf_counter()

    def close(self, latencies: list[float], failures: int) -> Load:
        wall = time.perf_counter() - self.start_wall
        times = os.times()
        end = _cpu(self.pids)
        used = {p: end[p] - self.start_server.get(p, 0.0) for p in end}
        busy = sorted((u / wall for u in used.values() if u / wall > 0.05), reverse=True)
        return Load(
            wall,
            latencies,
            failures,
            sum(used.values()) / wall,
            (times.user + times.system - self.start_self) / wall,
            busy,
        )


async def _raw_load(base: str, request: bytes, pids: list[int], *, check: bool) -> Load:
    loop = asyncio.get_running_loop()
    run = _RawRun(request, check)
    host, port = base.removeprefix("http://").split(":")
    connections = [
        await loop.create_connection(lambda: _RawConnection(run), host, int(port))
        for _ in range(CONCURRENCY)
    ]
    await asyncio.sleep(WARMUP)
    window = _Window(pids)
    run.measuring = True
    window.open()
    await asyncio.sleep(SECONDS)
    run.measuring = False
    load = window.close(run.latencies, run.failures)
    run.stopping = True
    await asyncio.sleep(0.2)
    for transport, _ in connections:
        transport.close()
    return load


async def _httpx_load(
    base: str, method: str, path: str, body: bytes, pids: list[int], *, check: bool
) -> Load:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    latencies: list[float] = []
    failures = 0
    state = {"measuring": False, "stop": False}
    headers = {"Content-Type": "application/json"} if body else {}

    async with httpx.AsyncClient(base_url=base, limits=limits, trust_env=False) as client:

        async def worker() -> None:
            nonlocal failures
            while not state["stop"]:
                sent = time.perf_counter()
                response = await client.request(method, path, content=body, headers=headers)
                if state["measuring"]:
                    latencies.append(time.perf_counter() - sent)
                    if check and not _ok(b"", response.content):
                        failures += 1

        tasks = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
        await asyncio.sleep(WARMUP)
        window = _Window(pids)
        state["measuring"] = True
        window.open()
        await asyncio.sleep(SECONDS)
        state["measuring"] = False
        load = window.close(latencies, failures)
        state["stop"] = True
        await asyncio.gather(*tasks)
    return load


def _load(kind: str, server: Server, method: str, path: str, body: bytes, check: bool) -> Load:
    pids = server.pids()
    if kind == "raw":
        return asyncio.run(_raw_load(server.base, _request(method, path, body), pids, check=check))
    return asyncio.run(_httpx_load(server.base, method, path, body, pids, check=check))


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
    assert status and all(item["verified"] for item in status), answer
    return "no problemDetails (nothing failed or skipped), results.credentialStatus verified"


# ------------------------------------------------------------------------------------------
# the profile diagnostic

_LAYERS = (
    ("h11 (HTTP/1.1 parser, pure Python)", ("/h11/",)),
    ("uvicorn (protocol, ASGI glue)", ("/uvicorn/",)),
    ("starlette + FastAPI (routing, request, response)", ("/starlette/", "/fastapi/")),
    ("pydantic", ("/pydantic", "pydantic_core")),
    ("anyio (thread pool, streams)", ("/anyio/",)),
    ("ancre verifier service (_run, _vc_api, metrics)", ("/verifier/service.py",)),
    ("ancre verification pipeline (trust/ + pipeline)", ("/trust/", "/verifier/pipeline.py")),
    ("cryptography (Ed25519 verify, C)", ("cryptography",)),
    ("json (encode/decode)", ("/json/", "_json.", "json.encoder", "json.decoder")),
    ("asyncio event loop + sockets", ("/asyncio/", "select", "socket")),
)


def _layer(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for label, needles in _LAYERS:
        if any(n in where for n in needles):
            return label
    return "other (stdlib, builtins)"


def _profile_summary(path: str) -> list[str]:
    stats = pstats.Stats(path)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    # Every request the worker served (warm-up included): calls of the endpoint function.
    requests = max(
        (v[1] for (f, _, n), v in raw.items() if n == "credentials_verify" and "service" in f),
        default=1,
    )
    per_layer: dict[str, float] = {}
    total = 0.0
    top: list[tuple[float, str]] = []
    for (filename, line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        layer = _layer(filename, name)
        if name in ("<method 'select' of 'select.epoll' objects>", "<built-in method select>"):
            layer = "(idle: waiting in epoll)"
        per_layer[layer] = per_layer.get(layer, 0.0) + tottime
        total += tottime
        top.append((tottime, f"{Path(filename).name}:{line}({name})"))
    busy = total - per_layer.get("(idle: waiting in epoll)", 0.0)
    lines = [f"  profiled worker: {requests:,} requests, {busy / requests * 1e6:,.0f} µs/request"]
    for layer, seconds in sorted(per_layer.items(), key=lambda kv: -kv[1]):
        if layer.startswith("(idle"):
            continue
        lines.append(
            f"    {layer:<52}{seconds / requests * 1e6:>7,.0f} µs {seconds / busy:>6.1%}"
        )
    top.sort(reverse=True)
    names = ", ".join(f"{n} {t / requests * 1e6:.0f}" for t, n in top[:6] if "epoll" not in n)
    lines.append(f"    top functions (own µs/request): {names}")
    return lines


# ------------------------------------------------------------------------------------------


def main() -> None:
    print(__doc__.strip().splitlines()[0])
    for mod in ("uvloop", "httptools"):
        try:
            __import__(mod)
        except ImportError:
            print(f"  {mod} not installed: uvicorn runs on asyncio + h11 (pure Python)")
    print(
        f"  concurrency {CONCURRENCY}, {WARMUP:.0f} s warm-up + {SECONDS:.0f} s measured per row,"
        f" {os.cpu_count()} cores shared by server and generator"
    )
    with _documents_host() as (base, documents, hits):
        fixture = _fixture(base, documents)
        steps = _cross_check(fixture)
        print(f"  library cross-check: valid, checks {', '.join(steps)}")
        print(
            f"{'row':<40}{'req/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'fail':>6}"
            f"{'srv':>7}{'gen':>6}  cores/worker"
        )
        post = ("POST", "/credentials/verify", fixture.body, True)
        health = ("GET", "/health", b"", False)
        for workers in (1, 2):
            with Server(_uvicorn(workers), fixture.env, "/health") as server:
                fetched = sum(hits.values())
                evidence = _first_response(server, fixture)
                if workers == 1:
                    print(f"  service sanity check: verified, {evidence}")
                assert sum(hits.values()) > fetched  # the service fetched the lists itself
                for kind in ("raw", "httpx"):
                    load = _load(kind, server, *post)
                    print(load.line(f"verify, {workers} worker(s), {kind} client"))
                if workers == 2:
                    for kind in ("raw", "httpx"):
                        load = _load(kind, server, *health)
                        print(load.line(f"GET /health, 2 workers, {kind} client"))
        with Server(["-m", "bench.bench_service", "null-server", "{port}"], {}) as null:
            for kind in ("raw", "httpx"):
                load = _load(kind, null, "POST", "/", fixture.body, False)
                print(load.line(f"generator ceiling (bare server), {kind}"))
        print(f"  list fetches by the service processes: {dict(sorted(hits.items()))}")
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "worker.prof")
            args = ["-m", "bench.bench_service", "profile-server", "{port}", out]
            with Server(args, fixture.env, "/health") as profiled:
                _first_response(profiled, fixture)
                load = _load("raw", profiled, *post)
                profiled.stop()
            print(load.line("verify, 1 worker under cProfile, raw"))
            for line in _profile_summary(out):
                print(line)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "null-server":
        _null_server(int(sys.argv[2]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "profile-server":
        _profiled_server(int(sys.argv[2]), sys.argv[3])
    else:
        main()
