"""What the portal's data services answer (usage, transactions, credits, spend): one customer's, already
in its scope. Amounts are exact Decimals; ``format_amount`` shows them in the asset's precision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_amount(value: Decimal, precision: int) -> str:
    """``value`` with the asset's ``precision`` places and thousands separators; a value finer than the
    precision (a fee of 0.000000001 USD) keeps its own places rather than being shown rounded."""
    exponent = value.normalize().as_tuple().exponent
    places = max(precision, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{value:,.{places}f}"


def short_date(at: datetime) -> str:
    """``1 Dec`` (the UTC day)."""
    return f"{at.day} {MONTHS[at.month - 1]}"


@dataclass(frozen=True)
class UsageFilter:
    """The usage page's filters: recorded from ``date_from`` (included) to ``date_to`` (excluded), and
    only events with a fee of ``product_id``."""

    date_from: datetime | None = None
    date_to: datetime | None = None
    product_id: str | None = None


@dataclass(frozen=True)
class UsageFee:
    product_id: str
    product_code: str
    product_name: str | None
    price_name: str
    amount: Decimal
    asset: str


@dataclass(frozen=True)
class UsageItem:
    """One event of the customer, with the fees it made."""

    id: str
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    subject: str | None
    description: str | None
    fees: tuple[UsageFee, ...]


@dataclass(frozen=True)
class GrantTouch:
    """A grant a transaction moved value into or out of."""

    grant_id: str
    purpose: str


@dataclass(frozen=True)
class TransactionItem:
    """One ledger transaction of the customer. ``kind``: top_up, adjustment, refund, fee, charge, expiry,
    entitlement or rollover; ``amount`` signed (credits positive, debits negative)."""

    id: str
    transaction_id: str
    kind: str
    amount: Decimal
    asset: str
    account: str
    description: str | None
    at: datetime
    grants: tuple[GrantTouch, ...]


@dataclass(frozen=True)
class CreditItem:
    """A live or pending grant: what is left of it and when it expires."""

    grant_id: str
    purpose: str
    state: str  # live or pending
    remaining: Decimal
    amount: Decimal
    asset: str
    asset_label: str | None
    precision: int
    account: str
    effective_at: datetime
    expires_at: datetime | None

    def phrase(self) -> str:
        """``100 credits expire on 1 Dec``: what is left, in the asset's precision and label (or code)."""
        what = f"{format_amount(self.remaining, self.precision)} {self.asset_label or self.asset}"
        if self.state == "pending":
            return f"{what} become available on {short_date(self.effective_at)}"
        if self.expires_at is None:
            return f"{what}, no expiry"
        return f"{what} expire on {short_date(self.expires_at)}"


@dataclass(frozen=True)
class DaySpend:
    day: date
    amount: Decimal


@dataclass(frozen=True)
class SpendSeries:
    """Spend in one asset: month to date, and each of the last 30 UTC days (oldest first, zeros
    included)."""

    asset: str
    precision: int
    month_to_date: Decimal
    daily: tuple[DaySpend, ...]


@dataclass(frozen=True)
class OverviewFigures:
    month_start: datetime
    spend: tuple[SpendSeries, ...]
