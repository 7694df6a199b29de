"""Outbound HTTP for the wallet: every URL that comes from an offer, metadata or a request
object is untrusted and goes through the SSRF guard (`ancre.trust.net.guard`).

GETs use `ancre.trust.net.guard.fetch` (checked, pinned to the checked address, redirects
re-checked, size and time bounded). POSTs (token, nonce, credential, presentation
endpoints) are checked with `check_url` first, sent without following redirects, and read
within the same size limit; they are not pinned to the checked address (a DNS answer that
changes between check and connect is not caught there).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code, IndeterminateError, InvalidError
from ancre.trust.net.guard import NetworkPolicy, check_url, fetch

__all__ = ["Http", "HttpAnswer", "make_client", "network_policy"]

MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024


def network_policy(*, insecure_loopback: bool) -> NetworkPolicy:
    """The wallet's policy: public https only, or loopback too (tests, demos)."""
    return NetworkPolicy(
        allow_loopback=insecure_loopback,
        allow_http=insecure_loopback,
        max_bytes=MAX_RESPONSE_BYTES,
        timeout=10.0,
    )


def make_client(ca_file: Path | None) -> httpx.Client:
    """An HTTP client that trusts the system's CAs, or only `ca_file` (a PEM bundle)."""
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
    return httpx.Client(trust_env=False, follow_redirects=False, verify=verify, timeout=10.0)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A response: status, content type, body (bounded)."""

    status: int
    content_type: str
    body: bytes

    def json(self, what: str) -> Any:
        return loads_strict(self.body, what=what, max_bytes=MAX_RESPONSE_BYTES)


@dataclass(frozen=True, slots=True)
class Http:
    """The client and network policy every wallet exchange uses."""

    client: httpx.Client
    network: NetworkPolicy

    def get(self, url: str, *, accept: str = "application/json") -> HttpAnswer:
        result = fetch(url, client=self.client, policy=self.network, headers={"Accept": accept})
        ctype = result.headers.get("content-type", "").split(";")[0].strip().lower()
        return HttpAnswer(result.status, ctype, result.body)

    def get_json(self, url: str, what: str) -> dict[str, Any]:
        answer = self.get(url)
        if answer.status != 200:
            raise IndeterminateError(
                Code.NETWORK_ERROR, f"{what} at {url[:200]} answered HTTP {answer.status}"
            )
        document = answer.json(what)
        if not isinstance(document, dict):
            raise InvalidError(Code.MALFORMED_JSON, f"{what} is not a JSON object")
        return document

    def post(
        self,
        url: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        check_url(url, self.network)
        try:
            with self.client.stream(
                "POST",
                url,
                data=dict(form) if form is not None else None,
                json=json_body,
                headers={"Accept": "application/json", **(headers or {})},
                timeout=self.network.timeout,
            ) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.network.max_bytes:
                        raise InvalidError(
                            Code.RESPONSE_TOO_LARGE,
                            f"{url[:200]} answered more than {self.network.max_bytes} bytes",
                        )
                    chunks.append(chunk)
                ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
                return HttpAnswer(response.status_code, ctype, b"".join(chunks))
        except AncreError:
            raise
        except httpx.TimeoutException:
            raise IndeterminateError(
                Code.NETWORK_TIMEOUT, f"{url[:200]} did not answer in time"
            ) from None
        except (httpx.HTTPError, OSError) as error:
            raise IndeterminateError(
                Code.NETWORK_ERROR, f"POST {url[:200]} failed: {type(error).__name__}: {error}"
            ) from None
