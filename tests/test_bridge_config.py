"""The login bridge's configuration file (`ancre issuer serve --login FILE`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ancre.issuer.bridge import load_login_settings
from ancre.issuer.login import PROCONNECT_SCOPES
from ancre.trust.errors import ConfigurationError

PUBLIC = "https://issuer.example"


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "login.json"
    path.write_text(json.dumps(data))
    return path


def test_configuration_reads_the_secret_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, {"provider": {
        "issuer": "https://fca.integ01.dev-agentconnect.fr/api/v2", "client_id": "abc",
        "client_secret_env": "PROCONNECT_SECRET",
    }})  # fmt: skip
    settings = load_login_settings(path, public_url=PUBLIC, environ={"PROCONNECT_SECRET": "s3"})
    assert settings.provider.client_secret == "s3"
    assert settings.provider.redirect_uri == f"{PUBLIC}/login/callback"
    assert settings.provider.scopes == PROCONNECT_SCOPES
    assert settings.register_url == "https://recherche-entreprises.api.gouv.fr"
    assert settings.provider.post_logout_redirect_uri == f"{PUBLIC}/login/logged-out"
    assert settings.vies_url is None  # no VIES: a login does not yield VatID


def test_vies_is_enabled_by_its_url(tmp_path: Path) -> None:
    vies = "https://ec.europa.eu/taxation_customs/vies/rest-api"
    path = write(tmp_path, {
        "provider": {"issuer": "https://op.example", "client_id": "a", "client_secret_env": "S"},
        "register": {"vies_url": vies},
    })  # fmt: skip
    assert load_login_settings(path, public_url=PUBLIC, environ={"S": "x"}).vies_url == vies


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"provider": {"issuer": "https://op.example", "client_id": "a"}}, "client_secret_env"),
        ({"provider": {"issuer": "http://op.example", "client_id": "a",
                       "client_secret_env": "S"}}, "https"),
        ({"provider": {"issuer": "https://op.example", "client_id": "a",
                       "client_secret_env": "UNSET"}}, "unset"),
        ({"provider": {"issuer": "https://op.example", "client_id": "a",
                       "client_secret_env": "S", "client_secret": "inline"}}, "members"),
        ({"provider": {"issuer": "https://op.example", "client_id": "a",
                       "client_secret_env": "S", "scopes": ["email"]}}, "openid"),
        ({"other": {}}, "provider"),
        ({"provider": {"issuer": "https://op.example", "client_id": "a",
                       "client_secret_env": "S"}, "register": {"vies_url": "http://v"}},
         "vies_url"),
    ],
)  # fmt: skip
def test_bad_configurations_are_refused(tmp_path: Path, data: object, why: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_login_settings(write(tmp_path, data), public_url=PUBLIC, environ={"S": "x"})
    assert why in refused.value.message
