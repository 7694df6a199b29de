"""The `serve` commands configured by environment variables (issue 19: containers).

One `pydantic-settings` class per service maps documented `ANCRE_*` variables onto that
service's `serve` options (docs/configuration.md lists them; docs/deployment.md shows them in
`compose.yaml`). A command-line option always wins: a variable only fills an option left at
its default. A malformed value (a port that is not a number…) stops the service with exit 64
naming the variable, before anything is opened.

Imported only by a `serve` command about to run (`ancre.cli.serving.with_environment`), so
no other command pays for pydantic-settings at start-up.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "IssuerServeSettings",
    "RegistryServeSettings",
    "VerifierServeSettings",
    "environment_overrides",
]

#: More worker processes than this is a typo, not a deployment (scale out with replicas).
MAX_WORKERS = 64


class _ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", env_ignore_empty=True, populate_by_name=False
    )


class RegistryServeSettings(_ServeSettings):
    """`ancre registry serve`."""

    host: str | None = Field(None, validation_alias="ANCRE_REGISTRY_HOST")
    port: int | None = Field(None, validation_alias="ANCRE_REGISTRY_PORT", ge=1, le=65535)
    workers: int | None = Field(
        None, validation_alias="ANCRE_REGISTRY_WORKERS", ge=1, le=MAX_WORKERS
    )
    database: str | None = Field(None, validation_alias="ANCRE_REGISTRY_DATABASE_URL")
    pin_file: Path | None = Field(None, validation_alias="ANCRE_REGISTRY_PKCS11_PIN_FILE")
    pkcs11_module: Path | None = Field(None, validation_alias="ANCRE_REGISTRY_PKCS11_MODULE")


class IssuerServeSettings(_ServeSettings):
    """`ancre issuer serve`."""

    host: str | None = Field(None, validation_alias="ANCRE_ISSUER_HOST")
    port: int | None = Field(None, validation_alias="ANCRE_ISSUER_PORT", ge=1, le=65535)
    workers: int | None = Field(None, validation_alias="ANCRE_ISSUER_WORKERS", ge=1, le=MAX_WORKERS)
    public_url: str | None = Field(None, validation_alias="ANCRE_ISSUER_PUBLIC_URL")
    trust_list: str | None = Field(None, validation_alias="ANCRE_ISSUER_TRUST_LIST")
    registry_key: str | None = Field(None, validation_alias="ANCRE_ISSUER_REGISTRY_KEY")
    pin_file: Path | None = Field(None, validation_alias="ANCRE_ISSUER_PKCS11_PIN_FILE")
    pkcs11_module: Path | None = Field(None, validation_alias="ANCRE_ISSUER_PKCS11_MODULE")


class VerifierServeSettings(_ServeSettings):
    """`ancre verifier serve`."""

    host: str | None = Field(None, validation_alias="ANCRE_VERIFIER_HOST")
    port: int | None = Field(None, validation_alias="ANCRE_VERIFIER_PORT", ge=1, le=65535)
    workers: int | None = Field(
        None, validation_alias="ANCRE_VERIFIER_WORKERS", ge=1, le=MAX_WORKERS
    )
    trust_list: str | None = Field(None, validation_alias="ANCRE_VERIFIER_TRUST_LIST")
    registry_did: str | None = Field(None, validation_alias="ANCRE_VERIFIER_REGISTRY_KEY")
    public_url: str | None = Field(None, validation_alias="ANCRE_VERIFIER_PUBLIC_URL")
    cache_dir: Path | None = Field(None, validation_alias="ANCRE_VERIFIER_CACHE_DIR")
    ca_file: Path | None = Field(None, validation_alias="ANCRE_VERIFIER_CA_FILE")
    log_format: str | None = Field(None, validation_alias="ANCRE_VERIFIER_LOG_FORMAT")
    log_level: str | None = Field(None, validation_alias="ANCRE_VERIFIER_LOG_LEVEL")
    openid4vp_key: Path | None = Field(None, validation_alias="ANCRE_VERIFIER_OPENID4VP_KEY")
    openid4vp_database: str | None = Field(
        None, validation_alias="ANCRE_VERIFIER_OPENID4VP_DATABASE_URL"
    )


def environment_overrides(
    settings_class: type[BaseSettings], values: dict[str, Any], from_command_line: set[str]
) -> dict[str, Any]:
    """`values` (a command's arguments) with each one not in `from_command_line` replaced
    by its environment variable, when set. Exit 64 on a malformed variable."""
    try:
        found = settings_class().model_dump(exclude_none=True)
    except ValidationError as error:
        problems = "; ".join(
            f"${'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
        sys.stderr.write(f"ancre: {problems}; not starting\n")
        raise typer.Exit(64) from None
    merged = dict(values)
    for name, value in found.items():
        if name in merged and name not in from_command_line:
            merged[name] = value
    return merged
