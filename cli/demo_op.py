"""A minimal OpenID provider standing in for ProConnect, **for `ancre demo` only**.

The tests run the login bridge against the certified npm ``oidc-provider``; the demo needs
nothing but Python, so it brings this: discovery, JWKS, an authorization endpoint with a
login page (pick a test person), the token endpoint (``client_secret_post``, PKCE S256) and
a signed userinfo — ES256 with joserfc, ProConnect's claims (``siret``, ``usual_name``,
``idp_id``…) and ``acr`` values (shared/reference/proconnect.md). It keeps everything in
memory and trusts whoever clicks: never run it outside the demo.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

__all__ = ["PERSONS", "StandIn", "standin_app"]

CLIENT_ID: Final = "ancre-demo-bridge"
#: A test person: LA POSTE's director in the recorded register answer (the spec's
#: placeholder "John Dupont"), as ProConnect would describe him.
PERSONS: Final[dict[str, dict[str, Any]]] = {
    "john.dupont": {
        "acr": "eidas1",
        "claims": {
            "given_name": "John",
            "usual_name": "Dupont",
            "email": "john.dupont@laposte.example",
            "uid": "pci-1001",
            "siret": "35600000000048",
            "siren": "356000000",
            "idp_id": "proconnect-identite",
            "organization_label": "La Poste",
            "belonging_population": "agent",
        },
    }
}


@dataclass
class StandIn:
    """The provider's state: its URL, client secret, signing key and pending logins."""

    issuer: str
    redirect_uri: str
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    key: Any = None
    requests: dict[str, dict[str, str]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from joserfc.jwk import ECKey

        self.key = ECKey.generate_key("P-256", parameters={"kid": "demo-op", "use": "sig"})

    def sign(self, claims: dict[str, Any]) -> str:
        from joserfc import jwt

        return jwt.encode({"alg": "ES256", "kid": "demo-op", "typ": "JWT"}, claims, self.key)

    def metadata(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "userinfo_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": ["eidas1"],
            "claims_parameter_supported": True,
        }


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="fr"><meta charset="utf-8"><title>{title}</title>'
        f"<body><h1>{title}</h1>{body}</body></html>"
    )


def _login_page(request_id: str) -> str:
    options = "".join(
        f'<label><input type="radio" name="person" value="{html.escape(pid)}" checked> '
        f"{html.escape(p['claims']['given_name'])} {html.escape(p['claims']['usual_name'])}, "
        f"{html.escape(p['claims']['organization_label'])}</label>"
        for pid, p in PERSONS.items()
    )
    return _page(
        "ProConnect (demo stand-in)",
        '<p>A stand-in for ProConnect: choose who logs in.</p><form method="post" '
        f'action="/authorize/login"><input type="hidden" name="request" value="{request_id}">'
        f'{options}<button type="submit">Se connecter</button></form>',
    )


def standin_app(op: StandIn) -> Any:
    """The provider as an ASGI app."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    async def discovery(_: Request) -> Response:
        return JSONResponse(op.metadata())

    async def jwks(_: Request) -> Response:
        return JSONResponse({"keys": [op.key.as_dict(private=False)]})

    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        if params.get("client_id") != CLIENT_ID or params.get("redirect_uri") != op.redirect_uri:
            return HTMLResponse(_page("Erreur", "<p>unknown client</p>"), status_code=400)
        request_id = secrets.token_urlsafe(16)
        op.requests[request_id] = params
        return HTMLResponse(_login_page(request_id))

    async def login(request: Request) -> Response:
        form = await _form(request)
        params = op.requests.pop(str(form.get("request", "")), None)
        person = str(form.get("person", ""))
        if params is None or person not in PERSONS:
            return HTMLResponse(_page("Erreur", "<p>no such login</p>"), status_code=400)
        code = secrets.token_urlsafe(24)
        op.codes[code] = {**params, "person": person, "at": time.time()}
        query = {"code": code, "state": params.get("state", "")}
        return RedirectResponse(f"{op.redirect_uri}?{urlencode(query)}", status_code=303)

    async def token(request: Request) -> Response:
        form = await _form(request)
        grant = op.codes.pop(str(form.get("code", "")), None)
        if grant is None or not _client_ok(op, form, grant):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(_tokens(op, grant), headers={"Cache-Control": "no-store"})

    async def userinfo(request: Request) -> Response:
        access = request.headers.get("authorization", "").removeprefix("Bearer ")
        person = op.tokens.get(access)
        if person is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        claims = {**PERSONS[person]["claims"], "sub": _sub(person)}
        signed = op.sign({**claims, "iss": op.issuer, "aud": CLIENT_ID, "iat": int(time.time())})
        return Response(signed, media_type="application/jwt")

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize),
            Route("/authorize/login", login, methods=["POST"]),
            Route("/token", token, methods=["POST"]),
            Route("/userinfo", userinfo),
        ]
    )


async def _form(request: Any) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (small: a login form or a token request)."""
    body = await request.body()
    if len(body) > 16 * 1024:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace")))


def _sub(person: str) -> str:
    return hashlib.sha256(f"demo:{person}".encode()).hexdigest()


def _client_ok(op: StandIn, form: Any, grant: dict[str, Any]) -> bool:
    verifier = str(form.get("code_verifier", ""))
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return (
        form.get("client_id") == CLIENT_ID
        and secrets.compare_digest(str(form.get("client_secret", "")), op.client_secret)
        and form.get("redirect_uri") == grant.get("redirect_uri")
        and digest.rstrip(b"=").decode() == grant.get("code_challenge")
        and time.time() - grant["at"] < 60
    )


def _acr(person: str) -> str:
    """The person's authentication level: the bridge decides whether it is enough."""
    level: str = PERSONS[person]["acr"]
    return level


def _tokens(op: StandIn, grant: dict[str, Any]) -> dict[str, Any]:
    person = grant["person"]
    now = int(time.time())
    access = secrets.token_urlsafe(24)
    op.tokens[access] = person
    id_token = op.sign(
        {
            "iss": op.issuer, "sub": _sub(person), "aud": CLIENT_ID, "iat": now,
            "exp": now + 300, "nonce": grant.get("nonce", ""), "acr": _acr(person),
            "amr": ["pwd"], "idp_id": PERSONS[person]["claims"]["idp_id"],
        }
    )  # fmt: skip
    return {"access_token": access, "token_type": "Bearer", "expires_in": 60, "id_token": id_token}
