"""Assets, products, versions and prices, shaped as Credyt's API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt, model_validator

from drawdown.api.schemas.common import (
    UTC,
    Amount,
    AssetCode,
    Key,
    Model,
    Name,
    NonNegativeAmount,
    Strict,
)


class StartingExchangeRate(Model):
    source: AssetCode
    rate: NonNegativeAmount | None = None
    inverse_rate: NonNegativeAmount | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> StartingExchangeRate:
        if self.rate is None and self.inverse_rate is None:
            raise ValueError("give rate or inverse_rate")
        if (self.rate is not None and self.rate == 0) or (self.inverse_rate is not None and self.inverse_rate == 0):
            raise ValueError("a rate must be more than zero")
        return self


class CreateAssetRequest(Model):
    code: AssetCode
    name: Name
    precision: Annotated[int, Field(ge=0, le=9)] | None = None
    label: Annotated[str, Field(max_length=200)] | None = None
    symbol: Annotated[str, Field(max_length=16)] | None = None
    rates: list[StartingExchangeRate] | None = None


class CreateAssetResponse(Model):
    code: str
    created_at: datetime


class ListAssetsItem(Model):
    code: str
    name: str


class AssetExchangeRate(Model):
    valid_from: datetime
    valid_to: datetime | None = None
    rate: Decimal
    inverse_rate: Decimal | None = None


class AssetRates(Model):
    source: str
    schedule: list[AssetExchangeRate]


class GetAssetResponse(Model):
    code: str
    name: str
    precision: int | None = None
    label: str | None = None
    symbol: str | None = None
    rates: list[AssetRates] | None = None
    created_at: datetime


class PriceValue(Strict):
    name: str | None = None
    up_to: PositiveInt | None = None
    unit_price: NonNegativeAmount | None = None
    volume_rate: NonNegativeAmount | None = None
    package_size: PositiveInt | None = None
    max_amount: NonNegativeAmount | None = None
    min_amount: NonNegativeAmount | None = None


class DimensionalPrice(Strict):
    name: str | None = None
    dimensions: dict[Key, Key] = Field(min_length=1)
    values: list[PriceValue] = Field(min_length=1)


class UsageBasedAssetPricing(Model):
    asset: AssetCode
    values: list[DimensionalPrice] | list[PriceValue] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _which(cls, data: Any) -> Any:
        # A list mixing plain and dimensional rows is refused rather than half-understood.
        if isinstance(data, dict) and isinstance(data.get("values"), list):
            kinds = {isinstance(v, dict) and "dimensions" in v for v in data["values"]}
            if len(kinds) > 1:
                raise ValueError("values must be all plain prices or all dimensional prices")
        return data


class UsageCalculation(Model):
    event_type: Key
    usage_type: Literal["unit", "volume", "unit_and_volume", "custom"]
    unit_aggregation: str | None = None
    volume_field: Key | None = None
    volume_aggregation: str | None = None
    billable_dimensions: list[Key] | None = None
    source_reference_field: Key | None = None


class RealTimeBilling(Model):
    type: Literal["real_time"]


class RecurringDetail(Model):
    interval: Literal["day", "week", "month", "year"]
    interval_count: PositiveInt | None = None


class RecurringBilling(Model):
    type: Literal["recurring"]
    recurring: RecurringDetail


class OneTimeDetail(Model):
    service_period: str | None = None


class OneTimeBilling(Model):
    type: Literal["one_time"]
    one_time: OneTimeDetail | None = None


BillingModel = Annotated[RealTimeBilling | RecurringBilling | OneTimeBilling, Field(discriminator="type")]


class Tiering(Model):
    basis: Literal["unit", "volume", "package", "custom"] | None = None
    period: Literal["lifetime", "monthly", "quarterly", "yearly", "custom"] | None = None


class PriceBase(Model):
    id: str | None = None
    name: Name
    pricing_model: Literal["flat", "tiered", "bulk", "package"] | None = None
    tiering: Tiering | None = None
    collection: dict[str, Any] | None = None
    funding_destination: dict[str, Any] | None = None


class UsageBasedPrice(PriceBase):
    type: Literal["usage_based"]
    usage_calculation: UsageCalculation
    billing_model: BillingModel
    pricing: list[UsageBasedAssetPricing] = Field(min_length=1)


class FixedPriceValue(Model):
    name: str | None = None
    unit_price: NonNegativeAmount
    quantity: PositiveInt | None = None


class FixedAssetPricing(Model):
    asset: AssetCode
    values: list[FixedPriceValue] = Field(min_length=1)


class FixedPrice(PriceBase):
    type: Literal["fixed"]
    billing_model: BillingModel
    pricing: list[FixedAssetPricing] = Field(min_length=1)


Price = Annotated[UsageBasedPrice | FixedPrice, Field(discriminator="type")]


class EntitlementRefresh(Model):
    strategy: Literal["expire_and_replace", "rollover"]


class EntitlementLifecycle(Model):
    duration: Literal["day", "week", "month", "year"]
    duration_count: PositiveInt | None = None
    refresh: EntitlementRefresh | None = None


class EntitlementAccounting(Model):
    revenue_basis: NonNegativeAmount
    cost_basis: Literal["auto"]


class Entitlement(Model):
    name: Name
    asset: AssetCode
    amount: Amount
    purpose: Literal["bundled", "promotion"]
    lifecycle: EntitlementLifecycle
    accounting: EntitlementAccounting | None = None
    priority: int | None = None


class CreateProductRequest(Model):
    name: Name
    code: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
    prices: list[Price] = Field(min_length=1)
    entitlements: list[Entitlement] | None = None
    publish: bool | None = None


class CreateProductVersionRequest(Model):
    name: Name | None = None
    prices: list[Price] = Field(min_length=1)
    entitlements: list[Entitlement] | None = None
    publish: bool | None = None


class UpdateProductVersionRequest(Model):
    publish: bool | None = None
    make_default: bool | None = None


class CreateProductResponse(Model):
    id: str
    code: str
    version: int
    status: str
    is_default: bool


class GetProductDataResponse(Model):
    id: str
    code: str
    name: str


class ProductVersionReference(Model):
    version: int
    created_at: datetime
    status: str


class DefaultVersion(Model):
    version: int
    entitlements: list[dict[str, Any]]
    prices: list[dict[str, Any]]


class GetProductResponse(Model):
    id: str
    code: str
    name: str
    default_version: DefaultVersion | None
    versions: list[ProductVersionReference]


class GetProductVersionResponse(Model):
    id: str
    version: int
    code: str
    name: str
    prices: list[dict[str, Any]]
    entitlements: list[dict[str, Any]]
    status: str
    is_default: bool


class ProductSubscriber(Model):
    customer_id: str
    customer_name: str
    external_id: str | None = None
    email: str | None = None
    subscription_id: str
    subscription_status: str
    started_at: UTC
    renews_at: UTC | None = None
    product_rate_plan_id: str
    version: int



class AddAssetRateRequest(Model):
    source: AssetCode
    valid_from: UTC | None = None
    valid_to: UTC | None = None
    rate: Annotated[NonNegativeAmount, Field(gt=0)]


class QuoteAssetRequest(Model):
    source: AssetCode
    amount: NonNegativeAmount
    exchange_at: UTC | None = None


class QuoteAssetResponse(Model):
    source: str
    source_amount: Decimal
    destination: str
    destination_amount: Decimal
    rate: Decimal
    inverse_rate: Decimal | None = None
