"""What the catalog is asked to do (commands) and what it answers (results).

Price and entitlement documents stay JSON documents (``Document``): that is how a version stores
them, and ``drawdown.core.catalog`` is what reads and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

Document = dict[str, Any]
VersionRef = int | str
"""A version number, or the string "default" for the product's default version."""


# ----------------------------------------------------------------------------------------- assets
@dataclass(frozen=True)
class StartingRate:
    """An asset's rate from the beginning, given as a rate or as its inverse (one of the two)."""

    source: str
    rate: Decimal | None = None
    inverse_rate: Decimal | None = None


@dataclass(frozen=True)
class NewAsset:
    code: str
    name: str
    precision: int | None = None
    label: str | None = None
    symbol: str | None = None
    rates: tuple[StartingRate, ...] = ()


@dataclass(frozen=True)
class AssetCreated:
    code: str
    created_at: datetime


@dataclass(frozen=True)
class AssetSummary:
    code: str
    name: str


@dataclass(frozen=True)
class RatePeriod:
    valid_from: datetime
    valid_to: datetime | None
    rate: Decimal
    inverse_rate: Decimal


@dataclass(frozen=True)
class RateSchedule:
    """One source currency's rates, latest start first."""

    source: str
    periods: tuple[RatePeriod, ...]


@dataclass(frozen=True)
class Asset:
    code: str
    name: str
    precision: int
    label: str | None
    symbol: str | None
    schedules: tuple[RateSchedule, ...]
    created_at: datetime


# ---------------------------------------------------------------------------------- exchange rates
@dataclass(frozen=True)
class Rate:
    source: str
    rate: Decimal
    valid_from: datetime
    valid_to: datetime | None


@dataclass(frozen=True)
class NewRate:
    """A rate to schedule; it starts now unless ``valid_from`` says otherwise, open-ended unless ``valid_to``."""

    source: str
    rate: Decimal
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass(frozen=True)
class QuoteRequest:
    source: str
    amount: Decimal
    exchange_at: datetime | None = None


@dataclass(frozen=True)
class Quote:
    source: str
    source_amount: Decimal
    destination: str
    destination_amount: Decimal
    rate: Decimal
    inverse_rate: Decimal


# --------------------------------------------------------------------------------------- products
@dataclass(frozen=True)
class NewProduct:
    code: str
    name: str
    prices: list[Document]
    entitlements: list[Document] = field(default_factory=list)
    publish: bool = False


@dataclass(frozen=True)
class NewVersion:
    prices: list[Document]
    entitlements: list[Document] = field(default_factory=list)
    publish: bool = False


@dataclass(frozen=True)
class VersionUpdate:
    """``publish`` None leaves the status alone; False asks for a draft (refused once published)."""

    publish: bool | None = None
    make_default: bool = False


@dataclass(frozen=True)
class VersionCreated:
    product_id: str
    code: str
    version: int
    status: str
    is_default: bool


@dataclass(frozen=True)
class ProductSummary:
    id: str
    code: str
    name: str


@dataclass(frozen=True)
class ProductVersion:
    product_id: str
    code: str
    name: str
    version: int
    status: str
    is_default: bool
    prices: list[Document]
    entitlements: list[Document]
    created_at: datetime


@dataclass(frozen=True)
class Product:
    id: str
    code: str
    name: str
    default: ProductVersion | None
    versions: tuple[ProductVersion, ...]
    """Latest version first."""


@dataclass(frozen=True)
class Subscriber:
    customer_id: str
    customer_name: str
    external_id: str | None
    email: str | None
    subscription_id: str
    subscription_status: str
    started_at: datetime
    renews_at: datetime | None
    product_id: str
    version: int
