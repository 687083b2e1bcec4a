"""Usage events as stored, read back with their fees (billing them is ``pipeline``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.core.errors import NotFound
from drawdown.core.money import from_scaled
from drawdown.core.scopes import Scope
from drawdown.usage import repository
from drawdown.usage.models import EventFilter, EventSummary, EventView, FeeView


def get_event(conn: Connection, scope: Scope, event_id: str, customer_id: str | None = None) -> EventView:
    """The scope's event (an event of another scope is not found, like an unknown one)."""
    row = repository.event(conn, scope.id, event_id, customer_id)
    if row is None:
        raise NotFound(f"event {event_id} not found")
    return EventView(
        id=row.id,
        customer_id=row.customer_id,
        event_type=row.event_type,
        occurred_at=row.occurred_at,
        subject=row.subject,
        description=row.description,
        data=row.data,
        costs=row.costs,
        created_at=row.created_at,
        fees=[_fee(f) for f in repository.event_fees(conn, row.seq)],
        revenue=from_scaled(row.revenue),
        cost=from_scaled(row.cost),
    )


def list_events(
    conn: Connection, scope: Scope, f: EventFilter, offset: int, limit: int
) -> tuple[list[EventSummary], int]:
    rows, total = repository.events_page(conn, scope.id, f, offset, limit)
    totals = repository.fee_totals(conn, [r.seq for r in rows])
    items = [
        EventSummary(
            id=r.id,
            customer_id=r.customer_id,
            external_id=r.external_id,
            event_type=r.event_type,
            subject=r.subject,
            description=r.description,
            occurred_at=r.occurred_at,
            created_at=r.created_at,
            fee_totals={asset: from_scaled(v) for asset, v in sorted(totals.get(r.seq, {}).items())},
            revenue=from_scaled(r.revenue),
            cost=from_scaled(r.cost),
        )
        for r in rows
    ]
    return items, total


def _fee(row: Any) -> FeeView:
    def dec(v: int | None) -> Decimal | None:
        return None if v is None else from_scaled(v)

    return FeeView(
        id=row.id,
        product_id=row.product_id,
        product_code=row.product_code,
        product_version=row.product_version,
        price_id=row.price_id,
        price_name=row.price_name,
        asset=row.asset,
        dimensions=row.dimensions,
        usage_type=row.usage_type,
        volume_field=row.volume_field,
        input_volume=dec(row.input_volume),
        unit_price=dec(row.unit_price),
        volume_rate=dec(row.volume_rate),
        package_size=row.package_size,
        description=row.description,
        amount=from_scaled(row.amount),
    )
