"""Vendors and profitability, shaped as Credyt's API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from drawdown.api.schemas.common import Key, Model, Name


class CreateVendorRequest(Model):
    name: Name
    external_id: Key | None = None


class CreateVendorResponse(Model):
    id: str
    created_at: datetime


class VendorSummary(Model):
    id: str
    external_id: str | None = None
    name: str
    created_at: datetime


class VendorCategoryStats(Model):
    category: str
    cost: Decimal


class VendorStats(Model):
    total_costs: Decimal
    categories: list[VendorCategoryStats]


class Profitability(Model):
    gross_revenue: Decimal
    total_costs: Decimal
    net_revenue: Decimal
    margin: Decimal
    currency: str


class CustomerStatsItem(Model):
    id: str
    external_id: str | None = None
    name: str
    stats: Profitability


class CustomerStatsPage(Model):
    summary: Profitability
    period_from: date | None
    period_to: date | None
    items: list[CustomerStatsItem]
    total_count: int
    limit: int
    offset: int
