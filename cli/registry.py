"""`ancre registry …`: run a trust-list registry from the command line.

A registry lives in a folder (default `./ancre-registry`, or `$ANCRE_REGISTRY_DIR`):
`registry.json` (settings), `registry.db` (SQLite, unless `--database` names PostgreSQL)
and `keys.ancre` (the encrypted signing key; passphrase from $ANCRE_KEYSTORE_PASSPHRASE).
Commands act as the operator named by `--as` (default: $USER); the two-person rule asks
for a *different* operator to approve.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ancre.cli.serving import PassphraseFileOption, TlsCertOption, TlsKeyOption, tls_arguments

if TYPE_CHECKING:
    from ancre.registry.service import Registry
    from ancre.trust.keys import Signer

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
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
token_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)
app.add_typer(anchor_app, name="anchor")
app.add_typer(issuer_app, name="issuer")
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")

DirOption = Annotated[
    Path,
    typer.Option(
        "--dir", envvar="ANCRE_REGISTRY_DIR", help="The registry folder.", show_default=True
    ),
]
AsOption = Annotated[
    str, typer.Option("--as", envvar="USER", help="The operator making the change.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DEFAULT_DIR = Path("ancre-registry")


def _die(code: int, message: str) -> NoReturn:
    sys.stderr.write(f"ancre: {message}\n")
    raise typer.Exit(code)


def _settings(folder: Path) -> dict[str, Any]:
    path = folder / "registry.json"
    try:
        settings: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        _die(64, f"{folder} is not a registry: run `ancre registry init --dir {folder}` first")
    except (OSError, ValueError) as error:
        _die(65, f"cannot read {path}: {error}")
    return settings


def _open(folder: Path) -> Registry:
    from ancre.registry.db import make_engine
    from ancre.registry.service import Registry
    from ancre.trust.clock import SystemClock

    settings = _settings(folder)
    url = settings["database"].replace("{dir}", str(folder.resolve()))
    return Registry(make_engine(url), clock=SystemClock())


def _signer(folder: Path, passphrase_file: Path | None = None) -> Signer:
    from ancre.cli.main import _passphrase
    from ancre.trust.keystore import FileKeyStore

    passphrase = _passphrase(confirm=False, file=passphrase_file)
    return FileKeyStore(folder / "keys.ancre", passphrase).signer("registry")


def _guard(fn: Any) -> Any:
    """Turn refused requests into clean messages and exit codes, never tracebacks."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ancre.registry.service import RegistryError
        from ancre.trust.errors import AncreError, ConfigurationError

        try:
            return fn(*args, **kwargs)
        except RegistryError as error:
            _die(1, error.message)
        except ConfigurationError as error:
            _die(64, error.message)
        except AncreError as error:
            _die(65, str(error))

    return wrapper


def _print(
    value: Any,
    json_out: bool,
    rows: list[list[str]] | None = None,
    headers: list[str] | None = None,
) -> None:
    if json_out or rows is None:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*(headers or []), highlight=False)
    for row in rows:
        table.add_row(*row)
    Console(emoji=False, highlight=False).print(table)


@app.command()
@_guard
def init(
    did: Annotated[str, typer.Option(help="The registry's DID (did:web:… in production).")],
    folder: DirOption = DEFAULT_DIR,
    database: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (default: SQLite registry.db in the folder)."),
    ] = None,
    operator: Annotated[str, typer.Option(help="Scheme operator name.")] = "ancre registry",
    scheme: Annotated[str, typer.Option(help="Scheme name.")] = "Trusted credential issuers",
    two_person_rule: Annotated[
        bool, typer.Option(help="Require a second approver for anchors and reinstatements.")
    ] = True,
    validity_hours: Annotated[int, typer.Option(help="Published list validity.")] = 24,
    key_type: Annotated[str, typer.Option(help="Signing key type.")] = "ed25519",
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Create a registry: database (migrated), encrypted signing key, settings.

    ANCRE_KEYSTORE_PASSPHRASE=… ancre registry init --did did:web:registry.example
    """
    from datetime import timedelta

    from ancre.cli.main import _passphrase
    from ancre.registry.db import make_engine, migrate
    from ancre.registry.service import Registry
    from ancre.trust.clock import SystemClock
    from ancre.trust.keystore import FileKeyStore

    if (folder / "registry.json").exists():
        _die(64, f"{folder} already holds a registry")
    folder.mkdir(parents=True, exist_ok=True)
    url = database or "sqlite:///{dir}/registry.db"
    store = FileKeyStore.create(folder / "keys.ancre", _passphrase(True, passphrase_file))
    info = store.generate("registry", key_type)
    kid = f"{did}#registry"
    engine = make_engine(url.replace("{dir}", str(folder.resolve())))
    migrate(engine)
    Registry(engine, clock=SystemClock()).configure(
        registry_did=did,
        kid=kid,
        operator_name=operator,
        scheme_name=scheme,
        two_person_rule=two_person_rule,
        list_validity=timedelta(hours=validity_hours),
    )
    settings = {"did": did, "kid": kid, "database": url}
    (folder / "registry.json").write_text(json.dumps(settings, indent=2) + "\n")
    jwk = info.public_key.to_jwk()
    sys.stderr.write(
        f"ancre: registry created in {folder}\n"
        f"Publish this verification method in the DID document of {did}:\n"
    )
    method = {"id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk}
    sys.stdout.write(json.dumps(method, indent=2) + "\n")


@app.command()
def serve(
    folder: DirOption = DEFAULT_DIR,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8600,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Serve the registry API (public trust list and /admin)."""
    import uvicorn

    from ancre.registry.api import create_app

    registry = _open(folder)
    unlockable = passphrase_file is not None or os.environ.get("ANCRE_KEYSTORE_PASSPHRASE")
    signer = _signer(folder, passphrase_file) if unlockable else None
    if signer is None:
        sys.stderr.write(
            "ancre: no key store passphrase (--passphrase-file, ANCRE_KEYSTORE_PASSPHRASE_FILE "
            "or ANCRE_KEYSTORE_PASSPHRASE): serving without POST /admin/publish\n"
        )
    tls = tls_arguments(tls_cert, tls_key)
    uvicorn.run(create_app(registry, signer=signer), host=host, port=port, log_level="info", **tls)


@anchor_app.command("add")
@_guard
def anchor_add(
    anchor_id: Annotated[str, typer.Argument(help="The anchor's DID (or an identifier).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    cert: Annotated[Path | None, typer.Option(help="X.509 root certificate (PEM).")] = None,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
) -> None:
    """Add a trust anchor (files a pending change under the two-person rule)."""
    pem = cert.read_text() if cert else None
    change = _open(folder).add_anchor(actor, anchor_id=anchor_id, name=name, x509_pem=pem)
    if change is None:
        sys.stdout.write(f"anchor {anchor_id} added\n")
    else:
        sys.stdout.write(
            f"pending change {change.id}: another operator must run "
            f"`ancre registry approve {change.id} --as OTHER`\n"
        )


@anchor_app.command("list")
@_guard
def anchor_list(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """List trust anchors."""
    anchors = _open(folder).anchors()
    data = [{"id": a.id, "name": a.name, "created_at": a.created_at.isoformat()} for a in anchors]
    _print(
        data,
        json_out,
        [[a["id"], a["name"], a["created_at"]] for a in data],
        ["id", "name", "since"],
    )


@app.command()
@_guard
def changes(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """List changes waiting for a second approver."""
    pending = _open(folder).pending_changes()
    data: list[dict[str, Any]] = [
        {"id": c.id, "kind": c.kind, "requested_by": c.requested_by, "payload": c.payload}
        for c in pending
    ]
    _print(
        data,
        json_out,
        [[str(c["id"]), c["kind"], c["requested_by"], json.dumps(c["payload"])] for c in data],
        ["id", "kind", "by", "what"],
    )


@app.command()
@_guard
def approve(change_id: int, folder: DirOption = DEFAULT_DIR, actor: AsOption = "operator") -> None:
    """Approve a pending change (not your own)."""
    change = _open(folder).approve(actor, change_id)
    sys.stdout.write(f"change {change.id} ({change.kind}) approved and applied\n")


@app.command()
@_guard
def reject(change_id: int, folder: DirOption = DEFAULT_DIR, actor: AsOption = "operator") -> None:
    """Reject a pending change."""
    change = _open(folder).reject(actor, change_id)
    sys.stdout.write(f"change {change.id} ({change.kind}) rejected\n")


def _parse_types(types: list[str], constraints: list[str]) -> dict[str, list[Any]]:
    from ancre.trust.trust_list import ClaimConstraint

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
    did: str,
    name: Annotated[str, typer.Option(help="Legal name.")],
    accredited_by: Annotated[str, typer.Option(help="The accrediting trust anchor.")],
    credential_type: Annotated[
        list[str], typer.Option("--type", help="A credential type it may issue (repeatable).")
    ],
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            help="TYPE:CLAIM.PATH=V1,V2, e.g. "
            "gx:LegalPerson:credentialSubject.gx:legalAddress.gx:countryCode=FR"
        ),
    ] = None,
    registration_number: Annotated[str | None, typer.Option(help="SIREN/SIRET, LEI…")] = None,
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
) -> None:
    """Add a trusted issuer, allowed for the given credential types."""
    _open(folder).add_issuer(
        actor,
        did=did,
        legal_name=name,
        accredited_by=accredited_by,
        registration_number=registration_number,
        credential_types=_parse_types(credential_type, constraint or []),
    )
    sys.stdout.write(f"issuer {did} added for {', '.join(credential_type)}\n")


def _set_status(folder: Path, actor: str, did: str, status: str, reason: str) -> None:
    from ancre.trust.trust_list import EntryStatus

    change = _open(folder).set_issuer_status(actor, did, EntryStatus(status), reason=reason)
    if change is None:
        sys.stdout.write(f"{did} is now {status}\n")
    else:
        sys.stdout.write(f"pending change {change.id}: another operator must approve it\n")


@issuer_app.command("suspend")
@_guard
def issuer_suspend(
    did: str,
    reason: Annotated[str, typer.Option()],
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
) -> None:
    """Suspend an issuer from now on (history before stays as it was)."""
    _set_status(folder, actor, did, "suspended", reason)


@issuer_app.command("reinstate")
@_guard
def issuer_reinstate(
    did: str,
    reason: Annotated[str, typer.Option()],
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
) -> None:
    """Reinstate an issuer (a withdrawn one needs a second approver)."""
    _set_status(folder, actor, did, "active", reason)


@issuer_app.command("withdraw")
@_guard
def issuer_withdraw(
    did: str,
    reason: Annotated[str, typer.Option()],
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
) -> None:
    """Withdraw an issuer: credentials it issues are no longer trusted."""
    _set_status(folder, actor, did, "withdrawn", reason)


@issuer_app.command("show")
@_guard
def issuer_show(did: str, folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """An issuer, its credential types and their histories."""
    view = _open(folder).issuer_view(did)
    if json_out:
        _print(view, True)
        return
    rows = [
        ["issuer", h["status"], h["effective_from"], h["reason"], h["actor"]]
        for h in view["status"]
    ]
    for ctype, grant in view["types"].items():
        rows += [
            [ctype, h["status"], h["effective_from"], h["reason"], h["actor"]]
            for h in grant["status"]
        ]
    sys.stdout.write(f"{view['legal_name']} ({did}), accredited by {view['accredited_by']}\n")
    _print(view, False, rows, ["what", "status", "from", "reason", "by"])


@issuer_app.command("list")
@_guard
def issuer_list(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """List trusted issuers."""
    issuers = _open(folder).issuers()
    data = [
        {"did": i.did, "legal_name": i.legal_name, "accredited_by": i.accredited_by}
        for i in issuers
    ]
    _print(
        data,
        json_out,
        [[d["did"], d["legal_name"], d["accredited_by"]] for d in data],
        ["did", "name", "accredited by"],
    )


@app.command()
@_guard
def history(did: str, folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """An issuer's full dated history (alias of `issuer show`)."""
    issuer_show(did, folder, json_out)


@app.command()
@_guard
def publish(
    folder: DirOption = DEFAULT_DIR,
    out: Annotated[
        Path | None, typer.Option(help="Also write the signed list to this file.")
    ] = None,
    actor: AsOption = "operator",
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Sign and store the next trust list (sequence number + 1)."""
    row = _open(folder).publish(_signer(folder, passphrase_file), actor)
    if out is not None:
        out.write_text(row.jws + "\n")
    sys.stdout.write(
        f"trust list #{row.sequence} published, valid until {row.next_update.isoformat()}\n"
    )


@audit_app.command("verify")
@_guard
def audit_verify(folder: DirOption = DEFAULT_DIR, json_out: JsonOption = False) -> None:
    """Check the audit chain; names the first edited or removed event. Exit 1 if broken."""
    report = _open(folder).verify_audit()
    if json_out:
        _print(
            {
                "ok": report.ok,
                "events": report.events,
                "first_broken": report.first_broken,
                "reason": report.reason,
            },
            True,
        )
    elif report.ok:
        sys.stdout.write(f"audit chain intact: {report.events} events\n")
    else:
        sys.stdout.write(f"audit chain BROKEN at event {report.first_broken}: {report.reason}\n")
    raise typer.Exit(0 if report.ok else 1)


@token_app.command("create")
@_guard
def token_create(
    name: str,
    role: Annotated[str, typer.Option(help="viewer, editor or approver.")],
    folder: DirOption = DEFAULT_DIR,
    actor: AsOption = "operator",
) -> None:
    """Create an admin API token; it is printed once, only its hash is stored."""
    from ancre.registry.service import Role

    if role not in {r.value for r in Role}:
        _die(64, "--role must be viewer, editor or approver")
    sys.stdout.write(_open(folder).create_token(actor, name, Role(role)) + "\n")
