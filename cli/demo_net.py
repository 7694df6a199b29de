"""`ancre demo`'s plumbing: a throw-away certificate authority for ``localhost``, ASGI apps
served over loopback TLS in threads, and the company registers replayed locally."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["DemoCa", "bound_socket", "make_ca", "register_replay", "serve_tls"]

#: SIRET of LA POSTE's head office (the recorded Recherche d'entreprises answer).
SIRET = "35600000000048"
VAT = "FR39356000000"


@dataclass(frozen=True)
class DemoCa:
    """A certificate authority made for this run and a ``localhost`` certificate it signed
    (PEM files in the demo's folder)."""

    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_ca(folder: Path) -> DemoCa:
    """A P-256 CA and a leaf for ``localhost`` / 127.0.0.1, valid for a day."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ancre demo CA")])

    def build(subject: x509.Name, key: Any, *, ca: bool) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )

    ca_cert = (
        build(ca_name, ca_key, ca=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    leaf = (
        build(leaf_name, leaf_key, ca=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    made = DemoCa(folder / "ca.pem", folder / "localhost.pem", folder / "localhost.key")
    made.ca.write_bytes(ca_cert.public_bytes(pem))
    made.cert.write_bytes(leaf.public_bytes(pem))
    made.key.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    made.key.chmod(0o600)
    return made


def bound_socket() -> tuple[socket.socket, int]:
    """A TCP socket bound to a free loopback port (TCP_NODELAY: no delayed-ACK stalls)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


@contextmanager
def serve_tls(sock: socket.socket, app: Any, ca: DemoCa | None) -> Iterator[None]:
    """Serve `app` with uvicorn on the bound `sock` (over TLS with `ca`'s localhost
    certificate, else plain http), in a thread stopped on exit."""
    import uvicorn

    # Served from a thread, uvicorn leaves the signals (Ctrl-C) to the demo, which stops
    # every server itself.
    config = uvicorn.Config(
        app,
        log_level="critical",
        lifespan="on",
        access_log=False,
        # An idle keep-alive TLS connection would hold the shutdown for the TLS close
        # handshake's 30 s: the demo's clients are done by then.
        timeout_graceful_shutdown=1,
        ssl_certfile=str(ca.cert) if ca else None,
        ssl_keyfile=str(ca.key) if ca else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    for _ in range(1000):  # bounded wait for start-up
        if server.started or not thread.is_alive():
            break
        thread.join(0.01)
    if not server.started:
        sock.close()
        raise RuntimeError("a demo service did not start")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _answer(name: str) -> bytes:
    return resources.files("ancre.cli").joinpath("demo_data", name).read_bytes()


def register_replay() -> Any:
    """An ASGI app answering as Recherche d'entreprises (``/search?q=``) and VIES
    (``/ms/FR/vat/…``) do, from the recorded answers shipped with ancre; 404 otherwise."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    search = {SIRET: _answer("recherche-entreprises.search.356000000.json")}
    vies = {f"/ms/FR/vat/{VAT[2:]}": _answer("vies.FR39356000000.valid.json")}

    async def answer(request: Request) -> Response:
        path = urlsplit(str(request.url)).path
        if path.startswith("/ms/"):
            body = vies.get(path)
        else:
            body = search.get(parse_qs(request.url.query).get("q", [""])[0])
        if body is None:
            return Response(b"{}", status_code=404, media_type="application/json")
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", answer)])
