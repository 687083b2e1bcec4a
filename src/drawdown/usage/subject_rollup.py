"""A group's subject rollup rows (``reports.subjects``), added up in memory per scope and written with
the other rollups when the group commits: an event naming a subject adds to its whole-life totals
(revenue, cost, one event, its time) and the scope's, to its costs per vendor and category, and to
its fees per product and price (the day it started is settled when the rows are written). Amounts
are the scaled integers already on the event, cost and fee rows: nothing is rounded twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from drawdown.core.scopes import Scope
from drawdown.reports import subjects
from drawdown.reports.subjects import SubjectKey


class SubjectRollup:
    """Rows by scope id, each [revenue, cost, amount, events, first_at, last_at] (scaled integers)."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[SubjectKey, list[Any]]] = {}

    def add_event(
        self, scope_id: int, customer_id: str, subject: str, at: datetime, revenue: int, cost: int,
        costs: Iterable[dict[str, Any]], fees: Iterable[tuple[str, str, str, int]],
    ) -> None:
        """One event of ``subject`` at ``at``: ``costs`` its cost rows (vendor_id, category, amount_usd);
        ``fees`` (product id, price id, asset, scaled amount)."""
        rows = self.rows.setdefault(scope_id, {})
        figures = [revenue, cost, 0, 1, at, at]
        self._add(rows, (customer_id, "total", "", subject, "", "", ""), figures)
        self._add(rows, ("", "total", "", "", "", "", ""), figures)  # the scope's sum over its subjects
        for c in costs:
            key = (customer_id, "vendor", "", subject, c["vendor_id"], c["category"] or "", "")
            self._add(rows, key, [0, c["amount_usd"], 0, 0, None, None])
        for product_id, price_id, asset, amount in fees:
            key = (customer_id, "fee", "", subject, product_id, price_id, asset)
            self._add(rows, key, [0, 0, amount, 1, None, None])

    @staticmethod
    def _add(rows: dict[SubjectKey, list[Any]], key: SubjectKey, delta: list[Any]) -> None:
        row = rows.get(key)
        if row is None:
            rows[key] = list(delta)
            return
        for i in range(4):
            row[i] += delta[i]
        if delta[4] is not None:
            row[4] = delta[4] if row[4] is None or delta[4] < row[4] else row[4]
            row[5] = delta[5] if row[5] is None or delta[5] > row[5] else row[5]

    def merge(self, other: SubjectRollup) -> None:
        for scope_id, theirs in other.rows.items():
            rows = self.rows.setdefault(scope_id, {})
            for key, delta in theirs.items():
                self._add(rows, key, delta)

    def flush(self, conn: Connection, scopes: dict[int, Scope]) -> None:
        """Upsert every row, scope by scope in id order, keys sorted (a fixed order: no deadlocks)."""
        for scope_id in sorted(self.rows):
            subjects.add_all(conn, scopes[scope_id], self.rows[scope_id])
        self.rows.clear()
