"""`ancre wallet …`: an organization's credential wallet on the command line.

The wallet is a directory (`--wallet`, else $ANCRE_WALLET, else the user data directory)
encrypted under a passphrase (`--passphrase-file`, else $ANCRE_WALLET_PASSPHRASE, else a
prompt). Every command takes `--json` (one JSON document on stdout; messages on stderr).

Exit codes (as `ancre verify`): 0 done, 1 refused or invalid (a credential that fails its
check, an issuer's refusal, nothing to present), 2 indeterminate (a status list or DID
document could not be fetched), 64 usage, 65 unreadable or damaged input, 69 unavailable
(network, the wallet busy with another writer), 77 wrong passphrase.
"""

from __future__ import annotations

import functools
import getpass
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from ancre.trust.clock import Clock
    from ancre.wallet.credentials import Checker
    from ancre.wallet.http import Http
    from ancre.wallet.store import WalletStore

app = typer.Typer(
    help="An organization's credential wallet: identities, receiving (OpenID4VCI), "
    "inspecting and presenting credentials.",
    no_args_is_help=True,
)
did_app = typer.Typer(help="The wallet's identities (holder keys and their DIDs).")
app.add_typer(did_app, name="did")

EXIT_OK, EXIT_INVALID, EXIT_INDETERMINATE = 0, 1, 2
EXIT_USAGE, EXIT_DATAERR, EXIT_UNAVAILABLE, EXIT_NOPERM = 64, 65, 69, 77
PASSPHRASE_ENV = "ANCRE_WALLET_PASSPHRASE"  # noqa: S105 - a variable name
NEW_PASSPHRASE_ENV = "ANCRE_WALLET_NEW_PASSPHRASE"  # noqa: S105 - a variable name
_MAX_PASSPHRASE_FILE_BYTES = 4096

WalletOption = Annotated[
    Path | None,
    typer.Option(
        "--wallet",
        envvar="ANCRE_WALLET",
        help="The wallet directory (default: the user data directory, ancre/wallet).",
    ),
]
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        envvar="ANCRE_WALLET_PASSPHRASE_FILE",
        help="Read the passphrase from this file (first line) instead of "
        "$ANCRE_WALLET_PASSPHRASE or a prompt.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
InsecureLoopbackOption = Annotated[
    bool,
    typer.Option(
        "--insecure-loopback",
        help="Let issuers, status lists and DID documents be on 127.0.0.1/localhost (tests, "
        "demos); plain http there too.",
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        envvar="ANCRE_WALLET_CA_FILE",
        help="Trust only the CA certificates in this PEM file for https (a private CA).",
    ),
]
TrustedIssuerOption = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-issuer",
        help="Accept credentials only from this issuer DID (repeatable). Without it, any "
        "issuer whose signature and status check out is accepted.",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _die(code: int, message: str) -> NoReturn:
    sys.stderr.write(f"ancre: {message}\n")
    raise typer.Exit(code)


def _exit_code(error: Exception) -> int:
    from ancre.trust.errors import (
        Code,
        ConfigurationError,
        IndeterminateError,
        MalformedError,
    )

    code = getattr(error, "code", None)
    if isinstance(error, ConfigurationError) or code == Code.WALLET_NOT_FOUND:
        return EXIT_USAGE
    if code == Code.WALLET_LOCKED:
        return EXIT_NOPERM
    if code == Code.WALLET_BUSY or code in (Code.NETWORK_ERROR, Code.NETWORK_TIMEOUT):
        return EXIT_UNAVAILABLE
    if isinstance(error, MalformedError):
        return EXIT_DATAERR
    if isinstance(error, IndeterminateError):
        return EXIT_INDETERMINATE
    return EXIT_INVALID


def _guard(fn: F) -> F:
    """Turn every ancre error into a message with its code and an exit code, never a
    traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ancre.trust.errors import AncreError

        try:
            return fn(*args, **kwargs)
        except AncreError as error:
            _die(_exit_code(error), str(error))
        except PermissionError as error:
            _die(EXIT_NOPERM, f"{error.filename}: permission denied")
        except OSError as error:
            _die(EXIT_UNAVAILABLE, f"{error.filename or ''}: {error.strerror}")

    return wrapper  # type: ignore[return-value]


# ---- passphrase and opening ------------------------------------------------------------


def _read_capped(source: str | Path | None, limit: int, label: str) -> bytes:
    """At most `limit` + 1 bytes of a file (None: standard input), so that the caller sees
    when it is over `limit`; an unreadable one ends the command (exit 64, `label`: why)."""
    try:
        if source is None:
            return sys.stdin.buffer.read(limit + 1)
        with open(source, "rb") as handle:
            return handle.read(limit + 1)
    except OSError as error:
        _die(EXIT_USAGE, f"{label}: {error.strerror}")


def _read_secret_file(file: Path, option: str) -> str:
    raw = _read_capped(file, _MAX_PASSPHRASE_FILE_BYTES, f"{option} {file}")
    if len(raw) > _MAX_PASSPHRASE_FILE_BYTES:
        _die(EXIT_USAGE, f"{option} {file}: over {_MAX_PASSPHRASE_FILE_BYTES} bytes")
    try:
        line = raw.decode("utf-8").splitlines()[0] if raw.strip() else ""
    except UnicodeDecodeError:
        _die(EXIT_USAGE, f"{option} {file}: not UTF-8 text")
    if not line:
        _die(EXIT_USAGE, f"{option} {file}: empty")
    return line


def _passphrase(
    file: Path | None, *, confirm: bool = False, env: str = PASSPHRASE_ENV, what: str = ""
) -> str:
    """From the file, else the environment, else a prompt (a terminal only)."""
    if file is not None:
        return _read_secret_file(file, "--passphrase-file")
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        _die(EXIT_USAGE, f"no passphrase: give --passphrase-file or set ${env}")
    label = what or "Wallet passphrase"
    first = getpass.getpass(f"{label}: ")
    if confirm and getpass.getpass(f"{label} (again): ") != first:
        _die(EXIT_USAGE, "the passphrases differ")
    if not first:
        _die(EXIT_USAGE, "an empty passphrase is not allowed")
    return first


def _confirm(question: str, declined: str, *, shown: str | None = None) -> None:
    """Ask on the terminal (after `shown`, on stderr); without a terminal, or declined,
    the command ends: exit 64 (pass --yes), exit 1 (`declined`)."""
    if not sys.stdin.isatty():
        _die(EXIT_USAGE, "confirmation needed: run in a terminal, or pass --yes")
    if shown is not None:
        sys.stderr.write(shown + "\n")
    if not typer.confirm(question, default=False, err=True):
        _die(EXIT_INVALID, declined)


def _path(wallet: Path | None) -> Path:
    from ancre.wallet.store import default_wallet_path

    return wallet if wallet is not None else default_wallet_path()


def _open(wallet: Path | None, passphrase_file: Path | None) -> WalletStore:
    from ancre.wallet.store import WalletStore

    path = _path(wallet)
    if not WalletStore.exists(path):
        _die(EXIT_USAGE, f"wallet_not_found: no wallet at {path} (run `ancre wallet init`)")
    return WalletStore.open(path, _passphrase(passphrase_file))


def _clock() -> Clock:
    from ancre.trust.clock import SystemClock

    return SystemClock()


def _http(insecure_loopback: bool, ca_file: Path | None) -> Http:
    from ancre.wallet.http import Http, make_client, network_policy

    if ca_file is not None and not ca_file.is_file():
        _die(EXIT_USAGE, f"--ca-file {ca_file}: no such file")
    return Http(make_client(ca_file), network_policy(insecure_loopback=insecure_loopback))


def _checker(http: Http, trusted: list[str] | None) -> Checker:
    from ancre.wallet.credentials import Checker

    return Checker(http, _clock(), frozenset(trusted) if trusted else None)


def _print_json(document: Any) -> None:
    from ancre.cli.output import print_json

    print_json(document)


def _report(json_out: bool, document: Any, text: str) -> None:
    """The command's result: `document` as JSON with --json, else `text` on stdout."""
    if json_out:
        _print_json(document)
    else:
        sys.stdout.write(text)


def _console() -> Any:
    from rich.console import Console

    # No emoji codes (`did:key:` would become a key glyph) and no markup from data.
    return Console(highlight=False, emoji=False)


def _cell(value: str | None) -> str:
    """Text from a credential or an issuer, shown literally (Rich markup escaped), with
    hidden characters made visible and mixed-script words flagged (`ancre.trust.display`)."""
    from rich.markup import escape

    from ancre.trust.display import shown

    return escape(shown(value or ""))


# ---- init, passphrase ------------------------------------------------------------------


@app.command("init")
@_guard
def init(
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    scrypt_n: Annotated[int, typer.Option(hidden=True, help="scrypt cost (tests: 16384).")] = 2**17,
    json_out: JsonOption = False,
) -> None:
    """Create an empty, encrypted wallet.

    ancre wallet init --wallet ./acme-wallet
    """
    from ancre.wallet.store import WalletStore

    path = _path(wallet)
    WalletStore.create(path, _passphrase(passphrase_file, confirm=True), scrypt_n=scrypt_n)
    _report(json_out, {"wallet": str(path), "created": True}, f"wallet created at {path}\n")


@app.command("passwd")
@_guard
def passwd(
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    new_passphrase_file: Annotated[
        Path | None,
        typer.Option(
            help="The new passphrase (first line), else $ANCRE_WALLET_NEW_PASSPHRASE or a prompt."
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Change the passphrase: the data key is re-wrapped, no credential is rewritten.

    ancre wallet passwd --new-passphrase-file new.txt
    """
    store = _open(wallet, passphrase_file)
    old = _passphrase(passphrase_file)
    if new_passphrase_file is not None:
        new = _read_secret_file(new_passphrase_file, "--new-passphrase-file")
    else:
        new = _passphrase(None, confirm=True, env=NEW_PASSPHRASE_ENV, what="New passphrase")
    store.change_passphrase(old, new)
    _report(
        json_out, {"wallet": str(store.path), "passphrase_changed": True}, "passphrase changed\n"
    )


# ---- identities ------------------------------------------------------------------------


@did_app.command("create")
@_guard
def did_create(
    method: Annotated[str, typer.Option(help="key, jwk or web.")] = "key",
    key_type: Annotated[
        str | None,
        typer.Option("--type", help="ed25519 or p256 (default ed25519; p256 with --pkcs11)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label (default identity-N).")] = None,
    domain: Annotated[
        str | None,
        typer.Option(help="did:web: the organization's domain (example.org, or host:port)."),
    ] = None,
    web_path: Annotated[
        str | None,
        typer.Option("--path", help="did:web: a path under the domain (org/unit)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="did:web: where to write the did.json to publish (default ./did.json)."),
    ] = None,
    pkcs11: Annotated[
        Path | None,
        typer.Option(
            "--pkcs11",
            metavar="MODULE",
            help="Keep the key in a PKCS#11 token: the module (shared library) to load.",
        ),
    ] = None,
    token_label: Annotated[str | None, typer.Option(help="--pkcs11: the token's label.")] = None,
    key_label: Annotated[
        str | None,
        typer.Option(help="--pkcs11: the key pair's label (generated in the token if absent)."),
    ] = None,
    pin_file: Annotated[
        Path | None,
        typer.Option(
            help="--pkcs11: a file holding the user PIN (else ANCRE_PKCS11_PIN or a prompt)."
        ),
    ] = None,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an identity: a new key and its did:key, did:jwk or did:web. For did:web the
    DID document is written to --out and the URL where it must be served is printed.

      ancre wallet did create --method jwk --type p256 --name procurement

      ancre wallet did create --method web --domain acme.example --path org/unit --out did.json
      # → publish did.json at https://acme.example/org/unit/did.json

      ancre wallet did create --method jwk --pkcs11 /usr/lib/softhsm/libsofthsm2.so \\
          --token-label acme --key-label holder-1
      # → the P-256 key stays in the token; the wallet keeps only the reference
    """
    from ancre.trust.did.web import did_web_to_url
    from ancre.trust.keys.keystore import atomic_write
    from ancre.wallet.identities import create_identity, did_web_document

    if method != "web" and out is not None:
        _die(EXIT_USAGE, "--out is for --method web only")
    token = None
    if pkcs11 is not None:
        from ancre.trust.keys.pkcs11 import Pkcs11Ref
        from ancre.wallet.identities import pkcs11_pin

        if not token_label or not key_label:
            _die(EXIT_USAGE, "--pkcs11 needs --token-label and --key-label")
        ref = Pkcs11Ref(str(pkcs11.absolute()), token_label, key_label)
        pin_path = str(pin_file) if pin_file is not None else None
        token = (ref, lambda: pkcs11_pin(ref, pin_path))
    elif token_label or key_label or pin_file:
        _die(EXIT_USAGE, "--token-label, --key-label and --pin-file go with --pkcs11")
    store = _open(wallet, passphrase_file)
    identity = create_identity(
        store,
        method=method,
        key_type=key_type or ("p256" if pkcs11 is not None else "ed25519"),
        pkcs11=token,
        name=name,
        now=_clock().now(),
        domain=domain,
        path=web_path,
    )
    document: dict[str, Any] = identity.to_json()
    if identity.method == "web":
        import json

        target = out if out is not None else Path("did.json")
        text = json.dumps(did_web_document(identity), indent=2, ensure_ascii=False) + "\n"
        atomic_write(target, text.encode("utf-8"), mode=0o644)  # public by design
        document["did_document_file"] = str(target)
        document["publish_at"] = did_web_to_url(identity.did)
    if json_out:
        _print_json(document)
    else:
        sys.stdout.write(f"{identity.name}: {identity.did}\n")
        if identity.method == "web":
            sys.stdout.write(
                f"wrote {document['did_document_file']}: publish it at {document['publish_at']}\n"
            )


@did_app.command("list")
@_guard
def did_list(
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the identities (never their private keys).

    ancre wallet did list --json
    """
    from ancre.wallet.identities import list_identities

    identities = list_identities(_open(wallet, passphrase_file))
    if json_out:
        _print_json({"identities": [i.to_json() for i in identities]})
        return
    from rich.table import Table

    table = Table("id", "name", "did", "key", "created")
    for i in identities:
        custody = " (PKCS#11 token)" if "pkcs11" in i.to_json() else ""
        table.add_row(i.id, _cell(i.name), i.did, i.key_type + custody, i.created_at)
    _console().print(table)


# ---- receive ---------------------------------------------------------------------------


def _ask_tx_code(spec: Mapping[str, Any]) -> str:
    if not sys.stdin.isatty():
        _die(EXIT_USAGE, "the offer needs a transaction code: give --tx-code")
    hint = spec.get("description")
    length = spec.get("length")
    label = "Transaction code"
    if isinstance(length, int):
        label += f" ({length} {'digits' if spec.get('input_mode') != 'text' else 'characters'})"
    if isinstance(hint, str):
        sys.stderr.write(f"{hint[:200]}\n")
    return getpass.getpass(f"{label}: ")


@app.command("receive")
@_guard
def receive(
    offer: Annotated[
        str,
        typer.Argument(
            help="openid-credential-offer://… URI, an https offer URL, or a PNG/JPEG picture "
            "of the offer's QR code."
        ),
    ],
    tx_code: Annotated[
        str | None,
        typer.Option(help="The transaction code the issuer sent separately (else a prompt)."),
    ] = None,
    identity: Annotated[
        str | None, typer.Option(help="The identity (id, name or DID) to receive it for.")
    ] = None,
    configuration: Annotated[
        str | None, typer.Option(help="Which offered credential configuration (default: first).")
    ] = None,
    grant: Annotated[
        str | None,
        typer.Option(
            help="authorization_code or urn:ietf:params:oauth:grant-type:pre-authorized_code "
            "(default: pre-authorized when offered, else authorization_code)."
        ),
    ] = None,
    no_browser: Annotated[
        bool,
        typer.Option(
            "--no-browser", help="Authorization code grant: print the URL, do not open a browser."
        ),
    ] = False,
    client_id: Annotated[
        str,
        typer.Option(help="Authorization code grant: the wallet's client_id at the issuer."),
    ] = "ancre-wallet",
    login_timeout: Annotated[
        int,
        typer.Option(help="Authorization code grant: seconds to wait for the browser."),
    ] = 300,
    count: Annotated[
        int,
        typer.Option(
            help="Batch issuance: this many credentials, each bound to its own key (new "
            "identities named after --identity); the issuer must offer batch issuance."
        ),
    ] = 1,
    trusted_issuer: TrustedIssuerOption = None,
    insecure_loopback: InsecureLoopbackOption = False,
    ca_file: CaFileOption = None,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Receive a credential over OpenID4VCI 1.0: pre-authorized code (with its tx_code) or
    authorization code (a browser, a loopback redirect on 127.0.0.1, PKCE). Every
    credential is verified — signature, data model, dates, schema, status, and the trusted
    issuers when given — before it is stored; one that fails is refused and nothing is
    written. A deferred answer is kept encrypted: collect it with `ancre wallet pending
    --retry`.

      ancre wallet receive 'openid-credential-offer://?credential_offer_uri=https%3A…'

      ancre wallet receive offer-qr.png --tx-code 493536

      ancre wallet receive 'openid-credential-offer://?credential_offer=…issuer_state…' \\
          --no-browser          # prints the login URL; the browser comes back to 127.0.0.1

      ancre wallet receive 'openid-credential-offer://…' --tx-code 493536 --count 3
    """
    import secrets

    from ancre.trust.errors import AncreError
    from ancre.wallet.authcode import LoopbackAuthorizer
    from ancre.wallet.identities import create_identity, find_identity
    from ancre.wallet.oid4vci import MAX_BATCH, Deferred, obtain, resolve_offer
    from ancre.wallet.qr import decode_qr, looks_like_image
    from ancre.wallet.receiving import accept, forget_identities, refusal_text, save_pending

    if not 1 <= count <= MAX_BATCH:
        _die(EXIT_USAGE, f"--count must be 1 to {MAX_BATCH}")
    if not 1 <= login_timeout <= 3600:
        _die(EXIT_USAGE, "--login-timeout must be 1 to 3600 seconds")
    store = _open(wallet, passphrase_file)
    holder = find_identity(store, identity)
    http = _http(insecure_loopback, ca_file)
    if looks_like_image(offer) or ("://" not in offer and Path(offer).is_file()):
        offer = decode_qr(Path(offer))
        sys.stderr.write("read the offer from the QR code\n")
    parsed = resolve_offer(offer, http)
    sys.stderr.write(
        f"offer from {parsed.credential_issuer}: {', '.join(parsed.configuration_ids)}\n"
    )

    def show(url: str) -> None:
        sys.stderr.write(f"open this URL to log in at the issuer:\n{url}\n")
        sys.stderr.flush()
        # Without a desktop, `webbrowser` would start a text browser in this terminal.
        desktop = sys.platform in ("darwin", "win32") or any(
            os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")
        )
        if not no_browser and desktop:
            import webbrowser

            if not webbrowser.open(url):
                sys.stderr.write("(no browser could be opened: open the URL yourself)\n")
        elif not no_browser:
            sys.stderr.write("(no desktop here: open the URL in a browser on this machine)\n")

    authorize = LoopbackAuthorizer(http, show, client_id=client_id, timeout=login_timeout)
    batch = []
    try:
        for _ in range(count - 1):
            batch.append(
                create_identity(
                    store,
                    # A did:web needs a published document: batch keys are did:jwk then.
                    method=holder.method if holder.method in ("key", "jwk") else "jwk",
                    key_type=holder.key_type,
                    name=f"{holder.name}-batch-{secrets.token_hex(3)}",
                    now=_clock().now(),
                )
            )
        issued = obtain(
            parsed,
            http=http,
            identity=holder,
            clock=_clock(),
            tx_code=tx_code,
            ask_tx_code=_ask_tx_code,
            configuration_id=configuration,
            batch=batch,
            grant=grant,
            authorize=authorize,
        )
        holders = [holder, *batch]
        if isinstance(issued, Deferred):
            pending = save_pending(store, issued, holders, [b.id for b in batch], _clock().now())
        else:
            held = accept(
                store, _checker(http, trusted_issuer), issued.tokens, holders, _clock().now()
            )
    except AncreError as error:
        forget_identities(store, [b.id for b in batch])
        _die(_exit_code(error), refusal_text(error))
    except BaseException:
        forget_identities(store, [b.id for b in batch])
        raise
    if isinstance(issued, Deferred):
        if json_out:
            _print_json({"deferred": True, "pending": pending.to_json()})
        else:
            sys.stdout.write(
                f"{pending.id}: deferred by the issuer; collect it with "
                f"`ancre wallet pending --retry` (not before {pending.not_before})\n"
            )
        return
    if json_out:
        if count == 1:
            _print_json({**held[0].to_json(), "configuration_id": issued.configuration_id})
        else:
            _print_json(
                {
                    "configuration_id": issued.configuration_id,
                    "credentials": [h.to_json() for h in held],
                }
            )
        return
    for item in held:
        sys.stdout.write(f"{item.id}: {', '.join(item.types)} from {item.issuer}\n")


# ---- inspect ---------------------------------------------------------------------------


@app.command("list")
@_guard
def list_(
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the credentials; a record that fails its integrity check is shown as damaged.
    Exits 1 if any record is damaged.

      ancre wallet list --json
    """
    from ancre.wallet.credentials import list_credentials

    held, bad = list_credentials(_open(wallet, passphrase_file))
    if json_out:
        _print_json(
            {
                "credentials": [c.to_json() for c in held],
                "damaged": [{"id": e.id, "problem": e.problem} for e in bad],
            }
        )
    else:
        from rich.table import Table

        table = Table("id", "type", "issuer", "subject", "valid until", "status")
        for c in held:
            table.add_row(
                c.id,
                _cell(", ".join(c.types)),
                _cell(c.issuer),
                _cell(c.subject),
                _cell(c.valid_until),
                _cell(c.status),
            )
        for e in bad:
            table.add_row(e.id, "", "", "", "", f"[red]TAMPERED: {_cell(e.problem)}[/]")
        _console().print(table)
    if bad:
        raise typer.Exit(EXIT_INVALID)


@app.command("show")
@_guard
def show(
    credential_id: Annotated[str, typer.Argument(help="The credential's id (from `list`).")],
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one credential decoded: header, claims, and for an SD-JWT VC each disclosure
    (what `present --disclose` can reveal).

      ancre wallet show cred-3f9a1c2b7d0e
    """
    from ancre.trust.errors import Code, InvalidError
    from ancre.trust.jose.jws import unverified_header
    from ancre.trust.sd_jwt.issue import SdJwt
    from ancre.wallet.credentials import KIND, HeldCredential

    if not credential_id.startswith(KIND + "-"):
        raise InvalidError(Code.RECORD_NOT_FOUND, f"no credential {credential_id[:80]!r}")
    store = _open(wallet, passphrase_file)
    held = HeldCredential.from_record(credential_id, store.get(credential_id))
    jwt = held.token.split("~", 1)[0]
    document: dict[str, Any] = {"credential": held.to_json(), "header": unverified_header(jwt)}
    if held.format == "dc+sd-jwt":
        sd = SdJwt.parse(held.token)
        document["claims"] = sd.unverified_claims()
        document["disclosures"] = [{"name": d.name, "value": d.value} for d in sd.disclosures]
    else:
        document["claims"] = SdJwt(jwt, ()).unverified_payload()
    if json_out:
        _print_json(document)
        return
    import json

    console = _console()
    console.print(f"[bold]{held.id}[/] {held.format} — {_cell(held.status)}")
    console.print_json(json.dumps(document["claims"], ensure_ascii=False))
    for d in document.get("disclosures", []):
        name = d["name"] or "(array element)"
        console.print(f"  disclosable: {_cell(name)} = {_cell(repr(d['value']))}")


@app.command("status")
@_guard
def status(
    trusted_issuer: TrustedIssuerOption = None,
    insecure_loopback: InsecureLoopbackOption = False,
    ca_file: CaFileOption = None,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Check every credential again (revocation, suspension, expiry) and show what changed.

    ancre wallet status --json
    """
    from ancre.wallet.credentials import refresh_status

    store = _open(wallet, passphrase_file)
    report = refresh_status(store, _checker(_http(insecure_loopback, ca_file), trusted_issuer))
    if json_out:
        _print_json({"credentials": report})
        return
    for line in report:
        change = f"{line['before']} → {line['after']}" if line["changed"] else line["after"]
        sys.stdout.write(f"{line['id']} {', '.join(line['types'])}: {change}\n")


# ---- present ---------------------------------------------------------------------------


@app.command("present")
@_guard
def present(
    credential_type: Annotated[
        list[str], typer.Option("--type", help="The credential type(s) to present.")
    ],
    audience: Annotated[str, typer.Option(help="Who the presentation is for (`aud`).")],
    nonce: Annotated[str, typer.Option(help="The verifier's challenge (`nonce`).")],
    disclose: Annotated[
        str | None,
        typer.Option(help="SD-JWT VC: the claims to disclose, comma-separated (nothing else)."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(help="POST it to this VC-API verifier (/presentations/verify)."),
    ] = None,
    insecure_loopback: InsecureLoopbackOption = False,
    ca_file: CaFileOption = None,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Build a presentation bound to an audience and nonce: a vp+jwt of the matching vc+jwt
    credentials, or an SD-JWT+KB disclosing only the --disclose claims. Prints it, or with
    --to sends it and prints the verifier's verdict (exit 0 verified, 1 not).

      ancre wallet present --type LegalPerson --audience https://connector.example \\
          --nonce n-0S6 --to https://verifier.example

      ancre wallet present --type urn:eu.europa.ec.eudi:por:1 --disclose role \\
          --audience https://connector.example --nonce n-0S6
    """
    from ancre.wallet.present import build_presentation, post_to_vc_api

    names = [n for n in (disclose or "").split(",") if n.strip()]
    store = _open(wallet, passphrase_file)
    presentation = build_presentation(
        store,
        types=credential_type,
        audience=audience,
        nonce=nonce,
        clock=_clock(),
        disclose=names,
    )
    document: dict[str, Any] = {
        "format": presentation.format,
        "presentation": presentation.token,
        "credentials": list(presentation.credentials),
        "holder": presentation.holder,
        "disclosed": list(presentation.disclosed),
    }
    if to is None:
        _report(json_out, document, presentation.token + "\n")
        return
    http = _http(insecure_loopback, ca_file)
    code, answer = post_to_vc_api(presentation, to, http=http, nonce=nonce)
    verified = code == 200 and isinstance(answer, dict) and answer.get("verified") is True
    document["verifier"] = {"http_status": code, "verified": verified, "answer": answer}
    if json_out:
        _print_json(document)
    else:
        sys.stdout.write(f"verifier: {'VERIFIED' if verified else 'NOT VERIFIED'} (HTTP {code})\n")
        if not verified and isinstance(answer, dict):
            for problem in answer.get("problemDetails", answer.get("errors", [])) or []:
                sys.stdout.write(f"  {problem}\n")
    if not verified:
        raise typer.Exit(EXIT_INVALID)


# ---- respond (OpenID4VP) ---------------------------------------------------------------


@app.command("respond")
@_guard
def respond(
    invocation: Annotated[
        str, typer.Argument(help="The verifier's openid4vp://?client_id=…&request_uri=… URL.")
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")
    ] = False,
    insecure_loopback: InsecureLoopbackOption = False,
    ca_file: CaFileOption = None,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Answer an OpenID4VP 1.0 request: the signed Request Object is fetched and checked
    against the verifier's DID, its DCQL query matched against the wallet, what would be
    disclosed and to whom shown, and — once confirmed — the presentations posted
    (direct_post, or direct_post.jwt encrypted to the verifier).

      ancre wallet respond 'openid4vp://?client_id=decentralized_identifier%3Adid%3A…&request_uri=…'
    """
    import json

    from ancre.wallet.oid4vp import build_answer, describe, fetch_request, send_answer

    store = _open(wallet, passphrase_file)
    http = _http(insecure_loopback, ca_file)
    request = fetch_request(invocation, http=http, clock=_clock())
    answer = build_answer(store, request, clock=_clock())
    summary = describe(answer)
    if not json_out or not yes:
        sys.stderr.write(
            f"The verifier {summary['verifier']}\n  (answers go to {summary['response_uri']})\n"
            "asks for:\n"
        )
        for item in summary["presentations"]:
            claims = item["disclosed_claims"]
            shown = ", ".join(claims) if isinstance(claims, list) else claims
            sys.stderr.write(
                f"  - {', '.join(item['types'])} ({item['credential']}) from {item['issuer']}:"
                f" {shown or 'only what is always disclosed'}\n"
            )
    if not yes:
        _confirm("Send these presentations?", "declined: nothing was sent")
    reply = send_answer(answer, store, http=http, clock=_clock())
    if json_out:
        _print_json({**summary, "sent": True, "verifier_answer": reply})
    else:
        sys.stdout.write("sent\n")
        if isinstance(reply, dict) and reply:
            sys.stdout.write(json.dumps(reply, ensure_ascii=False) + "\n")


# ---- export, import, delete, onboard (an organization's administration) -----------------

ARCHIVE_PASSPHRASE_ENV = "ANCRE_WALLET_ARCHIVE_PASSPHRASE"  # noqa: S105 - a variable name
_MAX_IMPORT_CREDENTIAL_BYTES = 1024 * 1024
_PERSONAL_CLAIMS = frozenset(
    {
        "given_name", "family_name", "birth_date", "birthdate", "email", "phone_number",
        "address", "nationality", "personal_administrative_number", "name",
    }
)  # fmt: skip
ArchivePassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--archive-passphrase-file",
        help="The archive's passphrase (first line), else $ANCRE_WALLET_ARCHIVE_PASSPHRASE or "
        "a prompt. It is not the wallet's: choose one for the archive.",
    ),
]


def _archive_passphrase(file: Path | None, *, confirm: bool) -> str:
    if file is not None:
        return _read_secret_file(file, "--archive-passphrase-file")
    return _passphrase(None, confirm=confirm, env=ARCHIVE_PASSPHRASE_ENV, what="Archive passphrase")


def _clear_warnings(held: Any) -> list[str]:
    """Why a credential written in the clear deserves care: SD-JWT disclosures that a
    presentation would withhold, personal data."""
    from ancre.trust.sd_jwt.issue import SdJwt

    warnings = []
    if held.format == "dc+sd-jwt":
        names = [d.name or "(array element)" for d in SdJwt.parse(held.token).disclosures]
        if names:
            warnings.append(
                "it holds every selectively disclosable claim, which a presentation would "
                f"withhold unless chosen: {', '.join(names)}"
            )
        personal = sorted(_PERSONAL_CLAIMS.intersection(n for n in names if n))
    else:
        subject = SdJwt(held.token, ()).unverified_payload().get("credentialSubject")
        keys = set(subject) if isinstance(subject, dict) else set()
        personal = sorted(_PERSONAL_CLAIMS.intersection(keys))
    if personal:
        warnings.append(f"it contains personal data: {', '.join(personal)}")
    return warnings


@app.command("export")
@_guard
def export(
    credential_id: Annotated[
        str | None,
        typer.Argument(help="One credential to write in the clear (with --clear); none: all."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="The file to write (the archive: required; a credential: stdout)."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Write the one credential unencrypted.")
    ] = False,
    archive_passphrase_file: ArchivePassphraseFileOption = None,
    scrypt_n: Annotated[int, typer.Option(hidden=True, help="scrypt cost (tests: 16384).")] = 2**17,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Export the whole wallet as an encrypted archive (identities with their keys, every
    credential) under an archive passphrase — written atomically, mode 0600 — or one
    credential in the clear.

      ancre wallet export --out acme-wallet.archive

      ancre wallet export cred-3f9a1c2b7d0e --clear --out legal-person.jwt
    """
    from ancre.trust.errors import Code, InvalidError
    from ancre.trust.keys.keystore import atomic_write
    from ancre.wallet.archive import export_archive
    from ancre.wallet.credentials import KIND, HeldCredential

    if credential_id is None:
        if clear:
            _die(EXIT_USAGE, "--clear exports one credential: name it (see `ancre wallet list`)")
        if out is None:
            _die(EXIT_USAGE, "the archive needs --out FILE")
        store = _open(wallet, passphrase_file)
        report = export_archive(
            store, out, _archive_passphrase(archive_passphrase_file, confirm=True),
            scrypt_n=scrypt_n,
        )  # fmt: skip
        if report.skipped_damaged:
            sys.stderr.write(
                f"warning: left out damaged records: {', '.join(report.skipped_damaged)}\n"
            )
        if json_out:
            _print_json(report.to_json())
        else:
            sys.stdout.write(
                f"wrote {out}: {report.identities} identities, {report.credentials} credentials"
                " (encrypted)\n"
            )
        return
    if not clear:
        _die(EXIT_USAGE, "one credential is exported in the clear only: add --clear")
    if not credential_id.startswith(KIND + "-"):
        raise InvalidError(Code.RECORD_NOT_FOUND, f"no credential {credential_id[:80]!r}")
    store = _open(wallet, passphrase_file)
    held = HeldCredential.from_record(credential_id, store.get(credential_id))
    warnings = _clear_warnings(held)
    for warning in warnings:
        sys.stderr.write(f"warning: {held.id} is written in the clear and {warning}\n")
    if out is not None:
        atomic_write(out, (held.token + "\n").encode("utf-8"), mode=0o600)
    if json_out:
        document: dict[str, Any] = {**held.to_json(), "warnings": warnings}
        if out is None:
            document["credential"] = held.token
        else:
            document["written_to"] = str(out)
        _print_json(document)
    elif out is None:
        sys.stdout.write(held.token + "\n")
    else:
        sys.stdout.write(f"wrote {out}\n")


def _read_import(source: str) -> bytes:
    from ancre.wallet.archive import MAX_ARCHIVE_BYTES

    raw = _read_capped(None if source == "-" else source, MAX_ARCHIVE_BYTES, source)
    if len(raw) > MAX_ARCHIVE_BYTES:
        from ancre.trust.errors import Code, MalformedError

        raise MalformedError(
            Code.ARCHIVE_INVALID, f"{source}: over {MAX_ARCHIVE_BYTES // 2**20} MiB; nothing read"
        )
    return raw


def _credential_token(raw: bytes) -> str:
    """The credential in an imported file: a compact vc+jwt / SD-JWT VC, or an
    EnvelopedVerifiableCredential JSON object."""
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.errors import AncreError, Code, MalformedError
    from ancre.trust.jose.vc_jose import unenvelope

    if len(raw) > _MAX_IMPORT_CREDENTIAL_BYTES:
        raise MalformedError(Code.ARCHIVE_INVALID, "a credential over 1 MiB is not imported")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise MalformedError(
            Code.ARCHIVE_INVALID, "neither a wallet archive nor a credential (not UTF-8 text)"
        ) from None
    if text.startswith("{"):
        try:
            return unenvelope(loads_strict(text, what="credential"))
        except AncreError as error:
            raise MalformedError(
                Code.ARCHIVE_INVALID, f"neither a wallet archive nor a credential: {error}"
            ) from None
    if not text or any(c.isspace() for c in text) or text.count(".") < 2:
        raise MalformedError(
            Code.ARCHIVE_INVALID,
            "neither a wallet archive nor a credential (a compact vc+jwt or SD-JWT VC)",
        )
    return text


@app.command("import")
@_guard
def import_(
    source: Annotated[
        str, typer.Argument(help="A wallet archive or one credential: a file, or - for stdin.")
    ],
    identity: Annotated[
        str | None,
        typer.Option(
            help="A credential: the identity it is for (default: the one it is bound to)."
        ),
    ] = None,
    archive_passphrase_file: ArchivePassphraseFileOption = None,
    trusted_issuer: TrustedIssuerOption = None,
    insecure_loopback: InsecureLoopbackOption = False,
    ca_file: CaFileOption = None,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import an archive made by `export` (merged: what the wallet has already is kept) or
    one credential (vc+jwt, SD-JWT VC, or an EnvelopedVerifiableCredential), which is
    verified exactly as `receive` does before it is stored. Anything refused leaves the
    wallet unchanged.

      ancre wallet import acme-wallet.archive

      cat legal-person.jwt | ancre wallet import - --trusted-issuer did:web:registry.example
    """
    from ancre.trust.errors import AncreError, Code, InvalidError
    from ancre.trust.result import Status
    from ancre.wallet.archive import decrypt_archive, looks_like_archive, merge_records
    from ancre.wallet.credentials import (
        check_binding,
        credential_state,
        list_credentials,
        store_credential,
    )
    from ancre.wallet.identities import find_identity, list_identities

    raw = _read_import(source)
    store = _open(wallet, passphrase_file)
    if looks_like_archive(raw):
        try:
            records = decrypt_archive(
                raw, _archive_passphrase(archive_passphrase_file, confirm=False)
            )
        except AncreError as error:
            if error.code == Code.ARCHIVE_LOCKED:
                _die(EXIT_NOPERM, f"{error}; nothing was imported")
            raise
        report = merge_records(store, records)
        if json_out:
            _print_json({"kind": "archive", **report.to_json()})
        else:
            sys.stdout.write(
                f"imported {len(report.identities_added)} identities and "
                f"{len(report.credentials_added)} credentials"
                f" ({len(report.already_present)} already in the wallet)\n"
            )
        return
    token = _credential_token(raw)
    http = _http(insecure_loopback, ca_file)
    result = _checker(http, trusted_issuer).verify(token)
    if result.status is not Status.VALID:
        reasons = "; ".join(f"{e.code}: {e.message}" for e in result.errors) or "not valid"
        _die(
            EXIT_INDETERMINATE if result.status is Status.INDETERMINATE else EXIT_INVALID,
            f"credential_refused ({credential_state(result)}): {reasons}; nothing was stored",
        )
    candidates = [find_identity(store, identity)] if identity else list_identities(store)
    holder = None
    problems = []
    for candidate in candidates:
        try:
            check_binding(token, result, candidate)
        except InvalidError as error:
            problems.append(error.message)
            continue
        holder = candidate
        break
    if holder is None:
        raise InvalidError(
            Code.CREDENTIAL_REFUSED,
            "the credential is bound to none of the wallet's identities"
            + (f" ({problems[0]})" if len(problems) == 1 else "")
            + "; nothing was stored",
        )
    held, _ = list_credentials(store)
    same = [c for c in held if c.token == token]
    if same:
        stored = same[0]
        sys.stderr.write(f"{stored.id} is already in the wallet\n")
    else:
        stored = store_credential(store, token, result, holder, _clock().now())
    _report(
        json_out,
        {"kind": "credential", "already_present": bool(same), **stored.to_json()},
        f"{stored.id}: {', '.join(stored.types)} from {stored.issuer}\n",
    )


@app.command("delete")
@_guard
def delete(
    record_id: Annotated[
        str, typer.Argument(help="The credential (cred-…) or identity (id-…) to delete.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Delete a credential, or an identity that holds none (its private key is gone for
    good: export the wallet first if unsure). Asks for confirmation unless --yes.

      ancre wallet delete cred-3f9a1c2b7d0e

      ancre wallet delete id-0c1d2e3f4a5b --yes --json
    """
    from ancre.trust.errors import Code, InvalidError
    from ancre.wallet.credentials import KIND, HeldCredential, list_credentials
    from ancre.wallet.identities import Identity

    store = _open(wallet, passphrase_file)
    if record_id.startswith(KIND + "-"):
        held = HeldCredential.from_record(record_id, store.get(record_id))
        what = f"credential {held.id}: {', '.join(held.types)} from {held.issuer}"
    elif record_id.startswith("id-"):
        found = Identity.from_record(record_id, store.get(record_id))
        bound = [c.id for c in list_credentials(store)[0] if c.identity == found.id]
        if bound:
            raise InvalidError(
                Code.INVALID_STATE,
                f"identity {found.name} still holds {', '.join(bound)}: delete them first",
            )
        what = f"identity {found.name}: {found.did} (its private key is destroyed)"
    else:
        raise InvalidError(Code.RECORD_NOT_FOUND, f"no credential or identity {record_id[:80]!r}")
    if not yes:
        _confirm("Delete it?", "declined: nothing was deleted", shown=f"Delete {_cell(what)}")
    with store.writing():
        store.delete(record_id)
    _report(json_out, {"deleted": record_id, "what": what}, f"deleted {what}\n")


@app.command("onboard")
@_guard
def onboard(
    audience: Annotated[
        str,
        typer.Option(
            help="Who the bundle is for: the clearing house's or connector's URL or DID (`aud`)."
        ),
    ],
    profile: Annotated[str, typer.Option(help="The data space's profile: gaia-x.")] = "gaia-x",
    nonce: Annotated[
        str | None, typer.Option(help="The verifier's challenge (default: a random one).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the vp+jwt to this file (default: stdout).")
    ] = None,
    identity: Annotated[
        str | None,
        typer.Option(help="The participant identity (default: the LegalPerson's holder)."),
    ] = None,
    no_certifications: Annotated[
        bool, typer.Option("--no-certifications", help="Leave the certifications out.")
    ] = False,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Build the Gaia-X onboarding bundle: one vp+jwt (Loire shape) signed by the
    participant, enveloping its LegalPerson, its registration number(s), the Gaia-X
    terms-and-conditions credential it signs itself, and its certifications. When a required
    credential is missing, says which and where to get it (exit 1; --json lists them).

      ancre wallet onboard --profile gaia-x --audience https://compliance.example/v2 \\
          --out onboarding.vp.jwt
    """
    from ancre.trust.keys.keystore import atomic_write
    from ancre.wallet.onboard import IncompleteError, build_onboarding_bundle

    store = _open(wallet, passphrase_file)
    try:
        bundle = build_onboarding_bundle(
            store,
            audience=audience,
            clock=_clock(),
            nonce=nonce,
            profile=profile,
            identity_ref=identity,
            certifications=not no_certifications,
        )
    except IncompleteError as incomplete:
        if json_out:
            _print_json(
                {
                    "profile": profile,
                    "complete": False,
                    "code": incomplete.code.value,
                    "missing": [m.to_json() for m in incomplete.missing],
                }
            )
        sys.stderr.write("ancre: onboarding_incomplete: the wallet lacks\n")
        for m in incomplete.missing:
            sys.stderr.write(
                f"  - {m.item} ({' or '.join(m.accepted_types)}): {m.problem}\n"
                f"    get it from {m.where}\n"
            )
        raise typer.Exit(EXIT_INVALID) from None
    for warning in bundle.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if out is not None:
        atomic_write(out, (bundle.token + "\n").encode("utf-8"), mode=0o600)
    if json_out:
        document = {"complete": True, **bundle.to_json()}
        if out is not None:
            document["written_to"] = str(out)
        _print_json(document)
        return
    for c in bundle.credentials:
        sys.stderr.write(f"  + {', '.join(c['types'])} ({c['id'] or 'signed now'})\n")
    if out is None:
        sys.stdout.write(bundle.token + "\n")
    else:
        sys.stdout.write(f"wrote {out}: the onboarding presentation for {audience}\n")


# ---- pending (deferred issuance) -------------------------------------------------------


@app.command("pending")
@_guard
def pending(
    retry: Annotated[
        bool,
        typer.Option(
            "--retry",
            help="Poll the issuers for the requests that are due (their interval honoured).",
        ),
    ] = False,
    wait: Annotated[
        int,
        typer.Option(
            help="With --retry: keep polling up to this many seconds while some are pending."
        ),
    ] = 0,
    trusted_issuer: TrustedIssuerOption = None,
    insecure_loopback: InsecureLoopbackOption = False,
    ca_file: CaFileOption = None,
    wallet: WalletOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonOption = False,
) -> None:
    """The credential requests an issuer deferred (OpenID4VCI §9). With --retry, poll the
    due ones: what arrived is verified and stored, what is still pending is kept, what was
    refused or expired is dropped with the reason (exit 1 when something was dropped).

      ancre wallet pending

      ancre wallet pending --retry --wait 120 --json
    """
    from ancre.wallet.receiving import list_pending, retry_pending

    if not 0 <= wait <= 3600:
        _die(EXIT_USAGE, "--wait must be 0 to 3600 seconds")
    store = _open(wallet, passphrase_file)
    if not retry:
        found, damaged = list_pending(store)
        if json_out:
            _print_json({"pending": [p.to_json() for p in found], "damaged": damaged})
            return
        for item in found:
            sys.stdout.write(
                f"{item.id}  {item.configuration_id} ×{len(item.identities)} from "
                f"{item.credential_issuer}  since {item.created_at}, "
                f"next poll {item.not_before}\n"
            )
        for record_id in damaged:
            sys.stdout.write(f"{record_id}  DAMAGED (cannot be read)\n")
        return
    http = _http(insecure_loopback, ca_file)
    outcomes = retry_pending(
        store, http, _checker(http, trusted_issuer), _clock(), wait=float(wait)
    )
    if json_out:
        _print_json({"pending": outcomes})
    else:
        for outcome in outcomes:
            line = f"{outcome['id']}  {outcome['configuration_id']}: {outcome['outcome']}"
            if "reason" in outcome:
                line += f" ({outcome['reason']})"
            for got in outcome.get("credentials", []):
                line += f"\n  stored {got['id']}: {', '.join(got['types'])}"
            sys.stdout.write(line + "\n")
    if any(outcome["outcome"] in ("dropped", "refused") for outcome in outcomes):
        raise typer.Exit(EXIT_INVALID)
