"""The registry API's request bodies (pydantic models) and the conversions routes apply to
them. Text with control characters fails validation as `invalid_characters`: a 400."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from ancre.trust.trust_list.model import ClaimConstraint, EntryStatus

from ..service import RegistryError, Role, check_text

_DID = r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$"


def _no_controls(value: str) -> str:
    try:
        check_text(value, "text")
    except RegistryError:
        raise PydanticCustomError(
            "invalid_characters", "control characters (NUL, line breaks…) are not allowed"
        ) from None
    return value


def _no_controls_multiline(value: str) -> str:
    try:
        check_text(value, "text", multiline=True)
    except RegistryError:
        raise PydanticCustomError(
            "invalid_characters", "control characters (NUL…) are not allowed"
        ) from None
    return value


#: Text the registry stores: no NUL or other control characters (PostgreSQL answered a NUL
#: with a 500; issue 12 point 6).
Text = Annotated[str, AfterValidator(_no_controls)]
MultilineText = Annotated[str, AfterValidator(_no_controls_multiline)]


class ConstraintIn(BaseModel):
    claim: Text = Field(min_length=1, max_length=512, pattern=r"^[^.\s]+(\.[^.\s]+)*$")
    allowed: list[Annotated[Text, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=64, alias="in"
    )


class AnchorIn(BaseModel):
    id: Text = Field(min_length=1, max_length=2048)
    name: Text = Field(min_length=1, max_length=512)
    x509_pem: MultilineText | None = Field(default=None, max_length=65536)


class IssuerIn(BaseModel):
    did: Text = Field(pattern=_DID, max_length=2048)
    legal_name: Text = Field(min_length=1, max_length=512)
    registration_number: Text | None = Field(default=None, max_length=64)
    accredited_by: Text = Field(min_length=1, max_length=2048)
    credential_types: dict[Text, list[ConstraintIn]] = Field(min_length=1, max_length=64)
    effective_from: datetime | None = None


class StatusIn(BaseModel):
    status: EntryStatus
    reason: Text = Field(min_length=1, max_length=1024)
    effective_from: datetime | None = None


class GrantIn(BaseModel):
    credential_type: Text = Field(min_length=1, max_length=256)
    constraints: list[ConstraintIn] = Field(default_factory=list, max_length=64)


class WithdrawTypeIn(BaseModel):
    credential_type: Text = Field(min_length=1, max_length=256)
    reason: Text = Field(min_length=1, max_length=1024)
    effective_from: datetime | None = None


class ChainIn(BaseModel):
    certs: MultilineText = Field(min_length=1, max_length=256 * 1024)


class TokenIn(BaseModel):
    name: Text = Field(min_length=1, max_length=256)
    role: Role
    #: Who will hold the token (default: its name). The two-person rule counts persons.
    person: Text | None = Field(default=None, min_length=1, max_length=256)


class RuleIn(BaseModel):
    enabled: bool


def constraints(items: list[ConstraintIn]) -> list[ClaimConstraint]:
    return [ClaimConstraint(c.claim, tuple(c.allowed)) for c in items]


def aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
