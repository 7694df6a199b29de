"""Issue 12, point 18: 200 concurrent credentials whose did:web host hangs took every worker
thread, so other verifications that needed a fetch (and `/health`) waited ~24 s. Fetching
verifications are now bounded per host and overall, a host's waiting room is bounded (503
`service_busy`), and cache hits never leave the event loop."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from _asgi_server import serve
from _http_server import Route, running_server
from _support import NOW, Issuer, credential, service_verdict

from ancre.trust.clock import FixedClock
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.policy import VerificationPolicy
from ancre.verifier.service import VerifierSettings, create_app

FETCH_DEADLINE = 2.0
ATTACKERS = 200
QUEUE = 8

# 200 concurrent clients, in their own process (as real ones are).
_ATTACKER = """
import json, os, sys, threading, httpx
from collections import Counter
os.nice(10)
base, body, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = httpx.Client(base_url=base, trust_env=False, timeout=120,
                      limits=httpx.Limits(max_connections=n + 10))
print("ready", flush=True)
sys.stdin.readline()
answers = []
def attack():
    r = client.post("/credentials/verify", content=body,
                    headers={"content-type": "application/json"})
    codes = [p.get("code") for p in r.json().get("problemDetails", [])]
    answers.append([r.status_code, r.headers.get("ancre-status"), r.headers.get("retry-after"),
                    codes if r.status_code == 200 else r.json().get("code")])
threads = [threading.Thread(target=attack) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(answers), flush=True)
"""


@contextmanager
def hanging_host(at_least: int) -> Iterator[tuple[int, threading.Event]]:
    """Accepts connections and never answers; `busy` is set once `at_least` are open."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    busy, held = threading.Event(), []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            if len(held) >= at_least:
                busy.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], busy
    finally:
        listener.close()
        for conn in held:
            conn.close()


def web_issuer(port: int) -> tuple[str, PrivateKey]:
    did = f"did:web:127.0.0.1%3A{port}"
    return did, PrivateKey.generate("ed25519")


def did_document(did: str, key: PrivateKey) -> bytes:
    vm = f"{did}#key-1"
    return json.dumps(
        {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"],
            "id": did,
            "verificationMethod": [
                {
                    "id": vm,
                    "type": "JsonWebKey",
                    "controller": did,
                    "publicKeyJwk": key.public_key.to_jwk(),
                }
            ],
            "assertionMethod": [vm],
        }
    ).encode()


def test_hanging_did_web_host_does_not_starve_others() -> None:
    key_issuer = Issuer.new()
    with hanging_host(at_least=4) as (hang_port, busy), running_server() as healthy:
        hanging_did, hanging_key = web_issuer(hang_port)
        healthy_did, healthy_key = web_issuer(healthy.port)
        healthy.routes["/.well-known/did.json"] = Route(
            body=did_document(healthy_did, healthy_key),
            headers={"Content-Type": "application/did+json"},
        )
        policy = VerificationPolicy(
            trusted_issuers=frozenset({hanging_did, healthy_did, key_issuer.did})
        )
        network = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=FETCH_DEADLINE)
        settings = VerifierSettings(
            clock=FixedClock(NOW),
            policy=policy,
            network=network,
            fetch_queue_per_host=QUEUE,  # a short waiting room keeps the test short
        )
        app = create_app(settings)

        def body(did: str, key: PrivateKey, kid: str) -> dict[str, object]:
            token = issue_vc_jwt(credential(did), key, kid)
            return {"verifiableCredential": envelope_credential(token)}

        hostile = json.dumps(body(hanging_did, hanging_key, f"{hanging_did}#key-1"))
        from_key = body(key_issuer.did, key_issuer.key, key_issuer.kid)
        from_web = body(healthy_did, healthy_key, f"{healthy_did}#key-1")
        with (
            serve(app) as base,
            httpx.Client(base_url=base, trust_env=False, timeout=60) as http,
            subprocess.Popen(
                [sys.executable, "-c", _ATTACKER, base, hostile, str(ATTACKERS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            ) as attacker,
        ):
            assert attacker.stdin is not None
            assert attacker.stdout is not None
            assert attacker.stdout.readline() == "ready\n"
            attacker.stdin.write("go\n")
            attacker.stdin.flush()
            assert busy.wait(30)  # the hanging host holds its fetch slots now
            timings = {}
            for name, request in (
                ("health", lambda: http.get("/health")),
                ("did:key", lambda: http.post("/credentials/verify", json=from_key)),
                ("healthy did:web", lambda: http.post("/credentials/verify", json=from_web)),
            ):
                start = time.perf_counter()
                answer = request()
                timings[name] = time.perf_counter() - start
                if name != "health":
                    assert service_verdict(answer) == ("valid", []), name
            in_flight = attacker.poll() is None
            output, _ = attacker.communicate(timeout=300)
    # Before: /health 24 s; a healthy did:web waited behind ~200 / 40 fetch deadlines.
    assert timings["health"] < 0.5, timings
    assert timings["did:key"] < 0.5, timings
    assert timings["healthy did:web"] < FETCH_DEADLINE, timings
    assert in_flight
    answers = json.loads(output)
    assert len(answers) == ATTACKERS
    for status_code, status, retry_after, codes in answers:
        if status_code == 503:
            assert (codes, retry_after) == ("service_busy", "2")
        else:
            assert (status_code, status, codes) == (200, "indeterminate", ["network_timeout"])
    # The waiting room for the hanging host is bounded: most were refused at once.
    assert sum(a[0] == 503 for a in answers) >= ATTACKERS - 4 - QUEUE
