"""Profitability: revenue, cost and margin per event, customer, product and vendor, in USD.

Revenue follows the revenue-recognition rules of grants: value drawn from paid and bundled grants
counts at each grant's revenue basis; promotional value is not revenue; value taken on overdraft
counts at the asset's value in USD (it is owed). Recurring usage, charged at period end, counts at
the asset's value when the event is recorded. Costs are converted into USD at the rates in force at
the event's time. ``net = gross - costs``; ``margin = net / gross × 100`` rounded to two places
(0 when there is no revenue).

Every figure is also added, in the same transaction, to ``stats_daily`` (per UTC day, customer,
product, vendor and category), which the stats endpoints read: exact integer sums on both backends,
independent of how many events there are.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.store.rates import REPORTING
from drawdown.store.tables import customers, stats_daily

ZERO = Decimal(0)


def figures(revenue: Decimal, cost: Decimal) -> dict:
    net = revenue - cost
    margin = ZERO if revenue == 0 else (net / revenue * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return {"gross_revenue": revenue, "total_costs": cost, "net_revenue": net, "margin": margin, "currency": REPORTING}


def add(conn: Connection, day: str, customer_id: str, product_id: str, vendor_id: str, category: str, revenue: Decimal, cost: Decimal) -> None:
    """Add to one rollup row (the caller holds the customer lock, so read-then-write is safe)."""
    s = stats_daily.c
    key = (s.day == day) & (s.customer_id == customer_id) & (s.product_id == product_id) & (s.vendor_id == vendor_id) & (s.category == category)
    row = conn.execute(select(s.revenue, s.cost).where(key)).first()
    r, c = to_scaled(quantize(revenue)), to_scaled(quantize(cost))
    if row is None:
        conn.execute(insert(stats_daily).values(day=day, customer_id=customer_id, product_id=product_id, vendor_id=vendor_id,
                                                category=category, revenue=r, cost=c))
    else:
        conn.execute(update(stats_daily).where(key).values(revenue=s.revenue + r, cost=s.cost + c))


def _range(start: str | None, end: str | None) -> list[Any]:
    conds = []
    if start:
        conds.append(stats_daily.c.day >= start)
    if end:
        conds.append(stats_daily.c.day <= end)
    return conds


def customer(conn: Connection, customer_id: str, start: str | None = None, end: str | None = None) -> dict:
    s = stats_daily.c
    row = conn.execute(
        select(func.coalesce(func.sum(s.revenue), 0), func.coalesce(func.sum(s.cost), 0)).where(s.customer_id == customer_id, *_range(start, end))
    ).one()
    return figures(from_scaled(int(row[0])), from_scaled(int(row[1])))


def customers_page(conn: Connection, start: str | None, end: str | None, offset: int, limit: int) -> dict:
    s = stats_daily.c
    conds = _range(start, end)
    totals = conn.execute(select(func.coalesce(func.sum(s.revenue), 0), func.coalesce(func.sum(s.cost), 0)).where(*conds)).one()
    count = conn.execute(select(func.count(func.distinct(s.customer_id))).where(*conds)).scalar_one()
    revenue = func.sum(s.revenue).label("revenue")
    rows = conn.execute(
        select(s.customer_id, revenue, func.sum(s.cost).label("cost"), customers.c.name, customers.c.external_id)
        .select_from(stats_daily.join(customers, customers.c.id == s.customer_id))
        .where(*conds)
        .group_by(s.customer_id, customers.c.name, customers.c.external_id)
        .order_by(revenue.desc(), s.customer_id)
        .offset(offset)
        .limit(limit)
    ).all()
    return {
        "summary": figures(from_scaled(int(totals[0])), from_scaled(int(totals[1]))),
        "items": [
            {"id": r.customer_id, "external_id": r.external_id, "name": r.name,
             "stats": figures(from_scaled(int(r.revenue)), from_scaled(int(r.cost)))}
            for r in rows
        ],
        "total_count": count,
    }


def by(conn: Connection, dimension: str, start: str | None, end: str | None, key: str | None = None) -> list[dict]:
    """Totals grouped by ``customer``, ``product`` or ``vendor`` (vendor rows carry cost only)."""
    s = stats_daily.c
    column = {"customer": s.customer_id, "product": s.product_id, "vendor": s.vendor_id}[dimension]
    conds = _range(start, end)
    if key is not None:
        conds.append(column == key)
    if dimension == "vendor":
        conds.append(s.vendor_id != "")
    rows = conn.execute(
        select(column.label("key"), func.sum(s.revenue).label("revenue"), func.sum(s.cost).label("cost"))
        .where(*conds).group_by(column).order_by(column)
    ).all()
    return [{"key": r.key, **figures(from_scaled(int(r.revenue)), from_scaled(int(r.cost)))} for r in rows]


def over_time(conn: Connection, dimension: str, start: str | None, end: str | None) -> list[dict]:
    s = stats_daily.c
    rows = conn.execute(
        select(s.day, func.sum(s.revenue).label("revenue"), func.sum(s.cost).label("cost"))
        .where(*_range(start, end)).group_by(s.day).order_by(s.day)
    ).all()
    return [{"day": r.day, **figures(from_scaled(int(r.revenue)), from_scaled(int(r.cost)))} for r in rows]
