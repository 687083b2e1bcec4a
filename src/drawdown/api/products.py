"""/products"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

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
from drawdown.api.schemas.events import SimulateUsageRequest, SimulateUsageResponse
from drawdown.core.simulate import simulate
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.vendors import Profitability
from drawdown.api.vendors import day
from drawdown.catalog import service as catalog
from drawdown.reports import profitability
from drawdown.db.engine import read, write

api = router("Products")


def _doc(model) -> dict:  # noqa: ANN001
    return model.model_dump(exclude_none=True)


@api.post("/products", status_code=201, response_model=CreateProductResponse, summary="Create a product (version 1)")
def create_product(
    body: CreateProductRequest, request: Request, key: str | None = IdempotencyKey, ctx: Context = Depends(context)
) -> ExactJSONResponse:
    doc = _doc(body)
    return idempotency.create(ctx, request, key, doc, lambda conn: catalog.create_product(conn, doc, ctx.now()))


@api.get("/products", response_model=Page[GetProductDataResponse], summary="List products")
def list_products(
    offset: int = Offset, limit: int = Limit, code: str | None = Query(None), ctx: Context = Depends(context)
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = catalog.list_products(conn, offset, limit, code)
    return page(items, total, limit, offset)


@api.get("/products/{productId}/subscribers", response_model=Page[ProductSubscriber], summary="List a product's subscribers")
def get_subscribers(productId: str, offset: int = Offset, limit: int = Limit, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        items, total = catalog.subscribers(conn, productId, offset, limit, ctx.now())
    return page(items, total, limit, offset)


@api.get("/products/{productId}/stats", response_model=Profitability, summary="A product's profitability (Drawdown extension)")
def product_stats(
    productId: str,  # noqa: N803
    period_from: date | None = Query(None, description="First day (UTC, inclusive)"),
    period_to: date | None = Query(None, description="Last day (UTC, inclusive)"),
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    from drawdown.api.shapes import reports as shapes

    with read(ctx.engine) as conn:
        product = catalog.get_product(conn, productId)
        figures = profitability.product(conn, product["id"], day(period_from), day(period_to))
    return ExactJSONResponse(shapes.stats(figures))


@api.post(
    "/products/{productId}/{version}/simulate-usage",
    response_model=SimulateUsageResponse,
    summary="Price sample events against a version, writing nothing",
)
def simulate_usage(productId: str, version: str, body: SimulateUsageRequest, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        doc = catalog.get_version(conn, productId, version_param(version))
    fees, warnings = simulate(doc["prices"], [e.model_dump(exclude_none=True) for e in body.events])
    return ExactJSONResponse({"fees": fees, "warnings": warnings})


@api.get("/products/{productId}", response_model=GetProductResponse, summary="Get a product")
def get_product(productId: str, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(catalog.get_product(conn, productId))


@api.delete("/products/{productId}", status_code=204, summary="Delete a product whose versions are all drafts")
def delete_product(productId: str, ctx: Context = Depends(context)) -> Response:  # noqa: N803
    with write(ctx.engine) as conn:
        catalog.delete_product(conn, productId)
    return Response(status_code=204)


@api.post("/products/{productId}", status_code=201, response_model=CreateProductResponse, summary="Create a new version")
def create_version(
    productId: str,  # noqa: N803
    body: CreateProductVersionRequest,
    request: Request,
    key: str | None = IdempotencyKey,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    doc = _doc(body)
    return idempotency.create(ctx, request, key, doc, lambda conn: catalog.create_version(conn, productId, doc, ctx.now()))


@api.get("/products/{productId}/{version}", response_model=GetProductVersionResponse, summary="Get a version (or 'default')")
def get_version(productId: str, version: str, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(catalog.get_version(conn, productId, version_param(version)))


@api.patch("/products/{productId}/{version}", status_code=204, summary="Publish a version or make it the default")
def update_version(productId: str, version: str, body: UpdateProductVersionRequest, ctx: Context = Depends(context)) -> Response:  # noqa: N803
    with write(ctx.engine) as conn:
        catalog.update_version(conn, productId, version_param(version), body.model_dump())
    return Response(status_code=204)


@api.delete("/products/{productId}/{version}", status_code=204, summary="Archive a version")
def archive_version(productId: str, version: str, ctx: Context = Depends(context)) -> Response:  # noqa: N803
    with write(ctx.engine) as conn:
        catalog.archive_version(conn, productId, version_param(version))
    return Response(status_code=204)
