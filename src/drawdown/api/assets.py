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
from drawdown.api.scoping import CallerScope
from drawdown.api.shapes import catalog as shape
from drawdown.catalog import rates
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewRate, QuoteRequest, StartingRate
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write

api = router("Assets")


def _new_asset(body: CreateAssetRequest) -> NewAsset:
    return NewAsset(
        code=body.code,
        name=body.name,
        precision=body.precision,
        label=body.label,
        symbol=body.symbol,
        rates=tuple(StartingRate(r.source, r.rate, r.inverse_rate) for r in body.rates or ()),
    )


@api.post("/assets", status_code=201, response_model=CreateAssetResponse, summary="Create an asset")
def create_asset(
    body: CreateAssetRequest, request: Request, key: str | None = IdempotencyKey, ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    command = _new_asset(body)
    return idempotency.create(
        ctx, scope, request, key, body.model_dump(),
        lambda conn: shape.asset_created(catalog.create_asset(conn, scope, command, ctx.now())),
    )


@api.get("/assets", response_model=Page[ListAssetsItem], summary="List assets (by code)")
def list_assets(
    offset: int = Offset, limit: int = Limit, scope: Scope = CallerScope, ctx: Context = Depends(context)
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = catalog.list_assets(conn, scope, offset, limit)
    return page([shape.asset_summary(a) for a in items], total, limit, offset)


@api.get("/assets/{assetCode}", response_model=GetAssetResponse, summary="Get an asset")
def get_asset(
    assetCode: str,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(shape.asset(catalog.get_asset(conn, scope, assetCode)))


@api.post("/assets/{assetCode}/rates", status_code=204, summary="Add an exchange rate (may start in the future)")
def add_rate(
    assetCode: str,
    body: AddAssetRateRequest,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> Response:
    command = NewRate(source=body.source, rate=body.rate, valid_from=body.valid_from, valid_to=body.valid_to)
    with write(ctx.engine) as conn:
        rates.add_rate(conn, scope, assetCode, command, ctx.now())
    return Response(status_code=204)


@api.post(
    "/assets/{assetCode}/quote", response_model=QuoteAssetResponse, summary="Convert a fiat amount into the asset"
)
def quote(
    assetCode: str,
    body: QuoteAssetRequest,
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    command = QuoteRequest(source=body.source, amount=body.amount, exchange_at=body.exchange_at)
    with read(ctx.engine) as conn:
        return ExactJSONResponse(shape.quote(rates.quote(conn, scope, assetCode, command, ctx.now())))
