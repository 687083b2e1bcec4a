"""The vendors room's SQL. Vendors are scoped: every statement filters or sets ``scope_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, func, insert, select

from drawdown.db.tables import vendors

_c = vendors.c


def id_by_external_id(conn: Connection, scope_id: int, external_id: str | None) -> str | None:
    return conn.execute(select(_c.id).where(_c.scope_id == scope_id, _c.external_id == external_id)).scalar()


def id_if_exists(conn: Connection, scope_id: int, vendor_id: str) -> str | None:
    return conn.execute(select(_c.id).where(_c.scope_id == scope_id, _c.id == vendor_id)).scalar()


def insert_vendor(
    conn: Connection, scope_id: int, vendor_id: str, name: str, external_id: str | None, now: datetime
) -> None:
    conn.execute(
        insert(vendors).values(id=vendor_id, scope_id=scope_id, name=name, external_id=external_id, created_at=now)
    )


def vendor(conn: Connection, scope_id: int, vendor_id: str) -> Row[Any] | None:
    return conn.execute(select(vendors).where(_c.scope_id == scope_id, _c.id == vendor_id)).first()


def _filters(scope_id: int, external_id: str | None) -> list[ColumnElement[bool]]:
    """The scope, and the external id when one is given."""
    return [_c.scope_id == scope_id] + ([_c.external_id == external_id] if external_id else [])


def count(conn: Connection, scope_id: int, external_id: str | None) -> int:
    q = select(func.count()).select_from(vendors).where(*_filters(scope_id, external_id))
    return int(conn.execute(q).scalar_one())


def page(conn: Connection, scope_id: int, offset: int, limit: int, external_id: str | None) -> list[Row[Any]]:
    """The scope's vendors (only the one with ``external_id`` when given), oldest first."""
    q = select(vendors).where(*_filters(scope_id, external_id)).order_by(_c.created_at, _c.id)
    return list(conn.execute(q.offset(offset).limit(limit)))
