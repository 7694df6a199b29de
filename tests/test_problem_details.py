"""One error shape for every service: each answers an RFC 9457 problem built by
`ancre.trust.problem`, with `type` `urn:ancre:error:<code>`, the same status in the body and
on the response, and `application/problem+json` (the VC-API verify endpoints excepted: the
VC-API requires `application/json` for every body)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _issuer_support import make_issuer

from ancre.issuer.api import IssuerSettings
from ancre.issuer.api import create_app as issuer_app
from ancre.issuer.vc_api import VcApiSettings
from ancre.registry.api import create_app as registry_app
from ancre.registry.db import make_engine, migrate
from ancre.registry.service import Registry
from ancre.trust.clock import FixedClock
from ancre.trust.errors import Code, ConfigurationError
from ancre.trust.problem import PROBLEM_MEDIA_TYPE, problem, problem_type
from ancre.verifier.service import VerifierSettings
from ancre.verifier.service import create_app as verifier_app

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def assert_problem(
    response: httpx.Response, status: int, code: Code, media_type: str = PROBLEM_MEDIA_TYPE
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == media_type
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:ancre:error:{code.value}"
    assert body["status"] == response.status_code
    assert body["code"] == code.value
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


# --- the helper ------------------------------------------------------------------------------


def test_the_helper_builds_the_shared_shape() -> None:
    built = problem(404, Code.NOT_FOUND, "no trust anchor did:web:a.example")
    assert built.status == 404
    assert built.media_type == "application/problem+json"
    assert dict(built.body) == {
        "type": "urn:ancre:error:not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "no trust anchor did:web:a.example",
        "code": "not_found",
    }
    assert problem_type(Code.CONFLICT) == "urn:ancre:error:conflict"


def test_the_helper_keeps_extensions_after_the_standard_members() -> None:
    built = problem(
        422, "invalid_type", "two reasons", title="Unprocessable", extensions={"errors": [1, 2]}
    )
    assert list(built.body) == ["type", "title", "status", "detail", "code", "errors"]
    assert built.body["title"] == "Unprocessable"


@pytest.mark.parametrize("member", ["type", "status", "code", "detail", "title", "instance"])
def test_an_extension_cannot_replace_a_standard_member(member: str) -> None:
    with pytest.raises(ConfigurationError):
        problem(400, Code.INVALID_REQUEST, "x", extensions={member: "forged"})


@pytest.mark.parametrize("status", [200, 302, 399, 600])
def test_a_problem_has_an_error_status(status: int) -> None:
    with pytest.raises(ConfigurationError):
        problem(status, Code.INVALID_REQUEST, "x")


def test_the_response_carries_status_media_type_and_headers() -> None:
    from fastapi.responses import JSONResponse

    response = problem(503, Code.REGISTRY_BUSY, "busy").response(
        JSONResponse, headers={"Retry-After": "1"}
    )
    assert response.status_code == 503
    assert response.media_type == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert json.loads(bytes(response.body))["status"] == 503


# --- every service ---------------------------------------------------------------------------


@pytest.fixture
def registry_base(tmp_path: Path) -> Iterator[str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    registry = Registry(engine, clock=FixedClock(T0))
    with serve(registry_app(registry)) as base:
        yield base
    engine.dispose()


def test_registry_problems(registry_base: str) -> None:
    with httpx.Client(base_url=registry_base, trust_env=False) as http:
        assert_problem(http.get("/admin/anchors"), 401, Code.UNAUTHORIZED)
        assert_problem(http.get("/trust-list"), 404, Code.NOT_FOUND)


def test_verifier_service_problems() -> None:
    settings = VerifierSettings(clock=FixedClock(T0), no_trust_check=True)
    with serve(verifier_app(settings)) as base, httpx.Client(base_url=base) as http:
        headers = {"Content-Type": "application/json"}
        not_json = http.post("/credentials/verify", content=b"not json", headers=headers)
        assert_problem(not_json, 400, Code.MALFORMED_JSON, "application/json")
        missing = http.post("/presentations/verify", content=b"{}", headers=headers)
        assert_problem(missing, 400, Code.INVALID_REQUEST, "application/json")


def test_verifier_problem_details_entries_use_the_same_type() -> None:
    settings = VerifierSettings(clock=FixedClock(T0), no_trust_check=True)
    with serve(verifier_app(settings)) as base, httpx.Client(base_url=base) as http:
        response = http.post("/credentials/verify", json={"verifiableCredential": "a.b.c"})
    assert response.status_code == 200
    entries = [e for e in response.json()["problemDetails"] if "code" in e]
    assert entries
    for entry in entries:
        assert entry["type"] == problem_type(entry["code"])


def test_issuer_vc_api_problems(tmp_path: Path) -> None:
    # The port only names the issuer's did:web; the refusal comes before any use of it.
    issuer = make_issuer(tmp_path / "issuer", 8443)
    app = issuer_app(IssuerSettings(issuer, vc_api=VcApiSettings()))
    with serve(app) as base, httpx.Client(base_url=base, trust_env=False) as http:
        response = http.post(
            "/credentials/issue",
            content=json.dumps({"credential": {}}),
            headers={"Content-Type": "application/json"},
        )
    assert_problem(response, 401, Code.UNAUTHORIZED)
    assert response.headers["cache-control"] == "no-store"


# --- a failure no route expected -------------------------------------------------------------


def _with_a_bug(app: Any) -> Any:
    """`app` with one route that fails the way a bug does (the secret must not leak)."""

    async def broken() -> None:
        raise RuntimeError("secret-internal-state 0xdeadbeef")

    app.add_api_route("/__bug", broken, methods=["GET"])
    return app


def _assert_internal(base: str) -> None:
    with httpx.Client(base_url=base, trust_env=False) as http:
        response = http.get("/__bug")
    body = assert_problem(response, 500, Code.INTERNAL_ERROR)
    assert "secret-internal-state" not in response.text
    assert "RuntimeError" not in response.text
    assert "logged" in body["detail"]


def test_an_unexpected_failure_is_a_500_problem_on_every_service(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    registry = _with_a_bug(registry_app(Registry(engine, clock=FixedClock(T0))))
    with serve(registry) as base:
        _assert_internal(base)
    engine.dispose()
    settings = VerifierSettings(clock=FixedClock(T0), no_trust_check=True)
    verifier = _with_a_bug(verifier_app(settings))
    with serve(verifier) as base:
        _assert_internal(base)
    issuer = make_issuer(tmp_path / "issuer", 8443)
    with serve(_with_a_bug(issuer_app(IssuerSettings(issuer)))) as base:
        _assert_internal(base)
