"""Profitability: revenue, cost and margin per event, customer, product and vendor, in USD.

Revenue follows the revenue-recognition rules of grants: value drawn from paid and bundled grants
counts at each grant's revenue basis; promotional value is not revenue; value taken on overdraft
counts at the asset's value in USD (it is owed). Recurring usage, charged at period end, counts at
the asset's value when the event is recorded. Costs are converted into USD at the rates in force at
the event's time. ``net = gross - costs``; ``margin = net / gross × 100`` rounded to two places
(0 when there is no revenue).

Every figure is also added, in the same transaction, to ``rollups`` (per customer, product and
vendor/category, by UTC day and by month); the stats endpoints read whole months from monthly rows and
only the edge days from daily rows: exact integer sums on both backends whose cost does not grow with
the number of events.
"""

from __future__ import annotations

import calendar
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Connection, false, func, select, union_all

from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.catalog.rates import REPORTING
from drawdown.db.tables import customers, rollups

ZERO = Decimal(0)


def figures(revenue: Decimal, cost: Decimal) -> dict:
    net = revenue - cost
    margin = ZERO if revenue == 0 else (net / revenue * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return {"gross_revenue": revenue, "total_costs": cost, "net_revenue": net, "margin": margin, "currency": REPORTING}


KINDS = ("customer", "product", "vendor")


_UPSERTS: dict[str, Any] = {}


def _upsert(conn: Connection) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding to the row, built once per dialect (hot path)."""
    name = conn.dialect.name
    if name not in _UPSERTS:
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = dialect_insert(rollups)
        _UPSERTS[name] = stmt.on_conflict_do_update(
            index_elements=["kind", "key", "sub", "period"],
            set_={"revenue": rollups.c.revenue + stmt.excluded.revenue, "cost": rollups.c.cost + stmt.excluded.cost},
        )
    return _UPSERTS[name]


def add_all(conn: Connection, deltas: dict[tuple[str, str, str, str], tuple[Decimal, Decimal]]) -> None:
    """Add to rollup rows with atomic upserts, in key order (product and vendor rows are shared by
    customers: the order keeps concurrent writers from deadlocking)."""
    if not deltas:
        return
    rows = [
        {"kind": kind, "key": key, "sub": sub, "period": period,
         "revenue": to_scaled(quantize(deltas[(kind, key, sub, period)][0])), "cost": to_scaled(quantize(deltas[(kind, key, sub, period)][1]))}
        for (kind, key, sub, period) in sorted(deltas)
    ]
    conn.execute(_upsert(conn), rows)  # an executemany runs the rows in list order: the key order holds


def segments(start: str | None, end: str | None) -> list[tuple[str, str, str]]:
    """Split an inclusive day range into ('month', first, last) and ('day', first, last) pieces, so a
    query reads whole months from monthly rows and only the edges from daily rows."""
    s, e = start or "0001-01-01", end or "9999-12-31"
    if s > e:
        return []

    def last_day(month: str) -> str:
        y, m = int(month[:4]), int(month[5:7])
        return f"{month}-{calendar.monthrange(y, m)[1]:02d}"

    def shift(month: str, by: int) -> str:
        y, m = int(month[:4]), int(month[5:7]) - 1 + by
        return f"{y + m // 12:04d}-{m % 12 + 1:02d}"

    out: list[tuple[str, str, str]] = []
    first_month, last_month = s[:7], e[:7]
    if first_month == last_month:
        if s.endswith("-01") and e == last_day(first_month):
            return [("month", first_month, first_month)]
        return [("day", s, e)]
    lo, hi = first_month, last_month
    if not s.endswith("-01"):
        out.append(("day", s, last_day(first_month)))
        lo = shift(first_month, 1)
    if e != last_day(last_month):
        out.append(("day", f"{last_month}-01", e))
        hi = shift(last_month, -1)
    if lo <= hi:
        out.append(("month", lo, hi))
    return out


def _per_key(kind: str, start: str | None, end: str | None, *conds: Any) -> Any:
    """Per-key sums over the range: one index range scan per segment, combined with UNION ALL."""
    r = rollups.c
    parts = [
        select(r.key, r.sub, r.revenue, r.cost).where(r.kind == f"{kind}_{grain}", r.period >= lo, r.period <= hi, *conds)
        for grain, lo, hi in segments(start, end)
    ]
    if not parts:
        parts = [select(r.key, r.sub, r.revenue, r.cost).where(false())]
    return union_all(*parts).subquery()


def _sum(conn: Connection, kind: str, start: str | None, end: str | None, *conds: Any) -> tuple[Decimal, Decimal]:
    u = _per_key(kind, start, end, *conds)
    row = conn.execute(select(func.coalesce(func.sum(u.c.revenue), 0), func.coalesce(func.sum(u.c.cost), 0))).one()
    return from_scaled(int(row[0])), from_scaled(int(row[1]))


def customer(conn: Connection, customer_id: str, start: str | None = None, end: str | None = None) -> dict:
    return figures(*_sum(conn, "customer", start, end, rollups.c.key == customer_id))


def customers_page(conn: Connection, start: str | None, end: str | None, offset: int, limit: int) -> dict:
    """All customers' sums in one pass (totals, count and ranking from it), then names for the page."""
    u = _per_key("customer", start, end)
    sums = conn.execute(select(u.c.key, func.sum(u.c.revenue), func.sum(u.c.cost)).group_by(u.c.key)).all()
    total_revenue = sum(int(x[1]) for x in sums)
    total_cost = sum(int(x[2]) for x in sums)
    ranked = sorted(sums, key=lambda x: (-int(x[1]), x[0]))[offset:offset + limit]
    names = {
        x.id: x
        for x in conn.execute(select(customers.c.id, customers.c.name, customers.c.external_id).where(customers.c.id.in_([k for k, _, _ in ranked])))
    }
    return {
        "summary": figures(from_scaled(total_revenue), from_scaled(total_cost)),
        "items": [
            {"id": key, "external_id": names[key].external_id if key in names else None, "name": names[key].name if key in names else "",
             "stats": figures(from_scaled(int(revenue)), from_scaled(int(cost)))}
            for key, revenue, cost in ranked
        ],
        "total_count": len(sums),
    }


def vendor(conn: Connection, vendor_id: str, start: str | None, end: str | None, category: str | None) -> list[tuple[str, Decimal]]:
    r = rollups.c
    conds = [r.key == vendor_id] + ([r.sub == category] if category is not None else [])
    u = _per_key("vendor", start, end, *conds)
    rows = conn.execute(select(u.c.sub, func.sum(u.c.cost).label("cost")).group_by(u.c.sub).order_by(u.c.sub)).all()
    return [(x.sub, from_scaled(int(x.cost))) for x in rows]


def by(conn: Connection, dimension: str, start: str | None, end: str | None, key: str | None = None) -> list[dict]:
    """Totals grouped by ``customer``, ``product`` or ``vendor`` (vendor rows carry cost only)."""
    u = _per_key(dimension, start, end, *([rollups.c.key == key] if key is not None else []))
    rows = conn.execute(
        select(u.c.key, func.sum(u.c.revenue).label("revenue"), func.sum(u.c.cost).label("cost")).group_by(u.c.key).order_by(u.c.key)
    ).all()
    return [{"key": x.key, **figures(from_scaled(int(x.revenue)), from_scaled(int(x.cost)))} for x in rows]


def over_time(conn: Connection, start: str | None, end: str | None) -> list[dict]:
    """Daily totals over all customers (the chart)."""
    r = rollups.c
    conds = [r.kind == "customer_day"]
    if start:
        conds.append(r.period >= start)
    if end:
        conds.append(r.period <= end)
    rows = conn.execute(
        select(r.period, func.sum(r.revenue).label("revenue"), func.sum(r.cost).label("cost")).where(*conds).group_by(r.period).order_by(r.period)
    ).all()
    return [{"day": x.period, **figures(from_scaled(int(x.revenue)), from_scaled(int(x.cost)))} for x in rows]
