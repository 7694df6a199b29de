"""`ancre registry …`: run a trust-list registry from the command line.

A registry lives in a folder (default `./ancre-registry`, or `$ANCRE_REGISTRY_DIR`):
`registry.json` (settings), `registry.db` (SQLite, unless `--database` names PostgreSQL),
both mode 0600, and `keys.ancre` (the encrypted signing key; passphrase from
$ANCRE_KEYSTORE_PASSPHRASE) — or, for a registry made with `init --pkcs11`, no key file: the
key is in a PKCS#11 token (registry.json's `pkcs11`; PIN from $ANCRE_PKCS11_PIN or a file).

Who acts: `--as NAME` is only a label written in the audit log. Changes under the two-person
rule (adding or changing an anchor, reinstating an issuer, minting admin tokens, turning the
rule off) and every approval need the person's own admin token, `--token` or
$ANCRE_REGISTRY_TOKEN: the token stands for a person, and the approver must be another
person than the requester. `registry init --admin NAME` mints the first approver tokens.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ancre.cli.hsm import ModuleOption, PinFileOption, Pkcs11Option, TokenLabelOption
from ancre.cli.serving import (
    PassphraseFileOption,
    TlsCertOption,
    TlsKeyOption,
    WorkersOption,
    ensure_port_free,
    migrate_on_start,
    run_app,
    tls_arguments,
    with_environment,
)

if TYPE_CHECKING:
    from ancre.registry.service import PendingChange, Registry
    from ancre.trust.keys.jwk import Signer

app = typer.Typer(
    help="Run a trust-list registry: anchors, trusted issuers, history, audit, publication.",
    no_args_is_help=True,
)
anchor_app = typer.Typer(
    help="Trust anchors (adding one needs a second approver).", no_args_is_help=True
)
issuer_app = typer.Typer(
    help="Trusted issuers and the credential types they may issue.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The hash-chained audit log, with signed checkpoints.", no_args_is_help=True
)
token_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)
app.add_typer(anchor_app, name="anchor")
app.add_typer(issuer_app, name="issuer")
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")

DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        envvar="ANCRE_REGISTRY_DIR",
        metavar="DIR",
        help="The registry folder.",
        show_default=True,
    ),
]
AsOption = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="USER",
        metavar="NAME",
        help="Without --token, the name written in the audit log for a one-person change (a "
        "label, not an identity; normalised: Alice is alice).",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="ANCRE_REGISTRY_TOKEN",
        metavar="TOKEN",
        help="Your admin token: who you are for two-person changes and approvals.",
        show_default=False,
    ),
]
EXIT_NOPERM = 77
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (docs/registry-json.md).")
]
ReasonOption = Annotated[
    str, typer.Option(metavar="TEXT", help="Why (kept in the history and the audit log).")
]
DEFAULT_DIR = Path("ancre-registry")


class _Refusal(typer.Exit):
    """A refusal already told on stderr; `_guard` repeats it as JSON under `--json`."""

    def __init__(self, exit_code: int, message: str, *, reported: bool = False) -> None:
        super().__init__(exit_code)
        self.message = message
        self.reported = reported  # already printed as JSON (by a nested command)


#: The stable code of a refusal the CLI itself makes (usage, files, tokens), by exit code.
_EXIT_CODES = {77: "forbidden"}


def _die(code: int, message: str) -> NoReturn:
    sys.stderr.write(f"ancre: {message}\n")
    raise _Refusal(code, message)


def _settings(folder: Path) -> dict[str, Any]:
    path = folder / "registry.json"
    try:
        settings: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        _die(64, f"{folder} is not a registry: run `ancre registry init --dir {folder}` first")
    except (OSError, ValueError) as error:
        _die(65, f"cannot read {path}: {error}")
    return settings


def _open(folder: Path, url: str | None = None) -> Registry:
    from ancre.registry.db import make_engine
    from ancre.registry.service import Registry
    from ancre.trust.clock import SystemClock

    return Registry(make_engine(url or _database_url(folder)), clock=SystemClock())


def _database_url(folder: Path, database: str | None = None) -> str:
    """The registry's database: `database` when given (serve --database), else the one
    registry.json names (`{dir}` standing for the folder)."""
    url = database or str(_settings(folder)["database"])
    return url.replace("{dir}", str(folder.resolve()))


def _who(
    registry: Registry,
    token: str | None,
    label: str,
    *,
    minimum: str,
    two_person: bool,
) -> str:
    """The person acting. A token names them (its holder); without one, `--as` is accepted
    as a label only where one person may act alone: a two-person change filed or approved
    under a free-text name would let one operator play both parts (issue 12 point 1)."""
    from ancre.registry.service import Role, person_name

    if token:
        found = registry.authenticate(token)
        if found is None:
            _die(EXIT_NOPERM, "the --token is unknown or revoked")
        person, role = found
        rank = [Role.VIEWER, Role.EDITOR, Role.APPROVER]
        if rank.index(role) < rank.index(Role(minimum)):
            _die(EXIT_NOPERM, f"this needs the {minimum} role; your token is {role}")
        return person
    if two_person:
        _die(
            EXIT_NOPERM,
            "this two-person change needs your own admin token: pass --token "
            "(or set ANCRE_REGISTRY_TOKEN); --as is only a label",
        )
    # A label still names a person the way tokens do ("Alice" and "alice" are one name).
    return person_name(label)


def _signer(
    folder: Path,
    passphrase_file: Path | None = None,
    pin_file: Path | None = None,
    module: Path | None = None,
) -> Signer:
    """The registry's signer: its key in the encrypted key store, or in its PKCS#11 token
    (`module`: the library's path on this machine, when not the one init recorded)."""
    from ancre.cli.main import _passphrase
    from ancre.trust.keys.keystore import FileKeyStore

    token = _settings(folder).get("pkcs11")
    if token is not None:
        return _token_signer(folder, token, pin_file, module)
    passphrase = _passphrase(confirm=False, file=passphrase_file)
    return FileKeyStore(folder / "keys.ancre", passphrase).signer("registry")


def _token_signer(folder: Path, token: Any, pin_file: Path | None, module: Path | None) -> Signer:
    """The signer of the registry's token key, opened now (a wrong PIN, a missing token or
    key is refused here, not at the first signature) and checked to be the key registry.json
    publishes: a key replaced in the token signs nothing in the registry's name."""
    from ancre.cli.hsm import pin_source
    from ancre.trust.errors import Code, InvalidError
    from ancre.trust.keys.jwk import PublicKey
    from ancre.trust.keys.pkcs11 import Pkcs11Ref, Pkcs11Signer, open_or_generate

    ref = Pkcs11Ref.from_json(token)
    if module is not None:
        ref = Pkcs11Ref(str(module.absolute()), ref.token_label, ref.key_label)
    recorded = PublicKey.from_jwk(_settings(folder)["public_jwk"])
    pin = pin_source(ref.token_label, ref.module, pin_file)()
    found = open_or_generate(ref, pin, generate=False)
    if found.public_key != recorded:
        raise InvalidError(
            Code.INVALID_KEY,
            f"the key labelled {ref.key_label!r} in token {ref.token_label!r} is not the "
            f"registry's ({folder / 'registry.json'}): replaced in the token?",
        )
    return Pkcs11Signer(ref, recorded, lambda: pin)


def _guard(fn: Any) -> Any:
    """Turn refused requests into clean messages and exit codes, never tracebacks. Under
    `--json` the refusal is also one JSON document on stdout (`outcome_json`, `ok` false,
    with ancre's stable `code`), so a script never parses prose."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ancre.registry.service import RegistryError
        from ancre.trust.errors import AncreError, ConfigurationError

        json_out = bool(kwargs.get("json_out"))
        try:
            return fn(*args, **kwargs)
        except _Refusal as refusal:
            if json_out and not refusal.reported:
                refusal.reported = True
                from ancre.registry.views import outcome_json

                code = _EXIT_CODES.get(refusal.exit_code, "invalid_request")
                outcome = outcome_json(
                    _command_name(fn.__name__), None, message=refusal.message, ok=False, code=code
                )
                _print(outcome, True)
            raise
        except RegistryError as error:
            _refuse(json_out, fn, 1, error.code.value, error.message)
        except ConfigurationError as error:
            _refuse(json_out, fn, 64, error.code.value, error.message)
        except AncreError as error:
            # A token's refusal (wrong PIN, no such token or key) is the operator's setup.
            status = 64 if error.code.value.startswith("pkcs11_") else 65
            _refuse(json_out, fn, status, error.code.value, str(error))

    return wrapper


def _refuse(json_out: bool, fn: Any, exit_code: int, code: str, message: str) -> NoReturn:
    if json_out:
        from ancre.registry.views import outcome_json

        action = _command_name(fn.__name__)
        _print(outcome_json(action, None, message=message, ok=False, code=code), True)
    sys.stderr.write(f"ancre: {message}\n")
    raise _Refusal(exit_code, message, reported=json_out)


def _command_name(function: str) -> str:
    """The command a function implements, as typed: `issuer_add_type` → "issuer add-type"."""
    group, _, rest = function.partition("_")
    if group in {"anchor", "issuer", "audit", "token"} and rest:
        return f"{group} {rest.replace('_', '-')}"
    return function.replace("_", "-")


def _done(json_out: bool, outcome: dict[str, Any]) -> None:
    """A changing command's answer: its sentence for people, `outcome` under `--json`."""
    if json_out:
        _print(outcome, True)
    else:
        sys.stdout.write(outcome["message"] + "\n")


def _changed(
    json_out: bool, action: str, subject: str, done: str, change: PendingChange | None
) -> None:
    """The answer of a change that may wait for a second person: `done` if it applied, the
    pending change and who must approve it if not."""
    from ancre.registry.views import outcome_json

    if change is None:
        _done(json_out, outcome_json(action, subject, message=done))
    else:
        _done(json_out, outcome_json(action, subject, message=_pending(change.id), change=change))


def _print(
    value: Any,
    json_out: bool,
    rows: list[list[str]] | None = None,
    headers: list[str] | None = None,
    empty: str = "nothing to list",
) -> None:
    """JSON for machines; for people a table (times to the second), or `empty` as a sentence
    rather than an empty box."""
    if json_out or rows is None:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
        return
    if not rows:
        sys.stdout.write(empty + "\n")
        return
    from ancre.cli.output import to_seconds

    if not sys.stdout.isatty():
        # Piped (`| grep`, `| cut -f2`): one line per row, tab-separated, nothing wrapped or
        # cut, as `gh` does; a box drawn for an 80-column terminal would split DIDs and times.
        for line in [headers or [], *rows]:
            sys.stdout.write("\t".join(to_seconds(c).replace("\t", " ") for c in line) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*(headers or []), highlight=False)
    for row in rows:
        table.add_row(*(to_seconds(cell) for cell in row))
    Console(emoji=False, highlight=False).print(table)


@app.command()
@_guard
def init(
    did: Annotated[str, typer.Option(help="The registry's DID (did:web:… in production).")],
    folder: DirOption = DEFAULT_DIR,
    database: Annotated[
        str | None,
        typer.Option(
            envvar="ANCRE_REGISTRY_DATABASE_URL",
            help="SQLAlchemy URL (default: SQLite registry.db in the folder).",
        ),
    ] = None,
    operator: Annotated[str, typer.Option(help="Scheme operator name.")] = "ancre registry",
    scheme: Annotated[str, typer.Option(help="Scheme name.")] = "Trusted credential issuers",
    two_person_rule: Annotated[
        bool, typer.Option(help="Require a second approver for anchors and reinstatements.")
    ] = True,
    validity_hours: Annotated[int, typer.Option(help="Published list validity.")] = 24,
    key_type: Annotated[
        str | None,
        typer.Option(
            metavar="ed25519|p256|p384",
            help="Signing key type (default ed25519; p256 with --pkcs11, which takes p256 or "
            "ed25519).",
        ),
    ] = None,
    admin: Annotated[
        list[str] | None,
        typer.Option(
            help="An administrator (repeatable): mints them an approver token, printed "
            "once on stderr. Give two for the two-person rule."
        ),
    ] = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document: the verification method and the admin tokens.",
        ),
    ] = False,
    pkcs11: Pkcs11Option = None,
    token_label: TokenLabelOption = None,
    key_label: Annotated[
        str,
        typer.Option(
            help="--pkcs11: the key pair's label in the token; made there unless an HSM "
            "administrator made it beforehand."
        ),
    ] = "registry",
    pin_file: PinFileOption = None,
) -> None:
    """Create a registry: database (migrated), encrypted signing key, settings.

      ANCRE_KEYSTORE_PASSPHRASE=… ancre registry init --did did:web:registry.example \\
          --admin alice --admin bob

    With --pkcs11 the signing key is in a PKCS#11 token (an HSM) and never leaves it; the
    PIN comes from --pin-file or $ANCRE_PKCS11_PIN, never the command line:

      ANCRE_PKCS11_PIN=… ancre registry init --did did:web:registry.example \\
          --pkcs11 /usr/lib/softhsm/libsofthsm2.so --token-label registry --admin alice
    """
    from datetime import timedelta

    from ancre.registry.views import did_document
    from ancre.trust.keys.keystore import atomic_write

    # Every argument is checked before anything is written: a refused init leaves nothing
    # behind (a stray keys.ancre would make the corrected retry fail).
    token = None
    if pkcs11 is not None:
        from ancre.trust.keys.pkcs11 import Pkcs11Ref

        if token_label is None:
            _die(64, "--pkcs11 needs --token-label")
        token = Pkcs11Ref(str(pkcs11.absolute()), token_label, key_label)
    elif token_label is not None or pin_file is not None or key_label != "registry":
        _die(64, "--token-label, --key-label and --pin-file go with --pkcs11")
    kind = key_type or ("p256" if token is not None else "ed25519")
    _check_init(folder, did, kind, admin or [])
    if token is not None and kind not in ("p256", "ed25519"):
        _die(64, f"a PKCS#11 key is p256 or ed25519, not {kind}")
    # The token before anything is written: a wrong PIN or a missing token leaves nothing.
    jwk = _token_key(token, kind, pin_file) if token is not None else None
    folder.mkdir(parents=True, exist_ok=True)
    url = database or "sqlite:///{dir}/registry.db"
    if jwk is None:
        jwk = _new_registry_key(folder, kind, passphrase_file)
    kid = f"{did}#registry"
    registry = _new_registry_database(url.replace("{dir}", str(folder.resolve())))
    registry.configure(
        registry_did=did,
        kid=kid,
        operator_name=operator,
        scheme_name=scheme,
        two_person_rule=two_person_rule,
        list_validity=timedelta(hours=validity_hours),
    )
    tokens = _mint_first_admins(registry, admin or [], show=not json_out)
    # The public key lives outside the database: `audit verify` checks the signed
    # checkpoints against it, so a database writer cannot swap it.
    settings: dict[str, Any] = {"did": did, "kid": kid, "database": url, "public_jwk": jwk}
    if token is not None:
        settings["pkcs11"] = token.to_json()
    atomic_write(folder / "registry.json", (json.dumps(settings, indent=2) + "\n").encode())
    # The DID document to publish (`registry serve` serves it too, for a did:web registry).
    document = did_document(did, kid, jwk)
    (folder / "did.json").write_text(json.dumps(document, indent=2) + "\n")
    method = {"id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk}
    if json_out:
        from ancre.registry.views import outcome_json

        message = f"registry created in {folder}"
        outcome = outcome_json(
            "init", did, message=message, verification_method=method, admin_tokens=tokens
        )
        _print(outcome, True)
        return
    sys.stderr.write(
        f"ancre: registry created in {folder}\n"
        f"Publish this verification method in the DID document of {did}:\n"
    )
    sys.stdout.write(json.dumps(method, indent=2) + "\n")


def _check_init(folder: Path, did: str, key_type: str, admins: list[str]) -> None:
    """Refuse (exit 64) an init that cannot succeed, before it writes anything."""
    from ancre.registry.service import person_name
    from ancre.trust.did.document import parse_did
    from ancre.trust.errors import AncreError
    from ancre.trust.keys.jwk import SIGNING_KEY_TYPES

    if (folder / "registry.json").exists():
        _die(64, f"{folder} already holds a registry")
    if key_type not in SIGNING_KEY_TYPES:
        _die(64, f"--key-type must be one of {'|'.join(SIGNING_KEY_TYPES)}, not {key_type!r}")
    try:
        parse_did(did)
    except AncreError:
        _die(64, f"--did {did!r} is not a DID (did:METHOD:ID, e.g. did:web:registry.example)")
    people = [person_name(a) for a in admins]
    if len(set(people)) != len(people):
        _die(64, "--admin names the same person twice")


def _new_registry_key(folder: Path, key_type: str, passphrase_file: Path | None) -> dict[str, str]:
    """Create the encrypted key store with the registry's signing key; its public JWK."""
    from ancre.cli.main import _passphrase
    from ancre.trust.keys.keystore import FileKeyStore

    store = FileKeyStore.create(folder / "keys.ancre", _passphrase(True, passphrase_file))
    return store.generate("registry", key_type).public_key.to_jwk()


def _token_key(token: Any, kind: str, pin_file: Path | None) -> dict[str, str]:
    """The public JWK of the registry's key pair in the token `token` names, made there
    (a `kind` key) unless an HSM administrator made it beforehand."""
    from ancre.cli.hsm import pin_source
    from ancre.trust.keys.jwk import KeyType
    from ancre.trust.keys.pkcs11 import open_or_generate

    pin = pin_source(token.token_label, token.module, pin_file)()
    signer = open_or_generate(token, pin, key_type=KeyType(kind))
    if signer.key_type.value != kind:
        _die(64, f"the token's key {token.key_label!r} is {signer.key_type.value}, not {kind}")
    return signer.public_key.to_jwk()


def _new_registry_database(url: str) -> Registry:
    """A new, migrated registry database at `url` (a SQLite file is created private)."""
    from ancre.registry.db import create_private_sqlite, make_engine, migrate
    from ancre.registry.service import Registry
    from ancre.trust.clock import SystemClock

    create_private_sqlite(url)
    engine = make_engine(url)
    migrate(engine)
    return Registry(engine, clock=SystemClock())


def _mint_first_admins(registry: Registry, admins: list[str], *, show: bool) -> dict[str, str]:
    """Bootstrap: the first administrators' approver tokens need nobody's approval. Each
    is shown once: on stderr with `show`, else only returned (for `--json`)."""
    from ancre.registry.service import Role

    tokens = {}
    for name in admins:
        tokens[name] = registry.create_token("init", name, Role.APPROVER, person=name)
        if show:
            sys.stderr.write(f"ancre: approver token for {name} (shown once, keep it secret):\n")
            sys.stderr.write(f"{tokens[name]}\n")
    return tokens


@app.command()
@with_environment("RegistryServeSettings")
def serve(
    folder: DirOption = DEFAULT_DIR,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8600,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    passphrase_file: PassphraseFileOption = None,
    workers: WorkersOption = 1,
    database: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of the database, instead of registry.json's (a container "
            "takes it from $ANCRE_REGISTRY_DATABASE_URL)."
        ),
    ] = None,
    pin_file: PinFileOption = None,
    pkcs11_module: ModuleOption = None,
) -> None:
    """Serve the registry API (public trust list and /admin). The database is migrated to
    the latest schema first (replicas starting together wait for each other).

    ANCRE_KEYSTORE_PASSPHRASE=… ancre registry serve --dir reg --port 8600
    """
    from ancre.registry.api import create_app
    from ancre.registry.db import migrate

    did = str(_settings(folder)["did"])
    url = _database_url(folder, database)
    tls = tls_arguments(tls_cert, tls_key)
    ensure_port_free(host, port)
    migrate_on_start(url, migrate)
    in_token = "pkcs11" in _settings(folder)
    unlockable = passphrase_file is not None or os.environ.get("ANCRE_KEYSTORE_PASSPHRASE")
    signer = None
    if in_token or unlockable:
        from ancre.trust.errors import AncreError

        try:
            signer = _signer(folder, passphrase_file, pin_file, pkcs11_module)
        except AncreError as error:
            _die(64, str(error))
    if signer is None:
        sys.stderr.write(
            "ancre: no key store passphrase (--passphrase-file, ANCRE_KEYSTORE_PASSPHRASE_FILE "
            "or ANCRE_KEYSTORE_PASSPHRASE): serving without POST /admin/publish\n"
        )
    base = f"{'https' if tls else 'http'}://{host}:{port}"
    sys.stderr.write(
        f"ancre: registry API on {base}: the signed list at /trust-list, issuers at "
        f"/issuers/DID, administration under /admin/ (bearer --token); every route is "
        f"described at {base}/docs\n"
        f"ancre: pages for people: the trust list at {base}/, the administrators' approvals "
        f"at {base}/pages/admin/changes\n"
    )
    document = _did_document(folder)
    if document is not None and did.startswith("did:web:"):
        from urllib.parse import urlsplit

        from ancre.trust.did.web import did_web_to_url

        where = urlsplit(did_web_to_url(did)).path
        sys.stderr.write(f"ancre: serving {did}'s DID document at {where}\n")

    secret = _page_secret(workers)

    def build() -> Any:
        return create_app(
            _open(folder, url), signer=signer, did_document=document, page_secret=secret
        )

    run_app(build, host=host, port=port, workers=workers, log_level="info", **tls)


#: Signs the pages' session cookies and CSRF tokens; the same on every replica.
PAGE_SECRET_ENV = "ANCRE_REGISTRY_PAGE_SECRET"  # noqa: S105 - a variable name


def _page_secret(workers: int) -> bytes | None:
    """The administrators' pages' signing secret: $ANCRE_REGISTRY_PAGE_SECRET (at least 32
    bytes) so that every replica accepts the others' sessions; else, for several workers, one
    random secret they all inherit; else None (the app draws its own)."""
    import secrets

    value = os.environ.get(PAGE_SECRET_ENV)
    if value:
        if len(value.encode()) < 32:
            _die(64, f"${PAGE_SECRET_ENV} must be at least 32 bytes")
        return value.encode()
    return secrets.token_bytes(32) if workers > 1 else None


def _did_document(folder: Path) -> dict[str, Any] | None:
    """The registry's DID document, from registry.json (None for a registry made before it
    kept its public key)."""
    from ancre.registry.views import did_document

    settings = _settings(folder)
    jwk = settings.get("public_jwk")
    if not isinstance(jwk, dict):
        return None
    return did_document(settings["did"], settings["kid"], jwk)


@anchor_app.command("add")
@_guard
def anchor_add(
    anchor_id: Annotated[
        str, typer.Argument(metavar="ANCHOR", help="The anchor's DID (or an identifier).")
    ],
    name: Annotated[str, typer.Option(help="Display name.")],
    cert: Annotated[Path | None, typer.Option(help="X.509 root certificate (PEM).")] = None,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a trust anchor (files a pending change under the two-person rule).

      ancre registry anchor add did:web:assoc.example --name Association --dir reg \\
          --token "$ALICE_TOKEN"
    """
    pem = _read_text(cert) if cert else None
    registry = _open(folder)
    who = _who(registry, token, actor, minimum="editor", two_person=registry.two_person_rule)
    change = registry.add_anchor(who, anchor_id=anchor_id, name=name, x509_pem=pem)
    _changed(json_out, "anchor add", anchor_id, f"anchor {anchor_id} added", change)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        _die(66, f"cannot read {path}: {getattr(error, 'strerror', None) or error}")


def _pending(change_id: int) -> str:
    return (
        f"pending change {change_id}: another administrator must run "
        f"`ancre registry approve {change_id} --token THEIR_TOKEN`"
    )


def _anchor_status(
    folder: Path,
    token: str | None,
    actor: str,
    anchor_id: str,
    status: str,
    reason: str,
    json_out: bool,
) -> None:
    from ancre.trust.trust_list.model import EntryStatus

    registry = _open(folder)
    who = _who(registry, token, actor, minimum="editor", two_person=registry.two_person_rule)
    change = registry.set_anchor_status(who, anchor_id, EntryStatus(status), reason=reason)
    verb = {"active": "reinstate", "suspended": "suspend", "withdrawn": "withdraw"}[status]
    _changed(json_out, f"anchor {verb}", anchor_id, f"anchor {anchor_id} is now {status}", change)


@anchor_app.command("suspend")
@_guard
def anchor_suspend(
    anchor_id: Annotated[
        str, typer.Argument(metavar="ANCHOR", help="The anchor's DID (or identifier).")
    ],
    reason: ReasonOption,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Suspend a trust anchor and, with it, every issuer it accredits (two-person).

      ancre registry anchor suspend did:web:assoc.example --reason "under review" \\
          --dir reg --token "$ALICE_TOKEN"
    """
    _anchor_status(folder, token, actor, anchor_id, "suspended", reason, json_out)


@anchor_app.command("withdraw")
@_guard
def anchor_withdraw(
    anchor_id: Annotated[
        str, typer.Argument(metavar="ANCHOR", help="The anchor's DID (or identifier).")
    ],
    reason: ReasonOption,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Withdraw a trust anchor: the issuers it accredits are no longer trusted (two-person).

      ancre registry anchor withdraw did:web:assoc.example --reason "left the space" \\
          --dir reg --token "$ALICE_TOKEN"
    """
    _anchor_status(folder, token, actor, anchor_id, "withdrawn", reason, json_out)


@anchor_app.command("reinstate")
@_guard
def anchor_reinstate(
    anchor_id: Annotated[
        str, typer.Argument(metavar="ANCHOR", help="The anchor's DID (or identifier).")
    ],
    reason: ReasonOption,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reinstate a suspended or withdrawn trust anchor (two-person).

      ancre registry anchor reinstate did:web:assoc.example --reason "review passed" \\
          --dir reg --token "$ALICE_TOKEN"
    """
    _anchor_status(folder, token, actor, anchor_id, "active", reason, json_out)


@anchor_app.command("list")
@_guard
def anchor_list(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """List trust anchors, with their status now.

    ancre registry anchor list --dir reg
    """
    from ancre.registry.views import anchor_json

    registry = _open(folder)
    data = [anchor_json(registry, a) for a in registry.anchors()]
    _print(
        data,
        json_out,
        [[a["id"], a["name"], str(a["status"]), a["created_at"]] for a in data],
        ["id", "name", "status", "since"],
        empty="no trust anchors",
    )


@app.command()
@_guard
def changes(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """List changes waiting for a second approver.

    ancre registry changes --dir reg --json
    """
    from ancre.registry.views import change_json

    data = [change_json(c) for c in _open(folder).pending_changes()]
    _print(
        data,
        json_out,
        [
            [str(c["id"]), c["kind"], c["actor"], c["created_at"], json.dumps(c["payload"])]
            for c in data
        ],
        ["id", "kind", "by", "at", "what"],
        empty="no pending changes",
    )


@app.command()
@_guard
def approve(
    change_id: Annotated[
        int, typer.Argument(metavar="CHANGE", help="The pending change's number.")
    ],
    folder: DirOption = DEFAULT_DIR,
    token: TokenOption = None,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Approve a pending change filed by another person (needs your approver --token).

    ancre registry approve 1 --dir reg --token "$BOB_TOKEN"
    """
    from ancre.registry.views import outcome_json

    registry = _open(folder)
    change = registry.approve(
        _who(registry, token, actor, minimum="approver", two_person=True), change_id
    )
    message = f"change {change.id} ({change.kind}) approved and applied"
    _done(json_out, outcome_json("approve", change.id, message=message, change=change))


@app.command()
@_guard
def reject(
    change_id: Annotated[
        int, typer.Argument(metavar="CHANGE", help="The pending change's number.")
    ],
    folder: DirOption = DEFAULT_DIR,
    token: TokenOption = None,
    actor: AsOption = "operator",
    json_out: JsonOption = False,
) -> None:
    """Reject a pending change (needs your approver --token).

    ancre registry reject 3 --dir reg --token "$BOB_TOKEN"
    """
    from ancre.registry.views import outcome_json

    registry = _open(folder)
    change = registry.reject(
        _who(registry, token, actor, minimum="approver", two_person=True), change_id
    )
    message = f"change {change.id} ({change.kind}) rejected"
    _done(json_out, outcome_json("reject", change.id, message=message, change=change))


@app.command("two-person-rule")
@_guard
def two_person_rule(
    state: Annotated[str, typer.Argument(metavar="on|off", help="Turn the rule on or off.")],
    folder: DirOption = DEFAULT_DIR,
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Turn the two-person rule on (at once) or off (a pending change another approves).

    ancre registry two-person-rule off --dir reg --token "$ALICE_TOKEN"
    """
    if state not in {"on", "off"}:
        _die(64, "the state is on or off")
    registry = _open(folder)
    who = _who(registry, token, "", minimum="approver", two_person=True)
    change = registry.set_two_person_rule(who, state == "on")
    _changed(json_out, "two-person-rule", state, f"two-person rule {state}", change)


def _parse_types(types: list[str], constraints: list[str]) -> dict[str, list[Any]]:
    from ancre.trust.trust_list.model import ClaimConstraint

    out: dict[str, list[Any]] = {t: [] for t in types}
    for spec in constraints:
        # Types contain colons themselves (gx:LegalPerson): match a given --type as prefix.
        ctype = next(
            (t for t in sorted(out, key=len, reverse=True) if spec.startswith(t + ":")), None
        )
        claim, eq, values = spec[len(ctype) + 1 :].rpartition("=") if ctype else ("", "", "")
        if ctype is None or not eq or not claim or not values:
            _die(64, f"--constraint {spec!r}: expected TYPE:CLAIM.PATH=V1,V2 for a --type given")
        out[ctype].append(ClaimConstraint(claim, tuple(v for v in values.split(",") if v)))
    return out


@issuer_app.command("add")
@_guard
def issuer_add(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    name: Annotated[str, typer.Option(help="Legal name.")],
    accredited_by: Annotated[
        str, typer.Option(metavar="ANCHOR", help="The accrediting trust anchor.")
    ],
    credential_type: Annotated[
        list[str],
        typer.Option("--type", metavar="TYPE", help="A credential type it may issue (repeatable)."),
    ],
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TYPE:CLAIM.PATH=V1,V2",
            help="Restrict a --type's claim values (repeatable), e.g. "
            "gx:LegalPerson:credentialSubject.gx:legalAddress.gx:countryCode=FR",
        ),
    ] = None,
    registration_number: Annotated[str | None, typer.Option(help="SIREN/SIRET, LEI…")] = None,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a trusted issuer, allowed for the given credential types (an editor's change,
    effective at once).

      ancre registry issuer add did:web:agency.example --name Agence \\
          --accredited-by did:web:assoc.example --type gx:LegalPerson --dir reg
    """
    from ancre.registry.views import outcome_json

    types = _parse_types(credential_type, constraint or [])
    registry = _open(folder)
    who = _who(registry, token, actor, minimum="editor", two_person=False)
    registry.add_issuer(
        who,
        did=did,
        legal_name=name,
        accredited_by=accredited_by,
        registration_number=registration_number,
        credential_types=types,
    )
    message = f"issuer {did} added for {', '.join(credential_type)}"
    _done(json_out, outcome_json("issuer add", did, message=message))


@issuer_app.command("add-type")
@_guard
def issuer_add_type(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    credential_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="The credential type it may issue from now.")
    ],
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TYPE:CLAIM.PATH=V1,V2",
            help="Restrict the type's claim values (repeatable), as for `issuer add`.",
        ),
    ] = None,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Allow an existing issuer one more credential type, or again after `withdraw-type`
    (an editor's change, effective at once, like `issuer add`).

      ancre registry issuer add-type did:web:agency.example gx:ServiceOffering --dir reg
    """
    from ancre.registry.views import outcome_json

    constraints = _parse_types([credential_type], constraint or [])[credential_type]
    registry = _open(folder)
    who = _who(registry, token, actor, minimum="editor", two_person=False)
    registry.grant_type(who, did, credential_type, constraints)
    message = f"{did} is now trusted for {credential_type}"
    _done(json_out, outcome_json("issuer add-type", did, message=message, type=credential_type))


def _set_status(
    folder: Path,
    actor: str,
    did: str,
    status: str,
    reason: str,
    token: str | None,
    json_out: bool,
) -> None:
    from ancre.trust.trust_list.model import EntryStatus

    registry = _open(folder)
    # Reinstating may file a two-person change: then the requester must be a person too.
    two_person = status == "active" and registry.two_person_rule
    who = _who(registry, token, actor, minimum="editor", two_person=two_person)
    change = registry.set_issuer_status(who, did, EntryStatus(status), reason=reason)
    verb = {"active": "reinstate", "suspended": "suspend", "withdrawn": "withdraw"}[status]
    _changed(json_out, f"issuer {verb}", did, f"{did} is now {status}", change)


@issuer_app.command("suspend")
@_guard
def issuer_suspend(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    reason: ReasonOption,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Suspend an issuer from now on (history before stays as it was).

    ancre registry issuer suspend did:web:agency.example --reason "audit" --dir reg
    """
    _set_status(folder, actor, did, "suspended", reason, token, json_out)


@issuer_app.command("reinstate")
@_guard
def issuer_reinstate(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    reason: ReasonOption,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reinstate an issuer (a withdrawn one needs a second approver).

      ancre registry issuer reinstate did:web:agency.example --reason "audit passed" \\
          --dir reg --token "$ALICE_TOKEN"
    """
    _set_status(folder, actor, did, "active", reason, token, json_out)


@issuer_app.command("withdraw")
@_guard
def issuer_withdraw(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    reason: ReasonOption,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Withdraw an issuer: credentials it issues are no longer trusted.

    ancre registry issuer withdraw did:web:agency.example --reason "closed" --dir reg
    """
    _set_status(folder, actor, did, "withdrawn", reason, token, json_out)


@issuer_app.command("withdraw-type")
@_guard
def issuer_withdraw_type(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    credential_type: Annotated[
        str, typer.Option("--type", metavar="TYPE", help="The credential type.")
    ],
    reason: ReasonOption,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Withdraw one credential type from an issuer; its other types stay (`add-type` grants
    it again).

      ancre registry issuer withdraw-type did:web:agency.example --type gx:LegalPerson \\
          --reason "out of scope" --dir reg
    """
    from ancre.registry.views import outcome_json

    registry = _open(folder)
    who = _who(registry, token, actor, minimum="editor", two_person=False)
    registry.withdraw_type(who, did, credential_type, reason=reason)
    message = f"{did} is no longer trusted for {credential_type}"
    _done(
        json_out, outcome_json("issuer withdraw-type", did, message=message, type=credential_type)
    )


@issuer_app.command("show")
@_guard
def issuer_show(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    folder: DirOption = DEFAULT_DIR,
    json_out: JsonOption = False,
) -> None:
    """An issuer, its credential types and their dated histories.

    ancre registry issuer show did:web:agency.example --dir reg --json
    """
    from ancre.registry.views import issuer_history_json

    registry = _open(folder)
    view = issuer_history_json(registry, registry.issuer(did))
    if json_out:
        _print(view, True)
        return
    rows = [
        ["issuer", h["status"], h["effective_from"], h["reason"], str(h["actor"])]
        for h in view["history"]
    ]
    for grant in view["types"]:
        rows += [
            [grant["type"], h["status"], h["effective_from"], h["reason"], str(h["actor"])]
            for h in grant["history"]
        ]
    sys.stdout.write(
        f"{view['name']} ({did}), accredited by {view['accredited_by']}, now {view['status']}\n"
    )
    _print(view, False, rows, ["what", "status", "from", "reason", "by"])


@issuer_app.command("list")
@_guard
def issuer_list(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """List trusted issuers, with their status now and their credential types.

    ancre registry issuer list --dir reg
    """
    from ancre.registry.views import issuer_json

    registry = _open(folder)
    data = [issuer_json(registry, i) for i in registry.issuers()]

    def types(issuer: dict[str, Any]) -> str:
        return ", ".join(
            t["type"] if t["status"] == "active" else f"{t['type']} ({t['status']})"
            for t in issuer["types"]
        )

    _print(
        data,
        json_out,
        [[d["id"], d["name"], str(d["status"]), types(d), d["accredited_by"]] for d in data],
        ["id", "name", "status", "types", "accredited by"],
        empty="no trusted issuers",
    )


@app.command()
@_guard
def history(
    did: Annotated[str, typer.Argument(metavar="DID", help="The issuer's DID.")],
    folder: DirOption = DEFAULT_DIR,
    json_out: JsonOption = False,
) -> None:
    """An issuer's full dated history (alias of `issuer show`).

    ancre registry history did:web:agency.example --dir reg
    """
    issuer_show(did, folder, json_out=json_out)


@app.command()
@_guard
def publish(
    folder: DirOption = DEFAULT_DIR,
    out: Annotated[
        Path | None, typer.Option(help="Also write the signed list to this file.")
    ] = None,
    actor: AsOption = "operator",
    token: TokenOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
    pin_file: PinFileOption = None,
) -> None:
    """Sign and store the next trust list (sequence number + 1).

    ANCRE_KEYSTORE_PASSPHRASE=… ancre registry publish --dir reg --out trust-list.jwt
    """
    from ancre.registry.views import outcome_json, publication_json

    registry = _open(folder)
    who = _who(registry, token, actor, minimum="editor", two_person=False)
    row = registry.publish(_signer(folder, passphrase_file, pin_file), who)
    if out is not None:
        try:
            out.write_text(row.jws + "\n")
        except OSError as error:
            _die(73, f"published #{row.sequence}, but cannot write {out}: {error.strerror}")
    message = (
        f"trust list #{row.sequence} published, valid until "
        f"{row.next_update.isoformat(timespec='seconds')}"
    )
    _done(
        json_out,
        outcome_json("publish", row.sequence, message=message, trust_list=publication_json(row)),
    )


def _public_key(folder: Path) -> Any:
    from ancre.trust.keys.jwk import PublicKey

    jwk = _settings(folder).get("public_jwk")
    if isinstance(jwk, dict):
        return PublicKey.from_jwk(jwk)
    if os.environ.get("ANCRE_KEYSTORE_PASSPHRASE"):
        # Registries made before registry.json kept the public key: read it from the store.
        return _signer(folder).public_key
    return None


@audit_app.command("list")
@_guard
def audit_list(
    folder: DirOption = DEFAULT_DIR,
    since: Annotated[
        int,
        typer.Option(metavar="SEQ", min=0, help="Only events after this sequence number."),
    ] = 0,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, max=10000, help="At most this many events.")
    ] = 50,
    json_out: JsonOption = False,
) -> None:
    """Read the audit log, oldest first: sequence number, time, who, what, on what.

    ancre registry audit list --dir reg --since 40 --limit 20
    """
    from ancre.registry.views import audit_event_json

    data = [audit_event_json(e) for e in _open(folder).audit_page(since=since, limit=limit)]
    rows = [
        [str(e["id"]), str(e["created_at"]), e["actor"], e["action"], e["subject"]] for e in data
    ]
    empty = "no audit events" if since == 0 else f"no audit events after {since}"
    _print(data, json_out, rows, ["seq", "at", "actor", "action", "subject"], empty=empty)


@audit_app.command("show")
@_guard
def audit_show(
    seq: Annotated[int, typer.Argument(metavar="SEQ", help="The event's sequence number.")],
    folder: DirOption = DEFAULT_DIR,
    json_out: JsonOption = False,
) -> None:
    """One audit event in full: its details and its link in the hash chain.

    ancre registry audit show 12 --dir reg
    """
    from ancre.cli.output import to_seconds
    from ancre.registry.views import audit_event_json

    event = audit_event_json(_open(folder).audit_event(seq))
    if json_out:
        _print(event, True)
        return
    lines = [
        f"event {event['id']}",
        f"  at        {to_seconds(str(event['created_at']))}",
        f"  actor     {event['actor']}",
        f"  action    {event['action']}",
        f"  subject   {event['subject']}",
        *(
            f"  {key:<9} {json.dumps(value, ensure_ascii=False)}"
            for key, value in event["details"].items()
        ),
        f"  prev hash {event['prev_hash']}",
        f"  hash      {event['hash']}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


@audit_app.command("verify")
@_guard
def audit_verify(
    folder: DirOption = DEFAULT_DIR,
    json_out: JsonOption = False,
    trust_list: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-list",
            metavar="FILE",
            help="A signed list you kept (repeatable): its audit head must still be in the "
            "log. The only check that survives the database being emptied.",
        ),
    ] = None,
) -> None:
    """Check the audit log: the hash chain, the signed checkpoints and published lists
    (with the registry's public key from registry.json) and lists you kept; then replay the
    events and compare the state they describe with the tables (rows with no event, effects
    missing). Exit 1 if broken or if a table differs.

      ancre registry audit verify --dir reg --trust-list trust-list.jwt
    """
    from ancre.registry.service import published_head

    key = _public_key(folder)
    if key is None:
        sys.stderr.write(
            "ancre: no public key in registry.json: checking the hash chain only, which a "
            "database writer can recompute\n"
        )
    held = []
    for path in trust_list or []:
        if key is None:
            _die(64, "--trust-list needs the registry's public key (registry.json)")
        try:
            held.append(published_head(path.read_text(), key))
        except OSError as error:
            _die(66, f"cannot read {path}: {error.strerror}")
    report = _open(folder).verify_audit(key=key, known_heads=held)
    if json_out:
        _print(report.to_json(), True)
    elif report.ok:
        sys.stdout.write(
            f"audit chain intact: {report.events} events, "
            f"{report.signed_events} covered by a signature; the tables match the events\n"
        )
    elif report.findings:
        sys.stdout.write(
            f"audit chain intact ({report.events} events) but the tables DIFFER from it:\n"
        )
        for finding in report.findings[:100]:
            sys.stdout.write(f"  {finding.table} {finding.key}: {finding.message}\n")
        if len(report.findings) > 100:
            sys.stdout.write(f"  … and {len(report.findings) - 100} more (--json lists 100)\n")
    else:
        where = "" if report.first_broken is None else f" at event {report.first_broken}"
        sys.stdout.write(f"audit chain BROKEN{where}: {report.reason}\n")
    if not json_out:
        for note in report.not_cross_checked:
            sys.stdout.write(f"note: {note}\n")
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("checkpoint")
@_guard
def audit_checkpoint(
    folder: DirOption = DEFAULT_DIR,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
    pin_file: PinFileOption = None,
) -> None:
    """Sign the log's current (count, head) with the registry key (publishing does it too).

    ANCRE_KEYSTORE_PASSPHRASE=… ancre registry audit checkpoint --dir reg
    """
    from ancre.registry.views import outcome_json

    row = _open(folder).checkpoint(_signer(folder, passphrase_file, pin_file))
    message = f"checkpoint signed: {row.events} events, head {row.head}"
    _done(
        json_out,
        outcome_json("audit checkpoint", row.events, message=message, head=row.head),
    )


@token_app.command("create")
@_guard
def token_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The token's name.")],
    role: Annotated[
        str,
        typer.Option(
            metavar="viewer|editor|approver", help="What the token may do (approvers also approve)."
        ),
    ],
    person: Annotated[
        str | None, typer.Option(help="Who will hold it (default: the token's name).")
    ] = None,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an admin API token; it is printed once, only its hash is stored. Past the
    first administrators, an editor or approver token needs your approver --token and, under
    the two-person rule, another person's approval before it works.

      ancre registry token create dashboard --role viewer --dir reg
    """
    from ancre.registry.service import Role
    from ancre.registry.views import outcome_json

    if role not in {r.value for r in Role}:
        _die(64, "--role must be viewer, editor or approver")
    registry = _open(folder)
    bootstrap = Role(role) is Role.VIEWER or not registry.has_admins()
    who = _who(registry, token, actor, minimum="approver", two_person=not bootstrap)
    change = None
    if bootstrap and not token:
        value = registry.create_token(who, name, Role(role), person=person)
    else:
        value, change = registry.mint_token(who, name, Role(role), person=person)
    if json_out:
        message = f"token {name} created" if change is None else _pending(change.id)
        outcome = outcome_json("token create", name, message=message, change=change, token=value)
        _print(outcome, True)
        return
    sys.stdout.write(value + "\n")
    if change is not None:
        sys.stderr.write(
            f"ancre: the token works once change {change.id} is approved by another person\n"
        )


@token_app.command("revoke")
@_guard
def token_revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The token's name.")],
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
    token: TokenOption = None,
    json_out: JsonOption = False,
) -> None:
    """Revoke a token at once: requests with it are refused from now on (audited).

    ancre registry token revoke dashboard --dir reg --token "$ALICE_TOKEN"
    """
    from ancre.registry.views import outcome_json

    registry = _open(folder)
    registry.revoke_token(_who(registry, token, actor, minimum="approver", two_person=False), name)
    _done(json_out, outcome_json("token revoke", name, message=f"token {name} revoked"))


@token_app.command("list")
@_guard
def token_list(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """List tokens (names, roles, holders, dates; never their values).

    ancre registry token list --dir reg
    """
    from ancre.registry.views import token_json

    data = [token_json(t) for t in _open(folder).tokens()]
    rows = [
        [t["name"], t["role"], t["person"], str(t["created_at"]), str(t["revoked_at"] or "")]
        for t in data
    ]
    headers = ["name", "role", "person", "created", "revoked"]
    _print(data, json_out, rows, headers, empty="no tokens")
