"""Vendor costs attached to usage events: validated, valued in USD, and the event's revenue."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.core.errors import Invalid
from drawdown.core.grants import BUNDLED, PAID, DebitPlan
from drawdown.core.money import MoneyError, check_exact, from_scaled, quantize, to_scaled
from drawdown.reports import profitability
from drawdown.catalog import rates
from drawdown.vendors import service as vendors
from drawdown.wallets.books import Books

ZERO = Decimal(0)


def cost_amount(cost: dict) -> Decimal:
    if cost.get("amount") is not None:
        return cost["amount"]
    if cost.get("units") is not None and cost.get("unit_price") is not None:
        return cost["units"] * cost["unit_price"]
    return cost["input_volume"] * cost["volume_rate"] / (cost.get("package_size") or 1)


def prepare(conn: Connection, event: dict, path: str) -> list[dict]:
    """The event's cost rows (valued in USD at the event's time); 422 naming the field otherwise."""
    rows, seen = [], set()
    for j, cost in enumerate(event.get("costs") or []):
        where = f"{path}.costs[{j}]"
        if cost["id"] in seen:
            raise Invalid.field(f"{where}.id", "repeats another cost of this event")
        seen.add(cost["id"])
        vendor_id = vendors.resolve(conn, cost.get("vendor_id"), cost.get("vendor_external_id"))
        if vendor_id is None:
            key = "vendor_id" if cost.get("vendor_id") else "vendor_external_id"
            raise Invalid.field(f"{where}.{key}", f"no vendor {cost.get(key)!r}")
        try:
            amount = check_exact(quantize(cost_amount(cost)))
        except MoneyError as exc:
            raise Invalid.field(f"{where}.amount", str(exc)) from None
        if amount < 0:
            raise Invalid.field(f"{where}.amount", "a cost is zero or more")
        currency = (cost.get("currency") or rates.REPORTING).upper()
        usd = rates.value_in(conn, amount, currency, rates.REPORTING, event["occurred_at"])
        if usd is None:
            raise Invalid.field(f"{where}.currency", f"no rate from {currency} to {rates.REPORTING} in force at the event's time")
        rows.append({"cost_id": cost["id"], "vendor_id": vendor_id, "category": cost.get("category"), "amount": to_scaled(amount),
                     "currency": currency, "amount_usd": to_scaled(quantize(usd)), "occurred_at": event["occurred_at"]})
    return rows


def fee_revenue(
    conn: Connection, books: Books, asset: str, plan: DebitPlan | None, amount: Decimal, at: datetime, cache: dict | None = None
) -> Decimal:
    """What a fee earns in USD under the revenue-recognition rules (docs/profitability.md)."""
    unit = rates.value_in(conn, Decimal(1), asset, rates.REPORTING, at, cache) or ZERO
    if plan is None:  # reserved for a recurring charge: expected at the asset's value
        return amount * unit
    total = plan.debt_added * unit
    for draw in plan.draws:
        purpose, basis, currency = books.meta.get(draw.grant_id, (None, None, None))
        if purpose in (PAID, BUNDLED) and basis is not None:
            total += rates.value_in(conn, draw.amount * basis, currency or rates.REPORTING, rates.REPORTING, at, cache) or ZERO
    return total


_days: dict[date, tuple[str, str]] = {}


def _day_and_month(at: datetime) -> tuple[str, str]:
    """The rollup period names of a moment (UTC), remembered per day: every fee asks."""
    key = at.date()
    found = _days.get(key)
    if found is None:
        if len(_days) > 4096:
            _days.clear()
        found = _days[key] = (at.strftime("%Y-%m-%d"), at.strftime("%Y-%m"))
    return found


class Rollup:
    """Profitability added up over a batch, written once per rollup row at the end."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])

    def add(self, at: datetime, customer_id: str, product_id: str, vendor_id: str, category: str, revenue: Decimal, cost: Decimal) -> None:
        day, month = _day_and_month(at)
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


def event_cost(rows: list[dict[str, Any]]) -> Decimal:
    return sum((from_scaled(r["amount_usd"]) for r in rows), ZERO)
