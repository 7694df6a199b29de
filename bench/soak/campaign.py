"""The campaign: steady load on each service, SIGKILL of each mid-load, a PostgreSQL outage
under load, then the invariants (credentials received = found in the database, status
indexes unique, audit chains whole)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ancre.issuer.templates import Authorization
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.jose.vc_jose import envelope_credential
from ancre.trust.keys.jwk import PrivateKey
from bench.soak.cluster import Cluster
from bench.soak.load import Operation, RequestFailedError, Tally, Window, call, drive
from bench.soak.services import ANCHOR, CREDENTIAL_TYPE, Deployment, Service, issuer_library

CLAIMS = {
    "schema:name": "DANONE",
    "gx:registrationNumber": {"id": "https://danone.example/participant#lrn"},
    "gx:legalAddress": {"type": "gx:Address", "gx:countryCode": "FR"},
    "gx:headquartersAddress": {"type": "gx:Address", "gx:countryCode": "FR"},
}
OPERATOR = Authorization(method="operator", actor="soak", register_checked=True)
#: How long the services may take to answer 2xx again once PostgreSQL is back.
RECOVERY_SECONDS = 30.0
#: PostgreSQL's downtime in the outage phase.
OUTAGE_SECONDS = 3.0


@dataclass
class Settings:
    seconds: float = 60.0  # each steady load phase
    fault_seconds: float = 0.0  # load before and after each fault (0: a quarter of `seconds`)
    concurrency: int = 16
    kill: tuple[str, ...] = ("registry", "issuer", "verifier")
    outage: bool = True
    #: Damage the databases before the checks (`--sabotage`): every invariant on the stored
    #: state must then fail, which shows the checks can.
    sabotage: bool = False

    @property
    def around_fault(self) -> float:
        return self.fault_seconds or max(1.0, self.seconds / 4)


@dataclass
class Phase:
    name: str
    service: str
    kind: str  # steady | kill | outage
    tally: Tally = field(default_factory=Tally)
    seconds: float = 0.0
    faults: int = 0
    recovered: bool | None = None
    recovery_seconds: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "kind": self.kind,
            "seconds": round(self.seconds, 2),
            "faults_injected": self.faults,
            "recovered": self.recovered,
            "recovery_seconds": self.recovery_seconds,
            "note": self.note,
            **self.tally.to_json(),
        }


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


class Clients:
    """What the load's clients do, and what they received (credential ids, registry DIDs)."""

    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment
        self.issuer_lib = issuer_library(deployment)
        self.received: set[str] = set()  # credential ids the wallets received
        self.added: set[str] = set()  # issuer DIDs the registry answered 201 for
        self.offers_unavailable = 0  # offers the harness could not create (database down)
        self.key = PrivateKey.generate("p256")
        self.credentials: list[str] = []  # for the verifier's load
        self._lock = threading.Lock()
        iss = deployment.issuer.url
        self.token_url, self.nonce_url, self.credential_url = (
            f"{iss}/token",
            f"{iss}/nonce",
            f"{iss}/credential",
        )

    # -- registry: concurrent writes (a new trusted issuer) and reads of the trust list --
    async def registry_op(self, http: httpx.AsyncClient, tally: Tally, window: Window) -> None:
        url = self.d.registry.url
        did = f"did:web:soak-{uuid.uuid4().hex}.example"
        body = {
            "did": did,
            "legal_name": "Soak issuer",
            "accredited_by": ANCHOR,
            "credential_types": {CREDENTIAL_TYPE: []},
        }
        headers = {"Authorization": f"Bearer {self.d.token}"}
        await call(
            http,
            tally,
            window,
            "POST",
            f"{url}/admin/issuers",
            expect=201,
            json=body,
            headers=headers,
        )
        self.added.add(did)
        for _ in range(3):
            await call(http, tally, window, "GET", f"{url}/trust-list", expect=200)

    # -- issuer: the whole pre-authorized code flow -------------------------------------
    async def issuer_op(self, http: httpx.AsyncClient, tally: Tally, window: Window) -> None:
        credential = await self.issue(http, tally, window)
        if credential is not None and len(self.credentials) < 64:
            self.credentials.append(credential)

    def _offer(self) -> str | None:
        try:
            offer = self.issuer_lib.create_offer("LegalPerson", CLAIMS, authorization=OPERATOR)
        except Exception:  # noqa: BLE001 — the database is down: the harness's own step, not the service's
            with self._lock:
                self.offers_unavailable += 1
            return None
        code: str = offer.pre_authorized_code
        return code

    async def issue(self, http: httpx.AsyncClient, tally: Tally, window: Window) -> str | None:
        code = await asyncio.to_thread(self._offer)
        if code is None:
            await asyncio.sleep(0.2)
            return None
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": code,
        }
        token = await call(http, tally, window, "POST", self.token_url, expect=200, data=form)
        access = token.json()["access_token"]
        nonce = await call(http, tally, window, "POST", self.nonce_url, expect=200)
        proof = self._proof(nonce.json()["c_nonce"])
        body = {"credential_configuration_id": "LegalPerson", "proofs": {"jwt": [proof]}}
        answer = await call(
            http,
            tally,
            window,
            "POST",
            self.credential_url,
            expect=200,
            json=body,
            headers={"Authorization": f"Bearer {access}"},
        )
        credential: str = answer.json()["credentials"][0]["credential"]
        self.received.add(credential_id(credential))
        return credential

    def _proof(self, nonce: str) -> str:
        head = {
            "typ": "openid4vci-proof+jwt",
            "alg": self.key.alg,
            "jwk": self.key.public_key.to_jwk(),
        }
        payload = {"aud": self.d.issuer.url, "iat": int(time.time()), "nonce": nonce}
        signing_input = (
            b64url_encode(dumps_compact(head).encode())
            + "."
            + b64url_encode(dumps_compact(payload).encode())
        )
        return signing_input + "." + b64url_encode(self.key.sign(signing_input.encode()))

    # -- verifier: POST /credentials/verify with credentials the issuer issued --------
    async def verifier_op(self, http: httpx.AsyncClient, tally: Tally, window: Window) -> None:
        credential = self.credentials[int(time.perf_counter() * 1e6) % len(self.credentials)]
        body = {"verifiableCredential": envelope_credential(credential)}
        response = await call(
            http,
            tally,
            window,
            "POST",
            f"{self.d.verifier.url}/credentials/verify",
            expect=200,
            json=body,
        )
        if response.json().get("verified") is not True:
            tally.ok -= 1
            tally.errors += 1
            tally.note(f"verified is not true: {response.text[:300]}")
            raise RequestFailedError("not verified")

    def operation(self, service: str) -> Operation:
        return {
            "registry": self.registry_op,
            "issuer": self.issuer_op,
            "verifier": self.verifier_op,
        }[service]


def credential_id(credential: str) -> str:
    """A vc+jwt's `jti`, else its VCDM `id`."""
    payload = json.loads(b64url_decode(credential.split(".")[1]))
    found = payload.get("jti") or payload.get("id") or payload.get("vc", {}).get("id")
    if not isinstance(found, str):
        raise TypeError("an issued credential without an id")
    return found


def client(deployment: Deployment, concurrency: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=deployment.ca.context(),
        trust_env=False,
        timeout=httpx.Timeout(15.0),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )


async def _timed(phase: Phase, body: Callable[[], Any], bound: float) -> None:
    start = time.monotonic()
    try:
        await asyncio.wait_for(body(), timeout=bound)
    except TimeoutError:
        phase.note = (phase.note + f" hard timeout after {bound:.0f} s").strip()
        phase.recovered = False if phase.kind != "steady" else phase.recovered
        phase.tally.errors += 1
        phase.tally.note(f"phase exceeded its hard timeout of {bound:.0f} s")
    phase.seconds = time.monotonic() - start


@asynccontextmanager
async def _loaded(
    clients: Clients, phase: Phase, window: Window, names: Sequence[str], concurrency: int
) -> AsyncIterator[httpx.AsyncClient]:
    """`names`' operations driven (`concurrency` in flight, shared between them) for as long
    as the block runs; the load is stopped and awaited when it ends."""
    stop = asyncio.Event()
    per = max(1, concurrency // len(names))
    async with client(clients.d, concurrency) as http:
        loads = [
            asyncio.create_task(
                drive(http, clients.operation(name), phase.tally, window, stop, per)
            )
            for name in names
        ]
        yield http
        stop.set()
        await asyncio.gather(*loads)


async def steady(clients: Clients, service: str, settings: Settings) -> Phase:
    phase = Phase(f"{service} load", service, "steady")

    async def body() -> None:
        async with _loaded(clients, phase, Window(), [service], settings.concurrency):
            await asyncio.sleep(settings.seconds)

    await _timed(phase, body, settings.seconds + 60)
    return phase


async def kill(clients: Clients, service: Service, settings: Settings) -> Phase:
    phase = Phase(f"{service.name} kill -9", service.name, "kill")
    window = Window()

    async def body() -> None:
        async with _loaded(clients, phase, window, [service.name], settings.concurrency):
            await asyncio.sleep(settings.around_fault)
            window.fault = True
            started = time.monotonic()
            service.kill9()
            phase.faults += 1
            await asyncio.to_thread(service.restart)
            phase.recovery_seconds = round(time.monotonic() - started, 2)
            window.fault = False
            served = phase.tally.ok
            await asyncio.sleep(settings.around_fault)
            phase.recovered = phase.tally.ok > served

    await _timed(phase, body, 2 * settings.around_fault + 90)
    return phase


async def outage(clients: Clients, cluster: Cluster, settings: Settings) -> Phase:
    """Registry and issuer under load while PostgreSQL stops, stays down, and starts again."""
    phase = Phase("PostgreSQL restart", "registry+issuer", "outage")
    window = Window()
    names = ["registry", "issuer"]

    async def body() -> None:
        async with _loaded(clients, phase, window, names, settings.concurrency) as http:
            await asyncio.sleep(settings.around_fault)
            services = (clients.d.registry, clients.d.issuer)
            before = [s.pid() for s in services]
            window.fault = window.outage = True
            started = time.monotonic()
            await asyncio.to_thread(cluster.outage, OUTAGE_SECONDS)
            phase.faults += 1
            phase.recovered = await _recovered(http, clients)
            if [s.pid() for s in services] != before or None in before:
                phase.recovered = False  # recovered by a process that is not the same one
                phase.note = "a service process exited during the outage"
            phase.recovery_seconds = round(time.monotonic() - started, 2)
            window.fault = window.outage = False
            await asyncio.sleep(settings.around_fault)

    await _timed(phase, body, 2 * settings.around_fault + OUTAGE_SECONDS + RECOVERY_SECONDS + 60)
    return phase


async def _recovered(http: httpx.AsyncClient, clients: Clients) -> bool:
    """Both services answer a database-backed request with 2xx again (without restarting
    them) within RECOVERY_SECONDS."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    d = clients.d
    pending = ["registry", "issuer"]
    while pending and time.monotonic() < deadline:
        try:
            if pending[0] == "registry":  # a write: the database answers again
                did = f"did:web:soak-{uuid.uuid4().hex}.example"
                response = await http.post(
                    f"{d.registry.url}/admin/issuers",
                    json={
                        "did": did,
                        "legal_name": "Soak issuer",
                        "accredited_by": ANCHOR,
                        "credential_types": {CREDENTIAL_TYPE: []},
                    },
                    headers={"Authorization": f"Bearer {d.token}"},
                )
                if response.status_code == 201:
                    clients.added.add(did)
            else:
                response = await http.post(f"{d.issuer.url}/nonce")
            if response.is_success:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    return not pending


def sabotage(clients: Clients, cluster: Cluster) -> None:
    """What the checks must catch: a received credential missing from the database, two
    credentials on one status index, an edited audit event in each chain, an acknowledged
    registry write gone."""
    lost, first, second = sorted(clients.received)[:3]
    cluster.execute("issuer", "UPDATE issued_credentials SET id = id || ':lost' WHERE id = %s",
                    (lost,))  # fmt: skip
    cluster.execute(
        "issuer",
        "UPDATE issued_credentials SET (status_list, status_index) = (SELECT status_list, "
        "status_index FROM issued_credentials WHERE id = %s) WHERE id = %s",
        (first, second),
    )
    for database, table in (("issuer", "issuer_audit"), ("registry", "audit_log")):
        cluster.execute(
            database,
            f"UPDATE {table} SET details_json = '{{\"sabotaged\": true}}' "
            f"WHERE seq = (SELECT MIN(seq) + 1 FROM {table})",
        )
    gone = sorted(clients.added)[0]
    cluster.execute("registry", "DELETE FROM credential_type_grants WHERE issuer_did = %s",
                    (gone,))  # fmt: skip
    cluster.execute("registry", "DELETE FROM trusted_issuers WHERE did = %s", (gone,))


def invariants(clients: Clients, cluster: Cluster, phases: list[Phase]) -> list[Check]:
    d = clients.d
    checks = []
    for phase in phases:
        if phase.kind == "steady":
            checks.append(
                Check(
                    f"{phase.name}: zero errors",
                    phase.tally.errors == 0 and phase.tally.ok > 0,
                    f"{phase.tally.ok} ok, {phase.tally.errors} errors",
                )
            )
        elif phase.kind == "kill":
            checks.append(
                Check(
                    f"{phase.name}: restarted and serving",
                    bool(phase.recovered) and phase.tally.errors == 0,
                    f"back in {phase.recovery_seconds} s, {phase.tally.absorbed} "
                    f"absorbed, {phase.tally.errors} errors",
                )
            )
        else:
            clean = phase.tally.unclean == 0 and phase.tally.errors == 0
            checks.append(
                Check(
                    f"{phase.name}: only 503 + Retry-After while down",
                    clean,
                    f"{phase.tally.clean_503} clean 503, "
                    f"{phase.tally.unclean} other failures, statuses "
                    f"{dict(phase.tally.statuses)}",
                )
            )
            checks.append(
                Check(
                    f"{phase.name}: recovery without restarting ancre",
                    bool(phase.recovered),
                    f"2xx again {phase.recovery_seconds} s after the stop, same processes"
                    if phase.recovered
                    else f"no 2xx within {RECOVERY_SECONDS:.0f} s {phase.note}".strip(),
                )
            )
    ids = {str(row[0]) for row in cluster.query("issuer", "SELECT id FROM issued_credentials")}
    found = len(clients.received & ids)
    checks.append(
        Check(
            "credentials received = found in the database",
            found == len(clients.received) and found > 0,
            f"{len(clients.received)} received, {found} found ({len(ids)} issuance records)",
        )
    )
    duplicated = cluster.query(
        "issuer",
        "SELECT status_list, status_index, COUNT(*) FROM issued_credentials "
        "GROUP BY status_list, status_index HAVING COUNT(*) > 1",
    )
    checks.append(
        Check(
            "no duplicated status index",
            not duplicated,
            f"{len(duplicated)} duplicated (list, index)",
        )
    )
    dids = {str(r[0]) for r in cluster.query("registry", "SELECT did FROM trusted_issuers")}
    kept = len(clients.added & dids)
    checks.append(
        Check(
            "registry writes acknowledged = found",
            kept == len(clients.added),
            f"{len(clients.added)} acknowledged, {kept} found",
        )
    )
    report = clients.issuer_lib.verify_audit()
    checks.append(
        Check(
            "issuer audit chain verified",
            bool(report.ok),
            f"{report.events} events {report.reason}".strip(),
        )
    )
    with httpx.Client(verify=d.ca.context(), trust_env=False, timeout=30) as http:
        answer = http.get(
            f"{d.registry.url}/admin/audit/verify", headers={"Authorization": f"Bearer {d.token}"}
        )
        body = answer.json() if answer.status_code == 200 else {}
    checks.append(
        Check(
            "registry audit chain verified",
            body.get("ok") is True,
            f"{body.get('events')} events {body.get('reason') or ''}".strip()
            if body
            else f"HTTP {answer.status_code}",
        )
    )
    return checks


async def run(deployment: Deployment, cluster: Cluster, settings: Settings) -> dict[str, Any]:
    clients = Clients(deployment)
    # The verifier's load needs credentials: a few issued first, over the same flow.
    async with client(deployment, 4) as http:
        seed = Tally()
        for _ in range(8):
            credential = await clients.issue(http, seed, Window())
            assert credential is not None
            clients.credentials.append(credential)
    phases: list[Phase] = []
    for name in ("registry", "issuer", "verifier"):
        phases.append(await steady(clients, name, settings))
    services = {s.name: s for s in deployment.services()}
    for name in settings.kill:
        phases.append(await kill(clients, services[name], settings))
    if settings.outage:
        phases.append(await outage(clients, cluster, settings))
    if settings.sabotage:
        await asyncio.to_thread(sabotage, clients, cluster)
    checks = await asyncio.to_thread(invariants, clients, cluster, phases)
    return {
        "settings": {
            "seconds": settings.seconds,
            "around_fault": settings.around_fault,
            "concurrency": settings.concurrency,
        },
        "phases": [p.to_json() for p in phases],
        "credentials": {
            "received": len(clients.received),
            "offers_unavailable": clients.offers_unavailable,
        },
        "registry_writes": len(clients.added),
        "invariants": [c.to_json() for c in checks],
        "sabotaged": settings.sabotage,
        "ok": all(c.ok for c in checks),
    }


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2) + "\n")
