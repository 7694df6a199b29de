"""`ancre issuer …`: run a credential issuer from the command line.

An issuer lives in a folder (`--dir`, default `./ancre-issuer` or `$ANCRE_ISSUER_DIR`):
`issuer.json` (settings), `issuer.db` (SQLite, unless `--database` names PostgreSQL) and
`keys.ancre` (the encrypted signing keys; passphrase from $ANCRE_KEYSTORE_PASSPHRASE), or,
for an issuer made with `init --pkcs11`, keys in a PKCS#11 token (PIN from
$ANCRE_PKCS11_PIN or a file: `ancre.cli.hsm`).
`serve --dir` also takes a platform: a folder of issuer folders, served together.
Exit codes: 0 done, 1 refused (e.g. revoking a revoked credential), 64 usage or
configuration error, 65 unreadable input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ancre.cli.hsm import ModuleOption, PinFileOption, Pkcs11Option, TokenLabelOption
from ancre.cli.serving import (
    TlsCertOption,
    TlsKeyOption,
    WorkersOption,
    migrate_on_start,
    run_app,
    tls_arguments,
    with_environment,
)

if TYPE_CHECKING:
    from ancre.issuer.authorize import UserAuthentication
    from ancre.issuer.service import Issuer

app = typer.Typer(
    help="Issue credentials over OpenID4VCI 1.0: templates, offers, status lists, did:web.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="The issuer's signing keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
client_app = typer.Typer(help="VC-API machine clients and their API keys.", no_args_is_help=True)
app.add_typer(client_app, name="client")

DirOption = Annotated[
    Path,
    typer.Option("--dir", envvar="ANCRE_ISSUER_DIR", help="The issuer folder.", show_default=True),
]
AsOption = Annotated[
    str, typer.Option("--as", envvar="USER", help="The operator making the change.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PublicUrlOption = Annotated[
    str | None,
    typer.Option(help="The URL wallets reach the issuer at (default: from issuer.json)."),
]
CredentialIdArgument = Annotated[str, typer.Argument(help="The credential id (urn:uuid:…).")]
ApprovalOption = Annotated[
    bool,
    typer.Option(
        "--approval",
        help="Hold the wallet's request until an operator approves it (deferred issuance: "
        "ancre issuer pending / approve / reject).",
    ),
]
RequestIdArgument = Annotated[
    str, typer.Argument(help="The held request's id (from `ancre issuer pending`).")
]
RegisterCheckedOption = Annotated[
    bool,
    typer.Option(
        "--register-checked",
        help="You confirmed the claims in the company register (required by some types).",
    ),
]
GrantOption = Annotated[
    str,
    typer.Option(
        "--grant",
        help="pre-authorized_code, or authorization_code: an offer with an issuer_state, "
        "the claims given when an operator approves the login (serve --operator-approval).",
    ),
]
QrOption = Annotated[
    bool | None,
    typer.Option(
        "--qr/--no-qr",
        help="Print the offer as a QR code (default: when stdout is a terminal).",
        show_default=False,
    ),
]
DEFAULT_DIR = Path("ancre-issuer")
_MAX_CLAIMS_BYTES = 64 * 1024


def _die(code: int, message: str) -> NoReturn:
    sys.stderr.write(f"ancre: {message}\n")
    raise typer.Exit(code)


def _guard(fn: Any) -> Any:
    """Turn refused requests into clean messages and exit codes, never tracebacks."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ancre.issuer.service import IssuerError
        from ancre.trust.errors import AncreError, ConfigurationError

        try:
            return fn(*args, **kwargs)
        except IssuerError as error:
            _die(1, str(error))
        except ConfigurationError as error:
            _die(64, error.message)
        except AncreError as error:
            # A token's refusal (wrong PIN, no such token or key) is the operator's setup.
            _die(64 if error.code.value.startswith("pkcs11_") else 65, str(error))

    return wrapper


def _key_store(config: Any, hsm: tuple[Path | None, Path | None] = (None, None)) -> Any:
    """The issuer's key store: its encrypted file, or its PKCS#11 token; `hsm` is serve's
    (PIN file, module path on this machine), each None for the defaults."""
    from ancre.cli.hsm import pin_source
    from ancre.cli.main import _passphrase
    from ancre.issuer.config import open_key_store

    pin_file, module = hsm
    where = str(module.absolute()) if module is not None else None
    pin = (
        pin_source(config.pkcs11.token_label, where or config.pkcs11.module, pin_file)
        if config.pkcs11 is not None
        else lambda: ""
    )
    return open_key_store(config, lambda: _passphrase(confirm=False), pin, module=where)


def _open(
    folder: Path,
    public_url: str | None = None,
    hsm: tuple[Path | None, Path | None] = (None, None),
) -> Issuer:
    from ancre.issuer.config import load_config
    from ancre.issuer.db import make_engine
    from ancre.issuer.service import Issuer
    from ancre.trust.clock import SystemClock

    config = load_config(folder)
    store = _key_store(config, hsm)
    return Issuer(
        config,
        engine=make_engine(config.database_url()),
        store=store,
        clock=SystemClock(),
        public_url=public_url,
    )


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


# -- VC-API and accreditation (issue 13, second slice) -------------------------------------

VcApiProofOption = Annotated[
    str,
    typer.Option(help="The VC-API's proof: vc+jwt (enveloped) or DataIntegrityProof (Ed25519)."),
]
TrustListOption = Annotated[
    str | None,
    typer.Option(help="The registry's trust list (URL or saved file): accreditation check."),
]
RegistryKeyOption = Annotated[
    str | None,
    typer.Option(
        "--registry-key",
        "--registry-did",
        metavar="DID|FILE",
        help="Who signs the trust list, as for `ancre verify`: the registry's DID, the "
        "verification method `registry init` printed (registry-method.json), or a public "
        "JWK file (with a saved list). --registry-did is the former name.",
    ),
]

X5cOption = Annotated[
    Path | None,
    typer.Option(
        "--x5c",
        help="PEM chain certifying the signing key, leaf first (with --key): sent as x5c.",
    ),
]
KeyPemOption = Annotated[
    Path | None,
    typer.Option("--key", help="The certified private key (PEM, unencrypted), with --x5c."),
]


def _open_accredited(
    folder: Path,
    public_url: str | None,
    *,
    trust_list: str | None,
    registry_key: str | None,
    unchecked: bool,
    insecure_loopback: bool = False,
    hsm: tuple[Path | None, Path | None] = (None, None),
) -> tuple[Issuer, Any, str]:
    """The issuer with its accreditation check (an ``AccreditedIssuer``), the check itself
    and the VC-API proof; without a trust list only when `unchecked` says so explicitly."""
    from ancre.issuer.accreditation import (
        AccreditedIssuer,
        load_issuance,
        open_accreditation,
        warn_unchecked,
    )
    from ancre.trust.errors import ConfigurationError

    saved = load_issuance(folder)
    if trust_list is not None or registry_key is not None:
        saved = _issuance(saved.vc_api_proof, trust_list, registry_key)
    issuer = _open(folder, public_url, hsm)
    if unchecked:
        if saved.trust_list is not None:
            raise ConfigurationError(
                "--no-accreditation-check with a trust list configured: choose one"
            )
        warn_unchecked(issuer.did)
        sys.stderr.write(
            f"ancre: WARNING: accreditation check DISABLED for {issuer.did}: any credential "
            "type is issued, accredited or not\n"
        )
        return issuer, None, saved.vc_api_proof
    if saved.trust_list is None or saved.registry is None:
        raise ConfigurationError(
            "no trust list to check this issuer's accreditation: give --trust-list and "
            "--registry-key (or set them at init), or start with --no-accreditation-check"
        )
    accreditation = open_accreditation(
        did=issuer.did,
        trust_list=saved.trust_list,
        registry=saved.registry,
        clock=issuer.clock,
        cache_dir=folder / "trust-list",
        allow_loopback=insecure_loopback,
        registry_jwk=saved.registry_jwk,
    )
    accredited = AccreditedIssuer(
        issuer.config,
        engine=issuer.engine,
        store=issuer.store,
        clock=issuer.clock,
        public_url=issuer.public_url,
        accreditation=accreditation,
    )
    return accredited, accreditation, saved.vc_api_proof


def _issuance(vc_api_proof: str, trust_list: str | None, registry_key: str | None) -> Any:
    """The `IssuanceConfig` of --trust-list and --registry-key, read as `ancre verify` reads
    them: a DID is resolved; a verification method names the registry (`controller`) and
    pins its key; a bare public JWK pins the key of the registry a saved list names."""
    from ancre.cli.main import _load_public, _read_input, _verification_method
    from ancre.issuer.accreditation import IssuanceConfig
    from ancre.trust.errors import AncreError

    if registry_key is None or registry_key.startswith("did:") or trust_list is None:
        return IssuanceConfig(vc_api_proof, trust_list, registry_key)
    raw = _read_input(Path(registry_key))
    try:
        method = _verification_method(raw)
        if method is not None:
            return IssuanceConfig(vc_api_proof, trust_list, method[0], method[1])
        jwk = _load_public(raw).to_jwk()
    except AncreError as error:  # not JSON, not a key: the user's file, not a bug
        _die(64, f"--registry-key {registry_key}: {error.message}")
    if trust_list.startswith(("https://", "http://")):
        _die(
            64,
            "a bare JWK --registry-key does not say which registry it is: give the registry's "
            "DID, or the verification method `registry init` printed (registry-method.json), "
            "or --trust-list as a saved file",
        )
    from ancre.trust.jose.jws import unverified_header

    try:
        header = unverified_header(_read_input(Path(trust_list)).decode("ascii", "replace").strip())
    except AncreError as error:
        _die(65, f"--trust-list {trust_list}: {error.message}")
    registry = header.get("iss")
    if not isinstance(registry, str) or not registry.startswith("did:"):
        _die(65, f"--trust-list {trust_list} does not name its registry (a DID in `iss`)")
    # The operator pinned exactly this key: the list must verify with it, whatever `kid`
    # the list gives it.
    named = dict(jwk, kid=str(header["kid"])) if "kid" in header else dict(jwk)
    return IssuanceConfig(vc_api_proof, trust_list, registry, named)


@app.command()
@_guard
def init(
    did: Annotated[str, typer.Option(help="The issuer's DID: did:web:HOST[:PATH].")],
    folder: DirOption = DEFAULT_DIR,
    key_type: Annotated[
        str | None, typer.Option(help="ed25519, p256 or p384 (default ed25519, or --key's).")
    ] = None,
    public_url: PublicUrlOption = None,
    database: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (default: SQLite issuer.db in the folder)."),
    ] = None,
    vc_api_proof: VcApiProofOption = "vc+jwt",
    trust_list: TrustListOption = None,
    registry_key: RegistryKeyOption = None,
    x5c: X5cOption = None,
    key: KeyPemOption = None,
    pkcs11: Pkcs11Option = None,
    token_label: TokenLabelOption = None,
    key_label: Annotated[
        str,
        typer.Option(
            help="--pkcs11: the key pair's label in the token, also its verification "
            "method's fragment; made there unless an HSM administrator made it beforehand."
        ),
    ] = "signing-1",
    pin_file: PinFileOption = None,
) -> None:
    """Create an issuer: encrypted signing key, settings, migrated database.

    ANCRE_KEYSTORE_PASSPHRASE=… ancre issuer init --dir agency --did did:web:agency.example

    With --x5c CHAIN.pem --key KEY.pem it signs with that X.509-certified key instead (the
    chain is checked now: leaf first, certifying the key and naming the DID).

    With --pkcs11 the signing key is in a PKCS#11 token (an HSM; p256 by default, or
    ed25519) and never leaves it; the PIN comes from --pin-file or $ANCRE_PKCS11_PIN:

      ANCRE_PKCS11_PIN=… ancre issuer init --dir agency --did did:web:agency.example \\
          --pkcs11 /usr/lib/softhsm/libsofthsm2.so --token-label agency"""
    from ancre.cli.main import _passphrase
    from ancre.issuer.accreditation import IssuanceConfig, save_issuance
    from ancre.issuer.config import TokenConfig, init_issuer
    from ancre.trust.clock import SystemClock

    clock = SystemClock()
    # Checked before anything is written (an eddsa-rdfc-2022 proof needs an Ed25519 key).
    issuance = _issuance(vc_api_proof, trust_list, registry_key)
    certified = _certified(key, x5c, did, clock)
    token = None
    if pkcs11 is not None:
        from ancre.cli.hsm import pin_source

        if token_label is None:
            _die(64, "--pkcs11 needs --token-label")
        token_config = TokenConfig(str(pkcs11.absolute()), token_label)
        token = (token_config, pin_source(token_label, token_config.module, pin_file))
    elif token_label is not None or pin_file is not None or key_label != "signing-1":
        _die(64, "--token-label, --key-label and --pin-file go with --pkcs11")
    default = "p256" if token is not None else "ed25519"
    kind = key_type or (certified.key.key_type.value if certified else default)
    if vc_api_proof == "DataIntegrityProof" and kind != "ed25519":
        _die(64, "a DataIntegrityProof (eddsa-rdfc-2022) needs --key-type ed25519")
    config = init_issuer(
        folder,
        did=did,
        passphrase=_passphrase(confirm=True) if token is None else "",
        clock=clock,
        key_type=kind,
        public_url=public_url,
        database=database,
        certified=certified,
        token=token,
        key_name=key_label,
    )
    if issuance != IssuanceConfig():  # absent means the defaults
        save_issuance(folder, issuance)
    chain = f" (x5c: {len(config.current_key.x5c)} certificate(s))" if certified else ""
    if config.pkcs11 is not None:
        chain = f" (PKCS#11 token {config.pkcs11.token_label!r}, label {key_label!r})"
    sys.stderr.write(
        f"ancre: issuer {config.did} created in {folder}\n"
        f"  credential issuer: {config.public_url}\n"
        f"  signing key:       {config.current_key.kid}{chain}\n"
        f"Serve it with: ancre issuer serve --dir {folder}\n"
    )


def _certified(key: Path | None, x5c: Path | None, did: str, clock: Any) -> Any:
    """The checked key and chain of --key/--x5c (`CertifiedSigningKey`), or None."""
    from ancre.issuer.x5c import certified_key

    if key is None and x5c is None:
        return None
    if key is None or x5c is None:
        _die(64, "--x5c and --key go together: the chain and the private key it certifies")
    texts = []
    for path in (key, x5c):
        try:
            texts.append(path.read_bytes())
        except OSError as error:
            _die(65, f"cannot read {path}: {error.strerror}")
    try:
        chain = texts[1].decode("ascii")
    except UnicodeDecodeError:
        _die(65, f"{x5c} is not a PEM certificate chain")
    return certified_key(texts[0], chain, did=did, at=clock.now())


@app.command()
@with_environment("IssuerServeSettings")
def serve(
    folder: DirOption = DEFAULT_DIR,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8700,
    public_url: PublicUrlOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    trust_list: TrustListOption = None,
    registry_key: RegistryKeyOption = None,
    no_accreditation_check: Annotated[
        bool,
        typer.Option(
            "--no-accreditation-check",
            help="Issue without checking the registry's trust list (logged loudly).",
        ),
    ] = False,
    insecure_loopback: Annotated[
        bool,
        typer.Option(
            "--insecure-loopback",
            help="Allow a trust list, registry DID and holders' did:web on 127.0.0.1 (tests).",
        ),
    ] = False,
    login: Annotated[
        Path | None,
        typer.Option(
            help="Login bridge configuration (JSON, docs/proconnect.md): enables the "
            "authorization code grant with ProConnect and the login pages."
        ),
    ] = None,
    operator_approval: Annotated[
        bool,
        typer.Option(
            "--operator-approval",
            help="Enable the authorization code grant with an operator deciding each login "
            "(ancre issuer logins / login-approve / login-reject); not with --login.",
        ),
    ] = False,
    workers: WorkersOption = 1,
    rate_limit: Annotated[
        int,
        typer.Option(
            metavar="PER_MINUTE",
            help="Per client address and kind of endpoint (login pages, token — so tx_code "
            "guesses —, nonce and credential): at most this many requests a minute (bursts "
            "of half as many), then 429 rate_limited with Retry-After; 0: no limit.",
        ),
    ] = 60,
    pin_file: PinFileOption = None,
    pkcs11_module: ModuleOption = None,
) -> None:
    """Serve the issuer: did:web document, status lists, OpenID4VCI and VC-API endpoints.

    --dir names one issuer, or a platform: a folder of issuer folders (PLATFORM/NAME, each
    made with `init --did did:web:HOST:issuers:NAME`), all served by this one process, each
    under its own path and isolated from the others (docs/issuer.md).

    It refuses to start without the registry's trust list (from `init` or --trust-list and
    --registry-key) unless told --no-accreditation-check.

      ancre issuer serve --dir agency --port 8700 \\
          --trust-list https://registry.example/trust-list \\
          --registry-key registry-method.json
    """
    from ancre.trust.errors import AncreError

    tls = tls_arguments(tls_cert, tls_key)
    if operator_approval and login is not None:
        _die(64, "--operator-approval and --login are two ways to log users in: choose one")
    accreditation: dict[str, Any] = {
        "trust_list": trust_list,
        "registry_key": registry_key,
        "unchecked": no_accreditation_check,
        "insecure_loopback": insecure_loopback,
        "hsm": (pin_file, pkcs11_module),
    }
    try:
        # Each issuer's database at the latest schema first (issue 19: migrations on start;
        # replicas starting together wait for each other).
        _migrate_issuers(folder)
        from ancre.storage.abuse import rate_limit_per_minute

        accreditation["rate_limit"] = rate_limit_per_minute(rate_limit) if rate_limit else None
        app_, served = _serving(folder, public_url, login, accreditation, operator_approval)
    except AncreError as error:
        # A token's refusal (wrong PIN, no such token or key) names its stable code.
        pkcs11 = error.code.value.startswith("pkcs11_")
        _die(64, str(error) if pkcs11 else error.message)
    for did, url in served:
        sys.stderr.write(f"ancre: issuer {did} at {url}\n")

    def build() -> Any:
        # One worker serves the app just built; each of several builds its own after the
        # fork (its own database pool), the one above having checked the configuration.
        if workers == 1:
            return app_
        return _serving(folder, public_url, login, accreditation, operator_approval)[0]

    run_app(build, host=host, port=port, workers=workers, log_level="info", **tls)


def _migrate_issuers(folder: Path) -> None:
    """Migrate the database of the issuer `folder`, or of each issuer of a platform."""
    from ancre.issuer.config import load_config
    from ancre.issuer.db import migrate
    from ancre.issuer.platform import platform_members

    for member in platform_members(folder) or [folder]:
        migrate_on_start(load_config(member).database_url(), migrate)


def _serving(
    folder: Path,
    public_url: str | None,
    login: Path | None,
    accreditation: dict[str, Any],
    operator_approval: bool = False,
) -> tuple[Any, list[tuple[str, str]]]:
    """The app `serve` runs for the issuer or platform `folder`, and the (DID, URL) of each
    issuer it serves. A platform is checked (no two issuers sharing a path, DID, database or
    key store) before any of its issuers is opened; with `operator_approval`, each of its
    issuers without a login bridge of its own has operator approval."""
    from ancre.issuer.api import create_app
    from ancre.issuer.config import load_config
    from ancre.issuer.platform import (
        LOGIN_FILE,
        check_platform,
        create_platform_app,
        platform_members,
    )
    from ancre.trust.errors import ConfigurationError

    members = platform_members(folder)
    if members is None:
        one = _issuer_settings(folder, public_url, login, accreditation, operator_approval)
        return create_app(one), [(one.issuer.did, one.issuer.public_url)]
    if public_url is not None or login is not None:
        raise ConfigurationError(
            f"{folder} is a platform of {len(members)} issuers: --public-url and --login "
            f"name one issuer's; on a platform each issuer's issuer.json gives its URL and "
            f"its {LOGIN_FILE}, when present, its login bridge"
        )
    check_platform((m.name, load_config(m), None) for m in members)
    settings = []
    for member in members:
        own_login = member / LOGIN_FILE
        settings.append(
            _issuer_settings(
                member,
                None,
                own_login if own_login.is_file() else None,
                accreditation,
                operator_approval and not own_login.is_file(),
            )
        )
    return create_platform_app(settings), [(s.issuer.did, s.issuer.public_url) for s in settings]


def _issuer_settings(
    folder: Path,
    public_url: str | None,
    login: Path | None,
    accreditation: dict[str, Any],
    operator_approval: bool = False,
) -> Any:
    """One issuer opened for serving: its accreditation check, its VC-API and, with a login
    configuration, its login bridge, or with `operator_approval`, operator approval (either
    enables the authorization code grant)."""
    from ancre.issuer.api import IssuerSettings
    from ancre.issuer.vc_api import VcApiSettings

    accreditation = dict(accreditation)
    rate_limit = accreditation.pop("rate_limit", None)
    issuer, check, proof = _open_accredited(folder, public_url, **accreditation)
    vc_api = VcApiSettings(proof=proof, accreditation=check)  # type: ignore[arg-type]
    authentication: UserAuthentication | None = None
    if login is not None:
        from ancre.issuer.bridge import build_login_bridge, load_login_settings

        settings = load_login_settings(login, public_url=issuer.public_url)
        authentication = build_login_bridge(issuer, settings)
    elif operator_approval:
        from ancre.issuer.operator_approval import OperatorApproval

        authentication = OperatorApproval(issuer)
    from ancre.trust.net.guard import NetworkPolicy

    # Holders' did:web documents (key proofs): public https, or loopback https in tests.
    holder_dids = NetworkPolicy(allow_loopback=bool(accreditation.get("insecure_loopback")))
    return IssuerSettings(
        issuer,
        vc_api=vc_api,
        authentication=authentication,
        holder_dids=holder_dids,
        rate_limit=rate_limit,
    )


def _qr(text: str) -> str | None:
    """`text` as a QR code drawn with Unicode half blocks (two modules rows a line, the
    quiet zone included); None when it is too long for any QR code."""
    import io

    import segno

    try:
        code = segno.make_qr(text, error="m")
    except segno.DataOverflowError:
        return None
    out = io.StringIO()
    code.terminal(out=out, compact=True)
    return out.getvalue()


def _show_qr(forced: bool | None, json_out: bool) -> bool:
    """Whether `offer` prints its QR code: when asked (`--qr`), or by default when stdout is
    a terminal; never with --json (stdout is then for the JSON alone)."""
    if json_out:
        if forced:
            _die(64, "--qr draws on a terminal: not with --json (its offer_uri is the QR text)")
        return False
    return forced if forced is not None else sys.stdout.isatty()


@app.command()
@_guard
def offer(
    credential_type: Annotated[
        str, typer.Option("--type", help="A credential configuration id (e.g. LegalPerson).")
    ],
    claims: Annotated[
        Path | None, typer.Option(help="JSON file with the credential's claims.")
    ] = None,
    folder: DirOption = DEFAULT_DIR,
    tx_code: Annotated[
        bool, typer.Option("--tx-code", help="Protect the offer with a numeric code.")
    ] = False,
    register_checked: RegisterCheckedOption = False,
    by_value: Annotated[bool, typer.Option(help="Put the offer itself in the URI.")] = False,
    public_url: PublicUrlOption = None,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
    from_csv: Annotated[
        Path | None,
        typer.Option("--from", help="A CSV file: one offer per row (header: claim names)."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="With --from: offer the valid rows only.")
    ] = False,
    approval: ApprovalOption = False,
    grant: GrantOption = "pre-authorized_code",
    qr: QrOption = None,
) -> None:
    """Create a credential offer (pre-authorized code) and print its URI, tx_code and a QR
    code on a terminal; or, with --from rows.csv, one offer per row (every row checked
    first); or, with --grant authorization_code, an offer carrying an issuer_state.

      ancre issuer offer --dir agency --type LegalPerson --claims lp.json --tx-code

      ancre issuer offer --dir agency --type Certification --from rows.csv --json
    """
    from ancre.issuer.templates import Authorization
    from ancre.trust.codec.json import loads_strict

    if grant == "authorization_code":
        if claims is not None or from_csv is not None or tx_code or approval:
            _die(64, "--grant authorization_code takes no --claims, --from, --tx-code or "
                 "--approval: the claims come with the login's approval")  # fmt: skip
        _offer_code_grant(folder, public_url, credential_type, json_out, _show_qr(qr, json_out))
        return
    if grant != "pre-authorized_code":
        _die(64, "--grant is pre-authorized_code or authorization_code")
    if from_csv is not None and claims is None:
        authorization = Authorization("operator", actor, register_checked=register_checked)
        _offer_csv(folder, public_url, credential_type, from_csv, authorization, tx_code,
                   skip_invalid=skip_invalid, json_out=json_out, approval=approval)  # fmt: skip
        return
    if claims is None or from_csv is not None:
        _die(64, "give --claims FILE.json or --from FILE.csv")
    show_qr = _show_qr(qr, json_out)
    try:
        raw = claims.read_bytes()
    except OSError as error:
        _die(65, f"cannot read {claims}: {error.strerror}")
    if len(raw) > _MAX_CLAIMS_BYTES:
        _die(65, f"{claims} is over {_MAX_CLAIMS_BYTES} bytes")
    document = loads_strict(raw, what=str(claims))
    issuer = _open_for_offers(folder, public_url)
    authorization = Authorization("operator", actor, register_checked=register_checked)
    created = issuer.create_offer(
        credential_type, document, authorization=authorization, tx_code=tx_code, approval=approval
    )
    uri = issuer.offer_uri(created, by_value=by_value)
    expires = created.expires_at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if json_out:
        _print_json({"offer_uri": uri, "tx_code": created.tx_code, "expires_at": expires})
        return
    sys.stdout.write(uri + "\n")
    if created.tx_code is not None:
        sys.stdout.write(f"tx_code: {created.tx_code}  (send it to the holder separately)\n")
    sys.stdout.write(f"expires: {expires}\n")
    picture = _qr(uri) if show_qr else None
    if picture is not None:
        sys.stdout.write(picture)
    elif show_qr:
        sys.stderr.write("ancre: the offer URI is too long for a QR code (try it by reference)\n")


def _offer_code_grant(
    folder: Path, public_url: str | None, credential_type: str, json_out: bool, show_qr: bool
) -> None:
    """An offer of the authorization code grant: its URI (by value) and its issuer_state."""
    from ancre.issuer.authorize import ISSUER_STATE_LIFETIME, AuthorizationServer

    issuer = _open_for_offers(folder, public_url)
    state, uri = AuthorizationServer(issuer).create_issuer_state(credential_type)
    expires = issuer.clock.now() + ISSUER_STATE_LIFETIME
    stamp = expires.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if json_out:
        _print_json({"offer_uri": uri, "issuer_state": state, "expires_at": stamp})
        return
    sys.stdout.write(f"{uri}\nissuer_state: {state}\nexpires: {stamp}\n")
    picture = _qr(uri) if show_qr else None
    if picture is not None:
        sys.stdout.write(picture)


def _status(folder: Path, credential_id: str, action: Any, actor: str, json_out: bool) -> None:
    state = _open(folder).set_status(credential_id, action, actor=actor)
    if json_out:
        _print_json({"id": credential_id, "state": state})
    else:
        sys.stdout.write(f"{credential_id}: {state}\n")


@app.command()
@_guard
def revoke(
    credential_id: CredentialIdArgument,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Revoke a credential for good and re-sign its status list.

    ancre issuer revoke urn:uuid:6a1bb35e-6b6b-4a4d-9e59-2d8bd0e33c7e --dir agency --as alice
    """
    _status(folder, credential_id, "revoke", actor, json_out)


@app.command()
@_guard
def suspend(
    credential_id: CredentialIdArgument,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Suspend a credential (reversible) and re-sign its status list.

    ancre issuer suspend urn:uuid:6a1bb35e-6b6b-4a4d-9e59-2d8bd0e33c7e --dir agency
    """
    _status(folder, credential_id, "suspend", actor, json_out)


@app.command()
@_guard
def reinstate(
    credential_id: CredentialIdArgument,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Lift a suspension and re-sign the status list.

    ancre issuer reinstate urn:uuid:6a1bb35e-6b6b-4a4d-9e59-2d8bd0e33c7e --dir agency
    """
    _status(folder, credential_id, "reinstate", actor, json_out)


@app.command("list")
@_guard
def list_(
    folder: DirOption = DEFAULT_DIR,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    json_out: JsonOption = False,
) -> None:
    """The credentials issued (metadata only: no personal claims are kept).

    ancre issuer list --dir agency --limit 20 --json
    """
    rows = _open(folder).credentials(limit)
    items = [
        {
            "id": r.id,
            "configuration": r.configuration_id,
            "format": r.format,
            "issued_at": r.issued_at,
            "valid_until": r.valid_until,
            "state": r.state,
            "status": f"{r.status_list}#{r.status_index}",
            "wallet_event": r.wallet_event,
        }
        for r in rows
    ]
    if json_out:
        _print_json(items)
        return
    for item in items:
        sys.stdout.write(
            f"{item['id']}  {item['configuration']:<24} {item['state']:<10} {item['issued_at']}\n"
        )


@app.command()
@_guard
def pending(
    folder: DirOption = DEFAULT_DIR,
    every: Annotated[
        bool, typer.Option("--all", help="Every held request, decided or not, newest first.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    json_out: JsonOption = False,
) -> None:
    """The wallet requests waiting for approval (offers made with --approval), oldest
    first: decide with `approve ID` or `reject ID`. --json shows their claims too.

      ancre issuer pending --dir agency --json
    """
    from ancre.issuer.deferred import held_requests

    held = held_requests(_open(folder), everything=every, limit=limit)
    if json_out:
        _print_json([h.to_json() for h in held])
        return
    for h in held:
        item = h.to_json()
        sys.stdout.write(
            f"{h.id}  {h.configuration_id:<24} {h.state:<9} {h.keys} key(s)  "
            f"requested {item['requested_at']}  offered by {h.offered_by}\n"
        )


def _decide(folder: Path, request_id: str, decision: Any, actor: str, json_out: bool) -> None:
    from ancre.issuer.deferred import decide

    state = decide(_open(folder), request_id, decision, actor=actor)
    if json_out:
        _print_json({"id": request_id, "state": state})
    else:
        sys.stdout.write(f"{request_id}: {state}\n")


@app.command()
@_guard
def approve(
    request_id: RequestIdArgument,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Approve a held request: the wallet's next poll receives its credential(s).

    ancre issuer approve 9f86d081884c7d65 --dir agency --as bob
    """
    _decide(folder, request_id, "approve", actor, json_out)


@app.command()
@_guard
def reject(
    request_id: RequestIdArgument,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Reject a held request for good (its claims are forgotten at once): the wallet is
    told credential_request_denied.

      ancre issuer reject 9f86d081884c7d65 --dir agency --as bob
    """
    _decide(folder, request_id, "reject", actor, json_out)


# -- operator approval of logins (serve --operator-approval) -------------------------------

LoginIdArgument = Annotated[
    str, typer.Argument(help="The waiting login's id (from `ancre issuer logins`).")
]


@app.command()
@_guard
def logins(
    folder: DirOption = DEFAULT_DIR,
    every: Annotated[
        bool, typer.Option("--all", help="Every login still recorded, decided or not.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    json_out: JsonOption = False,
) -> None:
    """The wallets' logins waiting for an operator (serve --operator-approval), oldest
    first: decide with `login-approve ID --claims FILE.json` or `login-reject ID`.

      ancre issuer logins --dir agency --all
    """
    from ancre.issuer.operator_approval import waiting_logins

    found = waiting_logins(_open(folder), everything=every, limit=limit)
    if json_out:
        _print_json([login.to_json() for login in found])
        return
    for login in found:
        item = login.to_json()
        sys.stdout.write(
            f"{login.id}  {login.configuration_id:<24} {login.state:<9} "
            f"client {login.client_id}  requested {item['requested_at']}\n"
        )


@app.command("login-approve")
@_guard
def login_approve(
    login_id: LoginIdArgument,
    claims: Annotated[Path, typer.Option(help="JSON file with the credential's claims.")],
    folder: DirOption = DEFAULT_DIR,
    register_checked: RegisterCheckedOption = False,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Approve a waiting login with the credential's claims (checked now): the wallet's
    browser goes back to it with an authorization code.

      ancre issuer login-approve 2c26b46b68ffc68f --claims lp.json --dir agency --as alice
    """
    from ancre.issuer.operator_approval import decide_login
    from ancre.issuer.templates import Authorization
    from ancre.trust.codec.json import loads_strict

    try:
        raw = claims.read_bytes()
    except OSError as error:
        _die(65, f"cannot read {claims}: {error.strerror}")
    if len(raw) > _MAX_CLAIMS_BYTES:
        _die(65, f"{claims} is over {_MAX_CLAIMS_BYTES} bytes")
    document = loads_strict(raw, what=str(claims))
    authorization = Authorization("operator", actor, register_checked=register_checked)
    state = decide_login(
        _open(folder), login_id, "approve", actor=actor, claims=document,
        authorization=authorization,
    )  # fmt: skip
    _decided(login_id, state, json_out)


@app.command("login-reject")
@_guard
def login_reject(
    login_id: LoginIdArgument,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Reject a waiting login: the wallet is told access_denied (login_rejected).

    ancre issuer login-reject 2c26b46b68ffc68f --dir agency --as alice
    """
    from ancre.issuer.operator_approval import decide_login

    _decided(login_id, decide_login(_open(folder), login_id, "reject", actor=actor), json_out)


def _decided(login_id: str, state: str, json_out: bool) -> None:
    if json_out:
        _print_json({"id": login_id, "state": state})
    else:
        sys.stdout.write(f"{login_id}: {state}\n")


@app.command()
@_guard
def show(
    credential_id: CredentialIdArgument,
    folder: DirOption = DEFAULT_DIR,
    json_out: JsonOption = False,
) -> None:
    """One issued credential: type, format, holder key, status entries, state and history
    (metadata only: no claim is kept).

      ancre issuer show urn:uuid:6a1bb35e-6b6b-4a4d-9e59-2d8bd0e33c7e --dir agency --json
    """
    from ancre.issuer.records import credential_record

    record = credential_record(_open(folder), credential_id)
    if json_out:
        _print_json(record)
        return
    holder, thumbprint = record["holder"], record["holder_thumbprint"]
    lines = [
        record["id"],
        f"  type:       {record['type']} ({record['configuration']}, {record['format']})",
        f"  state:      {record['state']}",
    ]
    if holder != thumbprint:  # a DID (vc+jwt), else only the key's thumbprint (cnf)
        lines.append(f"  holder:     {holder}")
    if thumbprint is not None:
        lines.append(f"  holder key: {thumbprint} (JWK thumbprint)")
    lines += [
        f"  valid:      {record['issued_at']} to {record['valid_until']}",
        f"  signed by:  {record['kid']}",
        f"  offer:      {record['offer_id'] or '-'}",
    ]
    if record["vc_api_client"]:
        lines.append(f"  client:     {record['vc_api_client']}")
    lines += [
        f"  status:     {e['list']}#{e['index']} ({e['purpose']}) = {e['value']}  {e['url']}"
        for e in record["status"]
    ]
    lines.append("  history:")
    lines += [f"    {e['at']}  {e['action']:<16} by {e['actor']}" for e in record["history"]]
    sys.stdout.write("\n".join(lines) + "\n")


@keys_app.command("rotate")
@_guard
def keys_rotate(
    folder: DirOption = DEFAULT_DIR, x5c: X5cOption = None, key: KeyPemOption = None
) -> None:
    """Generate a new signing key (or import a certified one: --key with --x5c, required
    when the current key is certified); the old one stays in the DID document (credentials
    it signed keep verifying) but signs nothing more. Restart `serve` to pick it up.

      ANCRE_KEYSTORE_PASSPHRASE=… ancre issuer keys rotate --dir agency

      ancre issuer keys rotate --dir agency --x5c new-chain.pem --key new-key.pem
    """
    from ancre.issuer.config import load_config, rotate_key
    from ancre.trust.clock import SystemClock

    clock = SystemClock()
    config = load_config(folder)
    certified = _certified(key, x5c, config.did, clock)
    store = _key_store(config)
    rotated = rotate_key(config, store, clock, certified)
    sys.stdout.write(f"signing key now {rotated.current_key.kid}\n")


@audit_app.command("verify")
@_guard
def audit_verify(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """Check the audit chain; exit 1 when an event was altered or removed.

    ancre issuer audit verify --dir agency
    """
    report = _open(folder).verify_audit()
    if json_out:
        _print_json(
            {
                "ok": report.ok,
                "events": report.events,
                "first_broken": report.first_broken,
                "reason": report.reason,
            }
        )
    else:
        verdict = "intact" if report.ok else f"BROKEN at {report.first_broken}: {report.reason}"
        sys.stdout.write(f"{report.events} events, {verdict}\n")
    if not report.ok:
        raise typer.Exit(1)


@client_app.command("add")
@_guard
def client_add(
    name: Annotated[str, typer.Argument(help="The client's name (letters, digits, . _ -).")],
    types: Annotated[
        list[str],
        typer.Option("--type", help="A credential configuration it may issue (repeatable)."),
    ],
    folder: DirOption = DEFAULT_DIR,
    issuer_id: Annotated[
        str | None, typer.Option(help="The issuer DID it may name (default: this issuer's).")
    ] = None,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Add a VC-API client; prints its API key ONCE (only a hash is kept).

    ancre issuer client add erp --type LegalPerson --type Certification --dir agency
    """
    from ancre.issuer.clients import ClientStore

    issuer = _open(folder)
    added = ClientStore(issuer.engine, issuer.clock).add(
        name, issuer_id=issuer_id or issuer.did, types=tuple(types), actor=actor
    )
    if json_out:
        _print_json({**added.client.to_json(), "api_key": added.api_key})
        return
    sys.stdout.write(f"{added.api_key}\n")
    sys.stderr.write(
        f"ancre: client {name} may issue {', '.join(added.client.types)} as "
        f"{added.client.issuer_id}; the key above is shown once (only its hash is kept)\n"
    )


@client_app.command("list")
@_guard
def client_list(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """The VC-API clients (never their keys).

    ancre issuer client list --dir agency --json
    """
    from ancre.issuer.clients import ClientStore

    issuer = _open(folder)
    clients = ClientStore(issuer.engine, issuer.clock).list()
    if json_out:
        _print_json([c.to_json() for c in clients])
        return
    for c in clients:
        state = "revoked" if c.revoked_at else "active"
        sys.stdout.write(f"{c.name:<20} {state:<8} {c.issuer_id}  {', '.join(c.types)}\n")


@client_app.command("revoke")
@_guard
def client_revoke(
    name: Annotated[str, typer.Argument(help="The client's name.")],
    folder: DirOption = DEFAULT_DIR,
) -> None:
    """Revoke a client's API key for good (the credentials it issued stay valid).

    ancre issuer client revoke erp --dir agency
    """
    from ancre.issuer.clients import ClientStore

    issuer = _open(folder)
    ClientStore(issuer.engine, issuer.clock).revoke(name)
    sys.stdout.write(f"client {name}: revoked\n")


def _offer_csv(
    folder: Path,
    public_url: str | None,
    credential_type: str,
    source: Path,
    authorization: Any,
    tx_code: bool,
    *,
    skip_invalid: bool,
    json_out: bool,
    approval: bool = False,
) -> None:
    """`offer --from rows.csv`: check every row, report every bad one by line number, and
    create nothing unless all are good (or --skip-invalid); then one offer per row, with a
    progress bar on stderr."""
    from ancre.issuer.csv_offers import MAX_CSV_BYTES, check_rows, create_offers, parse_rows

    try:
        with source.open("rb") as handle:
            data = handle.read(MAX_CSV_BYTES + 1)
    except OSError as error:
        _die(65, f"cannot read {source}: {error.strerror}")
    rows, errors = parse_rows(data)
    issuer = _open_for_offers(folder, public_url)
    if rows:
        errors += check_rows(issuer, credential_type, rows, authorization)
    errors.sort(key=lambda e: e.line)
    bad = {e.line for e in errors}
    for problem in errors:
        sys.stderr.write(f"ancre: {source}: {problem}\n")
    if errors and not skip_invalid:
        _die(65, f"{len(bad)} invalid row(s): nothing offered (--skip-invalid offers the rest)")
    rows = [r for r in rows if r.line not in bad]
    offers = create_offers(
        issuer,
        credential_type,
        rows,
        authorization=authorization,
        tx_code=tx_code,
        approval=approval,
        progress=lambda done: _progress("offers", done, len(rows)),
    )
    if json_out:
        _print_json([o.to_json() for o in offers])
    else:
        for o in offers:
            shown = o.offer_uri or f"issued as {o.credential_id}"
            code = f"  tx_code: {o.tx_code}" if o.tx_code else ""
            sys.stdout.write(f"line {o.line} ({o.state}): {shown}{code}\n")
    if errors:
        raise typer.Exit(1)  # some rows were skipped: not a complete success


def _progress(label: str, done: int, total: int) -> None:
    """A one-line progress bar on stderr (stdout stays for the result)."""
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r{label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total}{end}")
    sys.stderr.flush()


def _open_for_offers(folder: Path, public_url: str | None) -> Issuer:
    """The issuer, with its accreditation check when a trust list is configured."""
    from ancre.issuer.accreditation import load_issuance

    if load_issuance(folder).trust_list is None:
        return _open(folder, public_url)
    issuer, _check, _proof = _open_accredited(
        folder, public_url, trust_list=None, registry_key=None, unchecked=False
    )
    return issuer


# -- admin API keys ------------------------------------------------------------------------

admin_key_app = typer.Typer(
    help="Admin API keys: revoke, suspend and reinstate over HTTP (/admin).",
    no_args_is_help=True,
)
app.add_typer(admin_key_app, name="admin-key")


@admin_key_app.command("add")
@_guard
def admin_key_add(
    name: Annotated[str, typer.Argument(help="The admin's name (letters, digits, . _ -).")],
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Add an admin; prints its API key ONCE (only a hash is kept). The key may change the
    status of any credential this issuer issued: POST /admin/credentials/ID/status.

      ancre issuer admin-key add helpdesk --dir agency --as alice
    """
    from ancre.issuer.admin_api import AdminKeyStore

    issuer = _open(folder)
    added = AdminKeyStore(issuer.engine, issuer.clock).add(name, actor=actor)
    if json_out:
        _print_json({**added.admin.to_json(), "api_key": added.api_key})
        return
    sys.stdout.write(f"{added.api_key}\n")
    sys.stderr.write(
        f"ancre: admin {name} may revoke, suspend and reinstate any credential of "
        f"{issuer.did}; the key above is shown once (only its hash is kept)\n"
    )


@admin_key_app.command("list")
@_guard
def admin_key_list(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """The admins (never their keys).

    ancre issuer admin-key list --dir agency
    """
    from ancre.issuer.admin_api import AdminKeyStore

    issuer = _open(folder)
    admins = AdminKeyStore(issuer.engine, issuer.clock).list()
    if json_out:
        _print_json([a.to_json() for a in admins])
        return
    for a in admins:
        state = "revoked" if a.revoked_at else "active"
        sys.stdout.write(f"{a.name:<20} {state:<8} added by {a.created_by}\n")


@admin_key_app.command("revoke")
@_guard
def admin_key_revoke(
    name: Annotated[str, typer.Argument(help="The admin's name.")],
    folder: DirOption = DEFAULT_DIR,
) -> None:
    """Revoke an admin's API key for good (the changes it made stay).

    ancre issuer admin-key revoke helpdesk --dir agency
    """
    from ancre.issuer.admin_api import AdminKeyStore

    issuer = _open(folder)
    AdminKeyStore(issuer.engine, issuer.clock).revoke(name)
    sys.stdout.write(f"admin {name}: revoked\n")
