"""What every `ancre … serve` command shares: terminating TLS itself (DESIGN: "Every service
can terminate TLS itself … as well as run behind a reverse proxy")."""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

__all__ = [
    "PASSPHRASE_FILE_ENV",
    "PassphraseFileOption",
    "TlsCertOption",
    "TlsKeyOption",
    "WorkersOption",
    "check_trust_list_source",
    "ensure_port_free",
    "migrate_on_start",
    "run_app",
    "tls_arguments",
    "with_environment",
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

F = TypeVar("F", bound=Callable[..., Any])

WorkersOption = Annotated[
    int,
    typer.Option(
        min=1,
        max=64,
        help="Worker processes sharing the port, each a whole server (state is in the "
        "database, so any worker answers any request). Scale further with replicas.",
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


def with_environment(settings_class: str) -> Callable[[F], F]:
    """Decorate a `serve` command: an option left at its default takes the value of the
    service's `ANCRE_*` variable, read by `ancre.cli.settings.<settings_class>`
    (pydantic-settings, imported only when the command runs). The command line wins."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from ancre.cli import settings

            context = _click_context()
            sources = {name: context.get_parameter_source(name) for name in kwargs}
            given = {
                name
                for name, source in sources.items()
                if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")
            }
            chosen = getattr(settings, settings_class)
            return command(*args, **settings.environment_overrides(chosen, kwargs, given))

        return wrapper  # type: ignore[return-value]

    return decorate


def _click_context() -> Any:
    """The running command's click context (typer 0.26-0.28 vendor click as typer._click)."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - a typer using the click package
        from click import get_current_context  # type: ignore[no-redef]
    return get_current_context()


def migrate_on_start(url: str, migrate: Callable[[Any], None]) -> None:
    """Bring the database at `url` to the latest schema before serving (issue 19: Alembic
    migrations on start). Idempotent, and safe with replicas starting together: each
    service's `migrate` takes a PostgreSQL advisory lock (`ancre.storage.sql.migration_lock`).
    An unreachable database exits 69 (the orchestrator retries); a bad URL exits 64."""
    from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

    from ancre.storage.sql import make_engine

    try:
        engine = make_engine(url)
    except (ArgumentError, ValueError) as error:
        _refuse(f"the database URL is not usable: {error}")
    try:
        migrate(engine)
    except OperationalError as error:
        sys.stderr.write(f"ancre: database unreachable: {error.orig}; not starting\n")
        raise typer.Exit(69) from None
    except SQLAlchemyError as error:
        _refuse(f"cannot migrate the database: {error.__class__.__name__}: {error}")
    finally:
        engine.dispose()


def run_app(
    build: Callable[[], Any], *, host: str, port: int, workers: int = 1, **options: Any
) -> None:
    """Run the ASGI app `build()` makes with uvicorn; with `workers` > 1, pre-fork: one
    listening socket, `workers` processes each building its own app (its own database
    pool, its own background tasks) and serving from it. SIGTERM/SIGINT stop them all; a
    worker that dies stops the others and the exit status says so, for the orchestrator
    to restart the whole."""
    import uvicorn

    if workers <= 1:
        uvicorn.run(build(), host=host, port=port, **options)
        return
    import os
    import signal

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    sys.stdout.flush()
    sys.stderr.flush()
    children: set[int] = set()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked worker (its status is tested)
            os._exit(_worker(build, listener, host, port, options))
        children.add(pid)
    listener.close()
    stopping = False

    def stop(signum: int = signal.SIGTERM, frame: Any = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while children:
        pid, raw = os.wait()
        children.discard(pid)
        code = os.waitstatus_to_exitcode(raw)
        if not stopping:
            sys.stderr.write(f"ancre: worker {pid} exited ({code}): stopping the others\n")
            status = code if code > 0 else 1
            stop()
    if status:
        raise typer.Exit(status)


def _worker(
    build: Callable[[], Any], listener: socket.socket, host: str, port: int, options: Any
) -> int:  # pragma: no cover - runs in a forked worker
    import signal
    import traceback

    import uvicorn

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        config = uvicorn.Config(build(), host=host, port=port, **options)
        uvicorn.Server(config).run(sockets=[listener])
    except typer.Exit as done:
        return int(done.exit_code)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    except BaseException:  # noqa: BLE001 - a forked worker must never return into the parent's code
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0
