"""Profitability added up over a group, written once per rollup row (customer, product and vendor,
by UTC day and month, in the scope of the event; and per subject, ``subject_rollup.py``) when the group
commits."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import Connection

from drawdown.core.scopes import Scope
from drawdown.reports import profitability
from drawdown.usage.subject_rollup import SubjectRollup

ZERO = Decimal(0)


@lru_cache(maxsize=4096)
def period_names(day: date) -> tuple[str, str]:
    """The rollup day and month names of a UTC day (every fee asks)."""
    return day.strftime("%Y-%m-%d"), day.strftime("%Y-%m")


class Rollup:
    """Profitability added up over a batch, written once per rollup row at the end; a group may mix
    scopes, so rows are kept by scope id."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[tuple[str, str, str, str], list[Decimal]]] = {}
        self.subjects = SubjectRollup()

    def add(
        self,
        at: datetime,
        scope_id: int,
        customer_id: str,
        product_id: str,
        vendor_id: str,
        category: str,
        revenue: Decimal,
        cost: Decimal,
    ) -> None:
        day, month = period_names(at.date())
        targets = [("customer", customer_id, "")]
        if product_id:
            targets.append(("product", product_id, ""))
        if vendor_id:
            targets.append(("vendor", vendor_id, category))
        rows = self._of(scope_id)
        for kind, key, sub in targets:
            for grain, period in (("day", day), ("month", month)):
                row = rows[(f"{kind}_{grain}", key, sub, period)]
                row[0] += revenue
                row[1] += cost

    def _of(self, scope_id: int) -> dict[tuple[str, str, str, str], list[Decimal]]:
        rows = self.rows.get(scope_id)
        if rows is None:
            rows = self.rows[scope_id] = defaultdict(lambda: [ZERO, ZERO])
        return rows

    def merge(self, other: Rollup) -> None:
        self.subjects.merge(other.subjects)
        for scope_id, theirs in other.rows.items():
            rows = self._of(scope_id)
            for key, (revenue, cost) in theirs.items():
                row = rows[key]
                row[0] += revenue
                row[1] += cost

    def flush(self, conn: Connection, scopes: dict[int, Scope]) -> None:
        """Upsert every row: the customer, product and vendor rows (``flush_totals``), then the subjects'."""
        self.flush_totals(conn, scopes)
        self.subjects.flush(conn, scopes)

    def flush_totals(self, conn: Connection, scopes: dict[int, Scope]) -> None:
        """Upsert the customer, product and vendor rows, scope by scope in id order (a fixed order:
        concurrent writers never deadlock). Plain upserts that read nothing back, so the commit stage
        sends them inside its pipeline (a subject's rows read its totals first: not these)."""
        for scope_id in sorted(self.rows):
            profitability.add_all(conn, scopes[scope_id], {k: (v[0], v[1]) for k, v in self.rows[scope_id].items()})
        self.rows.clear()
