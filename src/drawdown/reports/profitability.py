"""Margins (profitability): revenue, cost, net and margin per event, customer, product and vendor, in USD.

Revenue follows the revenue-recognition rules of grants: value drawn from paid and bundled grants
counts at each grant's revenue basis; promotional value is not revenue; value taken on overdraft
counts at the asset's value in USD (it is owed). Recurring usage, charged at period end, counts at
the asset's value when the event is recorded. Costs are converted into USD at the rates in force at
the event's time. ``net = gross - costs``; ``margin = net / gross × 100`` rounded to two places
(0 when there is no revenue).

Every figure is also added, in the same transaction, to ``rollups`` (per customer, product and
vendor/category, by UTC day and by month); the stats reads take whole months from monthly rows and
only the edge days from daily rows: exact integer sums on both backends whose cost does not grow with
the number of events.
"""

from __future__ import annotations

import calendar
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.catalog.rates import REPORTING
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.core.scopes import Scope
from drawdown.reports import repository
from drawdown.reports.models import CustomerFigures, CustomerFiguresPage, DayFigures, Figures, KeyFigures
from drawdown.reports.repository import Segment

ZERO = Decimal(0)
KINDS = ("customer", "product", "vendor")

RollupKey = tuple[str, str, str, str]
"""(kind, key, sub, period): e.g. ("customer_day", customer id, "", "2026-09-15")."""


def of(revenue: Decimal, cost: Decimal) -> Figures:
    """Figures in the reporting currency."""
    return Figures(revenue, cost, REPORTING)


def _scaled(revenue: int, cost: int) -> Figures:
    return of(from_scaled(revenue), from_scaled(cost))


# ------------------------------------------------------------------------------------------- writes


def add_all(conn: Connection, scope: Scope, deltas: dict[RollupKey, tuple[Decimal, Decimal]]) -> None:
    """Add (revenue, cost) to the scope's rollup rows with atomic upserts, in key order (product and vendor
    rows are shared by customers: the order keeps concurrent writers from deadlocking)."""
    if not deltas:
        return
    rows = []
    for kind, key, sub, period in sorted(deltas):
        revenue, cost = deltas[(kind, key, sub, period)]
        rows.append({"kind": kind, "key": key, "sub": sub, "period": period,
                     "revenue": to_scaled(quantize(revenue)), "cost": to_scaled(quantize(cost))})
    repository.add_to_rollups(conn, scope.id, rows)




# ------------------------------------------------------------------------------------------- ranges


def _last_day(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{month}-{calendar.monthrange(y, m)[1]:02d}"


def _shift(month: str, by: int) -> str:
    y, m = int(month[:4]), int(month[5:7]) - 1 + by
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def segments(start: str | None, end: str | None) -> list[Segment]:
    """Split an inclusive day range into ('month', first, last) and ('day', first, last) pieces, so a
    query reads whole months from monthly rows and only the edges from daily rows. Open ends reach
    0001-01-01 and 9999-12-31."""
    s, e = start or "0001-01-01", end or "9999-12-31"
    if s > e:
        return []
    out: list[Segment] = []
    first_month, last_month = s[:7], e[:7]
    if first_month == last_month:
        if s.endswith("-01") and e == _last_day(first_month):
            return [("month", first_month, first_month)]
        return [("day", s, e)]
    lo, hi = first_month, last_month
    if not s.endswith("-01"):
        out.append(("day", s, _last_day(first_month)))
        lo = _shift(first_month, 1)
    if e != _last_day(last_month):
        out.append(("day", f"{last_month}-01", e))
        hi = _shift(last_month, -1)
    if lo <= hi:
        out.append(("month", lo, hi))
    return out


# -------------------------------------------------------------------------------------------- reads


def customer(
    conn: Connection, scope: Scope, customer_id: str, start: str | None = None, end: str | None = None
) -> Figures:
    """One customer's figures over the days [start, end] (open ends: all time); zeros when the scope
    has no rows for it (the caller checks that the customer exists in the scope)."""
    return _scaled(*repository.total(conn, scope.id, "customer", segments(start, end), customer_id))


def product(
    conn: Connection, scope: Scope, product_id: str, start: str | None = None, end: str | None = None
) -> Figures:
    """One product's figures over the days [start, end] (open ends: all time)."""
    return _scaled(*repository.total(conn, scope.id, "product", segments(start, end), product_id))


def customers_page(
    conn: Connection, scope: Scope, start: str | None, end: str | None, offset: int, limit: int
) -> CustomerFiguresPage:
    """All the scope's customers' sums in one pass (totals, count and ranking from it), then names for
    the page."""
    sums = repository.totals_per_key(conn, scope.id, "customer", segments(start, end))
    total_revenue = sum(revenue for _, revenue, _ in sums)
    total_cost = sum(cost for _, _, cost in sums)
    ranked = sorted(sums, key=lambda x: (-x[1], x[0]))[offset:offset + limit]
    names = repository.customer_names(conn, scope.id, [key for key, _, _ in ranked])
    items = tuple(
        CustomerFigures(
            id=key,
            external_id=names[key][1] if key in names else None,
            name=names[key][0] if key in names else "",
            figures=_scaled(revenue, cost),
        )
        for key, revenue, cost in ranked
    )
    return CustomerFiguresPage(summary=_scaled(total_revenue, total_cost), items=items, total_count=len(sums))


def vendor(
    conn: Connection, scope: Scope, vendor_id: str, start: str | None, end: str | None, category: str | None
) -> list[tuple[str, Decimal]]:
    """(category, cost in USD) of one vendor, in category order; only ``category`` if given."""
    rows = repository.costs_per_category(conn, scope.id, vendor_id, segments(start, end), category)
    return [(sub, from_scaled(cost)) for sub, cost in rows]


def by(
    conn: Connection, scope: Scope, dimension: str, start: str | None, end: str | None, key: str | None = None
) -> list[KeyFigures]:
    """The scope's totals per ``customer``, ``product`` or ``vendor`` id, in id order (vendor rows carry
    cost only)."""
    rows = repository.totals_per_key(conn, scope.id, dimension, segments(start, end), key)
    return [KeyFigures(k, _scaled(revenue, cost)) for k, revenue, cost in rows]


def over_time(conn: Connection, scope: Scope, start: str | None, end: str | None) -> list[DayFigures]:
    """Daily totals over the scope's customers (the chart), in day order; days without figures are left out."""
    days = repository.daily_totals(conn, scope.id, start, end)
    return [DayFigures(day, _scaled(revenue, cost)) for day, revenue, cost in days]
