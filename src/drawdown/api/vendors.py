"""/vendors and profitability stats"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Depends, Query, Request

from drawdown.api import idempotency
from drawdown.api.idempotency import IdempotencyKey
from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.vendors import CreateVendorRequest, CreateVendorResponse, VendorStats, VendorSummary
from drawdown.api.scoping import CallerScope
from drawdown.core.scopes import Scope
from drawdown.db.engine import read
from drawdown.vendors import service as vendors
from drawdown.vendors.models import NewVendor, Vendor, VendorCosts

api = router("Vendors")


def day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _vendor(v: Vendor) -> dict[str, Any]:
    return {"id": v.id, "external_id": v.external_id, "name": v.name, "created_at": v.created_at}


def _created(v: Vendor) -> dict[str, Any]:
    return {"id": v.id, "created_at": v.created_at}


def _costs(c: VendorCosts) -> dict[str, Any]:
    return {"total_costs": c.total, "categories": [{"category": x.category, "cost": x.cost} for x in c.categories]}


@api.post("/vendors", status_code=201, response_model=CreateVendorResponse, summary="Create a vendor")
def create_vendor(
    body: CreateVendorRequest, request: Request, key: str | None = IdempotencyKey, ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    doc = body.model_dump(exclude_none=True)
    command = NewVendor(name=body.name, external_id=body.external_id)
    return idempotency.create(
        ctx, scope, request, key, doc, lambda conn: _created(vendors.create(conn, scope, command, ctx.now()))
    )


@api.get("/vendors", response_model=Page[VendorSummary], summary="List vendors")
def list_vendors(
    offset: int = Offset, limit: int = Limit, external_id: str | None = Query(None), ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = vendors.list_vendors(conn, scope, offset, limit, external_id)
    return page([_vendor(v) for v in items], total, limit, offset)


@api.get("/vendors/{vendorId}", response_model=VendorSummary, summary="Get a vendor")
def get_vendor(
    vendorId: str,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(_vendor(vendors.get(conn, scope, vendorId)))


@api.get("/vendors/{vendorId}/stats", response_model=VendorStats, summary="A vendor's costs by category")
def vendor_stats(
    vendorId: str,
    period_from: date | None = Query(None, description="First day (UTC, inclusive)"),
    period_to: date | None = Query(None, description="Last day (UTC, inclusive)"),
    category: str | None = Query(None),
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        costs = vendors.stats(conn, scope, vendorId, day(period_from), day(period_to), category)
    return ExactJSONResponse(_costs(costs))
