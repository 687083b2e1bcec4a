"""Price sample events against one product version without a customer and without writing anything.

Events are rated in the order given, as a new subscriber's would be: tier positions start at zero
and grow with each simulated event; a ``custom`` tier period is anchored at the earliest event.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from drawdown.core import catalog
from drawdown.core.pricing import RatingError, choose_entry, rate


def simulate(
    prices: list[dict[str, Any]], events: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    usage = [(catalog.usage_price(doc), catalog.cadence(doc)) for doc in prices if doc.get("type") == "usage_based"]
    if not events:
        return [], []
    anchor: datetime = min(e["occurred_at"] for e in events)
    positions: dict[tuple[str, int, datetime], Decimal] = {}
    fees: list[dict[str, Any]] = []
    warnings: list[str] = []
    for i, event in enumerate(events):
        data = event.get("data") or {}
        matched = [(p, c) for p, c in usage if p.event_type == event["event_type"]]
        if not matched:
            warnings.append(
                f"events[{i}] ({event['id']}): no price of this version has event_type {event['event_type']!r}"
            )
            continue
        priced_any = False
        for price, cadence in matched:
            index = choose_entry(price, data)
            if index is None:
                warnings.append(f"events[{i}] ({event['id']}): no dimensional entry of price {price.name!r} matches")
                continue
            key = (price.id, index, catalog.tier_period_start(price, cadence, anchor, event["occurred_at"]))
            try:
                rated = rate(price, data, positions.get(key, Decimal(0)), index)
            except RatingError as exc:
                warnings.append(f"events[{i}] ({event['id']}): {exc.field}: {exc.message}")
                continue
            assert rated is not None  # an entry index is given, so rate() always answers
            positions[key] = positions.get(key, Decimal(0)) + rated.quantity
            priced_any = True
            fees.append(
                {
                    "price_id": price.id,
                    "price_name": price.name,
                    "currency": rated.asset,
                    "usage_id": event["id"],
                    "event_type": event["event_type"],
                    "dimensions": rated.dimensions,
                    "usage_type": price.usage_type,
                    "volume_field": price.volume_field,
                    "input_volume": rated.input_volume,
                    "unit_price": rated.value.unit_price,
                    "volume_rate": rated.value.volume_rate,
                    "package_size": rated.value.package_size,
                    "description": rated.description,
                    "amount": rated.amount,
                }
            )
        if not priced_any and not any(w.startswith(f"events[{i}]") for w in warnings):
            warnings.append(f"events[{i}] ({event['id']}): no fee")
    return fees, warnings
