"""Stages 4 and 7: an event's vendor costs are priced (validated and valued in USD) before it is
funded, and after it is booked its costs and revenue are attributed: to the event itself, and to the
customer, product and vendor rollups (docs/profitability.md).

Revenue follows the grants a fee drew from: value from paid and bundled grants counts at each grant's
revenue basis, promotional value counts for nothing, value taken on overdraft counts at the asset's
value in USD (it is owed), and a recurring fee reserved for later counts at the asset's value now.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.catalog.rates import REPORTING
from drawdown.core.errors import Invalid
from drawdown.core.grants import BUNDLED, PAID
from drawdown.core.money import MoneyError, check_exact, from_scaled, quantize, to_scaled
from drawdown.usage.booking import BookedFee
from drawdown.usage.cache import Rates
from drawdown.usage.group import Group, Turn
from drawdown.usage.models import Cost, UsageEvent
from drawdown.vendors import service as vendors

ZERO = Decimal(0)


def cost_amount(cost: Cost) -> Decimal:
    if cost.amount is not None:
        return cost.amount
    if cost.units is not None and cost.unit_price is not None:
        return cost.units * cost.unit_price
    assert cost.input_volume is not None and cost.volume_rate is not None  # the API checks one form is given
    return cost.input_volume * cost.volume_rate / (cost.package_size or 1)


def price_costs(conn: Connection, rates: Rates, event: UsageEvent, path: str) -> list[dict[str, Any]]:
    """The event's cost rows (valued in USD at the event's time); 422 naming the field otherwise."""
    rows, seen = [], set()
    for j, cost in enumerate(event.costs or ()):
        where = f"{path}.costs[{j}]"
        if cost.id in seen:
            raise Invalid.field(f"{where}.id", "repeats another cost of this event")
        seen.add(cost.id)
        vendor_id = vendors.resolve(conn, cost.vendor_id, cost.vendor_external_id)
        if vendor_id is None:
            key, value = (
                ("vendor_id", cost.vendor_id) if cost.vendor_id else ("vendor_external_id", cost.vendor_external_id)
            )
            raise Invalid.field(f"{where}.{key}", f"no vendor {value!r}")
        try:
            amount = check_exact(quantize(cost_amount(cost)))
        except MoneyError as exc:
            raise Invalid.field(f"{where}.amount", str(exc)) from None
        if amount < 0:
            raise Invalid.field(f"{where}.amount", "a cost is zero or more")
        currency = (cost.currency or REPORTING).upper()
        usd = rates.value_in(amount, currency, REPORTING, event.occurred_at)
        if usd is None:
            raise Invalid.field(
                f"{where}.currency", f"no rate from {currency} to {REPORTING} in force at the event's time"
            )
        rows.append(
            {
                "cost_id": cost.id,
                "vendor_id": vendor_id,
                "category": cost.category,
                "amount": to_scaled(amount),
                "currency": currency,
                "amount_usd": to_scaled(quantize(usd)),
                "occurred_at": event.occurred_at,
            }
        )
    return rows


def attribute(
    group: Group, turn: Turn, event: UsageEvent, slot: int, booked: list[BookedFee], cost_rows: list[dict[str, Any]]
) -> None:
    """The event's revenue and cost, on its row and in the turn's rollup; its cost rows planned."""
    customer_id, at = turn.customer.id, event.occurred_at
    revenue = ZERO
    for b in booked:
        earned = fee_revenue(group.rates, turn, b, at)
        revenue += earned
        turn.rollup.add(at, customer_id, b.fee.priced.product_id, "", "", earned, ZERO)
    # An event's costs are attributed to the product of its first fee ('' when it has none).
    product_id = booked[0].fee.priced.product_id if booked else ""
    for cost in cost_rows:
        turn.rollup.add(
            at,
            customer_id,
            product_id,
            cost["vendor_id"],
            cost["category"] or "",
            ZERO,
            from_scaled(cost["amount_usd"]),
        )
        group.rows.costs.append((slot, {**cost, "customer_id": customer_id}))
    row = group.rows.events[slot]
    row["revenue"] = to_scaled(quantize(revenue))
    row["cost"] = to_scaled(sum((from_scaled(r["amount_usd"]) for r in cost_rows), ZERO))


def fee_revenue(rates: Rates, turn: Turn, booked: BookedFee, at: datetime) -> Decimal:
    """What a fee earns in USD under the revenue-recognition rules."""
    fee = booked.fee
    unit = rates.value_in(Decimal(1), fee.asset, REPORTING, at) or ZERO
    if booked.debit is None:  # reserved for a recurring charge: expected at the asset's value
        return fee.amount * unit
    total = booked.debit.debt_added * unit
    for draw in booked.debit.draws:
        basis = turn.customer.ledger.basis(draw.grant_id)
        if basis is not None and basis.purpose in (PAID, BUNDLED) and basis.revenue is not None:
            total += rates.value_in(draw.amount * basis.revenue, basis.currency or REPORTING, REPORTING, at) or ZERO
    return total
