"""Usage events and fees, shaped as Credyt's API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, PlainValidator, StringConstraints, WithJsonSchema, model_validator

from drawdown.api.schemas.common import UTC, Amount, Key, Model


def _data_value(value: Any) -> Any:
    if isinstance(value, (bool, int, Decimal)):
        return value
    if isinstance(value, str):
        if len(value) > 2000:
            raise ValueError("a string value may be at most 2000 characters")
        return value
    raise ValueError("must be a string, a boolean or a number")


DataValue = Annotated[
    Any,
    PlainValidator(_data_value),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "boolean"}, {"type": "number"}]}),
]
EventData = dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], DataValue]


class ProfitabilityStats(Model):
    gross_revenue: Decimal
    total_costs: Decimal
    net_revenue: Decimal
    margin: Decimal
    currency: str


class CostData(Model):
    id: Key
    vendor_id: Key | None = None
    vendor_external_id: Key | None = None
    category: str | None = None
    description: str | None = None
    metadata: dict[str, DataValue] | None = None
    units: Amount | None = None
    unit_price: Amount | None = None
    input_volume: Amount | None = None
    volume_rate: Amount | None = None
    package_size: Amount | None = None
    amount: Amount | None = None
    currency: str | None = None

    @model_validator(mode="after")
    def _amount(self) -> CostData:
        if (
            self.amount is None
            and not (self.units is not None and self.unit_price is not None)
            and not (self.input_volume is not None and self.volume_rate is not None)
        ):
            raise ValueError("give amount, or units and unit_price, or input_volume and volume_rate")
        if not self.vendor_id and not self.vendor_external_id:
            raise ValueError("give vendor_id or vendor_external_id")
        return self


class UsageEvent(Model):
    id: Key
    event_type: Key
    occurred_at: UTC
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    data: EventData | None = None
    costs: list[CostData] | None = None
    hold_id: Key | None = None  # Drawdown extension: settle against this hold first (or data.hold_id)


class UsageRequest(Model):
    customer_id: Key | None = None
    customer_external_id: Key | None = None
    events: list[UsageEvent] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _customer(self) -> UsageRequest:
        if not self.customer_id and not self.customer_external_id:
            raise ValueError("give customer_id or customer_external_id")
        return self


class SimulateUsageRequest(Model):
    events: list[UsageEvent] = Field(min_length=1, max_length=1000)


class FeeFields(Model):
    price_id: str
    price_name: str
    currency: str
    dimensions: dict[str, str] | None = None
    usage_type: str
    volume_field: str | None = None
    input_volume: Decimal | None = None
    unit_price: Decimal | None = None
    volume_rate: Decimal | None = None
    package_size: int | None = None
    description: str | None = None
    amount: Decimal


class EventFee(FeeFields):
    id: str
    product_id: str
    product_code: str
    product_version: int


class CalculatedFee(FeeFields):
    usage_id: str
    event_type: str


class SimulateUsageResponse(Model):
    fees: list[CalculatedFee]
    warnings: list[str] | None = None


class GetEventResponse(Model):
    id: str
    event_type: str
    occurred_at: datetime
    subject: str | None = None
    description: str | None = None
    data: dict[str, DataValue] | None = None
    costs: list[CostData] | None = None
    customer_id: str
    created_at: datetime
    fees: list[EventFee]
    stats: ProfitabilityStats | None = None


class FeeTotal(Model):
    currency: str
    amount: Decimal


class ListEventsItem(Model):
    id: str
    customer_id: str
    external_id: str | None
    event_type: str
    subject: str | None = None
    description: str | None = None
    occurred_at: datetime
    created_at: datetime
    total_fees: Decimal | None = Field(
        None, description="The event's fees in fee_currency (never summed across currencies)"
    )
    fee_currency: str | None = Field(None, description="The currency of total_fees: the lowest code when several")
    fee_totals: list[FeeTotal] = Field(
        default_factory=list, description="Drawdown extension: one total per currency the event was billed in"
    )
    has_fees: bool
    stats: ProfitabilityStats | None = None
