"""Profitability per subject (a task or an outcome: an agent run, a ticket solved), in USD.

A subject spans many events, often many vendors, sometimes days. Its figures are the sums of its
events' own (``events.revenue`` and ``events.cost``, fixed when each is recorded), kept in
``subject_rollups`` in the transaction that records the event: per UTC day and month (revenue, cost,
events, first and last ``occurred_at``), per vendor and category (cost) and per product and price
(fee amounts in their asset). Reads never scan events. Subjects are not registered: one never seen
has zero figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from drawdown.core.money import from_scaled
from drawdown.core.scopes import Scope
from drawdown.reports import subject_repository as repository
from drawdown.reports.models import FeeTotal, Figures, SubjectFigures, SubjectPage, SubjectStats, VendorCost
from drawdown.reports.profitability import of, segments

ORDERS = ("revenue", "margin")


def _scaled(revenue: int, cost: int) -> Figures:
    return of(from_scaled(revenue), from_scaled(cost))

SubjectKey = tuple[str, str, str, str, str, str, str]
"""(customer id, subject, kind, key, sub, period, asset): one subject rollup row of a scope."""


# ------------------------------------------------------------------------------------------- writes


def add_all(conn: Connection, scope: Scope, deltas: dict[SubjectKey, list[Any]]) -> None:
    """Add each row's scaled [revenue, cost, amount, events, first_at, last_at] to the scope's subject
    rollups, in key order (one executemany)."""
    rows = []
    for key in sorted(deltas):
        customer_id, subject, kind, k, sub, period, asset = key
        revenue, cost, amount, events, first_at, last_at = deltas[key]
        rows.append({"scope_id": scope.id, "customer_id": customer_id, "subject": subject, "kind": kind, "key": k,
                     "sub": sub, "period": period, "asset": asset, "revenue": revenue, "cost": cost,
                     "amount": amount, "events": events, "first_at": first_at, "last_at": last_at})
    repository.add(conn, rows)


# -------------------------------------------------------------------------------------------- reads


def stats(conn: Connection, scope: Scope, customer_id: str, subject: str) -> SubjectStats:
    """One subject's figures over its whole life (the caller checks that the customer is the scope's)."""
    revenue = cost = events = 0
    first: datetime | None = None
    last: datetime | None = None
    costs, fees = [], []
    for r in repository.of_subject(conn, scope.id, customer_id, subject):
        if r.kind == "month":
            revenue, cost, events = revenue + r.revenue, cost + r.cost, events + r.events
            first = r.first_at if first is None or r.first_at < first else first
            last = r.last_at if last is None or r.last_at > last else last
        elif r.kind == "vendor":
            costs.append(VendorCost(r.key, r.sub, from_scaled(r.cost)))
        else:
            fees.append(FeeTotal(r.key, r.sub, r.asset, from_scaled(r.amount), int(r.events)))
    totals = SubjectFigures(customer_id, subject, _scaled(revenue, cost), int(events), first, last)
    return SubjectStats(totals, tuple(costs), tuple(fees))


def ranked(
    conn: Connection, scope: Scope, customer_id: str | None, start: str | None, end: str | None, order: str,
    offset: int, limit: int,
) -> SubjectPage:
    """Subjects with figures in the days [start, end] (open ends: all time), of one customer or of all
    the scope's, ranked by ``order`` ("revenue": highest first; "margin": lowest first, the loss-makers),
    one page of them and the summary of all in range."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    parts = segments(start, end)
    count, revenue, cost, events = repository.summary(conn, scope.id, customer_id, parts)
    rows = repository.page(conn, scope.id, customer_id, parts, order, offset, limit) if count > offset else []
    return SubjectPage(_scaled(revenue, cost), events, tuple(_figures(rows)), count)


def _figures(rows: Sequence[Row[*tuple[Any, ...]]]) -> Iterable[SubjectFigures]:
    for r in rows:
        yield SubjectFigures(r.customer_id, r.subject, _scaled(int(r.revenue), int(r.cost)), int(r.events),
                             r.first_at, r.last_at)
