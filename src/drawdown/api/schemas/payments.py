"""Top-ups and refunds, shaped as Credyt's API (InitiateTopUpRequest, GetTopUpResponse, …)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from drawdown.api.schemas.common import UTC, Amount, AssetCode, Metadata, Model, Text
from drawdown.api.schemas.wallets import AccountName


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be more than zero")
    return value


def _web_address(value: str) -> str:
    # The payment page sends the customer there: only web addresses, never javascript: or data:.
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http:// or https:// address")
    return value


PositiveAmount = Annotated[Amount, AfterValidator(_positive)]
WebAddress = Annotated[str, StringConstraints(min_length=8, max_length=2000), AfterValidator(_web_address)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TopUpDestination(Model):
    account_name: AccountName | None = None
    asset: AssetCode
    exchange_rate: PositiveAmount | None = Field(
        None, description="Currency per unit of the asset; default: the asset's rate in force"
    )


class InitiateTopUpRequest(Model):
    customer_id: Id
    amount: PositiveAmount = Field(description="Money, in the currency's major unit (at most its minor-unit places)")
    currency: AssetCode
    description: Text | None = None
    destination: TopUpDestination | None = None
    credit_expires_at: UTC | None = None
    return_url: WebAddress
    failure_url: WebAddress
    metadata: Metadata | None = None


class InitiateTopUpResponse(Model):
    id: str
    status: str
    redirect_url: str
    created_at: datetime
    expires_at: datetime


class TopUpDestinationView(Model):
    account_name: str
    asset: str
    exchange_rate: Decimal | None = None


class GetTopUpResponse(Model):
    id: str
    customer_id: str
    amount: Decimal
    currency: str
    destination: TopUpDestinationView
    status: str
    kind: str = Field(description="Drawdown extension: api, auto (auto top-up) or subscription")
    created_at: datetime
    expires_at: datetime
    credited: Decimal | None = Field(None, description="Drawdown extension: units of the asset credited")
    refunded: Decimal = Field(description="Drawdown extension: money refunded")
    failure_message: str | None = None


class CreateRefundRequest(Model):
    amount: PositiveAmount | None = Field(
        None, description="Money to give back, in the top-up's currency; default: all that is still refundable"
    )


class RefundResponse(Model):
    id: str
    top_up_id: str
    amount: Decimal
    status: str = Field(description="pending, succeeded or failed")
    failure_message: str | None = None
    created_at: datetime
