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


Fact = tuple[str, str, str, str, date]  # customer, product, vendor, category, UTC day
RollupKey = tuple[str, str, str, str]  # kind, key, sub, period


class Rollup:
    """Profitability added up over a batch, written once per rollup row at the end; a group may mix
    scopes, so it is kept by scope id. A fee adds to one fact (customer, product, vendor, category, day),
    which becomes the customer, product and vendor rows by day and month only when written: four to six
    keyed additions per fee cost the engine 5 to 8% of its CPU, and a group has far fewer facts than fees."""

    def __init__(self) -> None:
        self.facts: dict[int, dict[Fact, list[Decimal]]] = {}
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
        facts = self.facts.get(scope_id)
        if facts is None:
            facts = self.facts[scope_id] = {}
        _add(facts, (customer_id, product_id, vendor_id, category, at.date()), revenue, cost)

    def merge(self, other: Rollup) -> None:
        self.subjects.merge(other.subjects)
        for scope_id, theirs in other.facts.items():
            mine = self.facts.setdefault(scope_id, {})
            for fact, (revenue, cost) in theirs.items():
                _add(mine, fact, revenue, cost)

    def rows(self, scope_id: int) -> dict[RollupKey, tuple[Decimal, Decimal]]:
        """The scope's rollup rows: every fact added to its customer's, product's (when it has one) and
        vendor's (when it has one, by category) row of its day and of its month."""
        rows: dict[RollupKey, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        facts = self.facts.get(scope_id, {})
        for (customer_id, product_id, vendor_id, category, day), (revenue, cost) in facts.items():
            day_name, month = period_names(day)
            targets = [("customer", customer_id, "")]
            if product_id:
                targets.append(("product", product_id, ""))
            if vendor_id:
                targets.append(("vendor", vendor_id, category))
            for kind, key, sub in targets:
                for grain, period in (("day", day_name), ("month", month)):
                    row = rows[(f"{kind}_{grain}", key, sub, period)]
                    row[0] += revenue
                    row[1] += cost
        return {k: (v[0], v[1]) for k, v in rows.items()}

    def flush(self, conn: Connection, scopes: dict[int, Scope]) -> None:
        """Upsert every row: the customer, product and vendor rows (``flush_totals``), then the subjects'."""
        self.flush_totals(conn, scopes)
        self.subjects.flush(conn, scopes)

    def flush_totals(self, conn: Connection, scopes: dict[int, Scope]) -> None:
        """Upsert the customer, product and vendor rows, scope by scope in id order (a fixed order:
        concurrent writers never deadlock). Plain upserts that read nothing back, so the commit stage
        sends them inside its pipeline (a subject's rows read its totals first: not these)."""
        for scope_id in sorted(self.facts):
            profitability.add_all(conn, scopes[scope_id], self.rows(scope_id))
        self.facts.clear()


def _add(facts: dict[Fact, list[Decimal]], fact: Fact, revenue: Decimal, cost: Decimal) -> None:
    totals = facts.get(fact)
    if totals is None:
        facts[fact] = [revenue, cost]
    else:
        totals[0] += revenue
        totals[1] += cost
