"""What every `ancre … serve` command shares: terminating TLS itself (DESIGN: "Every service
can terminate TLS itself … as well as run behind a reverse proxy")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = [
    "PASSPHRASE_FILE_ENV",
    "PassphraseFileOption",
    "TlsCertOption",
    "TlsKeyOption",
    "tls_arguments",
]

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
