"""The accreditation check: an issuer issues only the credential types the registry's
published trust list accredits it for.

The list is fetched and verified by the trust core's :class:`TrustListClient` (signature by
the configured registry DID, rollback memory, last good list kept until its NextUpdate).
An issuer started without a list must say so explicitly (``--no-accreditation-check``):
nothing in the library turns the check off by default without the caller asking.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ancre.issuer.service import Issuer, IssuerError
from ancre.issuer.templates import Template
from ancre.trust.clock import Clock
from ancre.trust.errors import AncreError, Code, ConfigurationError

__all__ = [
    "ISSUANCE_FILE",
    "Accreditation",
    "AccreditedIssuer",
    "IssuanceConfig",
    "load_issuance",
    "open_accreditation",
    "save_issuance",
    "warn_unchecked",
]

#: Next to ``issuer.json``: how this issuer issues over the VC-API and where its
#: accreditation is published. A file of its own, so that the issuer's settings file keeps
#: its first-slice shape.
ISSUANCE_FILE: Final = "issuance.json"
_PROOFS: Final = ("vc+jwt", "DataIntegrityProof")

_LOG = logging.getLogger("ancre.issuer.accreditation")


class Accreditation:
    """Answers "may `did` issue `credential_type` now?" from a trust list.

    `trust_list` is anything with ``current()`` returning a verified ``TrustList``: a
    :class:`ancre.trust.trust_list.client.TrustListClient` in production."""

    def __init__(self, trust_list: Any, *, did: str, clock: Clock, source: str = "") -> None:
        self._trust_list = trust_list
        self._did = did
        self._clock = clock
        self.source = source

    def require(self, credential_type: str) -> None:
        """Raise ``IssuerError(not_accredited, 403)`` unless the list names this issuer as
        active for `credential_type` now; ``IssuerError(<trust-list code>, 503)`` when no
        verified, current list is available (fail closed: never issue on a guess)."""
        try:
            listed = self._trust_list.current()
        except AncreError as error:
            raise IssuerError(
                error.code,
                f"the accreditation cannot be checked ({error.message}); retry later",
                503,
            ) from None
        # Active both now and at the precision the credential will carry. Issuance times are
        # whole seconds: in the second its listing starts (listed at 10:00:00.2) a credential
        # stamped 10:00:00 would read, to every verifier, as issued before the listing and be
        # refused for ever, so refuse it here (the caller retries a second later). And now
        # itself: in the second after a suspension the whole second still reads as active.
        now = self._clock.now()
        for at in (now.replace(microsecond=0), now):
            if listed.is_trusted(self._did, credential_type, at):
                continue
            status = listed.status_at(self._did, credential_type, at)
            why = "is not listed" if status is None else f"is {status}"
            raise IssuerError(
                Code.NOT_ACCREDITED,
                f"{self._did} {why} for {credential_type} in trust list #{listed.sequence}"
                f" at {at.isoformat()}: this issuer is not accredited for it",
                403,
            )


class AccreditedIssuer(Issuer):
    """An :class:`Issuer` that checks its accreditation before every offer and issuance
    (OpenID4VCI and the library alike). The VC-API checks it too, through the same
    :class:`Accreditation`."""

    accreditation: Accreditation

    def __init__(self, *args: Any, accreditation: Accreditation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accreditation = accreditation

    def check_issuable(self, chosen: Template) -> None:
        # Every offer and issuance (immediate, batch or deferred) passes here: an operator
        # learns at the offer already, not from a wallet refused later.
        self.accreditation.require(chosen.credential_type)


def warn_unchecked(did: str) -> None:
    """Log, loudly, that an issuer runs without the accreditation check."""
    _LOG.warning(
        "ACCREDITATION CHECK DISABLED: %s will issue any credential type, accredited in the "
        "registry's trust list or not (--no-accreditation-check). Verifiers checking the "
        "trust list will refuse credentials of types it is not accredited for.",
        did,
    )


@dataclass(frozen=True, slots=True)
class IssuanceConfig:
    """``issuance.json``: the VC-API proof, and the registry's trust list (its URL — or a
    saved ``trust-list+jwt`` file — and the registry DID that signs it)."""

    vc_api_proof: str = "vc+jwt"
    trust_list: str | None = None
    registry: str | None = None
    #: The registry's key pinned by the operator (`--registry-key FILE`: a public JWK with
    #: its `kid`): the list must verify with it; None resolves the registry's DID.
    registry_jwk: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.vc_api_proof not in _PROOFS:
            raise ConfigurationError(
                f"the VC-API proof must be one of {', '.join(_PROOFS)}, not {self.vc_api_proof!r}"
            )
        if (self.trust_list is None) != (self.registry is None):
            raise ConfigurationError("give both the trust list and the registry DID, or neither")
        if self.registry is not None and not self.registry.startswith("did:"):
            raise ConfigurationError(f"the registry must be a DID, not {self.registry!r}")
        if self.registry_jwk is not None:
            if self.registry is None or not isinstance(self.registry_jwk, Mapping):
                raise ConfigurationError("a pinned registry key needs its registry DID")
            if "d" in self.registry_jwk:
                raise ConfigurationError("the pinned registry key must be public (no 'd')")

    def to_json(self) -> dict[str, Any]:
        return {
            "vc_api": {"proof": self.vc_api_proof},
            "accreditation": None
            if self.trust_list is None
            else {
                "trust_list": self.trust_list,
                "registry": self.registry,
                **({"registry_key": dict(self.registry_jwk)} if self.registry_jwk else {}),
            },
        }


def load_issuance(directory: Path) -> IssuanceConfig:
    """``DIR/issuance.json``; the defaults (``vc+jwt``, no trust list) when absent."""
    from ancre.trust.codec.json import loads_strict

    path = directory / ISSUANCE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return IssuanceConfig()
    try:
        data = loads_strict(raw[: 64 * 1024 + 1], what=str(path))
        accreditation = data.get("accreditation") or {}
        return IssuanceConfig(
            vc_api_proof=str(data.get("vc_api", {}).get("proof", "vc+jwt")),
            trust_list=accreditation.get("trust_list"),
            registry=accreditation.get("registry"),
            registry_jwk=accreditation.get("registry_key"),
        )
    except AncreError as error:
        raise ConfigurationError(f"{path}: {error.message}") from None
    except (AttributeError, TypeError) as error:
        raise ConfigurationError(f"{path} is not a valid issuance configuration: {error}") from None


def save_issuance(directory: Path, config: IssuanceConfig) -> None:
    """Write ``DIR/issuance.json`` atomically."""
    from ancre.trust.keys.keystore import atomic_write

    text = json.dumps(config.to_json(), indent=2) + "\n"
    atomic_write(directory / ISSUANCE_FILE, text.encode(), mode=0o644)


def open_accreditation(
    *,
    did: str,
    trust_list: str,
    registry: str,
    clock: Clock,
    cache_dir: Path,
    allow_loopback: bool = False,
    registry_jwk: Mapping[str, Any] | None = None,
) -> Accreditation:
    """An :class:`Accreditation` over a :class:`TrustListClient` for `trust_list` (a URL or
    a saved file) signed by `registry`. The verified list is cached in `cache_dir`, so a
    restarted issuer keeps answering while the registry is briefly down (until the list's
    NextUpdate). `allow_loopback` lets a test registry on 127.0.0.1 (plain http) be used;
    `registry_jwk` pins the registry's key (else its DID is resolved)."""
    import httpx

    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.steps import PinnedKeys
    from ancre.trust.trust_list.client import TrustListClient

    network = (
        NetworkPolicy(allow_loopback=True, allow_http=True) if allow_loopback else NetworkPolicy()
    )
    http = httpx.Client(trust_env=False, timeout=10)
    resolver = default_resolver(http_client=http, network=network, clock=clock)
    cache_dir.mkdir(parents=True, exist_ok=True)
    client = TrustListClient(
        trust_list,
        registry=registry,
        resolver=resolver if registry_jwk is None else PinnedKeys({registry: [registry_jwk]}),
        clock=clock,
        http_client=http,
        network=network,
        cache_dir=str(cache_dir),
    )
    return Accreditation(client, did=did, clock=clock, source=trust_list)
