"""RFC 9457 problem details: the one error body every ancre service answers.

A problem carries `type` (``urn:ancre:error:<code>``, a URN, so nobody mistakes it for a page
to fetch), `title`, `status` (the same as the HTTP status), `detail` (what was expected and
what was found) and ancre's stable `code` as an extension member, plus any other extension a
service needs (`errors` for a credential breaking several rules). The media type is
``application/problem+json`` unless a spec says otherwise: the W3C VC-API's verify endpoints
require every body to be ``application/json``.

This module builds values, not HTTP responses: the trust core does not depend on a web
framework. A service turns a `Problem` into its framework's response with
`Problem.response(JSONResponse, headers=…)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, TypeVar

from .errors import Code, ConfigurationError

__all__ = [
    "ERROR_TYPE_PREFIX",
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "problem",
    "problem_type",
]

#: RFC 9457 §3: the media type of a problem body.
PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
#: The `type` of an ancre problem is this prefix followed by its stable code.
ERROR_TYPE_PREFIX: Final = "urn:ancre:error:"
#: Members a caller's extensions may not replace (RFC 9457 §3.1, plus ancre's `code`).
_RESERVED: Final = frozenset({"type", "title", "status", "detail", "instance", "code"})

_R = TypeVar("_R")


def problem_type(code: Code | str) -> str:
    """The `type` URI of a problem (or of a VC-API `problemDetails` entry) with `code`."""
    return f"{ERROR_TYPE_PREFIX}{code}"


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem-details body with the HTTP status and media type to send it with."""

    status: int
    body: Mapping[str, Any]
    media_type: str

    def response(
        self, response_class: Callable[..., _R], *, headers: Mapping[str, str] | None = None
    ) -> _R:
        """The problem as a response of `response_class` (Starlette's `JSONResponse` or any
        class taking `content`, `status_code`, `headers` and `media_type`)."""
        return response_class(
            content=dict(self.body),
            status_code=self.status,
            headers=dict(headers) if headers else None,
            media_type=self.media_type,
        )


def problem(
    status: int,
    code: Code | str,
    detail: str,
    *,
    title: str | None = None,
    extensions: Mapping[str, Any] | None = None,
    media_type: str = PROBLEM_MEDIA_TYPE,
) -> Problem:
    """An RFC 9457 problem: `type` ``urn:ancre:error:<code>``, `title` (the HTTP reason
    phrase unless given), `status`, `detail`, `code`, then `extensions`.

    Raises `ConfigurationError` for a status that is not an HTTP error status or an
    extension that would replace a standard member: both are bugs of the caller."""
    if not 400 <= status <= 599:
        raise ConfigurationError(f"a problem has an HTTP error status, not {status}")
    clash = _RESERVED.intersection(extensions or {})
    if clash:
        raise ConfigurationError(f"extension members {sorted(clash)} replace standard ones")
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title if title is not None else _reason(status),
        "status": status,
        "detail": detail,
        "code": str(code),
    }
    body.update(extensions or {})
    return Problem(status, body, media_type)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Request refused"
