"""The `ancre` command: thin verbs over the `ancre.*` packages.

Exit codes (DESIGN.md): 0 valid/success, 1 invalid, 2 indeterminate, 64 usage error,
65 bad input data, 69 service unavailable. Imports are lazy so that `ancre --help` and
`ancre verify` start fast.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ancre.cli.serving import (
    PASSPHRASE_FILE_ENV,
    PassphraseFileOption,
    TlsCertOption,
    TlsKeyOption,
    WorkersOption,
    check_trust_list_source,
    ensure_port_free,
    run_app,
    tls_arguments,
    with_environment,
)

if TYPE_CHECKING:
    from ancre.cli.output import TrustState
    from ancre.trust.clock import Clock
    from ancre.trust.keys.jwk import PrivateKey, PublicKey
    from ancre.trust.policy import VerificationPolicy
    from ancre.trust.result import VerificationResult
    from ancre.verifier.service import VerifierSettings

EXIT_OK, EXIT_INVALID, EXIT_INDETERMINATE = 0, 1, 2
EXIT_USAGE, EXIT_DATAERR, EXIT_UNAVAILABLE, EXIT_SOFTWARE = 64, 65, 69, 70
#: sysexits EX_CANTCREAT: an output file or folder could not be created (the user's path).
EXIT_CANTCREAT = 73

#: `--policy FILE`, shared by `verify` and `verifier serve`.
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="A JSON policy file: required_types, algorithms, clock_skew_seconds, "
        "max_credential_age_seconds, check_status, accept_vcdm11, trusted_issuers… "
        "(docs/policy.md). Command-line options win over it.",
    ),
]
MAX_INPUT_BYTES = 1024 * 1024
PASSPHRASE_ENV = "ANCRE_KEYSTORE_PASSPHRASE"  # noqa: S105 - a variable name
#: The default trust-list size limit (`ancre.trust.trust_list.signed.MAX_TRUST_LIST_BYTES`),
#: spelled here so `ancre verify` does not import the trust-list module to show its help.
DEFAULT_TRUST_LIST_MAX_BYTES = 32 * 1024 * 1024

#: `--trust-list-max-bytes`, shared by `verify` and `verifier serve`.
TrustListMaxBytesOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="The largest trust list accepted, in bytes (its own limit: 10,000 issuers take "
        "about 14 MB).",
    ),
]
#: `--state-dir`, shared by `verify` and `verifier serve`.
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Where the highest trust-list sequence seen per registry is remembered, so an "
        "older list is refused as a rollback after a restart (default: --cache-dir, else "
        "$ANCRE_STATE_DIR, else $XDG_STATE_HOME/ancre or ~/.local/state/ancre).",
    ),
]

app = typer.Typer(
    name="ancre",
    help=(
        "Verifiable credentials for data spaces: keys and DIDs, issuing and verifying "
        "Gaia-X participant credentials.\n\n"
        "Exit codes: 0 valid/success, 1 invalid, 2 indeterminate, 64 usage error, "
        "65 unreadable input, 69 service unavailable (e.g. a port in use), 73 cannot create "
        "an output file."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
keys_app = typer.Typer(
    help="Create and inspect signing keys (Ed25519, P-256, P-384).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


verifier_app = typer.Typer(help="The verifier service (W3C VC-API).", no_args_is_help=True)


# `verifier serve`'s options, one alias each so that its signature reads one line per option.
ServeTrustedIssuerOption = Annotated[
    list[str] | None, typer.Option("--trusted-issuer", help="Trust this issuer DID.")
]
ServeTrustListOption = Annotated[
    str | None, typer.Option(help="URL of the signed trust list (needs --registry-key).")
]
ServeRegistryDidOption = Annotated[
    str | None,
    typer.Option(
        "--registry-key",
        "--registry-did",
        metavar="DID",
        help="The registry's DID, which signs the list (as for `verify`; --registry-did is "
        "the former name).",
    ),
]
ServeInsecureLoopbackOption = Annotated[
    bool, typer.Option("--insecure-loopback", help="Allow plain HTTP to loopback (tests).")
]
NoTrustCheckOption = Annotated[
    bool,
    typer.Option(
        "--no-trust-check",
        help="Serve without a trust list or trusted issuers: `verified: true` then means "
        "a valid signature by ANY issuer. Logged at start-up; every response carries "
        "`Ancre-Trust: not-checked`. Without a trust source the service refuses to start "
        "unless this is given.",
    ),
]
ServeAudienceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--audience",
        help="A name this verifier is known by (repeatable): presentations verified "
        "without a `domain` option must be bound (aud / proof domain) to one of these or "
        "to --public-url.",
    ),
]
ServeCacheDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Keep the last accepted trust list and its sequence here: after a restart the "
        "service answers as before while the registry is down, and refuses rollbacks."
    ),
]
ServeCaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="Verify outbound HTTPS (DID documents, status lists, the trust list) against this "
        "CA bundle (PEM) instead of the system's: a data space's private PKI. With "
        "--insecure-loopback, loopback peers are then reached over https too, never http.",
    ),
]
LogFormatOption = Annotated[
    str,
    typer.Option(
        metavar="json|text",
        help="Logs on stderr: `json` (one object per line: each verification's kind, "
        "status, code, issuer, types, duration; never credential contents) or `text`.",
    ),
]
LogLevelOption = Annotated[
    str,
    typer.Option(
        metavar="debug|info|warning|error",
        help="debug, info (one line per verification), warning, error.",
    ),
]
OpenID4VPKeyOption = Annotated[
    Path | None,
    typer.Option(
        help="Serve OpenID4VP 1.0 (/openid4vp/…): the private JWK that signs request "
        "objects (from `ancre keys generate`). The verifier is did:jwk of this key unless "
        "--openid4vp-did names a DID (with --openid4vp-kid). Needs --public-url, and "
        "ANCRE_VERIFIER_API_TOKEN (≥ 16 characters; callers send `Authorization: Bearer`) "
        "unless --openid4vp-open-backend."
    ),
]
OpenID4VPOpenBackendOption = Annotated[
    bool,
    typer.Option(
        "--openid4vp-open-backend",
        help="Let anyone create OpenID4VP transactions and read results without a token "
        "(e.g. behind a proxy that authenticates callers with mTLS). Creation stays "
        "rate-limited per client address.",
    ),
]
OpenID4VPDidOption = Annotated[
    str | None, typer.Option(help="The verifier's DID (e.g. did:web), published elsewhere.")
]
OpenID4VPKidOption = Annotated[
    str | None, typer.Option(help="The DID URL naming --openid4vp-key in that DID.")
]
PublicUrlOption = Annotated[
    str | None,
    typer.Option(
        help="The https origin clients and wallets reach this service at (OpenID4VP "
        "request_uri, …); also an audience presentations may be bound to."
    ),
]
RateLimitOption = Annotated[
    int,
    typer.Option(
        metavar="PER_MINUTE",
        help="Per client address: at most this many verification requests a minute (bursts "
        "of half as many), then 429 rate_limited with Retry-After; 0 (default): no limit "
        "(behind a proxy every client shares its address: limit there instead).",
    ),
]
FAILURE_STATUS_ENV = "ANCRE_VERIFIER_FAILURE_STATUS"
FailureStatusOption = Annotated[
    int,
    typer.Option(
        envvar=FAILURE_STATUS_ENV,
        metavar="200|400",
        help="The HTTP status of a VC-API verification that ran and failed: 200 (VCALM, the "
        "default: `verified: false` says it) or 400, for clients that treat only >= 400 as a "
        "rejection. The body is the same.",
    ),
]
ContextOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--context",
        help="Add the JSON-LD contexts a manifest lists (repeatable): a manifest.json file, "
        'or a folder holding one, mapping each context URL to {"file", "sha256"}; '
        "each file must hash to its pin. Contexts are never fetched: without one, a Data "
        "Integrity credential using it is indeterminate (unknown_context).",
    ),
]
OpenID4VPDatabaseOption = Annotated[
    str | None,
    typer.Option(
        help="Keep OpenID4VP transactions in this database (sqlite:///path or "
        "postgresql+psycopg://…) so any replica serves any step; needs "
        "ANCRE_OPENID4VP_STORE_SECRET (≥ 32 bytes, encrypts the per-request keys). "
        "Without it, transactions live in this process only."
    ),
]


@verifier_app.command("serve")
@with_environment("VerifierServeSettings")
def verifier_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8700,
    trusted_issuer: ServeTrustedIssuerOption = None,
    trust_list: ServeTrustListOption = None,
    registry_did: ServeRegistryDidOption = None,
    insecure_loopback: ServeInsecureLoopbackOption = False,
    no_trust_check: NoTrustCheckOption = False,
    audience: ServeAudienceOption = None,
    cache_dir: ServeCacheDirOption = None,
    ca_file: ServeCaFileOption = None,
    state_dir: StateDirOption = None,
    trust_list_max_bytes: TrustListMaxBytesOption = DEFAULT_TRUST_LIST_MAX_BYTES,
    policy_file: PolicyOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    log_format: LogFormatOption = "json",
    log_level: LogLevelOption = "info",
    openid4vp_key: OpenID4VPKeyOption = None,
    openid4vp_open_backend: OpenID4VPOpenBackendOption = False,
    openid4vp_did: OpenID4VPDidOption = None,
    openid4vp_kid: OpenID4VPKidOption = None,
    public_url: PublicUrlOption = None,
    openid4vp_database: OpenID4VPDatabaseOption = None,
    failure_status: FailureStatusOption = 200,
    context: ContextOption = None,
    rate_limit: RateLimitOption = 0,
    workers: WorkersOption = 1,
) -> None:
    """Serve POST /credentials/verify and /presentations/verify (W3C VC-API), OpenID4VP 1.0
    (with --openid4vp-key), /health, /ready, /metrics.

      ancre verifier serve --trust-list https://registry.example/trust-list \\
          --registry-key did:web:registry.example
    """
    # Cheap usage checks first: nothing is opened (database, files) for a command that fails.
    tls = _serve_usage(trust_list, registry_did, log_format, log_level, tls_cert, tls_key)
    if failure_status not in (200, 400):
        _die(EXIT_USAGE, f"--failure-status is 200 or 400 (${FAILURE_STATUS_ENV} too)")
    if workers > 1 and openid4vp_key is not None and openid4vp_database is None:
        # Each worker would hold its own transactions: a wallet's next step could reach one
        # that never heard of its request.
        _die(
            EXIT_USAGE,
            "--workers above 1 with OpenID4VP needs --openid4vp-database (shared transactions)",
        )
    if ca_file is not None and not ca_file.is_file():
        _die(EXIT_USAGE, f"--ca-file {ca_file}: no such file")
    policy = _serve_policy(policy_file, trusted_issuer, trust_list, no_trust_check)
    check_trust_list_source(trust_list, registry_did, insecure_loopback=insecure_loopback)
    ensure_port_free(host, port)
    settings = _serve_settings(
        policy,
        trust_list=trust_list,
        registry_did=registry_did,
        insecure_loopback=insecure_loopback,
        cache_dir=cache_dir,
        ca_file=ca_file,
        state_dir=state_dir,
        trust_list_max_bytes=trust_list_max_bytes,
        openid4vp_key=openid4vp_key,
        openid4vp_did=openid4vp_did,
        openid4vp_kid=openid4vp_kid,
        openid4vp_database=openid4vp_database,
        openid4vp_open_backend=openid4vp_open_backend,
        public_url=public_url,
        audience=audience,
        no_trust_check=no_trust_check,
        failure_status=failure_status,
        contexts=_context_store(context),
    )
    if rate_limit:
        from dataclasses import replace

        from ancre.storage.abuse import rate_limit_per_minute
        from ancre.trust.errors import AncreError

        try:
            settings = replace(settings, rate_limit=rate_limit_per_minute(rate_limit))
        except AncreError as error:
            _die(EXIT_USAGE, f"--rate-limit: {error.message}")
    _serve(
        settings, host, port, log_format=log_format, log_level=log_level, tls=tls, workers=workers
    )


def _serve_usage(
    trust_list: str | None,
    registry_did: str | None,
    log_format: str,
    log_level: str,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> dict[str, Any]:
    """`verifier serve`'s usage checks that open nothing; uvicorn's TLS arguments."""
    if (trust_list is None) != (registry_did is None):
        _die(EXIT_USAGE, "--trust-list and --registry-key go together")
    if log_format not in ("json", "text"):
        _die(EXIT_USAGE, "--log-format is json or text")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        _die(EXIT_USAGE, "--log-level is debug, info, warning or error")
    return tls_arguments(tls_cert, tls_key)


def _serve_policy(
    policy_file: Path | None,
    trusted_issuer: list[str] | None,
    trust_list: str | None,
    no_trust_check: bool,
) -> VerificationPolicy:
    """The service's policy, refused when it names no trust source and --no-trust-check is
    not given, or names one and it is."""
    policy: VerificationPolicy = _load_policy(policy_file, trusted_issuer)
    # Issue 12, point 16: a verifier with no trust source vouches for any self-signed
    # issuer; that must be asked for, not the default.
    has_trust = trust_list is not None or policy.trusted_issuers is not None
    if not has_trust and not no_trust_check:
        _die(
            EXIT_USAGE,
            "no trust source: give --trust-list with --registry-key, or --trusted-issuer, or "
            "trusted_issuers in --policy; or --no-trust-check to verify signatures only",
        )
    if has_trust and no_trust_check:
        _die(EXIT_USAGE, "--no-trust-check contradicts the trust source given")
    return policy


def _serve_settings(
    policy: VerificationPolicy,
    *,
    trust_list: str | None,
    registry_did: str | None,
    insecure_loopback: bool,
    cache_dir: Path | None,
    state_dir: Path | None,
    trust_list_max_bytes: int,
    openid4vp_key: Path | None,
    openid4vp_did: str | None,
    openid4vp_kid: str | None,
    openid4vp_database: str | None,
    openid4vp_open_backend: bool,
    public_url: str | None,
    audience: list[str] | None,
    no_trust_check: bool,
    failure_status: int = 200,
    contexts: Any = None,
    ca_file: Path | None = None,
) -> VerifierSettings:
    """The service's settings from the command line; exit 64 on a configuration they
    refuse."""
    from ancre.trust.errors import ConfigurationError
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.verifier.service import VerifierSettings

    audiences = frozenset(audience or ())
    if public_url is not None:
        audiences |= {public_url.rstrip("/")}
    try:
        return VerifierSettings(
            policy=policy,
            trust_list_url=trust_list,
            registry_did=registry_did,
            # A CA file means TLS: loopback peers too (a did:web on localhost) over https.
            network=NetworkPolicy(
                allow_loopback=insecure_loopback,
                allow_http=insecure_loopback and ca_file is None,
            ),
            cache_dir=str(cache_dir) if cache_dir else None,
            ca_file=str(ca_file) if ca_file else None,
            state_dir=str(state_dir) if state_dir else None,
            trust_list_max_bytes=trust_list_max_bytes,
            openid4vp=_openid4vp_settings(
                openid4vp_key,
                openid4vp_did,
                openid4vp_kid,
                public_url,
                openid4vp_database,
                open_backend=openid4vp_open_backend,
            ),
            no_trust_check=no_trust_check,
            audiences=audiences,
            failure_status=failure_status,
            contexts=contexts,
        )
    except ConfigurationError as error:
        _die(EXIT_USAGE, error.message)


def _serve(
    settings: VerifierSettings,
    host: str,
    port: int,
    *,
    log_format: str,
    log_level: str,
    tls: dict[str, Any],
    workers: int = 1,
) -> None:
    """Configure logging, build the app and run it until stopped (in `workers` processes,
    each building its own app)."""
    from ancre.trust.errors import ConfigurationError
    from ancre.verifier.logs import configure_logging
    from ancre.verifier.service import create_app

    configure_logging(level=log_level, json_format=log_format == "json")
    if workers > 1:
        # The transaction store's connections were opened here (schema check): each worker
        # opens its own after the fork, never sharing a socket with its siblings.
        engine = getattr(getattr(settings.openid4vp, "store", None), "engine", None)
        if engine is not None:
            engine.dispose()

    def build() -> Any:
        try:
            return create_app(settings)
        except ConfigurationError as error:
            _die(EXIT_USAGE, error.message)

    # log_config=None: uvicorn's own records (start-up, access log) go through the same
    # handler, so every line on stderr has one format.
    run_app(
        build,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        log_level=log_level.lower(),
        **tls,
    )


def _openid4vp_settings(
    key_file: Path | None,
    did: str | None,
    kid: str | None,
    public_url: str | None,
    database: str | None,
    *,
    open_backend: bool,
) -> Any:
    if key_file is None:
        if did or kid or database or open_backend:
            _die(
                EXIT_USAGE,
                "--openid4vp-did/--openid4vp-kid/--openid4vp-database/--openid4vp-open-backend "
                "need --openid4vp-key",
            )
        return None
    if public_url is None:
        _die(EXIT_USAGE, "--openid4vp-key needs --public-url (where wallets reach this service)")
    if (did is None) != (kid is None):
        _die(EXIT_USAGE, "--openid4vp-did and --openid4vp-kid go together")
    api_token = os.environ.get("ANCRE_VERIFIER_API_TOKEN") or None
    # Issue 12, point 19: an open backend lets anyone fill the transaction store.
    if api_token is None and not open_backend:
        _die(
            EXIT_USAGE,
            "--openid4vp-key needs ANCRE_VERIFIER_API_TOKEN (callers of /openid4vp/requests "
            "send it as a Bearer token), or --openid4vp-open-backend to serve without one",
        )
    if api_token is not None and open_backend:
        _die(EXIT_USAGE, "--openid4vp-open-backend contradicts ANCRE_VERIFIER_API_TOKEN")
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.did.jwk import did_jwk_from_public_key
    from ancre.trust.errors import AncreError
    from ancre.trust.keys.jwk import PrivateKey
    from ancre.verifier.openid4vp import OpenID4VPSettings

    try:
        key = PrivateKey.from_jwk(loads_strict(_read_input(key_file), what="JWK"))
        if did is None or kid is None:  # both or neither (checked above)
            did = did_jwk_from_public_key(key.public_key)
            kid = f"{did}#0"
        store = None
        if database is not None:
            from sqlalchemy.exc import ArgumentError, OperationalError

            from ancre.verifier.openid4vp.store import SqlTransactionStore

            secret = os.environ.get("ANCRE_OPENID4VP_STORE_SECRET")
            try:
                store = SqlTransactionStore(database, secret)
            except ArgumentError as error:
                _die(EXIT_USAGE, f"--openid4vp-database: {error}")
            except OperationalError as error:
                _die(EXIT_UNAVAILABLE, f"--openid4vp-database unreachable: {error.orig}")
        return OpenID4VPSettings(
            key=key,
            did=did,
            kid=kid,
            base_url=public_url,
            api_token=api_token,
            open_backend=open_backend,
            store=store,
        )
    except AncreError as error:
        _die(EXIT_USAGE, f"OpenID4VP: {error}")


def _add_subcommands() -> None:
    from ancre.cli.issuer import app as issuer_app
    from ancre.cli.registry import app as registry_app
    from ancre.cli.wallet import app as wallet_app

    app.add_typer(issuer_app, name="issuer")
    app.add_typer(registry_app, name="registry")
    app.add_typer(verifier_app, name="verifier")
    app.add_typer(wallet_app, name="wallet")


_add_subcommands()


def _die(code: int, message: str) -> NoReturn:
    sys.stderr.write(f"ancre: {message}\n")
    raise typer.Exit(code)


#: A passphrase file holds a passphrase, not a document: a larger one is a wrong path.
MAX_PASSPHRASE_FILE_BYTES = 4096


def _passphrase(confirm: bool, file: Path | None = None) -> str:
    """The key store passphrase: from `file` (--passphrase-file or
    $ANCRE_KEYSTORE_PASSPHRASE_FILE, first line), else $ANCRE_KEYSTORE_PASSPHRASE, else a
    prompt when stdin is a terminal. A file keeps the secret out of the environment, which
    other processes of the same user (and crash reports) can read."""
    if file is None and os.environ.get(PASSPHRASE_FILE_ENV):
        file = Path(os.environ[PASSPHRASE_FILE_ENV])
    if file is not None:
        try:
            with open(file, "rb") as handle:
                raw = handle.read(MAX_PASSPHRASE_FILE_BYTES + 1)
        except OSError as error:
            _die(EXIT_USAGE, f"--passphrase-file {file}: {error.strerror}")
        if len(raw) > MAX_PASSPHRASE_FILE_BYTES:
            _die(EXIT_USAGE, f"--passphrase-file {file}: over {MAX_PASSPHRASE_FILE_BYTES} bytes")
        try:
            # The first line, without its line ending: `echo secret > file` must work.
            line = raw.decode("utf-8").splitlines()[0] if raw.strip() else ""
        except UnicodeDecodeError:
            _die(EXIT_USAGE, f"--passphrase-file {file}: not UTF-8 text")
        if not line:
            _die(EXIT_USAGE, f"--passphrase-file {file}: empty")
        return line
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        _die(
            EXIT_USAGE,
            f"give --passphrase-file, set {PASSPHRASE_FILE_ENV} or {PASSPHRASE_ENV}, or run on "
            "a terminal to type the passphrase",
        )
    return str(typer.prompt("Key store passphrase", hide_input=True, confirmation_prompt=confirm))


# ---- keys ------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate(
    key_type: Annotated[
        str,
        typer.Option(
            "--type", "-t", metavar="ed25519|p256|p384", help="The key type (default ed25519)."
        ),
    ] = "ed25519",
    out: Annotated[
        Path | None,
        typer.Option(help="Write the private JWK to this file (mode 0600, never overwritten)."),
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option(
            help="Add the key to this encrypted key store (passphrase: --passphrase-file, "
            f"${PASSPHRASE_ENV} or a prompt)."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="The key's name in --keystore.")] = "default",
    json_out: Annotated[bool, typer.Option("--json", help="Print the public key as JSON.")] = False,
    print_private: Annotated[
        bool,
        typer.Option(
            "--print-private",
            help="With neither --out nor --keystore: print the PRIVATE JWK on stdout (for "
            "piping into a secret store). Never done without this option.",
        ),
    ] = False,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Generate a signing key and print its public JWK, thumbprint and DIDs.

    The private key goes to --out, to --keystore, or (only with --print-private) to stdout.
    Examples:

      ancre keys generate --type p256 --out issuer.jwk

      ANCRE_KEYSTORE_PASSPHRASE=… ancre keys generate --keystore keys.ancre --name issuer
    """
    from ancre.trust.errors import AncreError, ConfigurationError
    from ancre.trust.keys.jwk import SIGNING_KEY_TYPES, PrivateKey

    if key_type not in SIGNING_KEY_TYPES:
        _die(EXIT_USAGE, f"--type must be one of {', '.join(SIGNING_KEY_TYPES)}, not {key_type!r}")
    if out is None and keystore is None and not print_private:
        # A private key on a terminal ends up in scrollback and screen recordings.
        _die(
            EXIT_USAGE,
            "give --out FILE or --keystore FILE to keep the private key, or --print-private "
            "to print it on stdout",
        )
    if out is not None and not out.parent.is_dir():
        _die(EXIT_CANTCREAT, f"cannot write {out}: no folder {out.parent} (create it first)")
    key = PrivateKey.generate(key_type)
    try:
        if keystore is not None:
            from ancre.trust.keys.keystore import FileKeyStore

            exists = keystore.exists()
            store = FileKeyStore(keystore, _passphrase(not exists, passphrase_file))
            store.import_private_jwk(name, key.export_private_jwk())
            sys.stderr.write(f"ancre: key {name!r} added to {keystore}\n")
        if out is not None:
            _write_new_file(out, key.export_private_jwk())
            sys.stderr.write(f"ancre: private key written to {out} (mode 0600)\n")
    except ConfigurationError as error:
        _die(EXIT_USAGE, error.message)
    except AncreError as error:
        _die(EXIT_DATAERR, str(error))
    if out is None and keystore is None:
        from ancre.cli.output import print_json

        print_json(key.export_private_jwk())
        return
    _show_public(key.public_key, json_out)


def _write_new_file(path: Path, jwk: dict[str, str]) -> None:
    import json

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _die(EXIT_USAGE, f"{path} exists; ancre never overwrites a key file")
    except OSError as error:
        _die(EXIT_CANTCREAT, f"cannot write {path}: {error.strerror}")
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(jwk, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@keys_app.command("show")
def keys_show(
    file: Annotated[
        Path | None, typer.Argument(help="A JWK file (private or public), or - for stdin.")
    ] = None,
    keystore: Annotated[Path | None, typer.Option(help="Read the key from this key store.")] = None,
    name: Annotated[str, typer.Option(help="The key's name in --keystore.")] = "default",
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    did_only: Annotated[
        bool, typer.Option("--did", help="Print only the key's did:key (for scripts).")
    ] = False,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Show a key's public JWK, RFC 7638 thumbprint, did:key and did:jwk (never its private
    part).

      ancre keys show issuer.jwk

      ISSUER=$(ancre keys show issuer.jwk --did)
    """
    from ancre.trust.errors import AncreError

    try:
        if keystore is not None:
            from ancre.trust.keys.keystore import FileKeyStore

            if not keystore.exists():
                _die(EXIT_DATAERR, f"{keystore}: no such key store")
            store = FileKeyStore(keystore, _passphrase(False, passphrase_file))
            public = _store_public_key(store, keystore, name)
        elif file is not None:
            public = _load_public(_read_input(file))
        else:
            _die(EXIT_USAGE, "give a JWK FILE or --keystore")
        if did_only:
            from ancre.trust.did.key import did_key_from_public_key

            sys.stdout.write(did_key_from_public_key(public) + "\n")
            return
    except AncreError as error:
        _die(EXIT_DATAERR, str(error))
    _show_public(public, json_out)


def _store_public_key(store: Any, path: Path, name: str) -> PublicKey:
    """`store.public_key(name)`, or exit 65 naming the keys the store does hold."""
    from ancre.trust.errors import AncreError, Code

    try:
        public: PublicKey = store.public_key(name)
    except AncreError as error:
        if error.code is not Code.KEY_NOT_FOUND:
            raise
        names = sorted(info.name for info in store.list())
        held = f"it holds: {', '.join(names)}" if names else "it holds no key"
        _die(EXIT_DATAERR, f"{path} has no key named {name!r}; {held} (--name NAME)")
    return public


@keys_app.command("list")
def keys_list(
    keystore: Annotated[Path, typer.Option(help="The key store to list.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """List the keys in a key store: name, type, RFC 7638 thumbprint (never private parts).

    ancre keys list --keystore keys.ancre
    """
    from ancre.cli.output import print_json
    from ancre.trust.errors import AncreError
    from ancre.trust.keys.keystore import FileKeyStore

    if not keystore.exists():
        _die(EXIT_DATAERR, f"{keystore}: no such key store")
    try:
        infos = FileKeyStore(keystore, _passphrase(False, passphrase_file)).list()
    except AncreError as error:
        _die(EXIT_DATAERR, str(error))
    rows = [
        {"name": i.name, "type": i.key_type.value, "thumbprint": i.public_key.thumbprint()}
        for i in sorted(infos, key=lambda i: i.name)
    ]
    if json_out:
        print_json(rows)
    elif not rows:
        sys.stdout.write(f"no keys in {keystore}\n")
    else:
        for row in rows:
            sys.stdout.write(f"{row['name']:<20} {row['type']:<8} {row['thumbprint']}\n")


def _load_public(data: bytes) -> PublicKey:
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.keys.jwk import PrivateKey, PublicKey

    jwk = loads_strict(data, what="JWK")
    if isinstance(jwk, dict) and "d" in jwk:
        return PrivateKey.from_jwk(jwk).public_key
    return PublicKey.from_jwk(jwk)


def _show_public(public: PublicKey, json_out: bool) -> None:
    from ancre.cli.output import print_json
    from ancre.trust.did.jwk import did_jwk_from_public_key
    from ancre.trust.did.key import did_key_from_public_key

    info: dict[str, object] = {
        "type": public.key_type.value,
        "jwk": public.to_jwk(),
        "thumbprint": public.thumbprint(),
    }
    if public.key_type.value != "rsa":
        info["did_key"] = did_key_from_public_key(public)
        info["did_jwk"] = did_jwk_from_public_key(public)
    if json_out:
        print_json(info)
        return
    import json

    for label, value in info.items():
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        sys.stdout.write(f"{label:<11}{text}\n")


def load_private_key(path: Path) -> PrivateKey:
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.keys.jwk import PrivateKey

    return PrivateKey.from_jwk(loads_strict(_read_input(path), what="JWK"))


# ---- verify ----------------------------------------------------------------------------


def _read_input(source: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    try:
        if str(source) == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with source.open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as error:
        _die(EXIT_DATAERR, f"cannot read {source}: {error.strerror}")
    return data


def _load_policy(
    file: Path | None, trusted_issuer: list[str] | None, **overrides: str | None
) -> Any:
    """The policy file (if any), then the command line's own options over it."""
    from dataclasses import replace

    from ancre.trust.codec.json import loads_strict
    from ancre.trust.errors import AncreError
    from ancre.trust.policy import VerificationPolicy, policy_from_json

    policy = VerificationPolicy()
    if file is not None:
        try:
            policy = policy_from_json(loads_strict(_read_input(file), what="policy file"))
        except AncreError as error:
            _die(EXIT_USAGE, f"--policy {file}: {error.message}")
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if trusted_issuer:
        changes["trusted_issuers"] = frozenset(trusted_issuer)
    return replace(policy, **changes)


def _parse_at(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _die(EXIT_USAGE, f"--at {value!r} is not an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z)")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def verify(
    source: Annotated[
        Path, typer.Argument(help="The credential or presentation: a file, or - for stdin.")
    ],
    trusted_issuer: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-issuer",
            help="Trust this issuer DID (repeatable). Without any, the trust step is skipped.",
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Verify as of this ISO 8601 time instead of now.")
    ] = None,
    audience: Annotated[
        str | None, typer.Option(help="Presentations: the `aud` they must be bound to.")
    ] = None,
    nonce: Annotated[
        str | None, typer.Option(help="Presentations: the `nonce` they must carry.")
    ] = None,
    trust_list: Annotated[
        str | None,
        typer.Option(
            help="A signed trust list (URL or saved file): the issuer must be listed for each "
            "credential type at issuance time. Needs --registry-key."
        ),
    ] = None,
    registry_key: Annotated[
        str | None,
        typer.Option(
            help="Who signs the trust list: the registry's DID, a public JWK file (with a saved "
            "list), or the verification method `registry init` prints (with a URL too)."
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="With --trust-list: remember the highest list sequence seen (an older list is "
            "refused as a rollback) and the last list, used while the registry is unreachable "
            "until its NextUpdate."
        ),
    ] = None,
    state_dir: StateDirOption = None,
    trust_list_max_bytes: TrustListMaxBytesOption = DEFAULT_TRUST_LIST_MAX_BYTES,
    policy_file: PolicyOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    insecure_loopback: Annotated[
        bool,
        typer.Option(
            "--insecure-loopback",
            help="Let did:web resolve over plain HTTP on 127.0.0.1/localhost (local tests only).",
        ),
    ] = False,
    context: ContextOption = None,
    trust_anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-anchor",
            help="A PEM certificate (repeatable) an `x5c` chain in the credential's header "
            "must validate to, its leaf naming the issuer. Credentials without `x5c` keep "
            "resolving the issuer's DID.",
        ),
    ] = None,
) -> None:
    """Verify a credential or presentation: signature, data model, validity dates, schema,
    and (with --trusted-issuer) whether its issuer is trusted.

    Reads vc+jwt (also vc+ld+json+jwt, vc+ld+jwt), VCDM 1.1 JWT credentials, vp+jwt
    presentations, SD-JWT VCs, vc+cose/vp+cose (a binary .cose file or its base64), Data
    Integrity JSON and EnvelopedVerifiableCredential JSON. Exit codes: 0 valid, 1 invalid,
    2 indeterminate, 64 usage error, 65 unreadable input.

      ancre verify credential.jwt --trusted-issuer did:web:agency.example

      cat vp.jwt | ancre verify - --audience https://verifier.example --nonce n-0S6 --json
    """
    from ancre.trust.clock import FixedClock, SystemClock

    clock = FixedClock(_parse_at(at)) if at else SystemClock()
    data = _read_input(source)
    policy = _load_policy(policy_file, trusted_issuer, audience=audience, nonce=nonce)
    list_source = _trust_list_source(
        trust_list, registry_key, cache_dir, state_dir, trust_list_max_bytes
    )
    extras = {"contexts": _context_store(context), "trust_anchors": _trust_anchors(trust_anchor)}
    result, trust = _run_verifier(data, clock, policy, list_source, insecure_loopback, extras)
    state = _verify_trust_state(result, policy, trust)
    _report_verification(result, state, data, source, json_out=json_out)
    raise typer.Exit(_verify_exit_code(result))


def _context_store(paths: list[Path] | None) -> Any:
    """The JSON-LD contexts `--context` adds to the shipped ones (None: the shipped ones)."""
    if not paths:
        return None
    from ancre.trust.errors import ConfigurationError
    from ancre.trust.vcdm.jsonld import ContextStore, load_context_manifest

    store = ContextStore()
    for path in paths:
        try:
            load_context_manifest(path, store)
        except ConfigurationError as error:
            _die(EXIT_USAGE, f"--context {path}: {error.message}")
    return store


def _trust_anchors(paths: list[Path] | None) -> list[Any]:
    """The certificates `--trust-anchor` names (each file one or more PEM certificates)."""
    from ancre.trust.errors import AncreError
    from ancre.trust.x509.chain import parse_pem_chain

    anchors: list[Any] = []
    for path in paths or ():
        try:
            anchors.extend(parse_pem_chain(_read_input(path).decode("ascii", "replace")))
        except AncreError as error:
            _die(EXIT_USAGE, f"--trust-anchor {path}: {error.message}")
    return anchors


def _run_verifier(
    data: bytes,
    clock: Clock,
    policy: VerificationPolicy,
    list_source: Any,
    loopback: bool,
    extras: dict[str, Any] | None = None,
) -> tuple[VerificationResult, Any]:
    """The engine's result for `data`, and the trust checker that took part (None: none)."""
    clients: list[Any] = []

    def http_client() -> Any:
        # Only built if a did:web, a status list or a remote trust list must be fetched:
        # did:key verification stays import-light.
        import httpx

        clients.append(httpx.Client(follow_redirects=False, trust_env=False))
        return clients[-1]

    network = None
    if loopback:
        from ancre.trust.net.guard import NetworkPolicy

        network = NetworkPolicy(allow_loopback=True, allow_http=True)
    from ancre.trust.errors import ConfigurationError
    from ancre.verifier.engine import Verifier
    from ancre.verifier.factory import build_context

    try:
        context = build_context(
            clock=clock,
            policy=policy,
            http=http_client,
            network=network,
            trust_list=list_source,
            **(extras or {}),
        )
    except ConfigurationError as error:  # an unusable --cache-dir, --state-dir or state file
        _die(EXIT_USAGE, f"--cache-dir/--state-dir: {error.message}")
    try:
        result = Verifier(context).verify(data)
    finally:
        for client in clients:
            client.close()
    return result, context.trust


def _verify_trust_state(
    result: VerificationResult, policy: VerificationPolicy, trust: Any
) -> TrustState:
    """The `trust` field of `verify`'s answer; says on stderr when a cached list decided."""
    from ancre.cli.output import trust_state

    cached = False
    if trust is not None:
        # The client served a list although its last refresh failed: the registry was down
        # and the cached list (still before its NextUpdate) decided.
        refresh = trust.refresh_status()
        cached = refresh.sequence is not None and refresh.last_error_code is not None
        if cached:
            sys.stderr.write(
                f"ancre: registry unreachable ({refresh.last_error}); used the cached trust "
                f"list #{refresh.sequence}, valid until {refresh.next_update:%Y-%m-%dT%H:%M:%SZ}\n"
            )
    return trust_state(
        result, source_given=policy.trusted_issuers is not None or trust is not None, cached=cached
    )


def _report_verification(
    result: VerificationResult, state: TrustState, data: bytes, source: Path, *, json_out: bool
) -> None:
    """`verify`'s answer: one JSON document, or the rendered result (and, for input that is
    not a credential at all, a hint saying what was expected)."""
    if json_out:
        from ancre.cli.output import print_json

        print_json({**result.to_json(), "trust": state})
        return
    from ancre.cli.output import render_result

    not_a_credential = result.malformed and not _looks_like_a_credential(data)
    render_result(result, trust=state, not_a_credential=not_a_credential)
    if not_a_credential:
        sys.stderr.write(
            f"ancre: {source} is not a credential or presentation: expected a JWT "
            "(eyJ…), an SD-JWT (…~…~), a COSE_Sign1 (CBOR) or a JSON document with a proof\n"
        )


def _verify_exit_code(result: VerificationResult) -> int:
    """65 for unreadable input; else 0 valid, 1 invalid, 2 indeterminate."""
    from ancre.trust.result import Status

    if result.malformed:
        return EXIT_DATAERR
    return {Status.VALID: EXIT_OK, Status.INVALID: EXIT_INVALID}.get(
        result.status, EXIT_INDETERMINATE
    )


def _looks_like_a_credential(data: bytes) -> bool:
    """Whether the input is shaped like something `verify` reads (JSON, or base64url
    segments separated by dots and tildes) — so a README or a PDF is called what it is
    rather than a malformed token."""
    import re

    if data.startswith((b"\xd2\x84", b"\x84")):  # raw CBOR: a COSE_Sign1 (vc+cose)
        return True
    text = data.strip()
    return text.startswith(b"{") or re.fullmatch(rb"[A-Za-z0-9_\-.~=+/]+", text) is not None


def _trust_list_source(
    source: str | None,
    registry_key: str | None,
    cache_dir: Path | None,
    state_dir: Path | None,
    max_bytes: int,
) -> Any:
    if source is None:
        if registry_key is not None:
            _die(EXIT_USAGE, "--registry-key goes with --trust-list")
        if cache_dir is not None:
            _die(EXIT_USAGE, "--cache-dir goes with --trust-list")
        return None
    if registry_key is None:
        _die(EXIT_USAGE, "--trust-list needs --registry-key (the DID or JWK that signs it)")
    from ancre.verifier.factory import TrustListSource

    remote = source.startswith(("https://", "http://"))
    keys, registry = None, registry_key
    if not registry_key.startswith("did:"):
        # A pinned JWK: the list names its registry in its header; the key must verify it.
        from ancre.trust.jose.jws import unverified_header
        from ancre.trust.jose.vc_jose import PinnedKeys

        raw = _read_input(Path(registry_key))
        from ancre.trust.errors import AncreError

        jwk: dict[str, Any] = {}
        try:
            method = _verification_method(raw)
            if method is None:
                jwk = _load_public(raw).to_jwk()
        except AncreError as error:  # not JSON, not a key: the user's file, not a bug
            _die(EXIT_USAGE, f"--registry-key {registry_key}: {error.message}")
        if method is not None:
            # It names its registry (`controller`) and key (`id`): no need to read the list
            # first, so a URL works as well as a saved file.
            registry, named_method = method
            return TrustListSource(
                source,
                registry,
                registry_keys=PinnedKeys({registry: [named_method]}),
                cache_dir=str(cache_dir) if cache_dir is not None else None,
                state_dir=str(state_dir) if state_dir is not None else None,
                max_bytes=max_bytes,
            )
        if remote:
            _die(
                EXIT_USAGE,
                "a bare JWK --registry-key does not say which registry it is: give the "
                "registry's DID, or the verification method `registry init` printed "
                "(registry-method.json), or --trust-list as a saved file",
            )
        header = unverified_header(
            _read_input(Path(source), max_bytes).decode("ascii", "replace").strip()
        )
        registry = str(header.get("iss", "registry"))
        # The operator pinned exactly this key for the registry; the signature must verify
        # with it, whatever name (`kid`) the list gives it.
        named = dict(jwk, kid=str(header["kid"])) if "kid" in header else dict(jwk)
        keys = PinnedKeys({registry: [named]})
    return TrustListSource(
        source,
        registry,
        registry_keys=keys,
        cache_dir=str(cache_dir) if cache_dir is not None else None,
        state_dir=str(state_dir) if state_dir is not None else None,
        max_bytes=max_bytes,
    )


def _verification_method(data: bytes) -> tuple[str, dict[str, Any]] | None:
    """(registry DID, its key named by `kid`) from a verification method (JSON with `id`,
    `controller`, `publicKeyJwk`), or None if `data` is some other JSON (a bare JWK)."""
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.keys.jwk import PublicKey

    method = loads_strict(data, what="--registry-key")
    if not isinstance(method, dict) or "publicKeyJwk" not in method:
        return None
    controller, kid, jwk = method.get("controller"), method.get("id"), method["publicKeyJwk"]
    if not (isinstance(controller, str) and controller.startswith("did:")) or not (
        isinstance(kid, str) and isinstance(jwk, dict) and "d" not in jwk
    ):
        _die(EXIT_USAGE, "--registry-key: a verification method needs id, controller (a DID) "
             "and a public publicKeyJwk")  # fmt: skip
    return controller, dict(PublicKey.from_jwk(jwk).to_jwk(), kid=kid)


# ---- sign ------------------------------------------------------------------------------


@app.command()
def sign(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="The unsigned credential (VCDM 2.0 JSON), or for dc+sd-jwt its claims; - for "
            "stdin.",
        ),
    ],
    key: Annotated[
        Path, typer.Option(metavar="KEY", help="The private JWK (from `ancre keys generate`).")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="vc+jwt|vc+sd-jwt|vc+cose|dc+sd-jwt|di",
            help="How to secure it (default vc+jwt; vc+cose prints base64).",
        ),
    ] = "vc+jwt",
    kid: Annotated[
        str | None,
        typer.Option(
            help="The DID URL naming KEY in the issuer's DID document (default: KEY's did:key, "
            "which is then the issuer)."
        ),
    ] = None,
    vct: Annotated[
        str | None, typer.Option(help="dc+sd-jwt: the credential type (`vct`, a URI).")
    ] = None,
    disclose: Annotated[
        list[str] | None,
        typer.Option(
            "--disclose",
            metavar="POINTER",
            help="dc+sd-jwt, vc+sd-jwt: a JSON Pointer made selectively disclosable (repeatable).",
        ),
    ] = None,
    cryptosuite: Annotated[
        str | None,
        typer.Option(
            metavar="SUITE",
            help="di: eddsa-rdfc-2022, eddsa-jcs-2022, ecdsa-rdfc-2019, ecdsa-jcs-2019 or "
            "ecdsa-sd-2023 (a base proof the holder derives from; P-256 KEY) (default: the RDFC "
            "suite of KEY's type).",
        ),
    ] = None,
    mandatory: Annotated[
        list[str] | None,
        typer.Option(
            "--mandatory",
            metavar="POINTER",
            help="di with ecdsa-sd-2023: a JSON Pointer the holder must always disclose "
            "(repeatable).",
        ),
    ] = None,
) -> None:
    """Sign a JSON document with a key file and print the result (for trying and scripting;
    the issuer service is for production). A credential without `issuer` is issued by KEY's
    did:key; one without `validFrom` is valid from now.

      ancre sign credential.json --key issuer.jwk > credential.jwt

      ancre sign claims.json --key issuer.jwk --format dc+sd-jwt --vct https://x.example/t

      ancre sign credential.json --key issuer.jwk --format vc+sd-jwt --disclose /credentialSubject

      ancre sign credential.json --key issuer.jwk --format vc+cose > credential.cose.b64

      ancre sign credential.json --key issuer.jwk --format di --cryptosuite eddsa-jcs-2022

      ancre sign vc.json --key p256.jwk --format di --cryptosuite ecdsa-sd-2023 --mandatory /issuer
    """
    from ancre.cli.sign import sign_document
    from ancre.trust.clock import SystemClock
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.errors import AncreError, ConfigurationError

    try:
        private = load_private_key(key)
        document = loads_strict(_read_input(file), what=str(file))
        if not isinstance(document, dict):
            _die(EXIT_DATAERR, f"{file}: a JSON object was expected")
        signed = sign_document(
            document,
            private,
            fmt,
            now=SystemClock().now(),
            kid=kid,
            vct=vct,
            disclose=disclose or (),
            cryptosuite=cryptosuite,
            mandatory=mandatory or (),
        )
    except ConfigurationError as error:
        _die(EXIT_USAGE, error.message)
    except AncreError as error:
        _die(EXIT_DATAERR, error.message)
    sys.stdout.write(signed + "\n")


# ---- samples ---------------------------------------------------------------------------


@app.command()
def samples(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="Where to write them (created if missing).")
    ],
) -> None:
    """Write sample credentials and presentations to try `ancre verify` on, offline: valid,
    expired and tampered vc+jwt, a dc+sd-jwt, a Data Integrity credential, a vp+jwt, the keys
    and DIDs to trust them, and a README saying which command verifies which.

      ancre samples samples && ancre verify samples/credential.jwt --policy samples/policy.json
    """
    from ancre.cli.samples import write_samples
    from ancre.trust.clock import SystemClock

    try:
        names = write_samples(folder, now=SystemClock().now())
    except FileExistsError as error:
        _die(EXIT_CANTCREAT, f"{error}; ancre never overwrites (choose another DIR)")
    except OSError as error:
        _die(EXIT_CANTCREAT, f"cannot write to {folder}: {error.strerror}")
    sys.stderr.write(f"ancre: wrote {len(names)} files to {folder}; see {folder / 'README.md'}\n")


# ---- demo ------------------------------------------------------------------------------


@app.command()
def demo(
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Leave the services running (URLs printed) until Ctrl-C."),
    ] = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            help="Print the login URL for a person to open instead of driving the login pages.",
        ),
    ] = False,
) -> None:
    """Run the whole onboarding story on loopback: a registry accredits an agency, a
    company's legal representative logs in, its wallet receives its credentials and a
    certification, a connector's verifier accepts them over OpenID4VP, then refuses the
    certification once revoked.

    ancre demo

    ancre demo --keep
    """
    from ancre.cli.demo import run_demo

    raise typer.Exit(run_demo(keep=keep, interactive=interactive))


#: Set by the scripts `ancre completion SHELL` prints, when the shell asks for candidates.
COMPLETE_VAR = "_ANCRE_COMPLETE"
COMPLETION_SHELLS = ("bash", "zsh", "fish")


def _register_completion_shells() -> None:
    # Typer registers its shell classes only when its own --install-completion options are
    # on; ancre keeps those off (they install into rc files without asking) and registers
    # them here, only when a completion is actually requested.
    from typer._completion_classes import completion_init

    completion_init()


@app.command()
def completion(
    shell: Annotated[
        str, typer.Argument(metavar="bash|zsh|fish", help="The shell to complete in.")
    ],
) -> None:
    """Print the shell completion script; load it from your shell's start-up file.

    eval "$(ancre completion bash)"        # in ~/.bashrc
    """
    if shell not in COMPLETION_SHELLS:
        _die(EXIT_USAGE, f"SHELL must be one of {', '.join(COMPLETION_SHELLS)}, not {shell!r}")
    from typer._click.shell_completion import get_completion_class

    from ancre.trust.errors import InternalError

    _register_completion_shells()
    complete = get_completion_class(shell)
    if complete is None:  # registered just above
        raise InternalError(f"no completion class registered for {shell}")
    script = complete(typer.main.get_command(app), {}, "ancre", COMPLETE_VAR).source()
    sys.stdout.write(script.strip() + "\n")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"ancre {version('ancre')}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Verifiable credentials for data spaces: keys and DIDs, issuing and verifying Gaia-X
    participant credentials.

    Exit codes: 0 valid/success, 1 invalid, 2 indeterminate, 64 usage error, 65 unreadable
    input, 69 service unavailable (e.g. a port in use), 73 cannot create an output file.
    """


def _keep_examples_whole(text: str) -> str:
    """Mark each indented paragraph (the examples) with click's `\\b`, so the help
    formatter never rewraps a command in the middle."""
    paragraphs = text.split("\n\n")
    for i, paragraph in enumerate(paragraphs):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        if lines and lines[0].startswith(("ancre ", "ANCRE_", "eval ")):
            # A docstring whose only indented text is its example loses that indent to
            # `inspect.cleandoc`: indent it back, like the others.
            paragraph = "\n".join("  " + line for line in paragraph.splitlines())
            lines = [line for line in paragraph.splitlines() if line.strip()]
        if lines and all(line.startswith("  ") for line in lines) and "ancre" in paragraph:
            paragraphs[i] = "\b\n" + paragraph
    return "\n\n".join(paragraphs)


def build_command() -> Any:
    """The click command behind `app`, with one convention for arguments in help: their
    name in capitals (`SOURCE`), as in the usage line, never Typer's `{source}`."""
    command = typer.main.get_command(app)
    stack = [command]
    while stack:
        current = stack.pop()
        stack.extend(getattr(current, "commands", {}).values())
        if current.help:
            current.help = _keep_examples_whole(current.help)
        for param in current.params:
            if param.param_type_name == "argument" and param.metavar is None and param.name:
                param.metavar = param.name.upper()
    return command


def main() -> None:
    """Console entry point: maps usage errors to exit code 64 (sysexits EX_USAGE), so they
    cannot be confused with 2, "indeterminate"."""
    if COMPLETE_VAR in os.environ:
        _register_completion_shells()
    try:
        # Outside standalone mode, a command's `typer.Exit(code)` comes back as the return value.
        returned = build_command()(standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.stderr.write("\nancre: aborted\n")
        sys.exit(130)
    except typer.TyperException as error:
        show = getattr(error, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"ancre: {error.format_message()}\n")
        # Typer's usage errors carry exit code 2; anything else it raises is about input.
        sys.exit(EXIT_USAGE if error.exit_code == 2 else EXIT_DATAERR)
    except Exception as error:
        if os.environ.get("ANCRE_DEBUG"):
            raise
        sys.stderr.write(
            f"ancre: internal error ({type(error).__name__}); this is a bug — "
            "run again with ANCRE_DEBUG=1 for details and report it\n"
        )
        sys.exit(EXIT_SOFTWARE)
    sys.exit(returned if isinstance(returned, int) else EXIT_OK)


if __name__ == "__main__":
    main()
