"""What every server-rendered page of ancre shares (the login bridge's, the registry's):
the security headers of a page without script, the choice between French and English, the
base stylesheet, the single-valued form parser and the HMAC that signs cookies and CSRF
tokens.

Pages are Jinja2 templates, autoescaped, in the service that shows them; this module holds
no template and knows no service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl

__all__ = [
    "BASE_CSS",
    "LANGUAGES",
    "choose_language",
    "mac",
    "parse_form",
    "security_headers",
]

#: French first: the default when neither the query nor the browser asks for English.
LANGUAGES: Final = ("fr", "en")

#: The shared look: readable text, a visible focus ring, bordered tables, no colour-only
#: information (each service appends its own few rules).
BASE_CSS: Final = """\
body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;color:#161616;background:#fff}
main{max-width:40rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem}
a{color:#000091}
:focus{outline:3px solid #0a76f6;outline-offset:2px}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #929292;padding:.4rem;text-align:left;vertical-align:top}
fieldset{border:1px solid #929292;margin:0 0 1rem}
.lang{text-align:right}
.uri{word-break:break-all;font-family:monospace}
.actions button{margin:.5rem .5rem 0 0;padding:.6rem 1rem;font-size:1rem}
.error-code{font-family:monospace;font-weight:700}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dl.summary dt{font-weight:700}
dl.summary dd{margin:0}
"""


def choose_language(
    query_lang: str | None, accept_language: str | None, languages: Iterable[str] = LANGUAGES
) -> str:
    """``fr`` unless ``?lang=en``, or no ``lang`` and the browser prefers English."""
    offered = tuple(languages)
    if query_lang is not None and query_lang in offered:
        return query_lang
    if accept_language and "en" in offered:
        first = accept_language.split(",")[0].split(";")[0].strip().lower()
        if first.startswith("en"):
            return "en"
    return offered[0]


def security_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """Strict CSP (no script at all), no framing (CSP ``frame-ancestors``, and
    ``X-Frame-Options`` for browsers that predate it), no caching of pages that hold
    secrets."""
    targets = " ".join(["'self'", *form_targets])
    return {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self'; "
            f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def mac(secret: bytes, text: str) -> str:
    """HMAC-SHA256 of `text` under `secret`, base64url without padding (cookies, CSRF)."""
    digest = hmac.new(secret, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_form(raw: bytes, *, max_fields: int = 16) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` body as single-valued fields, or None when
    it is not UTF-8, has more than `max_fields` fields, or repeats a field."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return None
    fields = dict(pairs)
    return fields if len(fields) == len(pairs) else None
