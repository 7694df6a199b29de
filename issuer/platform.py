"""Several issuers in one deployment: an agency platform serving many issuing organizations.

A platform is a directory of issuer directories, each made by ``ancre issuer init --dir
PLATFORM/NAME --did did:web:HOST:issuers:NAME``. Every issuer keeps what it has alone — its
DID and signing keys (``keys.ancre``), its database (offers, single-use codes, access
tokens, nonces, status lists, VC-API clients, audit chain), its ``issuance.json`` and its
optional ``login.json`` — and one app serves them all, each under its own path (its public
URL's): ``/issuers/NAME/token``, ``/.well-known/openid-credential-issuer/issuers/NAME``,
``/issuers/NAME/did.json``… A path no issuer owns is a 404; ``/health`` is the platform's.

Isolation follows from sharing nothing: a value one issuer handed out (pre-authorized code,
access token, c_nonce, API key, credential id) is unknown in another's database, and
another's key signs nothing. What would make issuers share — the same path, DID, DID
document, database or key store — is refused before any of them is opened
(:func:`check_platform`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ancre.issuer.api import (
    add_readiness,
    did_document_path,
    guard,
    include_issuer,
    issuer_prefix,
    new_app,
)
from ancre.issuer.config import CONFIG_FILE, KEYSTORE_FILE, IssuerConfig
from ancre.trust.errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ancre.issuer.api import IssuerSettings

__all__ = ["LOGIN_FILE", "check_platform", "create_platform_app", "platform_members"]

#: In an issuer directory of a platform: its login bridge configuration (docs/proconnect.md),
#: optional. A single issuer is given it with ``serve --login FILE``.
LOGIN_FILE: Final = "login.json"
_MAX_MEMBERS: Final = 1000


def platform_members(directory: Path) -> tuple[Path, ...] | None:
    """The issuer directories of the platform `directory`, sorted by name; None when
    `directory` is itself an issuer. Sub-directories that hold no ``issuer.json`` (and
    hidden ones) are not issuers and are passed over; a directory with no issuer at all, or
    that is an issuer and holds issuers too, is refused."""
    try:
        children = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        raise ConfigurationError(
            f"{directory} does not exist: create an issuer with "
            f"`ancre issuer init --dir {directory} --did …`"
        ) from None
    except NotADirectoryError:
        raise ConfigurationError(f"{directory} is not a directory") from None
    members = tuple(p for p in children if (p / CONFIG_FILE).is_file())
    if (directory / CONFIG_FILE).is_file():
        if members:
            # Serving only one of the two readings would leave issuers silently offline.
            raise ConfigurationError(
                f"{directory} is an issuer and also holds issuers ({members[0].name}…): "
                "keep a platform's issuers in a folder that is not itself an issuer"
            )
        return None
    if not members:
        raise ConfigurationError(
            f"{directory} is neither an issuer nor a platform of issuers: create one with "
            f"`ancre issuer init --dir {directory}[/NAME] --did …`"
        )
    if len(members) > _MAX_MEMBERS:
        raise ConfigurationError(f"{directory}: more than {_MAX_MEMBERS} issuers")
    return members


@dataclass(frozen=True, slots=True)
class _Claims:
    """What one issuer of a platform must have to itself."""

    name: str
    prefix: str
    did: str
    did_document: str
    database: str
    key_store: Path | None
    #: The PKCS#11 keys (module, token label, key label) of an issuer whose keys are in a
    #: token: two issuers in one token must not name the same key pair.
    token_keys: frozenset[tuple[str, str, str]] = frozenset()


def _database_key(config: IssuerConfig) -> str:
    """The database an issuer's URL names: a SQLite file by its resolved path (two spellings
    of one file are one database), any other URL as written."""
    url = config.database_url()
    if url.startswith("sqlite:///"):
        return "sqlite:" + str(Path(url.removeprefix("sqlite:///")).resolve())
    return url


def _claims(name: str, config: IssuerConfig, public_url: str | None) -> _Claims:
    url = public_url or config.public_url
    store = config.directory / KEYSTORE_FILE
    return _Claims(
        name=name,
        prefix=issuer_prefix(url),
        did=config.did,
        did_document=did_document_path(config.did),
        database=_database_key(config),
        key_store=store.resolve() if store.exists() else None,
        token_keys=frozenset(
            (config.pkcs11.module, config.pkcs11.token_label, key.name) for key in config.keys
        )
        if config.pkcs11 is not None
        else frozenset(),
    )


def _nested(outer: str, inner: str) -> bool:
    """Whether the path `inner` lies under (or is) the path `outer`."""
    return inner == outer or inner.startswith(outer + "/")


def check_platform(members: Iterable[tuple[str, IssuerConfig, str | None]]) -> None:
    """Refuse a platform whose issuers would share anything that identifies or isolates
    them: `members` are (name, configuration, public URL override or None). Two issuers may
    not share a DID, a DID document path, a database or a key store, and no issuer's path
    may be another's or lie under it (one at the root of its host shares it with all)."""
    claims = [_claims(name, config, url) for name, config, url in members]
    problems: list[str] = []
    for i, first in enumerate(claims):
        for second in claims[i + 1 :]:
            problems.extend(_clashes(first, second))
    if problems:
        raise ConfigurationError("these issuers cannot be served together: " + "; ".join(problems))


def _clashes(a: _Claims, b: _Claims) -> list[str]:
    pair = f"{a.name} and {b.name}"
    found: list[str] = []
    if _nested(a.prefix, b.prefix) or _nested(b.prefix, a.prefix):
        where = a.prefix or b.prefix or "/"
        if a.prefix == b.prefix:
            found.append(f"{pair} have the same path {where!r}")
        else:
            found.append(
                f"{pair} have nested paths ({a.prefix or '/'!r}, {b.prefix or '/'!r}): give "
                "each issuer its own path, did:web:HOST:issuers:NAME"
            )
    if a.did == b.did:
        found.append(f"{pair} have the same DID {a.did}")
    elif a.did_document == b.did_document:
        found.append(f"{pair} publish their DID documents at the same path {a.did_document!r}")
    if a.database == b.database:
        found.append(f"{pair} share one database: each issuer needs its own")
    if a.key_store is not None and a.key_store == b.key_store:
        found.append(f"{pair} share one key store ({a.key_store})")
    shared = sorted(label for _, _, label in a.token_keys & b.token_keys)
    if shared:
        found.append(f"{pair} share PKCS#11 key pairs ({', '.join(shared)}): one label each")
    return found


def create_platform_app(members: Sequence[IssuerSettings]) -> FastAPI:
    """One app serving every issuer of `members` under its own path; refused
    (``ConfigurationError``) when two would share a path, DID, database or key store."""
    if not members:
        raise ConfigurationError("a platform needs at least one issuer")
    check_platform(
        (s.issuer.config.directory.name or s.issuer.did, s.issuer.config, s.issuer.public_url)
        for s in members
    )
    app = new_app()
    for settings in members:
        include_issuer(app, settings)
    guard(app, members)
    add_readiness(app, members)
    return app
