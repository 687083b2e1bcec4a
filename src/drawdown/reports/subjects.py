"""Profitability per subject (a task or an outcome: an agent run, a ticket solved), in USD.

A subject spans many events, often many vendors, sometimes days. Its figures are the sums of its
events' own (``events.revenue`` and ``events.cost``, fixed when each is recorded), kept in
``subject_rollups`` in the transaction that records the event: over its whole life (revenue, cost,
events, first and last ``occurred_at``, the day it started), per vendor and category (cost) and per
product and price (fee amounts in their asset); and per day, the sums of the subjects started that
day. Reads never scan events. Subjects are not registered: one never seen has zero figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import Connection, Row

from drawdown.core.money import from_scaled
from drawdown.core.scopes import Scope
from drawdown.reports import subject_repository as repository
from drawdown.reports.models import FeeTotal, Figures, SubjectFigures, SubjectPage, SubjectStats, VendorCost
from drawdown.reports.profitability import of

ORDERS = ("revenue", "margin")


def _scaled(revenue: int, cost: int) -> Figures:
    return of(from_scaled(revenue), from_scaled(cost))

SubjectKey = tuple[str, str, str, str, str, str, str]
"""(customer id, kind, period, subject, key, sub, asset): one subject rollup row of a scope, in the
table's key order."""


# ------------------------------------------------------------------------------------------- writes


def add_all(conn: Connection, scope: Scope, deltas: dict[SubjectKey, list[Any]]) -> None:
    """Add each row's scaled [revenue, cost, amount, events, first_at, last_at] to the scope's subject
    rollups, with the ``started`` rows of the days the subjects began, in key order (one executemany);
    the scope's total row also counts the subjects seen for the first time. The caller holds the
    customers' locks, so no one else can add to the same subjects meanwhile."""
    pairs = [(k[0], k[3]) for k in deltas if k[1] == "total" and k[0]]
    known = repository.known_totals(conn, scope.id, pairs)
    started = _started(deltas, known)
    new = len(pairs) - len(known)
    rows = []
    for key in sorted(deltas.keys() | started.keys()):
        customer_id, kind, period, subject, k, sub, asset = key
        revenue, cost, amount, events, first_at, last_at = deltas.get(key) or [0, 0, 0, 0, None, None]
        count = new if kind == "total" and not customer_id else 0
        if key in started:
            revenue, cost, events, count = started[key]
        first_day = _day(first_at) if kind == "total" and customer_id else None
        rows.append({"scope_id": scope.id, "customer_id": customer_id, "subject": subject, "kind": kind, "key": k,
                     "sub": sub, "period": period, "asset": asset, "revenue": revenue, "cost": cost,
                     "amount": amount, "events": events, "subjects": count, "first_at": first_at,
                     "last_at": last_at, "first_day": first_day})
    repository.add(conn, rows)


def _day(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).date().isoformat()


def _started(
    deltas: dict[SubjectKey, list[Any]], known: dict[tuple[str, str], Row[Any]]
) -> dict[SubjectKey, list[int]]:
    """What the deltas add to the ``started`` rows ([revenue, cost, events, subjects] by key): a new
    subject counts on the day it started; a known one adds to its day, unless this group holds an
    earlier event than its first, which moves the whole subject to the earlier day."""
    out: dict[SubjectKey, list[int]] = {}

    def bump(day: str, revenue: int, cost: int, events: int, subjects: int) -> None:
        row = out.setdefault(("", "started", day, "", "", "", ""), [0, 0, 0, 0])
        for i, v in enumerate((revenue, cost, events, subjects)):
            row[i] += v

    for (customer_id, kind, _, subject, _, _, _), (revenue, cost, _, events, first_at, _) in deltas.items():
        if kind != "total" or not customer_id:
            continue
        old = known.get((customer_id, subject))
        if old is None:
            bump(_day(first_at) or "", revenue, cost, events, 1)
            continue
        was, now = _day(old.first_at) or "", _day(min(old.first_at, first_at)) or ""
        if was == now:
            bump(now, revenue, cost, events, 0)
        else:
            bump(was, -int(old.revenue), -int(old.cost), -int(old.events), -1)
            bump(now, int(old.revenue) + revenue, int(old.cost) + cost, int(old.events) + events, 1)
    return out


# -------------------------------------------------------------------------------------------- reads


def stats(conn: Connection, scope: Scope, customer_id: str, subject: str) -> SubjectStats:
    """One subject's figures over its whole life (the caller checks that the customer is the scope's)."""
    totals = SubjectFigures(customer_id, subject, _scaled(0, 0), 0, None, None)
    costs, fees = [], []
    for r in repository.of_subject(conn, scope.id, customer_id, subject):
        if r.kind == "total":
            totals = SubjectFigures(customer_id, subject, _scaled(r.revenue, r.cost), int(r.events), r.first_at,
                                    r.last_at)
        elif r.kind == "vendor":
            costs.append(VendorCost(r.key, r.sub, from_scaled(r.cost)))
        else:
            fees.append(FeeTotal(r.key, r.sub, r.asset, from_scaled(r.amount), int(r.events)))
    return SubjectStats(totals, tuple(costs), tuple(fees))


def ranked(
    conn: Connection, scope: Scope, customer_id: str | None, start: str | None, end: str | None, order: str,
    offset: int, limit: int,
) -> SubjectPage:
    """The subjects that started in the days [start, end] (open ends: all time), of one customer or of
    all the scope's, each with its whole life's figures, ranked by ``order`` ("revenue": highest first;
    "margin": lowest first, the loss-makers): one page of them and the summary of all of them."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    if customer_id is not None:  # one customer's: a key range, ranked with the count and sums in one pass
        rows = repository.page_of_customer(conn, scope.id, customer_id, start, end, order, offset, limit)
        if rows:
            first = rows[0]
            totals = (int(first.all_revenue), int(first.all_cost), int(first.all_events))
            return SubjectPage(*_summary(totals), tuple(_figures(rows)), int(first.n))
        count, revenue, cost, events = repository.summary_of_customer(conn, scope.id, customer_id, start, end)
        return SubjectPage(*_summary((revenue, cost, events)), (), count)
    revenue, cost, events, count, first_at, last_at = repository.scope_total(conn, scope.id)
    if start is None and end is None:  # whole lives: the total rows, in rank order
        rows = repository.page_of_totals(conn, scope.id, order, offset, limit)
        return SubjectPage(*_summary((revenue, cost, events)), tuple(_figures(rows)), count)
    if first_at is None:
        return SubjectPage(*_summary((0, 0, 0)), (), 0)
    days = _days(max(start or "", _iso(first_at)), min(end or "9999-12-31", _iso(last_at)))
    best = repository.best_started(conn, scope.id, days, order, offset + limit)
    ranks = sorted(best, key=_margin_key if order == "margin" else _revenue_key)[offset:offset + limit]
    found = repository.known_totals(conn, scope.id, [(r.customer_id, r.subject) for r in ranks])
    page = [found[(r.customer_id, r.subject)] for r in ranks]  # the rest of the page's figures: key lookups
    count, revenue, cost, events = repository.started_summary(conn, scope.id, start or "", end or "9999-12-31")
    return SubjectPage(*_summary((revenue, cost, events)), tuple(_figures(page)), count)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def _days(first: str, last: str) -> list[str]:
    """Every UTC day from ``first`` to ``last``, inclusive (none when first is after last)."""
    if first > last:
        return []
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(day + timedelta(days=n)).isoformat() for n in range((end - day).days + 1)]


def _revenue_key(r: Row[Any]) -> tuple[Any, ...]:
    return -int(r.revenue), r.customer_id, r.subject


# Two margins (n1/d1, n2/d2 with |n| and d below 10^19) that differ, differ by at least 1/(d1·d2) > 10^-38:
# 60 significant digits order them exactly, faster than fractions.
_MARGINS = Context(prec=60)


def _margin_key(r: Row[Any]) -> tuple[Any, ...]:
    """Margins (net / revenue; 0 without revenue, as ``Figures.margin``), lowest first, in exact order."""
    revenue = int(r.revenue)
    margin = _MARGINS.divide(Decimal(revenue - int(r.cost)), Decimal(revenue)) if revenue else Decimal(0)
    return margin, -revenue, r.customer_id, r.subject


def _summary(totals: tuple[int, int, int]) -> tuple[Figures, int]:
    return _scaled(totals[0], totals[1]), totals[2]


def _figures(rows: Sequence[Row[*tuple[Any, ...]]]) -> Iterable[SubjectFigures]:
    for r in rows:
        yield SubjectFigures(r.customer_id, r.subject, _scaled(int(r.revenue), int(r.cost)), int(r.events),
                             r.first_at, r.last_at)
