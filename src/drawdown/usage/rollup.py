"""Profitability added up over a group, written once per rollup row (customer, product and vendor,
by UTC day and month) when the group commits."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import Connection

from drawdown.reports import profitability

ZERO = Decimal(0)


@lru_cache(maxsize=4096)
def _period_names(day: date) -> tuple[str, str]:
    """The rollup day and month names of a UTC day (every fee asks)."""
    return day.strftime("%Y-%m-%d"), day.strftime("%Y-%m")


class Rollup:
    """Profitability added up over a batch, written once per rollup row at the end."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])

    def add(
        self,
        at: datetime,
        customer_id: str,
        product_id: str,
        vendor_id: str,
        category: str,
        revenue: Decimal,
        cost: Decimal,
    ) -> None:
        day, month = _period_names(at.date())
        targets = [("customer", customer_id, "")]
        if product_id:
            targets.append(("product", product_id, ""))
        if vendor_id:
            targets.append(("vendor", vendor_id, category))
        for kind, key, sub in targets:
            for grain, period in (("day", day), ("month", month)):
                row = self.rows[(f"{kind}_{grain}", key, sub, period)]
                row[0] += revenue
                row[1] += cost

    def merge(self, other: Rollup) -> None:
        for key, (revenue, cost) in other.rows.items():
            row = self.rows[key]
            row[0] += revenue
            row[1] += cost

    def flush(self, conn: Connection) -> None:
        profitability.add_all(conn, {k: (v[0], v[1]) for k, v in self.rows.items()})
        self.rows.clear()
