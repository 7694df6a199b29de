"""What every `ancre … serve` command shares: terminating TLS itself (DESIGN: "Every service
can terminate TLS itself … as well as run behind a reverse proxy")."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

__all__ = [
    "PASSPHRASE_FILE_ENV",
    "PassphraseFileOption",
    "TlsCertOption",
    "TlsKeyOption",
    "check_trust_list_source",
    "ensure_port_free",
    "tls_arguments",
]

#: sysexits EX_UNAVAILABLE: the service cannot start (its port is taken).
EXIT_PORT_IN_USE = 69

PASSPHRASE_FILE_ENV = "ANCRE_KEYSTORE_PASSPHRASE_FILE"  # noqa: S105 - a variable name
#: `--passphrase-file`, for every command that opens a key store (the keys and registry
#: commands, and the services that sign): kept here, beside the TLS options, so both the
#: `ancre` and `ancre registry` command modules can share it without importing each other.
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        envvar=PASSPHRASE_FILE_ENV,
        help="Read the key store passphrase from this file (its first line) instead of "
        "$ANCRE_KEYSTORE_PASSPHRASE or a prompt.",
    ),
]

TlsCertOption = Annotated[
    Path | None,
    typer.Option(
        help="Serve HTTPS with this certificate chain (PEM, leaf first). Needs --tls-key. "
        "Without both, plain HTTP (behind a TLS-terminating reverse proxy)."
    ),
]
TlsKeyOption = Annotated[
    Path | None, typer.Option(help="The certificate's private key (PEM, unencrypted).")
]


def tls_arguments(cert: Path | None, key: Path | None) -> dict[str, Any]:
    """uvicorn's TLS arguments; refuses half a configuration or unreadable files (exit 64)."""
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    for path in (cert, key):
        if not path.is_file():
            raise typer.BadParameter(f"{path}: no such file")
    import ssl

    try:  # load once here, so a bad pair is a clear usage error, not a traceback at start-up
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as error:
        raise typer.BadParameter(f"--tls-cert/--tls-key: {error}") from None
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def ensure_port_free(host: str, port: int) -> None:
    """Exit 69 with "port N is in use" before a server starts on a taken port (uvicorn would
    log a traceback-like line and exit 3). A check-then-bind race is harmless: the rare loser
    still gets uvicorn's own error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT is not reported as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                message = f"port {port} is in use on {host}: stop what listens there, or --port"
            else:
                message = f"cannot listen on {host}:{port}: {error.strerror}"
            sys.stderr.write(f"ancre: {message}\n")
            raise typer.Exit(EXIT_PORT_IN_USE) from None


def check_trust_list_source(
    trust_list: str | None, registry_did: str | None, *, insecure_loopback: bool
) -> None:
    """Refuse to start (exit 64, saying why) a service whose trust-list URL or registry DID
    it could never use: it would start, then answer "not ready" forever (`/ready` saying
    plain http is not allowed) while an orchestrator waits. Only what holds whatever the
    network does is judged (scheme, form, an IP literal's address, the DID's method); a
    name that does not resolve *yet* is left to `/ready`."""
    from ancre.trust.did.document import parse_did
    from ancre.trust.errors import AncreError, IndeterminateError
    from ancre.trust.net.guard import NetworkPolicy, check_url

    if trust_list is not None and "://" in trust_list:
        policy = NetworkPolicy(allow_loopback=insecure_loopback, allow_http=insecure_loopback)
        try:
            check_url(trust_list, policy, resolve=lambda host, port: [])
        except IndeterminateError:
            pass  # a host name: DNS decides at run time
        except AncreError as error:
            plain = trust_list.startswith("http://") and not insecure_loopback
            hint = " (--insecure-loopback allows http to loopback)" if plain else ""
            _refuse(f"--trust-list {trust_list} can never be fetched: {error.message}{hint}")
    if registry_did is not None:
        try:
            method, _ = parse_did(registry_did)
        except AncreError:
            _refuse(f"--registry-key {registry_did!r} is not a DID (did:web:registry.example)")
        if method not in {"web", "key", "jwk"}:
            _refuse(
                f"--registry-key {registry_did}: did:{method} cannot be resolved here "
                "(did:web, did:key or did:jwk)"
            )


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"ancre: {message}; not starting\n")
    raise typer.Exit(64)
