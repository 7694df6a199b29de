"""The registry's pages, for the people who look rather than read JSON.

Public, without login: the trust-list browser at ``/`` (the list's sequence, issue time and
next update, the trust anchors, the trusted issuers and the credential types each may issue)
and an issuer's page at ``/pages/issuer?did=…`` with its dated history as a timeline (the
issuer's own status and each credential type's, without the administrators who recorded
them, as ``GET /issuers/{did}``).

Behind login, the administrators' pending-approvals page (``/pages/admin/changes``): an
administrator logs in with the admin API token they hold (``/pages/admin/login``); the
session is a signed cookie (HttpOnly, Secure, SameSite=Strict, one hour) naming the token by
its SHA-256 digest, so a token revoked meanwhile ends the session at the next request.
Approve and reject are forms with a CSRF token, going through the service's
``Registry.approve`` / ``Registry.reject`` like the API: the two-person rule (the approver
must be another person than the requester, ``same_person``) and the audit log apply, and an
approval signs an audit checkpoint at once when the server holds the registry's key.

French by default, English with ``?lang=en`` or an ``Accept-Language`` preferring English.
Server-rendered Jinja2 (autoescaped), no script at all and the strict CSP, security headers
and stylesheet of ``ancre.web``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape

from ancre.trust.errors import AncreError, Code
from ancre.trust.keys.jwk import Signer
from ancre.trust.net.inbound import read_limited
from ancre.web import BASE_CSS, choose_language, mac, parse_form, security_headers

from .service import Registry, RegistryError, Role

__all__ = ["SESSION_COOKIE", "pages_router"]

PREFIX: Final = "/pages"
SESSION_COOKIE: Final = "ancre_registry_session"
SESSION_LIFETIME: Final = timedelta(hours=1)
_MAX_FORM: Final = 4096
_MAX_DID: Final = 2048
_HEADERS: Final = security_headers()

_TEXT: Final[Mapping[str, Mapping[str, str]]] = {
    "fr": {
        "language": "English",
        "colon": " : ",
        "title": "Liste de confiance",
        "intro": "Les ancres de confiance et les émetteurs de confiance de l'espace de données, "
        "tels que le registre les a enregistrés.",
        "published": "Liste publiée",
        "sequence": "Numéro de séquence",
        "issued_at": "Publiée le",
        "next_update": "Prochaine mise à jour au plus tard le",
        "not_published": "Aucune liste signée n'a encore été publiée.",
        "unpublished_note": "Les changements enregistrés après la dernière publication "
        "figurent dans la liste suivante.",
        "signed_list": "Liste signée (JWS)",
        "anchors": "Ancres de confiance",
        "no_anchors": "Aucune ancre de confiance.",
        "issuers": "Émetteurs de confiance",
        "no_issuers": "Aucun émetteur de confiance.",
        "name": "Nom",
        "identifier": "Identifiant",
        "status": "Statut",
        "x509": "Certificat racine X.509",
        "yes": "oui",
        "no": "non",
        "accredited_by": "Accrédité par",
        "types": "Types d'attestation autorisés",
        "registration_number": "Numéro d'immatriculation",
        "issuer_title": "Émetteur",
        "history": "Historique daté",
        "subject": "Objet",
        "the_issuer": "l'émetteur",
        "reason": "Motif",
        "back": "Retour à la liste de confiance",
        "admin": "Espace administrateurs",
        "login_title": "Connexion des administrateurs",
        "login_intro": "Saisissez le jeton d'API d'administration qui vous a été remis. "
        "Il n'est jamais affiché ni conservé par le navigateur.",
        "token": "Jeton d'administration",
        "login": "Se connecter",
        "logout": "Se déconnecter",
        "changes_title": "Changements en attente d'approbation",
        "changes_intro": "Règle des deux personnes : un changement sensible prend effet "
        "quand une autre personne que son demandeur l'approuve.",
        "logged_in_as": "Connecté en tant que",
        "role": "rôle",
        "no_changes": "Aucun changement en attente.",
        "change": "Changement",
        "requested_by": "Demandé par",
        "requested_at": "Demandé le",
        "approve": "Approuver",
        "reject": "Rejeter",
        "viewer_note": "Seul un administrateur de rôle approbateur peut décider.",
        "decided_approved": "Le changement {id} est approuvé et a pris effet.",
        "decided_rejected": "Le changement {id} est rejeté.",
        "error_title": "Demande refusée",
        "error_code": "Code",
        "go_back": "Revenir",
        "kind_add_anchor": "Ajout d'une ancre de confiance",
        "kind_anchor_status": "Statut d'une ancre de confiance",
        "kind_reinstate_issuer": "Rétablissement d'un émetteur",
        "kind_create_token": "Création d'un jeton d'administration",
        "kind_two_person_rule": "Règle des deux personnes",
        "status_active": "actif",
        "status_suspended": "suspendu",
        "status_withdrawn": "retiré",
        "status_none": "pas encore en vigueur",
    },
    "en": {
        "language": "Français",
        "colon": ": ",
        "title": "Trust list",
        "intro": "The data space's trust anchors and trusted issuers, as the registry "
        "recorded them.",
        "published": "Published list",
        "sequence": "Sequence number",
        "issued_at": "Published",
        "next_update": "Next update at the latest",
        "not_published": "No signed list has been published yet.",
        "unpublished_note": "Changes recorded after the last publication appear in the next list.",
        "signed_list": "Signed list (JWS)",
        "anchors": "Trust anchors",
        "no_anchors": "No trust anchor.",
        "issuers": "Trusted issuers",
        "no_issuers": "No trusted issuer.",
        "name": "Name",
        "identifier": "Identifier",
        "status": "Status",
        "x509": "X.509 root certificate",
        "yes": "yes",
        "no": "no",
        "accredited_by": "Accredited by",
        "types": "Credential types it may issue",
        "registration_number": "Registration number",
        "issuer_title": "Issuer",
        "history": "Dated history",
        "subject": "Subject",
        "the_issuer": "the issuer",
        "reason": "Reason",
        "back": "Back to the trust list",
        "admin": "Administrators",
        "login_title": "Administrators' login",
        "login_intro": "Enter the admin API token you were given. It is never shown or kept "
        "by the browser.",
        "token": "Admin token",
        "login": "Log in",
        "logout": "Log out",
        "changes_title": "Changes waiting for approval",
        "changes_intro": "Two-person rule: a sensitive change takes effect when someone other "
        "than its requester approves it.",
        "logged_in_as": "Logged in as",
        "role": "role",
        "no_changes": "No pending change.",
        "change": "Change",
        "requested_by": "Requested by",
        "requested_at": "Requested",
        "approve": "Approve",
        "reject": "Reject",
        "viewer_note": "Only an administrator with the approver role can decide.",
        "decided_approved": "Change {id} is approved and in effect.",
        "decided_rejected": "Change {id} is rejected.",
        "error_title": "Request refused",
        "error_code": "Code",
        "go_back": "Go back",
        "kind_add_anchor": "Add a trust anchor",
        "kind_anchor_status": "Trust anchor status",
        "kind_reinstate_issuer": "Reinstate an issuer",
        "kind_create_token": "Create an admin token",
        "kind_two_person_rule": "Two-person rule",
        "status_active": "active",
        "status_suspended": "suspended",
        "status_withdrawn": "withdrawn",
        "status_none": "not yet in force",
    },
}

#: A sentence per stable code the pages may answer with; others show the service's message.
_REASONS: Final[Mapping[str, Mapping[str, str]]] = {
    "same_person": {
        "fr": "Vous avez demandé ce changement : une autre personne doit l'approuver.",
        "en": "You requested this change: another person must approve it.",
    },
    "unauthorized": {
        "fr": "Ce jeton n'est pas valide, ou votre session a expiré.",
        "en": "This token is not valid, or your session has expired.",
    },
    "forbidden": {
        "fr": "Votre rôle ne permet pas cette action.",
        "en": "Your role does not allow this.",
    },
    "csrf_invalid": {
        "fr": "Le formulaire a expiré ou ne vient pas de ce site.",
        "en": "The form expired or does not come from this site.",
    },
    "not_found": {
        "fr": "Introuvable, ou déjà décidé.",
        "en": "Not found, or already decided.",
    },
}

CSS: Final = (
    BASE_CSS
    + """\
main{max-width:60rem}
.nav{display:flex;justify-content:space-between;flex-wrap:wrap;gap:.5rem 1.5rem;
max-width:60rem;margin:0 auto;padding:.75rem 1rem;border-bottom:1px solid #929292}
ul.cards{list-style:none;padding:0}
ul.cards>li{border:1px solid #929292;padding:0 1rem 1rem;margin:0 0 1rem}
dd ul{margin:0;padding-left:1.2rem}
@media (max-width:36rem){dl.summary{grid-template-columns:1fr}dl.summary dd{margin-bottom:.5rem}}
.did{word-break:break-all;font-family:monospace}
ol.timeline{list-style:none;padding:0;border-left:3px solid #000091;margin-left:.5rem}
ol.timeline li{padding:.25rem 0 .75rem 1rem}
.status{font-weight:700}
.notice{border:2px solid #18753c;padding:.5rem 1rem}
.problem{border:2px solid #ce0500;padding:.5rem 1rem}
label{display:block;font-weight:700}
input[type=password]{font-size:1rem;padding:.5rem;width:100%;max-width:30rem;
box-sizing:border-box}
.change{border:1px solid #929292;padding:0 1rem 1rem;margin:0 0 1rem}
"""
)

_BASE: Final = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} — ancre</title>
<link rel="stylesheet" href="/pages/static/registry.css">
</head>
<body>
<header>
<nav class="nav" aria-label="{{ t.title }}">
<a href="/?lang={{ lang }}">{{ t.title }}</a>
<a href="/pages/admin/changes?lang={{ lang }}">{{ t.admin }}</a>
<a href="{{ here }}{{ '&' if '?' in here else '?' }}lang={{ other }}" lang="{{ other }}">
{{- t.language }}</a>
</nav>
</header>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
"""

_STATUS: Final = """{% macro status(value) -%}
<span class="status">{{ t["status_" ~ (value or "none")] }}</span>
{%- endmacro %}"""

_BROWSER: Final = """{% extends "base" %}{% import "status" as s with context %}
{% block title %}{{ t.title }}{% endblock %}
{% block main %}
<h1>{{ t.title }} — {{ scheme }}</h1>
<p>{{ t.intro }} ({{ operator }})</p>
<h2>{{ t.published }}</h2>
{% if publication %}
<dl class="summary" id="publication">
<dt>{{ t.sequence }}</dt><dd id="sequence">{{ publication.sequence }}</dd>
<dt>{{ t.issued_at }}</dt><dd><time datetime="{{ publication.issued_at.isoformat() }}">
{{- when(publication.issued_at) }}</time></dd>
<dt>{{ t.next_update }}</dt><dd id="next-update"><time
 datetime="{{ publication.next_update.isoformat() }}">
{{- when(publication.next_update) }}</time></dd>
</dl>
<p>{{ t.unpublished_note }} <a href="/trust-list">{{ t.signed_list }}</a></p>
{% else %}<p id="sequence-none">{{ t.not_published }}</p>{% endif %}
<h2>{{ t.anchors }}</h2>
{% if anchors %}
<ul class="cards" id="anchors">
{% for a in anchors %}
<li><h3>{{ a.name }}</h3>
<dl class="summary">
<dt>{{ t.identifier }}</dt><dd class="did">{{ a.id }}</dd>
<dt>{{ t.status }}</dt><dd>{{ s.status(a.status) }}</dd>
<dt>{{ t.x509 }}</dt><dd>{{ t.yes if a.x509 else t.no }}</dd>
</dl></li>
{% endfor %}
</ul>
{% else %}<p>{{ t.no_anchors }}</p>{% endif %}
<h2>{{ t.issuers }}</h2>
{% if issuers %}
<ul class="cards" id="issuers">
{% for i in issuers %}
<li><h3><a href="/pages/issuer?{{ link(i.id) }}">{{ i.name }}</a></h3>
<dl class="summary">
<dt>{{ t.identifier }}</dt><dd class="did">{{ i.id }}</dd>
<dt>{{ t.status }}</dt><dd>{{ s.status(i.status) }}</dd>
<dt>{{ t.accredited_by }}</dt><dd class="did">{{ i.accredited_by }}</dd>
<dt>{{ t.types }}</dt><dd><ul>{% for ty in i.types -%}
<li>{{ ty.type }}{{ t.colon }}{{ s.status(ty.status) }}</li>
{% endfor %}</ul></dd>
</dl></li>
{% endfor %}
</ul>
{% else %}<p>{{ t.no_issuers }}</p>{% endif %}
{% endblock %}
"""

_ISSUER: Final = """{% extends "base" %}{% import "status" as s with context %}
{% block title %}{{ issuer.name }}{% endblock %}
{% block main %}
<h1>{{ t.issuer_title }}{{ t.colon }}{{ issuer.name }}</h1>
<dl class="summary">
<dt>{{ t.identifier }}</dt><dd class="did" id="issuer-did">{{ issuer.id }}</dd>
{% if issuer.registration_number %}<dt>{{ t.registration_number }}</dt>
<dd>{{ issuer.registration_number }}</dd>{% endif %}
<dt>{{ t.accredited_by }}</dt><dd class="did">{{ issuer.accredited_by }}</dd>
<dt>{{ t.status }}</dt><dd id="issuer-status">{{ s.status(issuer.status) }}</dd>
</dl>
<h2>{{ t.types }}</h2>
<ul id="types">{% for ty in issuer.types -%}
<li>{{ ty.type }}{{ t.colon }}{{ s.status(ty.status) }}</li>
{% endfor %}</ul>
<h2>{{ t.history }}</h2>
<ol class="timeline" id="timeline">
{% for e in timeline %}
<li><time datetime="{{ e.at.isoformat() }}">{{ when(e.at) }}</time> —
{{ e.subject if e.subject else t.the_issuer }}{{ t.colon }}{{ s.status(e.status) }}
{%- if e.reason %}. {{ t.reason }}{{ t.colon }}{{ e.reason }}{% endif %}</li>
{% endfor %}
</ol>
<p><a href="/?lang={{ lang }}">{{ t.back }}</a></p>
{% endblock %}
"""

_LOGIN: Final = """{% extends "base" %}
{% block title %}{{ t.login_title }}{% endblock %}
{% block main %}
<h1>{{ t.login_title }}</h1>
<p>{{ t.login_intro }}</p>
<form method="post" action="/pages/admin/login">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<label for="token">{{ t.token }}</label>
<input type="password" id="token" name="token" required autocomplete="off"
 spellcheck="false" maxlength="200">
<div class="actions"><button type="submit">{{ t.login }}</button></div>
</form>
{% endblock %}
"""

_CHANGES: Final = """{% extends "base" %}
{% block title %}{{ t.changes_title }}{% endblock %}
{% block main %}
<h1>{{ t.changes_title }}</h1>
<p>{{ t.logged_in_as }} <strong id="person">{{ person }}</strong> ({{ t.role }} {{ role }})</p>
<form method="post" action="/pages/admin/logout" class="actions">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<button type="submit" id="logout">{{ t.logout }}</button>
</form>
{% if notice %}<p class="notice" role="status" id="notice">{{ notice }}</p>{% endif %}
<p>{{ t.changes_intro }}</p>
{% if not approver %}<p>{{ t.viewer_note }}</p>{% endif %}
{% for c in changes %}
<section class="change" id="change-{{ c.id }}" aria-labelledby="change-{{ c.id }}-title">
<h2 id="change-{{ c.id }}-title">{{ t.change }} {{ c.id }}{{ t.colon }}{{ kind(c.kind) }}</h2>
<dl class="summary">
<dt>{{ t.requested_by }}</dt><dd class="requested-by">{{ c.requested_by }}</dd>
<dt>{{ t.requested_at }}</dt><dd><time datetime="{{ c.requested_at.isoformat() }}">
{{- when(c.requested_at) }}</time></dd>
{% for key, value in details(c) %}<dt>{{ key }}</dt><dd class="did">{{ value }}</dd>
{% endfor %}
</dl>
{% if approver %}
<form method="post" action="/pages/admin/changes/decide" class="actions">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<input type="hidden" name="change" value="{{ c.id }}">
<button type="submit" name="decision" value="approve"
 aria-label="{{ t.approve }}{{ t.colon }}{{ t.change }} {{ c.id }}">{{ t.approve }}</button>
<button type="submit" name="decision" value="reject"
 aria-label="{{ t.reject }}{{ t.colon }}{{ t.change }} {{ c.id }}">{{ t.reject }}</button>
</form>
{% endif %}
</section>
{% else %}
<p id="no-changes">{{ t.no_changes }}</p>
{% endfor %}
{% endblock %}
"""

_ERROR: Final = """{% extends "base" %}
{% block title %}{{ t.error_title }}{% endblock %}
{% block main %}
<h1>{{ t.error_title }}</h1>
<p class="problem">{{ reason }}</p>
<p>{{ t.error_code }}{{ t.colon }}<span class="error-code" id="error-code">{{ code }}</span></p>
<p><a href="{{ back }}">{{ t.go_back }}</a></p>
{% endblock %}
"""

_ENV: Final = Environment(
    loader=DictLoader(
        {
            "base": _BASE,
            "status": _STATUS,
            "browser": _BROWSER,
            "issuer": _ISSUER,
            "login": _LOGIN,
            "changes": _CHANGES,
            "error": _ERROR,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)


def _when(moment: datetime) -> str:
    """A time people read: UTC, to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def render(page: str, lang: str, here: str, **context: Any) -> str:
    """The HTML of `page` in `lang`; `here` is the page's own path (for the language link)."""
    t = _TEXT[lang]
    html: str = _ENV.get_template(page).render(
        lang=lang,
        other="en" if lang == "fr" else "fr",
        t=t,
        here=here,
        when=_when,
        kind=lambda k: t.get(f"kind_{k}", k),
        link=lambda did: urlencode({"did": did, "lang": lang}),
        **context,
    )
    return html


# ---- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Session:
    """A browser's session: `nonce` binds its CSRF tokens; `token` is the SHA-256 of the
    admin token it logged in with (None before login); `expires` a POSIX time."""

    nonce: str
    token: str | None
    expires: int


class _Sessions:
    def __init__(self, registry: Registry, secret: bytes) -> None:
        self.registry, self.secret = registry, secret

    def _now(self) -> int:
        return int(self.registry.clock.now().timestamp())

    def new(self, token: str | None = None) -> _Session:
        # A fresh nonce at every login: a session fixed before login is worth nothing after.
        lifetime = int(SESSION_LIFETIME.total_seconds())
        return _Session(secrets.token_urlsafe(24), token, self._now() + lifetime)

    def encode(self, session: _Session) -> str:
        payload = f"{session.nonce}.{session.token or '-'}.{session.expires}"
        return f"{payload}.{mac(self.secret, 'session:' + payload)}"

    def decode(self, value: str | None) -> _Session | None:
        import hmac

        if not value or len(value) > 300 or value.count(".") != 3:
            return None
        nonce, digest, expires, signature = value.split(".")
        payload = f"{nonce}.{digest}.{expires}"
        if not hmac.compare_digest(signature, mac(self.secret, "session:" + payload)):
            return None
        if not expires.isdigit() or int(expires) <= self._now():
            return None
        # "-": no token yet (before login).
        return _Session(nonce, None if digest == "-" else digest, int(expires))

    def csrf(self, session: _Session) -> str:
        return mac(self.secret, "csrf:" + session.nonce)

    def check_csrf(self, session: _Session | None, token: str) -> bool:
        import hmac

        return (
            session is not None and bool(token) and hmac.compare_digest(token, self.csrf(session))
        )

    def administrator(self, session: _Session | None) -> tuple[str, Role] | None:
        """The (person, role) of a logged-in session whose token is still unrevoked."""
        import hmac

        if session is None or session.token is None:
            return None
        for row in self.registry.tokens():
            if row.revoked_at is None and hmac.compare_digest(row.token_sha256, session.token):
                return row.person, Role(row.role)
        return None

    @staticmethod
    def cookie(value: str, max_age: int) -> str:
        return (
            f"{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; "
            "SameSite=Strict"
        )


class _RefusedError(Exception):
    """A refusal the pages answer with the error page: ancre's stable code and a status."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(code)
        self.code, self.status, self.message = code, status, message


def _require(ok: bool, code: Code, status: int, message: str = "") -> None:
    if not ok:
        raise _RefusedError(code.value, status, message)


def _decide(
    registry: Registry, signer: Signer | None, person: str, change_id: int, decision: str
) -> Any:
    """Approve or reject as `POST /admin/changes/{id}/approve|reject` do: the service
    enforces the two-person rule and audits; an approval signs a checkpoint at once."""
    try:
        if decision == "approve":
            change = registry.approve(person, change_id)
            if signer is not None:
                registry.checkpoint(signer)
            return change
        return registry.reject(person, change_id)
    except AncreError as error:
        status = error.http_status if isinstance(error, RegistryError) else 422
        raise _RefusedError(error.code.value, status, error.message) from None


def _issuer_row(registry: Registry, did: str) -> Any:
    _require(bool(did) and len(did) <= _MAX_DID and did.isprintable(), Code.INVALID_REQUEST,
             400, "a DID is expected")  # fmt: skip
    try:
        return registry.issuer(did)
    except RegistryError as error:
        raise _RefusedError(error.code.value, error.http_status, error.message) from None


# ---- the router -------------------------------------------------------------------------


def pages_router(
    registry: Registry, signer: Signer | None, secret: bytes | None = None
) -> APIRouter:
    """The pages (see the module's docstring). `secret` signs the session cookies and CSRF
    tokens (default: random, so sessions end when the process restarts)."""
    sessions = _Sessions(registry, secret or secrets.token_bytes(32))
    router = APIRouter(include_in_schema=False)

    def lang_of(request: Request, form: Mapping[str, str] | None = None) -> str:
        asked = (form or {}).get("lang") or request.query_params.get("lang")
        return choose_language(asked, request.headers.get("accept-language"))

    def page(
        name: str, lang: str, here: str, status: int = 200, cookie: str | None = None,
        **context: Any,
    ) -> HTMLResponse:  # fmt: skip
        response = HTMLResponse(render(name, lang, here, **context), status, headers=_HEADERS)
        if cookie is not None:
            response.headers["Set-Cookie"] = cookie
        return response

    def refused(lang: str, here: str, error: _RefusedError, back: str) -> HTMLResponse:
        reason = _REASONS.get(error.code, {}).get(lang) or error.message
        return page("error", lang, here, error.status, code=error.code, reason=reason, back=back)

    def redirect(url: str, cookie: str | None = None) -> Response:
        response = RedirectResponse(url, 303, headers=_HEADERS)
        if cookie is not None:
            response.headers["Set-Cookie"] = cookie
        return response

    async def form_of(request: Request) -> dict[str, str]:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise _RefusedError(Code.INVALID_REQUEST.value, 415, "a form is expected")
        raw = await read_limited(request, _MAX_FORM)
        _require(raw is not None, Code.INVALID_REQUEST, 413, "the form is too large")
        form = parse_form(raw or b"")
        _require(form is not None, Code.INVALID_REQUEST, 400, "the form is malformed")
        return form or {}

    def checked(request: Request, form: Mapping[str, str]) -> _Session:
        session = sessions.decode(request.cookies.get(SESSION_COOKIE))
        if session is None or not sessions.check_csrf(session, form.get("csrf", "")):
            raise _RefusedError(Code.CSRF_INVALID.value, 403, "the form's CSRF token is wrong")
        return session

    @router.get(PREFIX + "/static/registry.css")
    def stylesheet() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @router.get("/", response_class=HTMLResponse)
    def browser(request: Request) -> Response:
        lang = lang_of(request)
        from .views import anchor_json, issuer_json

        return page(
            "browser", lang, "/",
            scheme=registry.setting("scheme_name"),
            operator=registry.setting("operator_name"),
            publication=registry.latest_publication(),
            anchors=[anchor_json(registry, a) for a in registry.anchors()],
            issuers=[issuer_json(registry, i) for i in registry.issuers()],
        )  # fmt: skip

    @router.get(PREFIX + "/issuer", response_class=HTMLResponse)
    def issuer(request: Request) -> Response:
        lang = lang_of(request)
        did = request.query_params.get("did", "")
        here = PREFIX + "/issuer?" + urlencode({"did": did[:_MAX_DID]})
        back = f"/?lang={lang}"
        try:
            row = _issuer_row(registry, did)
        except _RefusedError as error:
            return refused(lang, "/", error, back)
        from .views import issuer_json

        return page("issuer", lang, here, issuer=issuer_json(registry, row),
                    timeline=_timeline(registry.issuer_view(did, operators=False)))  # fmt: skip

    @router.get(PREFIX + "/admin/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        lang = lang_of(request)
        session = sessions.decode(request.cookies.get(SESSION_COOKIE))
        cookie = None
        if session is None:
            session = sessions.new()
            cookie = sessions.cookie(
                sessions.encode(session), int(SESSION_LIFETIME.total_seconds())
            )
        return page("login", lang, PREFIX + "/admin/login", cookie=cookie,
                    csrf=sessions.csrf(session))  # fmt: skip

    @router.post(PREFIX + "/admin/login")
    async def login(request: Request) -> Response:
        lang, here = lang_of(request), PREFIX + "/admin/login"
        try:
            form = await form_of(request)
            lang = lang_of(request, form)
            checked(request, form)
            token = form.get("token", "").strip()
            found = registry.authenticate(token) if 0 < len(token) <= 200 else None
            _require(found is not None, Code.UNAUTHORIZED, 401)
        except _RefusedError as error:
            return refused(lang, here, error, f"{here}?lang={lang}")
        import hashlib

        session = sessions.new(hashlib.sha256(token.encode()).hexdigest())
        value = sessions.encode(session)
        cookie = sessions.cookie(value, int(SESSION_LIFETIME.total_seconds()))
        return redirect(f"{PREFIX}/admin/changes?lang={lang}", cookie)

    @router.post(PREFIX + "/admin/logout")
    async def logout(request: Request) -> Response:
        # An error page's language link leads to a page one can GET: the approvals.
        lang, here = lang_of(request), PREFIX + "/admin/changes"
        try:
            form = await form_of(request)
            lang = lang_of(request, form)
            checked(request, form)
        except _RefusedError as error:
            return refused(lang, here, error, f"{here}?lang={lang}")
        return redirect(f"{PREFIX}/admin/login?lang={lang}", sessions.cookie("", 0))

    @router.get(PREFIX + "/admin/changes", response_class=HTMLResponse)
    def changes(request: Request) -> Response:
        lang, here = lang_of(request), PREFIX + "/admin/changes"
        session = sessions.decode(request.cookies.get(SESSION_COOKIE))
        admin = sessions.administrator(session)
        if session is None or admin is None:
            return redirect(f"{PREFIX}/admin/login?lang={lang}")
        person, role = admin
        registry.record_access(person, "GET", here)
        notice = None
        decided, state = request.query_params.get("decided", ""), request.query_params.get("state")
        if decided.isdigit() and len(decided) < 12 and state in ("approved", "rejected"):
            notice = _TEXT[lang][f"decided_{state}"].format(id=int(decided))
        return page("changes", lang, here, csrf=sessions.csrf(session), person=person,
                    role=role.value, approver=role is Role.APPROVER, notice=notice,
                    changes=registry.pending_changes(), details=_details)  # fmt: skip

    @router.post(PREFIX + "/admin/changes/decide")
    async def decide(request: Request) -> Response:
        lang, here = lang_of(request), PREFIX + "/admin/changes"
        back = f"{here}?lang={lang}"
        try:
            form = await form_of(request)
            lang = lang_of(request, form)
            back = f"{here}?lang={lang}"
            admin = sessions.administrator(checked(request, form))
            _require(admin is not None, Code.UNAUTHORIZED, 401)
            person, role = admin or ("", Role.VIEWER)
            _require(role is Role.APPROVER, Code.FORBIDDEN, 403)
            change_id, decision = form.get("change", ""), form.get("decision", "")
            _require(change_id.isdigit() and len(change_id) < 11 and 0 < int(change_id) < 2**31,
                     Code.INVALID_REQUEST, 400, "a change number is expected")  # fmt: skip
            _require(decision in ("approve", "reject"), Code.INVALID_REQUEST, 400,
                     "approve or reject")  # fmt: skip
            change = _decide(registry, signer, person, int(change_id), decision)
        except _RefusedError as error:
            return refused(lang, here, error, back)
        query = urlencode({"lang": lang, "decided": change.id, "state": change.state})
        return redirect(f"{here}?{query}")

    return router


def _details(change: Any) -> list[tuple[str, str]]:
    """A pending change's payload as (field, text) lines; never a token's digest."""
    return [
        (str(key), "—" if value is None else str(value))
        for key, value in sorted(change.payload.items())
        if key != "token_sha256"
    ]


def _timeline(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issuer's own status entries and each credential type's, in one dated list."""
    entries = [
        {"at": datetime.fromisoformat(e["effective_from"]), "subject": None, **e}
        for e in view["status"]
    ]
    for ctype, grant in view["types"].items():
        entries.extend(
            {"at": datetime.fromisoformat(e["effective_from"]), "subject": ctype, **e}
            for e in grant["status"]
        )
    return sorted(entries, key=lambda e: (e["at"], e["subject"] or ""))
