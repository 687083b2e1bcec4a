"""Stage 7, attribute: once an event is booked, its costs and revenue go on the event itself and into
the customer, product and vendor rollups, and into its subject's (docs/profitability.md).

Revenue follows the grants a fee drew from: value from paid and bundled grants counts at each grant's
revenue basis, promotional value counts for nothing, value taken on overdraft counts at the asset's
value in USD (it is owed), and a recurring fee reserved for later counts at the asset's value now.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from drawdown.catalog.rates import REPORTING
from drawdown.core.grants import BUNDLED, PAID
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.usage.booking import BookedFee
from drawdown.usage.cache import Rates
from drawdown.usage.group import Group, Turn
from drawdown.usage.models import UsageEvent

ZERO = Decimal(0)


def attribute(
    group: Group, turn: Turn, event: UsageEvent, slot: int, booked: list[BookedFee], cost_rows: list[dict[str, Any]]
) -> None:
    """The event's revenue and cost, on its row and in the turn's rollup; its cost rows planned."""
    customer_id, scope_id, at = turn.customer.id, turn.customer.scope_id, event.occurred_at
    rates = group.rates[scope_id]
    revenue = ZERO
    for b in booked:
        earned = fee_revenue(rates, turn, b, at)
        revenue += earned
        turn.rollup.add(at, scope_id, customer_id, b.fee.priced.product_id, "", "", earned, ZERO)
    # An event's costs are attributed to the product of its first fee ('' when it has none).
    product_id = booked[0].fee.priced.product_id if booked else ""
    for cost in cost_rows:
        turn.rollup.add(
            at,
            scope_id,
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
    if event.subject:  # the same scaled figures as the event's own, so a subject always adds up to its events
        fees = [(b.fee.priced.product_id, b.fee.priced.price.id, b.fee.rated.asset, to_scaled(b.fee.rated.amount))
                for b in booked]
        turn.rollup.subjects.add_event(scope_id, customer_id, event.subject, at, row["revenue"], row["cost"],
                                       cost_rows, fees)


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
