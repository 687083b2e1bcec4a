"""Vendors: who a platform pays for the work behind an event (model providers, GPU clouds)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select

from drawdown.core.errors import Conflict, NotFound
from drawdown.core.ids import new_id
from drawdown.reports import profitability
from drawdown.db.tables import vendors


def create(conn: Connection, body: dict[str, Any], now: datetime) -> dict:
    if body.get("external_id") and conn.execute(select(vendors.c.id).where(vendors.c.external_id == body["external_id"])).first():
        raise Conflict(f"a vendor with external_id {body['external_id']!r} already exists")
    vendor_id = new_id("vnd")
    conn.execute(insert(vendors).values(id=vendor_id, name=body["name"], external_id=body.get("external_id"), created_at=now))
    return {"id": vendor_id, "created_at": now}


def _doc(r: Any) -> dict:
    return {"id": r.id, "external_id": r.external_id, "name": r.name, "created_at": r.created_at}


def get(conn: Connection, vendor_id: str) -> dict:
    row = conn.execute(select(vendors).where(vendors.c.id == vendor_id)).first()
    if row is None:
        raise NotFound(f"vendor {vendor_id} not found")
    return _doc(row)


def list_vendors(conn: Connection, offset: int, limit: int, external_id: str | None) -> tuple[list[dict], int]:
    where = vendors.c.external_id == external_id if external_id else True
    total = conn.execute(select(func.count()).select_from(vendors).where(where)).scalar_one()
    rows = conn.execute(select(vendors).where(where).order_by(vendors.c.created_at, vendors.c.id).offset(offset).limit(limit))
    return [_doc(r) for r in rows], total


def resolve(conn: Connection, vendor_id: str | None, external_id: str | None) -> str | None:
    if vendor_id:
        return conn.execute(select(vendors.c.id).where(vendors.c.id == vendor_id)).scalar()
    return conn.execute(select(vendors.c.id).where(vendors.c.external_id == external_id)).scalar()


def stats(conn: Connection, vendor_id: str, start: str | None, end: str | None, category: str | None) -> dict:
    get(conn, vendor_id)
    rows = profitability.vendor(conn, vendor_id, start, end, category)
    return {"total_costs": sum((cost for _, cost in rows), Decimal(0)), "categories": [{"category": c, "cost": v} for c, v in rows]}
