"""Field types shared by the request models."""

from __future__ import annotations

from datetime import UTC as UTC_ZONE
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from drawdown.api.jsonio import within_calendar
from drawdown.core.money import MoneyError, check_exact

T = TypeVar("T")


def _exact(value: Decimal) -> Decimal:
    try:
        return check_exact(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone (use Z for UTC)")
    # A day's room at the calendar's ends: moving to UTC, or a day's arithmetic later, must not overflow.
    if not within_calendar(value):
        raise ValueError("must be between 0001-01-02 and 9999-12-30 (UTC)")
    return value.astimezone(UTC_ZONE)


Amount = Annotated[Decimal, AfterValidator(_exact)]
NonNegativeAmount = Annotated[Decimal, AfterValidator(_exact), AfterValidator(_non_negative)]
UTC = Annotated[datetime, AfterValidator(_utc)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AssetCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
]
Metadata = dict[Annotated[str, StringConstraints(max_length=200)], Annotated[str, StringConstraints(max_length=2000)]]


class Model(BaseModel):
    """Request models ignore unknown fields (Credyt's clients send fields we may not know yet)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total_count: int
    limit: int
    offset: int


class ProblemDetails(BaseModel):
    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None


class ValidationProblem(ProblemDetails):
    errors: dict[str, list[str]] = Field(default_factory=dict)
