"""Saved cards and auto top-up (Drawdown extensions: Credyt has no such operations)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from drawdown.api.schemas.common import Amount, Model

StripeId = Annotated[str, StringConstraints(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]


class SavedCard(Model):
    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool


class PaymentMethodList(Model):
    items: list[SavedCard]


class AddPaymentMethodRequest(Model):
    payment_method_id: StripeId = Field(description="A Stripe PaymentMethod (pm_…) to keep for the customer")


class AutoTopUpRequest(Model):
    enabled: bool
    threshold: Amount = Field(description="Top up when `available` falls below this (units of the account's asset)")
    amount: Amount = Field(description="Units of the account's asset bought each time")
    payment_method_id: StripeId | None = Field(
        None, description="One of the customer's cards; default: its default card"
    )
    monthly_limit: Amount | None = Field(None, description="At most this many units bought per calendar month")


class AutoTopUpAttempt(Model):
    id: str
    status: str
    amount: Decimal
    currency: str
    credited: Decimal | None
    message: str | None
    created_at: datetime
    settled_at: datetime | None


class AutoTopUpResponse(Model):
    account_id: str
    enabled: bool
    threshold: Decimal
    amount: Decimal
    payment_method_id: str | None
    monthly_limit: Decimal | None
    failures: int
    paused: bool
    paused_at: datetime | None
    attempts: list[AutoTopUpAttempt]
