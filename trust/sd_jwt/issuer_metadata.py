"""Keys of SD-JWT VC issuers identified by an https URL (SD-JWT VC draft, "JWT VC Issuer
Metadata"; later drafts "SD-JWT VC Issuer Metadata").

An SD-JWT VC whose `iss` is an https URL names no DID: its key comes from the issuer's
metadata, ``/.well-known/jwt-vc-issuer`` inserted between the host and the path of `iss`
(``https://issuer.example/tenant/1`` → ``https://issuer.example/.well-known/jwt-vc-issuer/tenant/1``),
whose ``issuer`` must be `iss` exactly and which carries the keys inline (``jwks``) or by
reference (``jwks_uri``, not both), or from an ``x5c`` chain that validates to the
verifier's trust anchors and whose leaf names the host of `iss` (a dNSName) or `iss` itself.

Every fetch goes through the SSRF guard (:mod:`ancre.trust.net.guard`), and answers are
cached per issuer as HTTP caching allows (bounded in time and entries). The verdict does not
depend on whether the header names a `kid`: with one key in the set it is used either way;
with several, a `kid` picks one and its absence is `ambiguous_key` (indeterminate), as for
a DID with several keys.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code, IndeterminateError, InvalidError, MalformedError
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.net.guard import Freshness, NetworkPolicy, fetch, freshness
from ancre.trust.steps import resolve_key

if TYPE_CHECKING:
    from datetime import datetime

    import httpx

    from ancre.trust.clock import Clock
    from ancre.trust.did.document import DidResolver
    from ancre.trust.steps import KeySource
    from ancre.trust.x509.chain import X5cKeySource

__all__ = ["IssuerMetadataKeys", "metadata_url"]

WELL_KNOWN: Final = "/.well-known/jwt-vc-issuer"
#: The `typ` values of SD-JWT VCs: only their `iss` is looked up this way.
SD_JWT_VC_TYPES: Final = frozenset({"dc+sd-jwt", "vc+sd-jwt"})
MAX_KEYS: Final = 32


def metadata_url(issuer: str) -> str:
    """Where the metadata of `issuer` (an https URL) is: the well-known path inserted
    between its host and its path. A URL with a query, fragment or user info is refused."""
    parts = urlsplit(issuer)
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise InvalidError(
            Code.INVALID_ISSUER_METADATA,
            f"issuer {issuer[:200]!r} is not an https URL without query or fragment",
        )
    return f"https://{parts.netloc}{WELL_KNOWN}{parts.path.rstrip('/')}"


def _invalid(message: str) -> InvalidError:
    return InvalidError(Code.INVALID_ISSUER_METADATA, message)


def _jwks(value: Any, where: str) -> list[dict[str, Any]]:
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise _invalid(f"{where}: a JWK Set is an object whose `keys` is an array of JWKs")
    if len(keys) > MAX_KEYS:
        raise _invalid(f"{where}: {len(keys)} keys, the limit is {MAX_KEYS}")
    return keys


class IssuerMetadataKeys:
    """A `KeySource`: SD-JWT VCs (`typ` ``dc+sd-jwt``/``vc+sd-jwt``) whose `iss` is an https
    URL get their key from an ``x5c`` chain (when `x5c` validates them: trust anchors are
    configured) or from the issuer's metadata; everything else goes to `fallback` (the DID
    resolver, or the ``x5c`` key source in front of it)."""

    def __init__(
        self,
        fallback: DidResolver | KeySource,
        *,
        client: httpx.Client | Callable[[], httpx.Client],
        network: NetworkPolicy | None,
        clock: Clock,
        x5c: X5cKeySource | None = None,
        default_ttl: int = 300,
        max_ttl: int = 86400,
        max_entries: int = 256,
    ) -> None:
        self._fallback = fallback
        self._client = client
        self._network = network or NetworkPolicy()
        self._clock = clock
        self._x5c = x5c
        self._ttl = (default_ttl, max_ttl)
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[list[dict[str, Any]], Freshness]] = OrderedDict()

    def key_for(
        self, controller: str, header: Mapping[str, Any], *, authentication: bool
    ) -> PublicKey:
        if header.get("typ") not in SD_JWT_VC_TYPES or not controller.startswith("https://"):
            return resolve_key(header, controller, self._fallback, authentication=authentication)
        if "x5c" in header and self._x5c is not None:
            return self._from_x5c(controller, header, self._x5c)
        kid = header.get("kid")
        if "kid" in header and (not isinstance(kid, str) or not kid):
            raise InvalidError(
                Code.INVALID_HEADER, "the JWS header's `kid` is not a non-empty string"
            )
        return _select(self._keys(controller), kid if isinstance(kid, str) else None, controller)

    @staticmethod
    def _from_x5c(issuer: str, header: Mapping[str, Any], x5c: X5cKeySource) -> PublicKey:
        chain = x5c.chain_for(header)
        host = urlsplit(issuer).hostname or ""
        # SD-JWT VC: "If the iss value contains an HTTPS URI, the DNS name in the iss value
        # MUST match a dNSName Subject Alternative Name (SAN) entry of the leaf certificate."
        if f"dns:{host}" not in chain.identities and issuer not in chain.identities:
            chain.require_identity(issuer)  # raises certificate_identity_mismatch
        return chain.public_key

    def _client_now(self) -> httpx.Client:
        import httpx

        client = self._client
        if not isinstance(client, httpx.Client):
            self._client = client = client()
        return client

    def _fetch_json(self, url: str, what: str) -> tuple[Any, Mapping[str, str]]:
        result = fetch(
            url,
            client=self._client_now(),
            policy=self._network,
            headers={"Accept": "application/json"},
            clock=self._clock,
        )
        if result.status != 200:
            raise IndeterminateError(
                Code.ISSUER_METADATA_UNAVAILABLE, f"{url} answered HTTP {result.status} for {what}"
            )
        try:
            return loads_strict(result.body, what=what), result.headers
        except MalformedError as exc:
            raise _invalid(f"{url}: {exc.message}") from None

    def _keys(self, issuer: str) -> list[dict[str, Any]]:
        now: datetime = self._clock.now()
        with self._lock:
            hit = self._cache.get(issuer)
            if hit is not None and hit[1].is_fresh(now):
                self._cache.move_to_end(issuer)
                return hit[0]
        url = metadata_url(issuer)
        metadata, headers = self._fetch_json(url, f"issuer metadata of {issuer}")
        if not isinstance(metadata, dict):
            raise _invalid(f"{url}: the issuer metadata is not a JSON object")
        if metadata.get("issuer") != issuer:
            # Otherwise one host could publish keys for another issuer's credentials.
            raise _invalid(f"{url}: its `issuer` is {metadata.get('issuer')!r}, not {issuer}")
        if ("jwks" in metadata) == ("jwks_uri" in metadata):
            raise _invalid(f"{url}: the metadata needs exactly one of `jwks` and `jwks_uri`")
        if "jwks" in metadata:
            keys = _jwks(metadata["jwks"], url)
        else:
            uri = metadata["jwks_uri"]
            if not isinstance(uri, str) or not uri.startswith("https://"):
                raise _invalid(f"{url}: `jwks_uri` must be an https URL")
            document, headers = self._fetch_json(uri, f"JWK Set of {issuer}")
            keys = _jwks(document, uri)
        fresh = freshness(
            headers, clock=self._clock, default_ttl=self._ttl[0], max_ttl=self._ttl[1]
        )
        with self._lock:
            if fresh.store and self._max_entries > 0:
                self._cache[issuer] = (keys, fresh)
                self._cache.move_to_end(issuer)
                while len(self._cache) > self._max_entries:
                    self._cache.popitem(last=False)
        return keys

    def invalidate(self, issuer: str | None = None) -> None:
        """Forget one issuer's keys (or every issuer's), e.g. after a known key rotation."""
        with self._lock:
            if issuer is None:
                self._cache.clear()
            else:
                self._cache.pop(issuer, None)


def _select(keys: list[dict[str, Any]], kid: str | None, issuer: str) -> PublicKey:
    usable = [k for k in keys if k.get("use", "sig") == "sig"]
    if kid is not None:
        usable = [k for k in usable if k.get("kid") == kid]
        if not usable:
            raise InvalidError(
                Code.VERIFICATION_METHOD_NOT_FOUND,
                f"the issuer metadata of {issuer} has no signing key {kid!r}",
            )
    if not usable:
        raise InvalidError(
            Code.VERIFICATION_METHOD_NOT_FOUND,
            f"the issuer metadata of {issuer} has no signing key",
        )
    if len(usable) > 1:
        named = f"named {kid!r} " if kid is not None else ""
        raise IndeterminateError(
            Code.AMBIGUOUS_KEY,
            f"the issuer metadata of {issuer} has {len(usable)} signing keys {named}and the JWS "
            "does not say which one signed",
        )
    jwk = {k: v for k, v in usable[0].items() if k not in ("alg", "kid", "use", "key_ops")}
    try:
        return PublicKey.from_jwk(jwk)
    except AncreError as exc:
        raise _invalid(f"the issuer metadata of {issuer}: {exc.message}") from None
