"""The authorization-code grant, wallet side (OpenID4VCI 1.0 §5, RFC 6749 §4.1, PKCE RFC
7636 S256, RFC 8252 loopback redirect, RFC 9207 ``iss``).

The wallet is a *public client without registration* (OpenID4VCI §5.1: a ``client_id``
only, no secret). ancre's issuer accepts any printable ``client_id`` and binds the code to
it, to the ``redirect_uri`` and to the PKCE challenge; the wallet calls itself
``ancre-wallet`` unless told otherwise (``--client-id``, for an issuer that registers its
wallets).

Steps: a listener on ``127.0.0.1`` (a random port, path ``/callback``) → the authorization
request URL (``authorization_details`` of type ``openid_credential`` naming the chosen
configuration, the offer's ``issuer_state``, a fresh ``state`` and PKCE challenge) opened in
a browser or printed → the listener waits (bounded) for the browser to come back: a hit
without the right ``state`` gets 400 and is ignored; the first hit with it ends the wait
and the listener closes → an ``error`` there is the issuer's refusal; the ``iss`` (when
the authorization server says it sends one) must be the server's → the code is exchanged
at the token endpoint with the verifier.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import Code, IndeterminateError, InvalidError

from .http import Http
from .oid4vci import Offer, token_from

__all__ = ["DEFAULT_CLIENT_ID", "LoopbackAuthorizer", "pkce_pair"]

DEFAULT_CLIENT_ID: Final = "ancre-wallet"
CALLBACK_PATH: Final = "/callback"
_MAX_QUERY: Final = 8192
_PAGE_DONE: Final = (
    b"<!doctype html><meta charset=utf-8><title>ancre wallet</title>"
    b"<p>Done: you may close this window and go back to the terminal.</p>"
)
_PAGE_BAD: Final = (
    b"<!doctype html><meta charset=utf-8><title>ancre wallet</title>"
    b"<p>This is not the answer the wallet is waiting for.</p>"
)


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (43 characters of base64url, 256 bits) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _Catch:
    """What the listener waits for: one request to CALLBACK_PATH with `state`."""

    state: str
    params: dict[str, str] | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _handler(catch: _Catch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a browser that connects and says nothing does not hold the wallet

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = _single_values(parts.query) if len(parts.query) <= _MAX_QUERY else None
            if (
                catch.done.is_set()
                or parts.path != CALLBACK_PATH
                or params is None
                or not secrets.compare_digest(params.get("state", ""), catch.state)
            ):
                self._answer(400, _PAGE_BAD)
                return
            catch.params = params
            self._answer(200, _PAGE_DONE)
            catch.done.set()

        def _answer(self, status: int, page: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            return  # nothing on stderr: the query carries the code

    return Handler


def _single_values(query: str) -> dict[str, str] | None:
    """The query's parameters, each once (RFC 6749 §3.1), else None."""
    try:
        parsed = parse_qs(query, strict_parsing=bool(query), max_num_fields=16)
    except ValueError:
        return None
    if any(len(values) != 1 for values in parsed.values()):
        return None
    return {name: values[0] for name, values in parsed.items()}


@dataclass(frozen=True, slots=True)
class LoopbackAuthorizer:
    """Runs the grant for `ancre.wallet.oid4vci.obtain` (an ``Authorizer``). `show` gets the
    authorization URL (the CLI opens a browser and/or prints it)."""

    http: Http
    show: Callable[[str], None]
    client_id: str = DEFAULT_CLIENT_ID
    timeout: float = 300.0

    def __call__(self, offer: Offer, as_metadata: Mapping[str, Any], chosen: str) -> str:
        endpoint = as_metadata.get("authorization_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise InvalidError(
                Code.OFFER_INVALID, "the authorization server has no authorization_endpoint"
            )
        verifier, challenge = pkce_pair()
        catch = _Catch(secrets.token_urlsafe(24))
        server = HTTPServer(("127.0.0.1", 0), _handler(catch))
        server.timeout = 0.2
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": catch.state,
            "authorization_details": dumps_compact(
                [{"type": "openid_credential", "credential_configuration_id": chosen}]
            ),
        }
        issuer_state = (offer.authorization_code or {}).get("issuer_state")
        if isinstance(issuer_state, str):
            query["issuer_state"] = issuer_state
        separator = "&" if urlsplit(endpoint).query else "?"
        try:
            self.show(endpoint + separator + urlencode(query))
            deadline = time.monotonic() + self.timeout
            while not catch.done.is_set():
                if time.monotonic() >= deadline:
                    raise IndeterminateError(
                        Code.NETWORK_TIMEOUT,
                        f"no answer from the browser within {self.timeout:.0f} s",
                    )
                server.handle_request()
        finally:
            server.server_close()
        return self._exchange(catch.params or {}, as_metadata, redirect_uri, verifier)

    def _exchange(
        self,
        params: Mapping[str, str],
        as_metadata: Mapping[str, Any],
        redirect_uri: str,
        verifier: str,
    ) -> str:
        issuer = str(as_metadata.get("issuer", ""))
        advertised = as_metadata.get("authorization_response_iss_parameter_supported") is True
        if advertised and params.get("iss", "").rstrip("/") != issuer.rstrip("/"):
            raise InvalidError(
                Code.ISSUER_REFUSED,
                "the authorization response's iss is not the authorization server "
                "(RFC 9207: a mix-up?)",
            )
        if "error" in params:
            detail = params.get("error_description", "")
            raise InvalidError(
                Code.ISSUER_REFUSED,
                f"the authorization was refused: {params['error'][:80]}"
                + (f": {detail[:300]}" if detail else ""),
            )
        code = params.get("code")
        if not code or len(code) > 2048:
            raise InvalidError(Code.ISSUER_REFUSED, "the authorization response has no code")
        endpoint = as_metadata.get("token_endpoint")
        if not isinstance(endpoint, str):
            raise InvalidError(Code.OFFER_INVALID, "the authorization server has no token_endpoint")
        answer = self.http.post(
            endpoint,
            form={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
            },
        )
        return token_from(answer)
