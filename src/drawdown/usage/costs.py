"""Stage 4, rate (costs): the vendor costs attached to an event, validated and valued in USD at the
event's time, before it is funded; a bad cost refuses the event's batch with a 422 naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.catalog.rates import REPORTING
from drawdown.core.errors import Invalid
from drawdown.core.money import MoneyError, check_exact, quantize, to_scaled
from drawdown.core.scopes import Scope
from drawdown.usage.cache import Rates
from drawdown.usage.models import Cost, UsageEvent
from drawdown.vendors import service as vendors


def cost_amount(cost: Cost) -> Decimal:
    if cost.amount is not None:
        return cost.amount
    if cost.units is not None and cost.unit_price is not None:
        return cost.units * cost.unit_price
    assert cost.input_volume is not None and cost.volume_rate is not None  # the API checks one form is given
    return cost.input_volume * cost.volume_rate / (cost.package_size or 1)


def price_costs(conn: Connection, scope: Scope, rates: Rates, event: UsageEvent, path: str) -> list[dict[str, Any]]:
    """The event's cost rows (vendors of the scope, valued in USD at the event's time by the scope's
    ``rates``); 422 naming the field otherwise."""
    rows, seen = [], set()
    for j, cost in enumerate(event.costs or ()):
        where = f"{path}.costs[{j}]"
        if cost.id in seen:
            raise Invalid.field(f"{where}.id", "repeats another cost of this event")
        seen.add(cost.id)
        vendor_id = vendors.resolve(conn, scope, cost.vendor_id, cost.vendor_external_id)
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
