"""/assets"""

from __future__ import annotations

from fastapi import Depends, Request, Response

from drawdown.api import idempotency
from drawdown.api.idempotency import IdempotencyKey

from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router
from drawdown.api.schemas.catalog import (
    AddAssetRateRequest,
    CreateAssetRequest,
    CreateAssetResponse,
    GetAssetResponse,
    ListAssetsItem,
    QuoteAssetRequest,
    QuoteAssetResponse,
)
from drawdown.api.schemas.common import Page
from drawdown.catalog import service as catalog
from drawdown.catalog import rates
from drawdown.db.engine import read, write

api = router("Assets")


@api.post("/assets", status_code=201, response_model=CreateAssetResponse, summary="Create an asset")
def create_asset(
    body: CreateAssetRequest, request: Request, key: str | None = IdempotencyKey, ctx: Context = Depends(context)
) -> ExactJSONResponse:
    doc = body.model_dump()
    return idempotency.create(ctx, request, key, doc, lambda conn: catalog.create_asset(conn, doc, ctx.now()))


@api.get("/assets", response_model=Page[ListAssetsItem], summary="List assets (by code)")
def list_assets(offset: int = Offset, limit: int = Limit, ctx: Context = Depends(context)) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = catalog.list_assets(conn, offset, limit)
    return page(items, total, limit, offset)


@api.get("/assets/{assetCode}", response_model=GetAssetResponse, summary="Get an asset")
def get_asset(assetCode: str, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(catalog.get_asset(conn, assetCode))


@api.post("/assets/{assetCode}/rates", status_code=204, summary="Add an exchange rate (may start in the future)")
def add_rate(assetCode: str, body: AddAssetRateRequest, ctx: Context = Depends(context)) -> Response:  # noqa: N803
    with write(ctx.engine) as conn:
        rates.add_rate(conn, assetCode, body.model_dump(), ctx.now())
    return Response(status_code=204)


@api.post("/assets/{assetCode}/quote", response_model=QuoteAssetResponse, summary="Convert a fiat amount into the asset")
def quote(assetCode: str, body: QuoteAssetRequest, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(rates.quote(conn, assetCode, body.model_dump(), ctx.now()))
