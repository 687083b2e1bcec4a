"""Vendors: who a platform pays for the work behind an event (model providers, GPU clouds).

A vendor belongs to one scope: its external id is unique there, and from any other scope it is unknown.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row

from drawdown.core.errors import Conflict, NotFound
from drawdown.core.ids import new_id
from drawdown.core.scopes import Scope
from drawdown.reports import profitability
from drawdown.vendors import repository as repo
from drawdown.vendors.models import CategoryCost, NewVendor, Vendor, VendorCosts


def create(conn: Connection, scope: Scope, command: NewVendor, now: datetime) -> Vendor:
    if command.external_id and repo.id_by_external_id(conn, scope.id, command.external_id):
        raise Conflict(f"a vendor with external_id {command.external_id!r} already exists")
    vendor_id = new_id("vnd")
    repo.insert_vendor(conn, scope.id, vendor_id, command.name, command.external_id, now)
    return Vendor(id=vendor_id, external_id=command.external_id, name=command.name, created_at=now)


def _vendor(r: Row[Any]) -> Vendor:
    return Vendor(id=r.id, external_id=r.external_id, name=r.name, created_at=r.created_at)


def get(conn: Connection, scope: Scope, vendor_id: str) -> Vendor:
    row = repo.vendor(conn, scope.id, vendor_id)
    if row is None:
        raise NotFound(f"vendor {vendor_id} not found")
    return _vendor(row)


def list_vendors(
    conn: Connection, scope: Scope, offset: int, limit: int, external_id: str | None
) -> tuple[list[Vendor], int]:
    total = repo.count(conn, scope.id, external_id)
    return [_vendor(r) for r in repo.page(conn, scope.id, offset, limit, external_id)], total


def resolve(conn: Connection, scope: Scope, vendor_id: str | None, external_id: str | None) -> str | None:
    """The id of the scope's vendor named by id (when given) or else by external id; None when unknown."""
    if vendor_id:
        return repo.id_if_exists(conn, scope.id, vendor_id)
    return repo.id_by_external_id(conn, scope.id, external_id)


def stats(
    conn: Connection, scope: Scope, vendor_id: str, start: str | None, end: str | None, category: str | None
) -> VendorCosts:
    """A vendor's costs between two days (ISO dates, inclusive; open when None), by category."""
    get(conn, scope, vendor_id)  # NotFound for an unknown vendor (or another scope's), not an empty report
    rows = profitability.vendor(conn, scope, vendor_id, start, end, category)
    return VendorCosts(
        total=sum((cost for _, cost in rows), Decimal(0)),
        categories=tuple(CategoryCost(c, cost) for c, cost in rows),
    )
