"""Server-rendered pages of the login bridge (Jinja2, autoescaped): landing with the
"S'identifier avec ProConnect" button, consent, credential offer, error; and the waiting
page of operator approval (it reloads itself with ``<meta http-equiv="refresh">``).

French by default, English with ``?lang=en`` or an ``Accept-Language`` preferring English.
Minimal and accessible: one ``<main>``, headings in order, labelled form controls, a
language attribute, visible focus, no information by colour alone. No script at all, and a
strict Content-Security-Policy (:func:`ancre.web.security_headers`): styles from
``/static`` only, forms posted to this service (and the identity provider the login redirects to).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup, escape

from ancre.web import BASE_CSS, choose_language, security_headers

__all__ = ["CSS", "choose_language", "offer_qr_svg", "render", "security_headers"]

_TEXT: Final[Mapping[str, Mapping[str, str]]] = {
    "fr": {
        "title": "Attestations de votre organisation",
        "intro": "Identifiez-vous avec ProConnect : l'émetteur vérifie votre organisation "
        "auprès du registre officiel des entreprises, puis vous remet une attestation "
        "vérifiable pour le portefeuille de votre organisation.",
        "intro_operator": "Un agent de l'émetteur vérifie chaque demande avant qu'une "
        "attestation soit délivrée au portefeuille de votre organisation.",
        "ask_operator": "Demander l'attestation",
        "choose": "Attestation demandée",
        "login_with": "S'identifier avec",
        "what_is": "Qu'est-ce que ProConnect ?",
        "new_window": "nouvelle fenêtre",
        "consent_title": "Vérifiez ce qui sera signé",
        "consent_intro": "Ces informations seront signées dans votre attestation",
        "disclosable": "divulgation sélective : vous choisirez de la montrer ou non",
        "always_shown": "toujours visible",
        "evidence": "Vérifié auprès de",
        "accept": "Signer et recevoir l'attestation",
        "refuse": "Refuser",
        "offer_title": "Votre attestation est prête",
        "offer_intro": "Ouvrez ce lien avec le portefeuille de votre organisation. "
        "Il n'est valable qu'une fois et expire",
        "open_wallet": "Ouvrir dans le portefeuille",
        "offer_uri": "Lien de l'offre (à copier dans le portefeuille)",
        "error_title": "L'attestation n'a pas pu être délivrée",
        "error_code": "Code",
        "retry": "Recommencer",
        "language": "English",
        "claim": "Information",
        "value": "Valeur",
        "how": "Visibilité",
        "waiting_title": "Demande en attente de validation",
        "waiting_intro": "Un agent de l'émetteur examine votre demande. Gardez cette page "
        "ouverte : elle se recharge d'elle-même et vous ramène au portefeuille dès la décision.",
        "waiting_reference": "Référence de la demande",
        "logout": "Se déconnecter",
        "choose_provider": "Choisissez comment vous identifier",
        "choose_intro": "Votre portefeuille demande une attestation",
        "logged_out_title": "Vous êtes déconnecté",
        "logged_out_provider": "Vous êtes déconnecté de l'émetteur et de ProConnect.",
        "logged_out_local": "Vous êtes déconnecté de l'émetteur. Le fournisseur d'identité "
        "ne propose pas de déconnexion : votre session ProConnect reste ouverte.",
        "qr_label": "QR code de l'offre d'attestation, à scanner avec le portefeuille",
        "qr_intro": "Scannez ce QR code avec le portefeuille de votre organisation, ou ouvrez "
        "le lien ci-dessous.",
        "tx_code_title": "Code de transaction",
        "tx_code_intro": "Le portefeuille vous demandera ce code. Notez-le maintenant : il "
        "n'est affiché qu'une fois et ne sera plus visible si vous rechargez la page.",
        "organization": "Organisation",
        "siren": "SIREN",
        "role": "Rôle demandé",
        "role_choice": "Rôle demandé pour la délégation",
        "role_save": "Enregistrer le rôle",
        "role_hint": "Choisissez le rôle avant de transmettre le lien : le dirigeant verra ce "
        "rôle et le mandat le portera.",
        "delegation_approve_intro_choose": "Une personne demande un mandat pour représenter "
        "cette organisation. Seul un dirigeant inscrit au registre peut l'approuver : "
        "choisissez comment vous identifier, l'émetteur vérifiera que vous figurez parmi les "
        "dirigeants.",
        "requester": "Demandeur",
        "expires_at": "Expire le",
        "delegation_status_title": "Demande de délégation",
        "delegation_pending_intro": "Le registre ne vous indique pas parmi les dirigeants de "
        "cette organisation. Un dirigeant inscrit au registre peut approuver une délégation : "
        "transmettez-lui ce lien (il devra se connecter avec ProConnect).",
        "approval_link": "Lien d'approbation à transmettre à un dirigeant",
        "delegation_pending_after": "Une fois la délégation approuvée, revenez sur cette page "
        "ou reconnectez-vous pour recevoir le mandat.",
        "delegation_approved_intro": "Un dirigeant a approuvé votre délégation. Connectez-vous "
        "à nouveau pour recevoir votre mandat.",
        "receive_mandate": "Recevoir le mandat",
        "delegation_rejected_intro": "Un dirigeant a refusé cette délégation : aucun mandat ne "
        "sera délivré pour cette demande.",
        "delegation_used_intro": "Cette délégation a déjà servi à délivrer un mandat.",
        "delegation_expired_intro": "Cette demande a expiré sans décision.",
        "delegation_approve_title": "Approuver une délégation",
        "delegation_approve_intro": "Une personne demande un mandat pour représenter cette "
        "organisation. Seul un dirigeant inscrit au registre peut l'approuver : "
        "identifiez-vous avec ProConnect, l'émetteur vérifiera que vous figurez parmi les "
        "dirigeants.",
        "delegation_review_title": "Décider de la délégation",
        "delegation_review_intro": "Le registre vous indique parmi les dirigeants de cette "
        "organisation. Approuvez-vous que cette personne la représente avec ce rôle ?",
        "delegation_review_kept": "Seule une empreinte de votre identifiant de connexion est "
        "conservée avec la décision, ainsi que la vérification du registre.",
        "approve": "Approuver la délégation",
        "reject": "Refuser la délégation",
        "delegation_decided_title": "Décision enregistrée",
        "delegation_decided_approved": "Délégation approuvée : le demandeur peut maintenant "
        "recevoir son mandat.",
        "delegation_decided_rejected": "Délégation refusée : aucun mandat ne sera délivré.",
    },
    "en": {
        "title": "Your organization's credentials",
        "intro": "Log in with ProConnect: the issuer checks your organization in the official "
        "company register, then gives you a verifiable credential for your "
        "organization's wallet.",
        "intro_operator": "An agent of the issuer checks every request before a credential "
        "is issued to your organization's wallet.",
        "ask_operator": "Request the credential",
        "choose": "Credential requested",
        "login_with": "Log in with",
        "what_is": "What is ProConnect?",
        "new_window": "new window",
        "consent_title": "Check what will be signed",
        "consent_intro": "This information will be signed into your credential",
        "disclosable": "selectively disclosable: you choose whether to show it",
        "always_shown": "always visible",
        "evidence": "Checked with",
        "accept": "Sign and receive the credential",
        "refuse": "Decline",
        "offer_title": "Your credential is ready",
        "offer_intro": "Open this link with your organization's wallet. It works once and expires",
        "open_wallet": "Open in the wallet",
        "offer_uri": "Offer link (to paste into the wallet)",
        "error_title": "The credential could not be issued",
        "error_code": "Code",
        "retry": "Start again",
        "language": "Français",
        "claim": "Information",
        "value": "Value",
        "how": "Visibility",
        "waiting_title": "Request waiting for approval",
        "waiting_intro": "Someone at the issuer is reviewing your request. Keep this page open: "
        "it reloads by itself and takes you back to the wallet once they decide.",
        "waiting_reference": "Request reference",
        "logout": "Log out",
        "choose_provider": "Choose how to log in",
        "choose_intro": "Your wallet asks for a credential",
        "logged_out_title": "You are logged out",
        "logged_out_provider": "You are logged out of the issuer and of ProConnect.",
        "logged_out_local": "You are logged out of the issuer. The identity provider offers "
        "no logout: your ProConnect session is still open.",
        "qr_label": "QR code of the credential offer, to scan with the wallet",
        "qr_intro": "Scan this QR code with your organization's wallet, or open the link below.",
        "tx_code_title": "Transaction code",
        "tx_code_intro": "The wallet will ask for this code. Write it down now: it is shown "
        "once and will not be visible again if you reload the page.",
        "organization": "Organization",
        "siren": "SIREN",
        "role": "Role requested",
        "role_choice": "Role requested for the delegation",
        "role_save": "Save the role",
        "role_hint": "Choose the role before passing the link on: the director will see this "
        "role and the mandate will carry it.",
        "delegation_approve_intro_choose": "Someone asks for a mandate to represent this "
        "organization. Only a director listed in the register can approve: choose how to log "
        "in, and the issuer checks that you are among the directors.",
        "requester": "Requested by",
        "expires_at": "Expires",
        "delegation_status_title": "Delegation request",
        "delegation_pending_intro": "The register does not list you among this organization's "
        "directors. A director listed in the register can approve a delegation: pass this "
        "link on to them (they will log in with ProConnect).",
        "approval_link": "Approval link to pass on to a director",
        "delegation_pending_after": "Once the delegation is approved, come back to this page "
        "or log in again to receive the mandate.",
        "delegation_approved_intro": "A director approved your delegation. Log in again to "
        "receive your mandate.",
        "receive_mandate": "Receive the mandate",
        "delegation_rejected_intro": "A director rejected this delegation: no mandate will be "
        "issued for this request.",
        "delegation_used_intro": "This delegation was already used for a mandate.",
        "delegation_expired_intro": "This request expired without a decision.",
        "delegation_approve_title": "Approve a delegation",
        "delegation_approve_intro": "Someone asks for a mandate to represent this "
        "organization. Only a director listed in the register can approve: log in with "
        "ProConnect, and the issuer checks that you are among the directors.",
        "delegation_review_title": "Decide on the delegation",
        "delegation_review_intro": "The register lists you among this organization's "
        "directors. Do you approve that this person represents it in this role?",
        "delegation_review_kept": "Only a digest of your login identifier is kept with the "
        "decision, with the register check.",
        "approve": "Approve the delegation",
        "reject": "Reject the delegation",
        "delegation_decided_title": "Decision recorded",
        "delegation_decided_approved": "Delegation approved: the requester can now receive "
        "their mandate.",
        "delegation_decided_rejected": "Delegation rejected: no mandate will be issued.",
    },
}

#: A human explanation per stable code (docs/errors.md "Login bridge"); others get the
#: generic title and their code.
_REASONS: Final[Mapping[str, Mapping[str, str]]] = {
    "invalid_siret": {
        "fr": "Le numéro SIRET transmis à la connexion n'est pas valide (clé de contrôle).",
        "en": "The SIRET sent at login is not valid (check digit).",
    },
    "establishment_closed": {
        "fr": "Le registre indique que cet établissement est fermé.",
        "en": "The register says this establishment is closed.",
    },
    "organization_closed": {
        "fr": "Le registre indique que cette organisation a cessé son activité.",
        "en": "The register says this organization has ceased activity.",
    },
    "register_not_found": {
        "fr": "Le registre ne connaît pas ce numéro SIRET.",
        "en": "The register does not know this SIRET.",
    },
    "register_unavailable": {
        "fr": "Le registre des entreprises ne répond pas : rien n'est délivré sans "
        "vérification. Réessayez plus tard.",
        "en": "The company register does not answer: nothing is issued unchecked. Try again later.",
    },
    "acr_too_low": {
        "fr": "Le niveau de connexion ne suffit pas pour cette attestation "
        "(certification dirigeant requise).",
        "en": "The login level is too low for this credential (director certification required).",
    },
    "director_not_matched": {
        "fr": "Vous ne figurez pas parmi les dirigeants inscrits au registre.",
        "en": "You are not among the directors listed in the register.",
    },
    "not_public_agent": {
        "fr": "La connexion n'indique pas un agent public.",
        "en": "The login does not say you are a public agent.",
    },
    "vat_not_registered": {
        "fr": "VIES n'indique pas de numéro de TVA intracommunautaire valide pour l'entreprise.",
        "en": "VIES does not list a valid EU VAT number for this company.",
    },
    "not_public_body": {
        "fr": "Le registre n'indique pas un organisme public.",
        "en": "The register does not list a public body.",
    },
    "login_state_invalid": {
        "fr": "Cette connexion a déjà été utilisée, a expiré ou vient d'un autre navigateur.",
        "en": "This login was already used, has expired or comes from another browser.",
    },
    "consent_refused": {
        "fr": "Vous avez refusé : rien n'a été signé.",
        "en": "You declined: nothing was signed.",
    },
    "login_rejected": {
        "fr": "L'émetteur a refusé cette demande : rien n'a été signé.",
        "en": "The issuer rejected this request: nothing was signed.",
    },
    "delegation_unknown": {
        "fr": "Ce lien de délégation est inconnu, ou la connexion du dirigeant n'a pas eu lieu "
        "dans ce navigateur (ou date de plus de 15 minutes).",
        "en": "This delegation link is unknown, or the director's login did not happen in this "
        "browser (or is more than 15 minutes old).",
    },
    "delegation_not_director": {
        "fr": "Vous ne figurez pas parmi les dirigeants de cette organisation inscrits au "
        "registre : vous ne pouvez pas approuver cette délégation.",
        "en": "You are not among this organization's directors listed in the register: you "
        "cannot approve this delegation.",
    },
    "delegation_expired": {
        "fr": "Cette demande de délégation a expiré.",
        "en": "This delegation request has expired.",
    },
    "delegation_already_decided": {
        "fr": "Cette demande de délégation a déjà été approuvée ou refusée.",
        "en": "This delegation request was already approved or rejected.",
    },
    "delegation_organization_mismatch": {
        "fr": "Vous vous êtes connecté pour une autre organisation que celle de la délégation.",
        "en": "You logged in for another organization than the delegation's.",
    },
    "delegation_self_approval": {
        "fr": "Vous ne pouvez pas approuver votre propre demande de délégation.",
        "en": "You cannot approve your own delegation request.",
    },
    "csrf_invalid": {
        "fr": "Le formulaire a expiré ou ne vient pas de ce site.",
        "en": "The form expired or does not come from this site.",
    },
}

#: The login bridge's own buttons, QR code and tx_code, after the shared look (``ancre.web``).
_OWN_CSS: Final = """\
.proconnect-button{display:inline-flex;align-items:center;gap:.5rem;background:#000091;
color:#fff;border:0;padding:.75rem 1.5rem;font-size:1rem;cursor:pointer;min-height:3.5rem}
.proconnect-button:hover{background:#1212ff}
.proconnect-brand{font-weight:700;font-size:1.1rem}
.providers{display:flex;flex-direction:column;align-items:flex-start;gap:.75rem}
.provider-button{background:#fff;color:#000091;border:2px solid #000091;
padding:.75rem 1.5rem;font-size:1rem;cursor:pointer;min-height:3.5rem}
.provider-button:hover{background:#e3e3fd}
#role-form label{display:block;font-weight:700;margin-bottom:.25rem}
#role-form select{max-width:100%;font-size:1rem;padding:.5rem;min-height:2.75rem}
#role-form button{margin:.5rem 0 0;padding:.6rem 1rem;font-size:1rem;display:block}
.qr svg{display:block;width:100%;max-width:16rem;height:auto;background:#fff}
.tx-code{font-family:monospace;font-size:2rem;font-weight:700;letter-spacing:.3rem}
"""
CSS: Final = BASE_CSS + _OWN_CSS

_BASE: Final = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} — ancre</title>
<link rel="stylesheet" href="{{ base }}/static/bridge.css">
{% block head %}{% endblock %}
</head>
<body>
<main>
<p class="lang"><a href="{{ base }}/login?lang={{ other }}" lang="{{ other }}">
{{- t.language }}</a></p>
{% block main %}{% endblock %}
</main>
</body>
</html>
"""

_LANDING: Final = """{% extends "base" %}
{% block title %}{{ t.title }}{% endblock %}
{% block main %}
<h1>{{ t.title }}</h1>
<p>{{ t.intro_operator if operator else t.intro }}</p>
<form method="post" action="{{ base }}/login/start">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<fieldset>
<legend>{{ t.choose }}</legend>
{% for id, label in configurations %}
<div><input type="radio" name="configuration" id="c-{{ id }}" value="{{ id }}"
{%- if loop.first %} checked{% endif %}> <label for="c-{{ id }}">{{ label }}</label></div>
{% endfor %}
</fieldset>
{% if operator %}
<button type="submit">{{ t.ask_operator }}</button>
</form>
{% elif providers %}
{% include "providers" %}
{% else %}
<button type="submit" class="proconnect-button">
<span>{{ t.login_with }}</span> <span class="proconnect-brand">ProConnect</span>
</button>
</form>
<p><a href="https://www.proconnect.gouv.fr/" target="_blank" rel="noopener"
title="{{ t.what_is }} - {{ t.new_window }}">{{ t.what_is }}</a></p>
{% endif %}
{% endblock %}
"""

#: One submit button per provider, closing the form: the one pressed names it (``provider``).
#: ProConnect's official button for ProConnect, a plain one labelled by the others.
_PROVIDERS: Final = """<div class="providers">
{% for name, label, proconnect in providers %}
{% if proconnect %}
<button type="submit" class="proconnect-button" name="provider" value="{{ name }}">
<span>{{ t.login_with }}</span> <span class="proconnect-brand">ProConnect</span>
</button>
{% else %}
<button type="submit" class="provider-button" name="provider" value="{{ name }}">
{{- t.login_with }} {{ label }}</button>
{% endif %}
{% endfor %}
</div>
</form>
{% if providers|selectattr(2)|list %}
<p><a href="https://www.proconnect.gouv.fr/" target="_blank" rel="noopener"
title="{{ t.what_is }} - {{ t.new_window }}">{{ t.what_is }}</a></p>
{% endif %}
"""

#: A wallet's request, with several providers: which one to log in with.
_CHOOSE: Final = """{% extends "base" %}
{% block title %}{{ t.choose_provider }}{% endblock %}
{% block main %}
<h1>{{ t.choose_provider }}</h1>
<p>{{ t.choose_intro }} : <strong>{{ credential_label }}</strong>.</p>
<form method="post" action="{{ base }}/login/provider">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="request" value="{{ request_id }}">
<input type="hidden" name="lang" value="{{ lang }}">
{% include "providers" %}
{% endblock %}
"""

_CONSENT: Final = """{% extends "base" %}
{% block title %}{{ t.consent_title }}{% endblock %}
{% block main %}
<h1>{{ t.consent_title }}</h1>
<p>{{ t.consent_intro }} : <strong>{{ credential_label }}</strong>.</p>
<table>
<caption>{{ credential_label }}</caption>
<thead><tr><th scope="col">{{ t.claim }}</th><th scope="col">{{ t.value }}</th>
<th scope="col">{{ t.how }}</th></tr></thead>
<tbody>
{% for name, value, disclosable in claims %}
<tr><th scope="row">{{ name }}</th><td>{{ value }}</td>
<td>{% if disclosable %}{{ t.disclosable }}{% else %}{{ t.always_shown }}{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>
{% if evidence %}<p>{{ t.evidence }} : {{ evidence|join(", ") }}
{%- if evidence_disclosable %} ({{ t.disclosable }}){% endif %}</p>{% endif %}
<form method="post" action="{{ base }}/login/consent" class="actions">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="request" value="{{ request_id }}">
<input type="hidden" name="lang" value="{{ lang }}">
<button type="submit" name="decision" value="accept">{{ t.accept }}</button>
<button type="submit" name="decision" value="refuse">{{ t.refuse }}</button>
</form>
{% endblock %}
"""

_OFFER: Final = """{% extends "base" %}
{% block title %}{{ t.offer_title }}{% endblock %}
{% block main %}
<h1>{{ t.offer_title }}</h1>
<p>{{ t.offer_intro }} {{ expires }}.</p>
{% if qr_svg %}<p>{{ t.qr_intro }}</p>
<figure class="qr" id="offer-qr">{{ qr_svg }}</figure>{% endif %}
<p><a id="offer-link" href="{{ offer_uri }}">{{ t.open_wallet }}</a></p>
{% if tx_code %}
<h2>{{ t.tx_code_title }}</h2>
<p>{{ t.tx_code_intro }}</p>
<p class="tx-code" id="tx-code">{{ tx_code }}</p>
{% endif %}
<h2>{{ t.offer_uri }}</h2>
<p class="uri" id="offer-uri">{{ offer_uri }}</p>
{% if logout_csrf %}
<form method="post" action="{{ base }}/login/logout" class="actions">
<input type="hidden" name="csrf" value="{{ logout_csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<button type="submit" id="logout">{{ t.logout }}</button>
</form>
{% endif %}
{% endblock %}
"""

_LOGGED_OUT: Final = """{% extends "base" %}
{% block title %}{{ t.logged_out_title }}{% endblock %}
{% block main %}
<h1>{{ t.logged_out_title }}</h1>
<p id="logged-out" data-scope="{{ 'local' if local_only else 'provider' }}">
{%- if local_only %}{{ t.logged_out_local }}{% else %}{{ t.logged_out_provider }}{% endif -%}
</p>
<p><a href="{{ base }}/login?lang={{ lang }}">{{ t.retry }}</a></p>
{% endblock %}
"""

_WAITING: Final = """{% extends "base" %}
{% block head %}<meta http-equiv="refresh" content="{{ refresh }}">{% endblock %}
{% block title %}{{ t.waiting_title }}{% endblock %}
{% block main %}
<h1>{{ t.waiting_title }}</h1>
<p role="status">{{ t.waiting_intro }}</p>
<p>{{ t.waiting_reference }} : <span class="error-code" id="login-id">{{ login_id }}</span></p>
{% endblock %}
"""

_ERROR: Final = """{% extends "base" %}
{% block title %}{{ t.error_title }}{% endblock %}
{% block main %}
<h1>{{ t.error_title }}</h1>
<p>{{ reason }}</p>
<p>{{ t.error_code }} : <span class="error-code" id="error-code">{{ code }}</span></p>
<p><a href="{{ base }}/login?lang={{ lang }}">{{ t.retry }}</a></p>
{% endblock %}
"""

_SUMMARY: Final = """<dl class="summary">
<dt>{{ t.organization }}</dt><dd id="organization">{{ organization }}</dd>
<dt>{{ t.siren }}</dt><dd id="siren">{{ siren }}</dd>
{% if requester %}<dt>{{ t.requester }}</dt><dd id="requester">{{ requester }}</dd>{% endif %}
<dt>{{ t.role }}</dt><dd id="role">{{ role }}</dd>
<dt>{{ t.expires_at }}</dt><dd>{{ expires }}</dd>
</dl>
"""

_DELEGATION_STATUS: Final = """{% extends "base" %}
{% block title %}{{ t.delegation_status_title }}{% endblock %}
{% block main %}
<h1>{{ t.delegation_status_title }}</h1>
{% include "summary" %}
<p id="delegation-state" data-state="{{ state }}">
{%- if state == "pending" %}{{ t.delegation_pending_intro }}
{%- elif state == "approved" %}{{ t.delegation_approved_intro }}
{%- elif state == "rejected" %}{{ t.delegation_rejected_intro }}
{%- elif state == "used" %}{{ t.delegation_used_intro }}
{%- else %}{{ t.delegation_expired_intro }}{% endif -%}
</p>
{% if roles %}
<form method="post" action="{{ base }}/login/delegation/role" id="role-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<input type="hidden" name="id" value="{{ delegation_id }}">
<input type="hidden" name="code" value="{{ code }}">
<p id="role-hint">{{ t.role_hint }}</p>
<label for="role-choice">{{ t.role_choice }}</label>
<select id="role-choice" name="role" aria-describedby="role-hint">
{% for r in roles %}
<option value="{{ r }}"{% if r == role_value %} selected{% endif %}>{{ r }}</option>
{% endfor %}</select>
<button type="submit">{{ t.role_save }}</button>
</form>
{% endif %}
{% if approval_link %}
<h2>{{ t.approval_link }}</h2>
<p class="uri" id="approval-link">{{ approval_link }}</p>
<p>{{ t.delegation_pending_after }}</p>
{% endif %}
{% if state == "rejected" %}<p>{{ t.error_code }} :
<span class="error-code" id="error-code">delegation_rejected</span></p>{% endif %}
{% if state == "approved" %}
<form method="post" action="{{ base }}/login/start">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<input type="hidden" name="configuration" value="Mandate">
<button type="submit" class="proconnect-button">
<span>{{ t.receive_mandate }} :</span> <span>{{ t.login_with }}</span>
<span class="proconnect-brand">ProConnect</span></button>
</form>
{% endif %}
{% endblock %}
"""

_DELEGATION_APPROVE: Final = """{% extends "base" %}
{% block title %}{{ t.delegation_approve_title }}{% endblock %}
{% block main %}
<h1>{{ t.delegation_approve_title }}</h1>
<p>{% if providers %}{{ t.delegation_approve_intro_choose }}
{%- else %}{{ t.delegation_approve_intro }}{% endif %}</p>
{% include "summary" %}
<form method="post" action="{{ base }}/login/delegation/login">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<input type="hidden" name="code" value="{{ code }}">
{% if providers %}
{% include "providers" %}
{% else %}
<button type="submit" class="proconnect-button">
<span>{{ t.login_with }}</span> <span class="proconnect-brand">ProConnect</span>
</button>
</form>
{% endif %}
{% endblock %}
"""

_DELEGATION_REVIEW: Final = """{% extends "base" %}
{% block title %}{{ t.delegation_review_title }}{% endblock %}
{% block main %}
<h1>{{ t.delegation_review_title }}</h1>
<p>{{ t.delegation_review_intro }}</p>
{% include "summary" %}
<p>{{ t.delegation_review_kept }}</p>
<form method="post" action="{{ base }}/login/delegation/decide" class="actions">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<input type="hidden" name="delegation" value="{{ delegation_id }}">
<input type="hidden" name="role" value="{{ role_value }}">
<button type="submit" name="decision" value="approve">{{ t.approve }}</button>
<button type="submit" name="decision" value="reject">{{ t.reject }}</button>
</form>
{% endblock %}
"""

_DELEGATION_DECIDED: Final = """{% extends "base" %}
{% block title %}{{ t.delegation_decided_title }}{% endblock %}
{% block main %}
<h1>{{ t.delegation_decided_title }}</h1>
<p role="status" id="delegation-state" data-state="{{ state }}">
{%- if state == "approved" %}{{ t.delegation_decided_approved }}
{%- else %}{{ t.delegation_decided_rejected }}{% endif -%}
</p>
{% include "summary" %}
{% endblock %}
"""

_ENV: Final = Environment(
    loader=DictLoader(
        {
            "base": _BASE,
            "landing": _LANDING,
            "consent": _CONSENT,
            "offer": _OFFER,
            "error": _ERROR,
            "waiting": _WAITING,
            "logged_out": _LOGGED_OUT,
            "providers": _PROVIDERS,
            "choose": _CHOOSE,
            "summary": _SUMMARY,
            "delegation_status": _DELEGATION_STATUS,
            "delegation_approve": _DELEGATION_APPROVE,
            "delegation_review": _DELEGATION_REVIEW,
            "delegation_decided": _DELEGATION_DECIDED,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)


def offer_qr_svg(uri: str, lang: str) -> Markup | None:
    """The QR code of an offer URI as inline SVG (segno; no script, no ``data:`` URL, so
    the strict CSP holds), labelled for assistive technologies (``role="img"`` and
    ``aria-label``, and a ``<title>``). ``None`` if the URI is too long for a QR code."""
    import segno

    label = _TEXT[lang]["qr_label"]
    try:
        code = segno.make_qr(uri, error="m")
    except segno.DataOverflowError:
        return None
    svg: str = code.svg_inline(scale=4, border=4, title=label, light="#fff")
    # segno escapes the title; the label is ours (no markup) and escaped again here.
    attributes = f'<svg role="img" aria-label="{escape(label)}" focusable="false" '
    return Markup(svg.replace("<svg ", attributes, 1))  # noqa: S704 - segno's own SVG


def render(page: str, lang: str, base: str, **context: Any) -> str:
    """The HTML of `page` in `lang`."""
    if page == "error":
        code = str(context.get("code", ""))
        context.setdefault("reason", _REASONS.get(code, {}).get(lang, ""))
    html: str = _ENV.get_template(page).render(
        lang=lang, other="en" if lang == "fr" else "fr", t=_TEXT[lang], base=base, **context
    )
    return html
