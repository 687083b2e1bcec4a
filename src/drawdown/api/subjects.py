"""Profitability per subject (Drawdown extension): what a task or an outcome cost and earned.

``GET /customers/{customerId}/subjects/{subject}/stats``, ``GET /customers/{customerId}/subjects`` and
``GET /subjects/stats``; figures from ``reports.subjects`` (maintained on write, docs/profitability.md).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import Depends, Path, Query

from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, router
from drawdown.api.schemas.subjects import SubjectStats, SubjectStatsPage
from drawdown.api.scoping import CallerScope
from drawdown.api.shapes.reports import stats as profitability
from drawdown.api.vendors import day
from drawdown.core.scopes import Scope
from drawdown.customers import service as customers
from drawdown.db.engine import read
from drawdown.reports import subjects
from drawdown.reports.models import SubjectFigures, SubjectPage
from drawdown.reports.models import SubjectStats as Stats

api = router("Subjects")

Order = Literal["revenue", "margin"]
ORDER = Query("revenue", description="revenue: highest first; margin: lowest first (the loss-makers)")
# A period holds the subjects that started in it, with their whole lives' figures (docs/profitability.md).
FROM = Query(None, description="First day (UTC, inclusive) a listed subject may have started")
TO = Query(None, description="Last day (UTC, inclusive) a listed subject may have started")
# As long as an event's subject may be; ``:path`` lets a subject hold '/' (e.g. "runs/42").
SUBJECT = Path(max_length=500, description="The events' subject (not registered: an unknown one has zero figures)")


def _summary(s: SubjectFigures) -> dict[str, Any]:
    return {"customer_id": s.customer_id, "subject": s.subject, "event_count": s.events,
            "first_occurred_at": s.first_at, "last_occurred_at": s.last_at, "stats": profitability(s.figures)}


def _stats(s: Stats) -> dict[str, Any]:
    return {
        **_summary(s.totals),
        "costs": [{"vendor_id": c.vendor_id, "category": c.category or None, "cost": c.cost} for c in s.costs],
        "fees": [{"product_id": f.product_id, "price_id": f.price_id, "asset": f.asset, "amount": f.amount,
                  "count": f.count} for f in s.fees],
    }


def _page(p: SubjectPage, order: str, start: date | None, end: date | None, limit: int, offset: int) -> dict[str, Any]:
    return {"summary": {**profitability(p.summary), "event_count": p.events}, "order": order,
            "period_from": day(start), "period_to": day(end), "items": [_summary(s) for s in p.items],
            "total_count": p.total_count, "limit": limit, "offset": offset}


@api.get(
    "/customers/{customerId}/subjects/{subject:path}/stats", response_model=SubjectStats,
    summary="A subject's profitability, events, costs by vendor and fees by price (Drawdown extension)",
)
def subject_stats(
    customerId: str, subject: str = SUBJECT, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        customers.get_customer(conn, scope, customerId, ctx.now())  # 404 unless the customer is the caller's
        return ExactJSONResponse(_stats(subjects.stats(conn, scope, customerId, subject)))


@api.get(
    "/customers/{customerId}/subjects", response_model=SubjectStatsPage,
    summary="A customer's subjects over a period, ranked by revenue or margin (Drawdown extension)",
)
def customer_subjects(
    customerId: str, order: Order = ORDER, period_from: date | None = FROM, period_to: date | None = TO,
    offset: int = Offset, limit: int = Limit, ctx: Context = Depends(context), scope: Scope = CallerScope,
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        customers.get_customer(conn, scope, customerId, ctx.now())
        result = subjects.ranked(conn, scope, customerId, day(period_from), day(period_to), order, offset, limit)
    return ExactJSONResponse(_page(result, order, period_from, period_to, limit, offset))


@api.get(
    "/subjects/stats", response_model=SubjectStatsPage,
    summary="Subjects of all customers over a period, ranked, with a summary (Drawdown extension)",
)
def all_subjects(
    order: Order = ORDER, period_from: date | None = FROM, period_to: date | None = TO,
    offset: int = Offset, limit: int = Limit, ctx: Context = Depends(context), scope: Scope = CallerScope,
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        result = subjects.ranked(conn, scope, None, day(period_from), day(period_to), order, offset, limit)
    return ExactJSONResponse(_page(result, order, period_from, period_to, limit, offset))
