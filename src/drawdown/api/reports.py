"""/reports (Drawdown extension): revenue recognition."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from drawdown.api.routing import Context, ExactJSONResponse, context, router
from drawdown.api.scoping import CallerScope
from drawdown.api.shapes import reports as shapes
from drawdown.core.errors import Invalid
from drawdown.core.scopes import Scope
from drawdown.db.engine import read
from drawdown.reports import revenue as recognition

api = router("Reports")


class RevenueRow(BaseModel):
    period: str
    asset: str
    purpose: str
    currency: str | None
    consumed: Decimal
    revenue: Decimal
    cost: Decimal
    expired: Decimal
    breakage: Decimal
    refunded: Decimal = Field(description="Units taken back for refunds (net of refunds put back)")
    refunds: Decimal = Field(description="The refunded units' value at their grants' revenue basis")


class RevenueTotals(BaseModel):
    currency: str | None
    revenue: Decimal
    marketing_cost: Decimal
    breakage: Decimal
    refunds: Decimal


class RevenueReport(BaseModel):
    period_from: datetime
    period_to: datetime
    granularity: str
    items: list[RevenueRow]
    totals: list[RevenueTotals]


@api.get(
    "/reports/revenue",
    response_model=RevenueReport,
    summary="Revenue recognised, marketing cost and breakage per period",
)
def revenue(
    period_from: date = Query(..., description="First day (UTC, inclusive)"),
    period_to: date = Query(..., description="Last day (UTC, inclusive)"),
    granularity: Literal["day", "month"] = Query("month"),
    customer_id: str | None = Query(None),
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    if period_to < period_from:
        raise Invalid.field("period_to", "must not be before period_from")
    start = datetime.combine(period_from, time.min, tzinfo=UTC)
    end = datetime.combine(period_to, time.min, tzinfo=UTC) + timedelta(days=1)
    with read(ctx.engine) as conn:
        report = recognition.report(conn, scope, start, end, granularity, customer_id)
    return ExactJSONResponse(shapes.revenue_report(report))
