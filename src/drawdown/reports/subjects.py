"""Profitability per subject (a task or an outcome: an agent run, a ticket solved), in USD.

A subject spans many events, often many vendors, sometimes days. Its figures are the sums of its
events' own (``events.revenue`` and ``events.cost``, fixed when each is recorded), kept in
``subject_rollups`` in the transaction that records the event: per UTC day and over its whole life
(revenue, cost, events, first and last ``occurred_at``), per vendor and category (cost) and per product
and price (fee amounts in their asset). Reads never scan events. Subjects are not registered: one never seen
has zero figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    rollups, in key order (one executemany); the scope's total row also counts the subjects seen for
    the first time. The caller holds the customers' locks, so no one else can add the same subject's
    first event meanwhile."""
    pairs = [(k[0], k[3]) for k in deltas if k[1] == "total" and k[0]]
    new = len(pairs) - len(repository.known_subjects(conn, scope.id, pairs))
    rows = []
    for key in sorted(deltas):
        customer_id, kind, period, subject, k, sub, asset = key
        revenue, cost, amount, events, first_at, last_at = deltas[key]
        scope_total = kind == "total" and not customer_id
        rows.append({"scope_id": scope.id, "customer_id": customer_id, "subject": subject, "kind": kind, "key": k,
                     "sub": sub, "period": period, "asset": asset, "revenue": revenue, "cost": cost,
                     "amount": amount, "events": events, "subjects": new if scope_total else 0,
                     "first_at": first_at, "last_at": last_at})
    repository.add(conn, rows)


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
    """Subjects with figures in the days [start, end] (open ends: all time), of one customer or of all
    the scope's, ranked by ``order`` ("revenue": highest first; "margin": lowest first, the loss-makers),
    one page of them and the summary of all in range (figures of the events in range only)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    if customer_id is None and start is None and end is None:  # whole lives: the total rows, in rank order
        rows = repository.page_of_totals(conn, scope.id, order, offset, limit)
        revenue, cost, events, count = repository.scope_total(conn, scope.id)
        return SubjectPage(*_summary((revenue, cost, events)), tuple(_figures(rows)), count)
    rows = repository.page_in_range(conn, scope.id, customer_id, start, end, order, offset, limit)
    if rows:  # every row carries the count and the sums of all
        first = rows[0]
        totals = (int(first.all_revenue), int(first.all_cost), int(first.all_events))
        return SubjectPage(*_summary(totals), tuple(_figures(rows)), int(first.n))
    count, revenue, cost, events = repository.summary_in_range(conn, scope.id, customer_id, start, end)
    return SubjectPage(*_summary((revenue, cost, events)), (), count)


def _summary(totals: tuple[int, int, int]) -> tuple[Figures, int]:
    return _scaled(totals[0], totals[1]), totals[2]


def _figures(rows: Sequence[Row[*tuple[Any, ...]]]) -> Iterable[SubjectFigures]:
    for r in rows:
        yield SubjectFigures(r.customer_id, r.subject, _scaled(int(r.revenue), int(r.cost)), int(r.events),
                             r.first_at, r.last_at)
