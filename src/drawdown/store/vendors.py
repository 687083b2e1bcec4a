"""Vendors: who a platform pays for the work behind an event (model providers, GPU clouds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from drawdown.core.errors import Conflict, NotFound
from drawdown.core.money import from_scaled
from drawdown.store.tables import stats_daily, vendors


def create(conn: Connection, body: dict[str, Any], now: datetime) -> dict:
    from drawdown.core.ids import new_id

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
    s = stats_daily.c
    conds = [s.vendor_id == vendor_id]
    if start:
        conds.append(s.day >= start)
    if end:
        conds.append(s.day <= end)
    if category is not None:
        conds.append(s.category == category)
    rows = conn.execute(
        select(s.category, func.sum(s.cost).label("cost")).where(*conds).group_by(s.category).order_by(s.category)
    ).all()
    categories = [{"category": r.category, "cost": from_scaled(int(r.cost))} for r in rows]
    return {"total_costs": from_scaled(sum(int(r.cost) for r in rows)), "categories": categories}
