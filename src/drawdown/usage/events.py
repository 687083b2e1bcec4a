"""Usage events as stored: reading events and their fees back (billing itself is store.usage)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select

from drawdown.core.errors import NotFound
from drawdown.core.money import from_scaled
from drawdown.reports.profitability import figures
from drawdown.db.tables import customers, events, fees


def fee_doc(row: Any) -> dict:
    def dec(v: int | None) -> Decimal | None:
        return None if v is None else from_scaled(v)

    return {
        "id": row.id,
        "product_id": row.product_id,
        "product_code": row.product_code,
        "product_version": row.product_version,
        "price_id": row.price_id,
        "price_name": row.price_name,
        "currency": row.asset,
        "dimensions": row.dimensions,
        "usage_type": row.usage_type,
        "volume_field": row.volume_field,
        "input_volume": dec(row.input_volume),
        "unit_price": dec(row.unit_price),
        "volume_rate": dec(row.volume_rate),
        "package_size": row.package_size,
        "description": row.description,
        "amount": from_scaled(row.amount),
    }


def get_event(conn: Connection, event_id: str, customer_id: str | None = None) -> dict:
    q = select(events).where(events.c.id == event_id)
    if customer_id:
        q = q.where(events.c.customer_id == customer_id)
    row = conn.execute(q.order_by(events.c.seq).limit(1)).first()
    if row is None:
        raise NotFound(f"event {event_id} not found")
    fee_rows = conn.execute(select(fees).where(fees.c.event_seq == row.seq).order_by(fees.c.id))
    return {
        "id": row.id,
        "event_type": row.event_type,
        "occurred_at": row.occurred_at,
        "subject": row.subject,
        "description": row.description,
        "data": row.data,
        "costs": row.costs,
        "customer_id": row.customer_id,
        "created_at": row.created_at,
        "fees": [fee_doc(f) for f in fee_rows],
        "stats": figures(from_scaled(row.revenue), from_scaled(row.cost)),
    }


def list_events(conn: Connection, offset: int, limit: int, f: dict[str, Any]) -> tuple[list[dict], int]:
    conds = []
    if f.get("event_id"):
        conds.append(events.c.id == f["event_id"])
    if f.get("customer_id"):
        conds.append(events.c.customer_id == f["customer_id"])
    if f.get("customer_external_id"):
        conds.append(customers.c.external_id == f["customer_external_id"])
    if f.get("subject"):
        conds.append(events.c.subject == f["subject"])
    if f.get("period_from"):
        conds.append(events.c.occurred_at >= f["period_from"])
    if f.get("period_to"):
        conds.append(events.c.occurred_at < f["period_to"])
    if f.get("event_types"):
        conds.append(events.c.event_type.in_(f["event_types"]))
    fee_total = (
        select(func.sum(fees.c.amount)).where(fees.c.event_seq == events.c.seq).scalar_subquery()
    )
    fee_count = select(func.count()).where(fees.c.event_seq == events.c.seq).scalar_subquery()
    fee_asset = select(func.min(fees.c.asset)).where(fees.c.event_seq == events.c.seq).scalar_subquery()
    if f.get("has_fees") is not None:
        conds.append(fee_count > 0 if f["has_fees"] else fee_count == 0)
    where = and_(True, *conds)
    base = events.join(customers, customers.c.id == events.c.customer_id)
    total = conn.execute(select(func.count()).select_from(base).where(where)).scalar_one()
    rows = conn.execute(
        select(events, customers.c.external_id.label("external_id"), fee_total.label("total"), fee_count.label("n"), fee_asset.label("asset"))
        .select_from(base)
        .where(where)
        .order_by(events.c.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    items = [
        {
            "id": r.id,
            "customer_id": r.customer_id,
            "external_id": r.external_id,
            "event_type": r.event_type,
            "subject": r.subject,
            "description": r.description,
            "occurred_at": r.occurred_at,
            "created_at": r.created_at,
            "total_fees": from_scaled(r.total) if r.total is not None else None,
            "fee_currency": r.asset,
            "has_fees": bool(r.n),
            "stats": figures(from_scaled(r.revenue), from_scaled(r.cost)),
        }
        for r in rows
    ]
    return items, total
