"""Test helpers for the issuer: an issuer on a loopback port, and a small OpenID4VCI wallet
that runs the pre-authorized code flow over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.authorize import UserAuthentication
from ancre.issuer.config import KEYSTORE_FILE, init_issuer, load_config
from ancre.issuer.db import make_engine
from ancre.issuer.service import Issuer
from ancre.trust.clock import Clock, SystemClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.keys.keystore import FileKeyStore

PASSPHRASE = "correct horse battery staple"
SCRYPT_N = 2**14
LEGAL_PERSON_CLAIMS = {
    "schema:name": "DANONE",
    "gx:registrationNumber": {"id": "https://danone.example/participant#lrn"},
    "gx:legalAddress": {"type": "gx:Address", "gx:countryCode": "FR"},
    "gx:headquartersAddress": {"type": "gx:Address", "gx:countryCode": "FR"},
}
DIRECTOR_CLAIMS = {
    "siren": "552032534",
    "legal_name": "DANONE",
    "given_name": "Antoine",
    "family_name": "de Saint-Affrique",
    "role": "Directeur général",
}


def bound_socket() -> tuple[socket.socket, int]:
    sock = socket.socket()
    # Accepted connections inherit TCP_NODELAY from the listening socket. asyncio sets it
    # itself only on sockets created with proto=IPPROTO_TCP, and a bare socket() has proto 0:
    # without this, every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


def make_issuer(
    directory: Path,
    port: int,
    *,
    database: str | None = None,
    clock: Clock | None = None,
    init: bool = True,
    limits: dict[str, int] | None = None,
    path: str = "",
) -> Issuer:
    """An issuer for did:web:localhost%3A{port}[:path…], public at
    https://localhost:{port}[/path…]."""
    clock = clock or SystemClock()
    if init:
        init_issuer(
            directory,
            did=f"did:web:localhost%3A{port}" + path.replace("/", ":"),
            passphrase=PASSPHRASE,
            clock=clock,
            public_url=f"https://localhost:{port}{path}",
            database=database,
            scrypt_n=SCRYPT_N,
            limits=limits,
        )
    return open_issuer(directory, clock=clock)


def open_issuer(
    directory: Path, *, clock: Clock | None = None, public_url: str | None = None
) -> Issuer:
    config = load_config(directory)
    store = FileKeyStore(directory / KEYSTORE_FILE, PASSPHRASE)
    return Issuer(
        config,
        engine=make_engine(config.database_url()),
        store=store,
        clock=clock or SystemClock(),
        public_url=public_url,
    )


@dataclass(frozen=True)
class Tls:
    """A test CA and a localhost server certificate it signed (PEM files)."""

    cert: Path
    key: Path
    ca: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls(directory: Path) -> Tls:
    from _x509_pki import make_ca, make_leaf, pem_chain
    from cryptography.hazmat.primitives import serialization

    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca("ancre issuer test CA")
    leaf = make_leaf(ca, dns_names=["localhost"], key_usage=None)
    tls = Tls(directory / "cert.pem", directory / "key.pem", directory / "ca.pem")
    tls.cert.write_text(pem_chain([leaf.certificate]))
    tls.ca.write_text(pem_chain([ca.certificate]))
    tls.key.write_bytes(
        leaf.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


@contextmanager
def serve_on(sock: socket.socket, app: Any, tls: Tls) -> Iterator[str]:
    """Serve `app` over HTTPS with uvicorn on the already bound `sock`, in a thread."""
    import uvicorn

    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        thread.join(0.01)
    else:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"https://localhost:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def running_issuer(
    directory: Path, tls: Tls, *, authentication: UserAuthentication | None = None, **kwargs: Any
) -> Iterator[tuple[Issuer, str]]:
    """An issuer served on loopback TLS; with `authentication`, it also runs the
    authorization code grant (``/authorize``) with that user-authentication step."""
    sock, port = bound_socket()
    issuer = make_issuer(directory, port, **kwargs)
    app = create_app(IssuerSettings(issuer, authentication=authentication))
    with serve_on(sock, app, tls) as url:
        yield issuer, url


def proof_jwt(
    key: PrivateKey,
    *,
    audience: str,
    nonce: str | None,
    header: dict[str, Any] | None = None,
    iat: int | None = None,
    alg: str | None = None,
    payload_extra: dict[str, Any] | None = None,
) -> str:
    """An `openid4vci-proof+jwt` signed by `key` (header and claims overridable)."""
    head: dict[str, Any] = {
        "typ": "openid4vci-proof+jwt",
        "alg": alg or key.alg,
        "jwk": key.public_key.to_jwk(),
    }
    head.update(header or {})
    head = {name: value for name, value in head.items() if value is not None}
    payload: dict[str, Any] = {"aud": audience, "iat": iat if iat is not None else int(time.time())}
    if nonce is not None:
        payload["nonce"] = nonce
    payload.update(payload_extra or {})
    signing_input = (
        b64url_encode(dumps_compact(head).encode())
        + "."
        + b64url_encode(dumps_compact(payload).encode())
    )
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode()))


@dataclass
class Wallet:
    """A minimal OpenID4VCI 1.0 wallet: pre-authorized code flow with a jwt proof."""

    client: httpx.Client
    key: PrivateKey = field(default_factory=lambda: PrivateKey.generate("p256"))

    def fetch_offer(self, offer_uri: str) -> dict[str, Any]:
        query = parse_qs(urlsplit(offer_uri).query)
        if "credential_offer" in query:
            import json

            offer: dict[str, Any] = json.loads(query["credential_offer"][0])
            return offer
        response = self.client.get(query["credential_offer_uri"][0])
        response.raise_for_status()
        fetched: dict[str, Any] = response.json()
        return fetched

    @staticmethod
    def well_known(issuer_url: str, name: str) -> str:
        """OpenID4VCI §12.2.2 / RFC 8414 §3.1: the well-known segment goes between the host
        and the issuer's path."""
        parts = urlsplit(issuer_url)
        return f"{parts.scheme}://{parts.netloc}/.well-known/{name}{parts.path.rstrip('/')}"

    def metadata(self, issuer_url: str) -> dict[str, Any]:
        response = self.client.get(self.well_known(issuer_url, "openid-credential-issuer"))
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def token(self, issuer_url: str, code: str, tx_code: str | None) -> httpx.Response:
        as_url = self.well_known(issuer_url, "oauth-authorization-server")
        as_meta = self.client.get(as_url).json()
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": code,
        }
        if tx_code is not None:
            form["tx_code"] = tx_code
        return self.client.post(as_meta["token_endpoint"], data=form)

    def nonce(self, issuer_url: str) -> str:
        meta = self.metadata(issuer_url)
        nonce: str = self.client.post(meta["nonce_endpoint"]).json()["c_nonce"]
        return nonce

    def request(
        self, issuer_url: str, access_token: str, configuration_id: str, proof: str | None
    ) -> httpx.Response:
        meta = self.metadata(issuer_url)
        body: dict[str, Any] = {"credential_configuration_id": configuration_id}
        if proof is not None:
            body["proofs"] = {"jwt": [proof]}
        return self.client.post(
            meta["credential_endpoint"],
            json=body,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def obtain(self, offer_uri: str, tx_code: str | None) -> str:
        """Run the whole flow; return the credential."""
        offer = self.fetch_offer(offer_uri)
        issuer_url = offer["credential_issuer"]
        grant = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
        token = self.token(issuer_url, grant["pre-authorized_code"], tx_code)
        assert token.status_code == 200, token.text
        access = token.json()["access_token"]
        proof = proof_jwt(self.key, audience=issuer_url, nonce=self.nonce(issuer_url))
        response = self.request(issuer_url, access, offer["credential_configuration_ids"][0], proof)
        assert response.status_code == 200, response.text
        credential: str = response.json()["credentials"][0]["credential"]
        return credential


CLI_ENV = {"ANCRE_KEYSTORE_PASSPHRASE": PASSPHRASE}


def ancre_cli(*args: str, timeout: float = 60) -> Any:
    """Run `python -m ancre.cli.main ARGS` with the test passphrase."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **CLI_ENV},
        check=False,
        timeout=timeout,
    )


def wait_until_healthy(
    url: str,
    tls: Tls,
    *,
    what: str = "ancre issuer serve",
    server: Any = None,
    log: Path | None = None,
) -> None:
    """Poll `url`/health (bounded: 400 tries, ~20 s) until it answers 200; a `server`
    process that exits first fails at once, with its `log`."""
    with httpx.Client(trust_env=False, verify=tls.context(), timeout=5) as http:
        for _ in range(400):  # bounded wait for start-up
            if server is not None and server.poll() is not None:
                raise RuntimeError(f"{what} exited: {log.read_text() if log else ''}")
            try:
                if http.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def init_cli_issuer(directory: Path) -> tuple[int, str]:
    """`ancre issuer init` in `directory` for a did:web on a free loopback port; returns the
    port (for `issuer serve` to bind) and the public URL."""
    sock, port = bound_socket()
    sock.close()  # the subprocess binds it; a race with another process is unlikely here
    url = f"https://localhost:{port}"
    init = ancre_cli(
        "issuer", "init", "--dir", str(directory), "--did", f"did:web:localhost%3A{port}",
        "--public-url", url,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    return port, url


@contextmanager
def cli_issuer(directory: Path, tls: Tls, *serve_options: str) -> Iterator[str]:
    """`ancre issuer init` then `ancre issuer serve` (TLS, with `serve_options`) as
    subprocesses; yields the URL."""
    import os
    import subprocess
    import sys

    port, url = init_cli_issuer(directory)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ancre.cli.main",
            "issuer",
            "serve",
            "--dir",
            str(directory),
            "--port",
            str(port),
            "--tls-cert",
            str(tls.cert),
            "--tls-key",
            str(tls.key),
            # No registry in these tests: said explicitly (serve refuses to start otherwise).
            "--no-accreditation-check",
            *serve_options,
        ],
        env={**os.environ, **CLI_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(url, tls)
        yield url
    finally:
        server.terminate()
        server.wait(10)
