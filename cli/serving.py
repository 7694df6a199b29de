"""What every `ancre … serve` command shares: terminating TLS itself (DESIGN: "Every service
can terminate TLS itself … as well as run behind a reverse proxy")."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = [
    "PASSPHRASE_FILE_ENV",
    "PassphraseFileOption",
    "TlsCertOption",
    "TlsKeyOption",
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
