"""An issuer's configuration directory: ``issuer.json``, ``keys.ancre``, ``issuer.db``.

``issuer.json`` holds the DID, the public URL (the OpenID4VCI credential issuer identifier),
the database URL (``{dir}`` stands for the directory), the signing keys (current and retired,
by key-store name) and the limits of the OpenID4VCI flow. The private keys live only in the
encrypted key store (``ancre.trust.keys.keystore.FileKeyStore``) or, for an issuer made with
a PKCS#11 token (``issuer.json``'s ``pkcs11``: module and token label), only in that token
(``ancre.trust.keys.pkcs11.Pkcs11KeyStore``, each key's name its label): `open_key_store`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError

from ancre.trust.clock import Clock
from ancre.trust.did.web import did_web_to_url
from ancre.trust.errors import AncreError, ConfigurationError
from ancre.trust.keys.jwk import KeyType
from ancre.trust.keys.keystore import FileKeyStore, KeyStore, atomic_write
from ancre.trust.vcdm.model import parse_datetime_stamp

if TYPE_CHECKING:
    from ancre.issuer.x5c import CertifiedSigningKey

__all__ = [
    "CONFIG_FILE",
    "DATABASE_FILE",
    "KEYSTORE_FILE",
    "IssuerConfig",
    "KeyEntry",
    "Limits",
    "TokenConfig",
    "default_public_url",
    "init_issuer",
    "load_config",
    "open_key_store",
    "rotate_key",
    "save_config",
]

CONFIG_FILE: Final = "issuer.json"
KEYSTORE_FILE: Final = "keys.ancre"
DATABASE_FILE: Final = "issuer.db"
_MAX_CONFIG_BYTES: Final = 1024 * 1024
#: 2 MiB of 1-bit statuses: a list verifiers download and inflate.
_MAX_STATUS_ENTRIES: Final = 16 * 1024 * 1024
#: Key proofs in one credential request: the request body is limited (64 KiB) anyway.
_MAX_BATCH_SIZE: Final = 100


@dataclass(frozen=True, slots=True)
class Limits:
    """Lifetimes (seconds) and counts of the OpenID4VCI flow."""

    offer_lifetime: int = 600
    access_token_lifetime: int = 300
    nonce_lifetime: int = 300
    #: A key proof's ``iat`` may be this old (and this far in the future: clock skew).
    proof_max_age: int = 300
    proof_max_skew: int = 60
    tx_code_length: int = 6
    tx_code_attempts: int = 5
    status_list_entries: int = 131_072
    #: Signed status lists live this long (``validUntil``/``exp``) and are cached for ``ttl``.
    status_list_lifetime: int = 86_400
    status_list_ttl: int = 300
    #: At most this many key proofs (so credentials) in one credential request (OpenID4VCI
    #: §12.2.4 ``batch_credential_issuance.batch_size``; 1: no batch issuance).
    batch_size: int = 10
    #: Deferred issuance (§9): the ``interval`` a wallet waits between polls, and how long a
    #: request waits for an operator's decision and its credentials for the wallet.
    deferred_interval: int = 60
    deferred_lifetime: int = 30 * 86_400
    #: A wallet may notify (§11) about the credentials of one response this long after it.
    notification_lifetime: int = 86_400

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"limit {name} must be a positive integer")
        if not 4 <= self.tx_code_length <= 12:
            raise ConfigurationError("tx_code_length must be 4..12 digits")
        if self.status_list_entries > _MAX_STATUS_ENTRIES:
            raise ConfigurationError(f"status_list_entries may not exceed {_MAX_STATUS_ENTRIES}")
        if self.status_list_ttl >= self.status_list_lifetime:
            raise ConfigurationError("status_list_ttl must be shorter than its lifetime")
        if self.batch_size > _MAX_BATCH_SIZE:
            raise ConfigurationError(f"batch_size may not exceed {_MAX_BATCH_SIZE}")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A signing key: its key-store name, its verification method id, and when it was
    retired (None for the current key). Retired keys stay in the DID document so that
    credentials they signed keep verifying."""

    name: str
    kid: str
    created_at: str
    retired_at: str | None = None
    #: The X.509 chain certifying the key (``x5c``: base64 DER, leaf first, no root), sent
    #: in the header of what it signs; empty for a key known by its DID alone.
    x5c: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "name": self.name,
            "kid": self.kid,
            "created_at": self.created_at,
            "retired_at": self.retired_at,
        }
        if self.x5c:
            value["x5c"] = list(self.x5c)
        return value


#: A key's name is its verification method's fragment (and, in a token, its label).
_KEY_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The key types a PKCS#11 token key may be (``ancre.trust.keys.pkcs11``).
_TOKEN_KEY_TYPES: Final = ("ed25519", "p256")


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """The PKCS#11 token holding an issuer's keys: the module (an absolute path to the
    shared library) and the token's label. The PIN is never stored: it comes from the
    environment or a file when the token is opened."""

    module: str
    token_label: str

    def __post_init__(self) -> None:
        from ancre.trust.keys.pkcs11 import Pkcs11Ref

        Pkcs11Ref(self.module, self.token_label, "-")  # the same checks as the wallet's

    def to_json(self) -> dict[str, str]:
        return {"module": self.module, "token_label": self.token_label}


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """The parsed ``issuer.json`` of an issuer directory."""

    did: str
    public_url: str
    database: str
    key_type: str
    keys: tuple[KeyEntry, ...]
    limits: Limits = field(default_factory=Limits)
    directory: Path = Path()
    #: The PKCS#11 token holding the keys; None: the encrypted ``keys.ancre``.
    pkcs11: TokenConfig | None = None

    @property
    def current_key(self) -> KeyEntry:
        return next(k for k in self.keys if k.retired_at is None)

    def database_url(self) -> str:
        return self.database.replace("{dir}", str(self.directory.resolve()))

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "did": self.did,
            "public_url": self.public_url,
            "database": self.database,
            "key_type": self.key_type,
            "keys": [k.to_json() for k in self.keys],
            "limits": {name: getattr(self.limits, name) for name in Limits.__dataclass_fields__},
        }
        if self.pkcs11 is not None:
            value["pkcs11"] = self.pkcs11.to_json()
        return value


def _check_did(did: str) -> None:
    if not isinstance(did, str) or not did.startswith("did:web:"):
        raise ConfigurationError(f"the issuer DID must be a did:web, not {did!r}")
    try:
        did_web_to_url(did)
    except AncreError as error:
        raise ConfigurationError(f"invalid did:web {did!r}: {error.message}") from None


def _check_public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"the public URL must be an https URL, not {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("the public URL may not carry a query, fragment or user info")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigurationError("plain http is only for loopback test servers")
    return url.rstrip("/")


def default_public_url(did: str) -> str:
    """The credential issuer URL a did:web implies: its host and path, over https."""
    document = did_web_to_url(did)
    suffix = "/.well-known/did.json"
    if document.endswith(suffix):
        return document[: -len(suffix)]
    return document.removesuffix("/did.json")


def _key_type(value: str) -> str:
    allowed = ("ed25519", "p256", "p384")
    if value not in allowed:
        raise ConfigurationError(f"key type must be one of {', '.join(allowed)}, not {value!r}")
    return KeyType(value).value


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _stamp_up(moment: datetime) -> str:
    """`moment` rounded up to the whole second: credentials state whole seconds, so one
    signed earlier in the second a key is retired in keeps a time before the retirement."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return _stamp(moment)


def _not_an_issuer(directory: Path) -> str:
    """Why `directory` cannot be opened as an issuer; a platform (a folder of issuers,
    ``ancre.issuer.platform``) is told to name one of its issuers."""
    try:
        members = sorted(p.name for p in directory.iterdir() if (p / CONFIG_FILE).is_file())
    except OSError:
        members = []
    if members:
        shown = ", ".join(members[:5]) + (", …" if len(members) > 5 else "")
        return (
            f"{directory} is a platform of {len(members)} issuers ({shown}): name one, "
            f"--dir {directory / members[0]}"
        )
    return f"{directory} is not an issuer: run `ancre issuer init --dir {directory}` first"


def _stored_x5c(value: Any) -> tuple[str, ...]:
    """A key's stored chain, parsed strictly (whether its leaf certifies the key is checked
    by the issuer, which holds the key store)."""
    if value == []:
        return ()
    from ancre.trust.x509.chain import parse_x5c

    parse_x5c(value)
    return tuple(value)


def _stored_token(value: Any) -> TokenConfig | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"module", "token_label"}:
        raise ConfigurationError("pkcs11 must be an object with module and token_label")
    return TokenConfig(str(value["module"]), str(value["token_label"]))


def open_key_store(
    config: IssuerConfig,
    passphrase: Callable[[], str],
    pin: Callable[[], str],
    *,
    module: str | None = None,
) -> KeyStore:
    """The key store of `config`: its PKCS#11 token (`module` instead of the recorded one
    when given: the library's path on this machine; `pin` asked on first use), else the
    encrypted ``keys.ancre`` opened with `passphrase`."""
    if config.pkcs11 is None:
        return FileKeyStore(config.directory / KEYSTORE_FILE, passphrase())
    from ancre.trust.keys.pkcs11 import Pkcs11KeyStore

    return Pkcs11KeyStore(module or config.pkcs11.module, config.pkcs11.token_label, pin)


def load_config(directory: Path) -> IssuerConfig:
    """Read and check ``DIR/issuer.json``; ``ConfigurationError`` when it is not an issuer."""
    from ancre.trust.codec.json import loads_strict

    path = directory / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(_not_an_issuer(directory)) from None
    if len(raw) > _MAX_CONFIG_BYTES:
        raise ConfigurationError(f"{path} is too large")
    try:
        data = loads_strict(raw, what=str(path))
        keys = tuple(
            KeyEntry(
                name=str(k["name"]),
                kid=str(k["kid"]),
                created_at=str(k["created_at"]),
                retired_at=k.get("retired_at"),
                x5c=_stored_x5c(k.get("x5c", [])),
            )
            for k in data["keys"]
        )
        config = IssuerConfig(
            did=data["did"],
            public_url=_check_public_url(data["public_url"]),
            database=str(data["database"]),
            key_type=_key_type(data["key_type"]),
            keys=keys,
            limits=Limits(**data.get("limits", {})),
            directory=directory,
            pkcs11=_stored_token(data.get("pkcs11")),
        )
    except AncreError as error:
        raise ConfigurationError(f"{path}: {error.message}") from None
    except (KeyError, TypeError, AttributeError) as error:
        raise ConfigurationError(f"{path} is not a valid issuer configuration: {error}") from None
    _check_did(config.did)
    if sum(1 for k in keys if k.retired_at is None) != 1:
        raise ConfigurationError(f"{path}: exactly one signing key must be current")
    if any(not k.kid.startswith(config.did + "#") for k in keys):
        raise ConfigurationError(f"{path}: every key id must be a DID URL of {config.did}")
    for k in keys:
        # Published as the method's `revoked` in the DID document, where a value that is not
        # a dateTimeStamp would make verifiers refuse the whole document.
        if k.retired_at is not None:
            try:
                parse_datetime_stamp(k.retired_at, "retired_at")
            except AncreError as error:
                raise ConfigurationError(f"{path}: key {k.name}: {error.message}") from None
    return config


def save_config(config: IssuerConfig) -> None:
    """Write ``issuer.json`` atomically."""
    text = json.dumps(config.to_json(), indent=2, ensure_ascii=False) + "\n"
    atomic_write(config.directory / CONFIG_FILE, text.encode(), mode=0o644)


def init_issuer(
    directory: Path,
    *,
    did: str,
    passphrase: str,
    clock: Clock,
    key_type: str = "ed25519",
    public_url: str | None = None,
    database: str | None = None,
    limits: Mapping[str, int] | None = None,
    scrypt_n: int | None = None,
    certified: CertifiedSigningKey | None = None,
    token: tuple[TokenConfig, Callable[[], str]] | None = None,
    key_name: str = "signing-1",
) -> IssuerConfig:
    """Create an issuer in `directory`: encrypted key store with its first signing key,
    ``issuer.json`` and the migrated database. Everything is checked before anything is
    written; an existing issuer is never overwritten. With `certified` (a key and its
    ``x5c`` chain, checked by :func:`ancre.issuer.x5c.certified_key`) that key is imported
    instead of generating one, and `key_type` must be its type.

    With `token` (a PKCS#11 token and where its PIN comes from) there is no ``keys.ancre``
    and no passphrase: the signing key is the token's key pair labelled `key_name`,
    generated there (`key_type` p256 or ed25519) unless an HSM administrator made it
    beforehand. The token is opened before anything is written: a wrong PIN or a missing
    token leaves nothing behind."""
    from ancre.issuer.db import make_engine, migrate

    _check_did(did)
    kind = _key_type(key_type)
    if certified is not None and certified.key.key_type.value != kind:
        raise ConfigurationError(
            f"the certified key is {certified.key.key_type.value}, not the key type {kind}"
        )
    url = _check_public_url(public_url or default_public_url(did))
    checked_limits = Limits(**(limits or {}))
    database = database or "sqlite:///{dir}/" + DATABASE_FILE
    if not database.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise ConfigurationError("the database must be a sqlite:/// or postgresql+psycopg:// URL")
    if not _KEY_NAME.fullmatch(key_name):
        raise ConfigurationError(
            f"key name {key_name[:80]!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    if token is not None:
        if certified is not None:
            raise ConfigurationError(
                "a certified key (--key/--x5c) is a PEM file, not a token key: import it into "
                "the token with the token's tools and name its label instead"
            )
        if kind not in _TOKEN_KEY_TYPES:
            raise ConfigurationError(f"a PKCS#11 key is p256 or ed25519, not {kind}")
    elif not passphrase:
        raise ConfigurationError("set ANCRE_KEYSTORE_PASSPHRASE: the key store is encrypted")
    for name in (CONFIG_FILE, KEYSTORE_FILE):
        if (directory / name).exists():
            raise ConfigurationError(f"{directory} already holds an issuer ({name})")
    # A platform's issuers live in a folder that is not itself an issuer.
    if (directory.parent / CONFIG_FILE).is_file():
        raise ConfigurationError(f"{directory.parent} is an issuer: put this one beside it")
    if directory.is_dir() and any((p / CONFIG_FILE).is_file() for p in directory.iterdir()):
        raise ConfigurationError(f"{directory} holds issuers (a platform): name a new folder")
    config = IssuerConfig(
        did=did,
        public_url=url,
        database=database,
        key_type=kind,
        keys=(
            KeyEntry(
                key_name,
                f"{did}#{key_name}",
                _stamp(clock.now()),
                x5c=certified.x5c if certified is not None else (),
            ),
        ),
        limits=checked_limits,
        directory=directory,
        pkcs11=token[0] if token is not None else None,
    )
    if token is not None:
        from ancre.trust.keys.pkcs11 import Pkcs11KeyStore

        # The token first: the step a wrong PIN or a missing token refuses; a key it
        # generates is found again (same label) by a retried init.
        found = Pkcs11KeyStore(token[0].module, token[0].token_label, token[1]).ensure(
            key_name, kind
        )
        if found.key_type.value != kind:
            raise ConfigurationError(
                f"the token's key {key_name!r} is {found.key_type.value}, not {kind}"
            )
    directory.mkdir(parents=True, exist_ok=True)
    # The database first: the step most likely to fail (an unreachable PostgreSQL), and a
    # harmless one to repeat (migrations are idempotent); the key store and the settings
    # file, whose presence marks an issuer, come last.
    engine = make_engine(config.database_url())
    try:
        migrate(engine)
    except SQLAlchemyError as error:
        raise ConfigurationError(
            f"cannot set up the database: {error.__class__.__name__}"
        ) from None
    finally:
        engine.dispose()
    if token is None:
        options = {} if scrypt_n is None else {"scrypt_n": scrypt_n}
        store = FileKeyStore.create(directory / KEYSTORE_FILE, passphrase, **options)
        _add_key(store, key_name, kind, certified)
    save_config(config)
    return config


def _add_key(store: KeyStore, name: str, kind: str, certified: CertifiedSigningKey | None) -> None:
    if certified is None:
        store.generate(name, kind)
    else:
        store.import_private_jwk(name, certified.key.export_private_jwk())


def rotate_key(
    config: IssuerConfig,
    store: KeyStore,
    clock: Clock,
    certified: CertifiedSigningKey | None = None,
) -> IssuerConfig:
    """Generate a new current signing key (or import `certified`, a key and its ``x5c``
    chain) and retire the old one. The retired key stays a verification method (and
    ``assertionMethod``) of the DID document, with its retirement time as ``revoked``:
    credentials it signed before keep verifying, any it signs from then on are refused
    (``key_revoked``); the issuer never signs with it again. An issuer whose key is
    certified rotates to a certified key only: a bare key would drop the ``x5c`` its
    verifiers rely on."""
    if config.current_key.x5c and certified is None:
        raise ConfigurationError(
            "this issuer signs with an X.509-certified key: rotate to a new certified key "
            "(--key NEW.pem --x5c NEW_CHAIN.pem)"
        )
    if certified is not None and certified.key.key_type.value != config.key_type:
        raise ConfigurationError(
            f"the certified key is {certified.key.key_type.value}, not this issuer's "
            f"key type {config.key_type}"
        )
    now = _stamp_up(clock.now())
    taken = {info.name for info in store.list()}
    number = len(config.keys) + 1
    while f"signing-{number}" in taken:
        number += 1
    name = f"signing-{number}"
    _add_key(store, name, config.key_type, certified)
    keys = tuple(k if k.retired_at else replace(k, retired_at=now) for k in config.keys)
    chain = certified.x5c if certified is not None else ()
    rotated = replace(config, keys=(*keys, KeyEntry(name, f"{config.did}#{name}", now, x5c=chain)))
    save_config(rotated)
    return rotated
