"""What the reports answer: margins (revenue, cost, net, margin) and revenue recognition, typed.

Every amount is a ``Decimal``. Margins are in one reporting currency (``Figures.currency``); revenue
recognition keeps each grant's basis currency apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")

# ----------------------------------------------------------------------------------------- margins


@dataclass(frozen=True)
class Figures:
    """Revenue and cost of something, and what follows from them."""

    revenue: Decimal
    cost: Decimal
    currency: str

    @property
    def net(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin(self) -> Decimal:
        """``net / revenue × 100`` to two places, half-even; 0 when there is no revenue."""
        if self.revenue == 0:
            return ZERO
        return (self.net / self.revenue * 100).quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class KeyFigures:
    """The figures of one customer, product or vendor id (``key``; vendors carry cost only)."""

    key: str
    figures: Figures


@dataclass(frozen=True)
class DayFigures:
    """The figures of all customers on one UTC day (``YYYY-MM-DD``)."""

    day: str
    figures: Figures


@dataclass(frozen=True)
class CustomerFigures:
    """One customer of a stats page: who it is (name "" when the customer is gone) and its figures."""

    id: str
    external_id: str | None
    name: str
    figures: Figures


@dataclass(frozen=True)
class CustomerFiguresPage:
    """Customers ranked by revenue (highest first, then by id), one page of them, and the totals of all."""

    summary: Figures
    items: tuple[CustomerFigures, ...]
    total_count: int


# ------------------------------------------------------------------------------ revenue recognition


@dataclass(frozen=True)
class RevenueRow:
    """Value consumed and expired in one period, of one asset, from grants of one purpose and basis currency."""

    period: str
    asset: str
    purpose: str
    currency: str | None
    consumed: Decimal
    revenue: Decimal
    cost: Decimal
    expired: Decimal
    breakage: Decimal
    refunded: Decimal = Decimal(0)  # units taken back for refunds (net of refunds put back)
    refunds: Decimal = Decimal(0)  # their value at the grants' revenue basis


@dataclass(frozen=True)
class RevenueTotals:
    """Money recognised over the whole report in one basis currency (``None``: grants without a basis)."""

    currency: str | None
    revenue: Decimal
    marketing_cost: Decimal
    breakage: Decimal
    refunds: Decimal = Decimal(0)


@dataclass(frozen=True)
class RevenueReport:
    """Revenue recognition over ``[period_from, period_to)`` by ``granularity`` ("day" or "month")."""

    period_from: datetime
    period_to: datetime
    granularity: str
    items: tuple[RevenueRow, ...]
    totals: tuple[RevenueTotals, ...]


# ---------------------------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class VendorCost:
    """What one vendor cost in one category (``""``: none given), in USD."""

    vendor_id: str
    category: str
    cost: Decimal


@dataclass(frozen=True)
class FeeTotal:
    """The fees of one price of one product, in the fee's asset, and how many there were."""

    product_id: str
    price_id: str
    asset: str
    amount: Decimal
    count: int


@dataclass(frozen=True)
class SubjectFigures:
    """One subject of one customer: its figures, its events and when the first and last occurred
    (``None`` when it has none: subjects are not registered, an unknown one has zero figures)."""

    customer_id: str
    subject: str
    figures: Figures
    events: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class SubjectStats:
    """A subject's figures over its whole life, with its costs by vendor and category and its fees by
    product and price."""

    totals: SubjectFigures
    costs: tuple[VendorCost, ...]
    fees: tuple[FeeTotal, ...]


@dataclass(frozen=True)
class SubjectPage:
    """Subjects ranked (by revenue, highest first, or by margin, lowest first), one page of them, and
    the totals of all the subjects in range."""

    summary: Figures
    events: int
    items: tuple[SubjectFigures, ...]
    total_count: int
