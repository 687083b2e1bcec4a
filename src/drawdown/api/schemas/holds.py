"""Holds (Drawdown extension): request bodies and response shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from drawdown.api.schemas.common import UTC, Amount, Key, Metadata, Model, Text
from drawdown.api.schemas.events import EventData
from drawdown.core.holds import MAX_TTL


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be more than zero")
    return value


PositiveAmount = Annotated[Amount, AfterValidator(_positive)]


class HoldEstimate(Model):
    """An event not yet sent: the hold is what it would cost now."""

    event_type: Key
    data: EventData | None = None


class CreateHoldRequest(Model):
    hold_id: Key
    amount: PositiveAmount | None = None
    estimate: HoldEstimate | None = None
    expires_at: UTC | None = None
    ttl_seconds: int | None = Field(None, ge=1, le=int(MAX_TTL.total_seconds()))
    description: Text | None = None
    metadata: Metadata | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> CreateHoldRequest:
        if (self.amount is None) == (self.estimate is None):
            raise ValueError("amount: give amount or estimate (exactly one)")
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise ValueError("ttl_seconds: give expires_at or ttl_seconds, not both")
        return self


class HoldSettlement(Model):
    fee_id: str
    event_id: str
    amount: Decimal
    from_hold: Decimal
    created_at: datetime


class Hold(Model):
    id: str
    account_id: str
    asset: str
    status: str
    amount: Decimal
    settled: Decimal
    held: Decimal
    released: Decimal
    expires_at: datetime
    closed_at: datetime | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    estimate: dict[str, Any] | None = None
    created_at: datetime
    settlements: list[HoldSettlement]


class HoldCheck(Model):
    dry_run: bool
    account_id: str
    asset: str
    amount: Decimal
    would_succeed: bool
    missing: Decimal
