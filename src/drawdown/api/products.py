"""/products"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Depends, Query, Request, Response

from drawdown.api import idempotency
from drawdown.api.idempotency import IdempotencyKey
from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router, version_param
from drawdown.api.schemas.catalog import (
    CreateProductRequest,
    CreateProductResponse,
    CreateProductVersionRequest,
    GetProductDataResponse,
    GetProductResponse,
    GetProductVersionResponse,
    ProductSubscriber,
    UpdateProductVersionRequest,
)
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.events import SimulateUsageRequest, SimulateUsageResponse
from drawdown.api.schemas.vendors import Profitability
from drawdown.api.scoping import CallerScope
from drawdown.api.shapes import catalog as shape
from drawdown.api.vendors import day
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewProduct, NewVersion, VersionUpdate
from drawdown.core.scopes import Scope
from drawdown.core.simulate import simulate
from drawdown.db.engine import read, write
from drawdown.reports import profitability

api = router("Products")


def _doc(model: CreateProductRequest | CreateProductVersionRequest) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


@api.post("/products", status_code=201, response_model=CreateProductResponse, summary="Create a product (version 1)")
def create_product(
    body: CreateProductRequest, request: Request, key: str | None = IdempotencyKey, ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    doc = _doc(body)
    # Prices and entitlements travel as the documents a version stores (the request's, minus nulls).
    command = NewProduct(
        code=body.code, name=body.name, prices=doc["prices"], entitlements=doc.get("entitlements") or [],
        publish=bool(body.publish),
    )
    return idempotency.create(
        ctx, scope, request, key, doc,
        lambda conn: shape.version_created(catalog.create_product(conn, scope, command, ctx.now())),
    )


@api.get("/products", response_model=Page[GetProductDataResponse], summary="List products")
def list_products(
    offset: int = Offset,
    limit: int = Limit,
    code: str | None = Query(None),
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = catalog.list_products(conn, scope, offset, limit, code)
    return page([shape.product_summary(p) for p in items], total, limit, offset)


@api.get(
    "/products/{productId}/subscribers", response_model=Page[ProductSubscriber], summary="List a product's subscribers"
)
def get_subscribers(
    productId: str,
    offset: int = Offset,
    limit: int = Limit,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = catalog.subscribers(conn, scope, productId, offset, limit, ctx.now())
    return page([shape.subscriber(s) for s in items], total, limit, offset)


@api.get(
    "/products/{productId}/stats",
    response_model=Profitability,
    summary="A product's profitability (Drawdown extension)",
)
def product_stats(
    productId: str,
    period_from: date | None = Query(None, description="First day (UTC, inclusive)"),
    period_to: date | None = Query(None, description="Last day (UTC, inclusive)"),
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    from drawdown.api.shapes import reports as shapes

    with read(ctx.engine) as conn:
        product = catalog.get_product(conn, scope, productId)
        figures = profitability.product(conn, scope, product.id, day(period_from), day(period_to))
    return ExactJSONResponse(shapes.stats(figures))


@api.post(
    "/products/{productId}/{version}/simulate-usage",
    response_model=SimulateUsageResponse,
    summary="Price sample events against a version, writing nothing",
)
def simulate_usage(
    productId: str,
    version: str,
    body: SimulateUsageRequest,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        found = catalog.get_version(conn, scope, productId, version_param(version))
    fees, warnings = simulate(found.prices, [e.model_dump(exclude_none=True) for e in body.events])
    return ExactJSONResponse({"fees": fees, "warnings": warnings})


@api.get("/products/{productId}", response_model=GetProductResponse, summary="Get a product")
def get_product(
    productId: str,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(shape.product(catalog.get_product(conn, scope, productId)))


@api.delete("/products/{productId}", status_code=204, summary="Delete a product whose versions are all drafts")
def delete_product(
    productId: str,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> Response:
    with write(ctx.engine) as conn:
        catalog.delete_product(conn, scope, productId)
    return Response(status_code=204)


@api.post(
    "/products/{productId}", status_code=201, response_model=CreateProductResponse, summary="Create a new version"
)
def create_version(
    productId: str,
    body: CreateProductVersionRequest,
    request: Request,
    key: str | None = IdempotencyKey,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    doc = _doc(body)
    command = NewVersion(prices=doc["prices"], entitlements=doc.get("entitlements") or [], publish=bool(body.publish))
    return idempotency.create(
        ctx, scope, request, key, doc,
        lambda conn: shape.version_created(catalog.create_version(conn, scope, productId, command, ctx.now())),
    )


@api.get(
    "/products/{productId}/{version}", response_model=GetProductVersionResponse, summary="Get a version (or 'default')"
)
def get_version(
    productId: str,
    version: str,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        found = catalog.get_version(conn, scope, productId, version_param(version))
    return ExactJSONResponse(shape.product_version(found))


@api.patch("/products/{productId}/{version}", status_code=204, summary="Publish a version or make it the default")
def update_version(
    productId: str,
    version: str,
    body: UpdateProductVersionRequest,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> Response:
    command = VersionUpdate(publish=body.publish, make_default=bool(body.make_default))
    with write(ctx.engine) as conn:
        catalog.update_version(conn, scope, productId, version_param(version), command)
    return Response(status_code=204)


@api.delete("/products/{productId}/{version}", status_code=204, summary="Archive a version")
def archive_version(
    productId: str,
    version: str,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> Response:
    with write(ctx.engine) as conn:
        catalog.archive_version(conn, scope, productId, version_param(version))
    return Response(status_code=204)
