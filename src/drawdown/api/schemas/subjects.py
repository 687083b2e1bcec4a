"""Profitability per subject (Drawdown extension), shaped like Credyt's profitability object."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from drawdown.api.schemas.common import Model
from drawdown.api.schemas.vendors import Profitability


class SubjectVendorCost(Model):
    vendor_id: str
    category: str | None
    cost: Decimal


class SubjectFee(Model):
    product_id: str
    price_id: str
    asset: str
    amount: Decimal
    count: int


class SubjectSummary(Model):
    customer_id: str
    subject: str
    event_count: int
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None
    stats: Profitability


class SubjectStats(SubjectSummary):
    costs: list[SubjectVendorCost]
    fees: list[SubjectFee]


class SubjectsSummary(Profitability):
    event_count: int


class SubjectStatsPage(Model):
    summary: SubjectsSummary
    order: str
    period_from: date | None
    period_to: date | None
    items: list[SubjectSummary]
    total_count: int
    limit: int
    offset: int
