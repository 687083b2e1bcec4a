"""/customers/{id}/wallet"""

from __future__ import annotations

from datetime import datetime

from fastapi import Depends, Query, Response

from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router, utc
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.wallets import (
    AccountDetails,
    CreateAdjustmentRequest,
    CreateAdjustmentResponse,
    CreateChargeRequest,
    CreditGrantDetail,
    CreditGrantItem,
    GetTransactionResponse,
    GetWalletResponse,
    UpdateAccountRequest,
)
from drawdown.wallets import service as wallet_ops
from drawdown.db.engine import read, write

api = router("Wallets")


@api.get("/customers/{customerId}/wallet", response_model=GetWalletResponse, summary="Get a customer's wallet")
def get_wallet(customerId: str, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(wallet_ops.get_wallet(conn, customerId, ctx.now()))


@api.post("/customers/{customerId}/wallet/adjustments", status_code=201, response_model=CreateAdjustmentResponse, summary="Credit or debit an account")
def create_adjustment(customerId: str, body: CreateAdjustmentRequest, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with write(ctx.engine) as conn:
        result = wallet_ops.create_adjustment(conn, customerId, body.model_dump(), ctx.now(), ctx.settings.overdraft_limit())
    return ExactJSONResponse(result, status_code=201)


@api.post("/customers/{customerId}/wallet/charges", status_code=201, summary="Charge an account")
def create_charge(customerId: str, body: CreateChargeRequest, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with write(ctx.engine) as conn:
        result = wallet_ops.create_charge(conn, customerId, body.model_dump(), ctx.now(), ctx.settings.overdraft_limit())
    return ExactJSONResponse(result, status_code=201)


@api.get("/customers/{customerId}/wallet/transactions/{transactionId}", response_model=GetTransactionResponse, summary="Get a transaction")
def get_transaction(customerId: str, transactionId: str, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(wallet_ops.get_transaction(conn, customerId, transactionId))


@api.get("/customers/{customerId}/wallet/{accountId}", response_model=AccountDetails, summary="Get an account's balances")
def get_account(customerId: str, accountId: str, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(wallet_ops.get_account(conn, customerId, accountId, ctx.now()))


@api.patch(
    "/customers/{customerId}/wallet/{accountId}",
    status_code=204,
    summary="Set an account's overdraft limit (Drawdown extension; null = unlimited)",
)
def update_account(customerId: str, accountId: str, body: UpdateAccountRequest, ctx: Context = Depends(context)) -> Response:  # noqa: N803
    with write(ctx.engine) as conn:
        wallet_ops.set_overdraft_limit(conn, customerId, accountId, body.overdraft_limit)
    return Response(status_code=204)


@api.get("/customers/{customerId}/wallet/{accountId}/grants", response_model=Page[CreditGrantItem], summary="List an account's credit grants")
def list_grants(
    customerId: str,  # noqa: N803
    accountId: str,  # noqa: N803
    offset: int = Offset,
    limit: int = Limit,
    purpose: str | None = Query(None),
    exclude_expired: bool = Query(False),
    effective_from: datetime | None = Query(None),
    effective_to: datetime | None = Query(None),
    expired_from: datetime | None = Query(None),
    expired_to: datetime | None = Query(None),
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    filters = {
        "purpose": purpose,
        "exclude_expired": exclude_expired,
        "effective_from": utc(effective_from),
        "effective_to": utc(effective_to),
        "expired_from": utc(expired_from),
        "expired_to": utc(expired_to),
    }
    with read(ctx.engine) as conn:
        items, total = wallet_ops.list_grants(conn, customerId, accountId, offset, limit, filters, ctx.now())
    return page(items, total, limit, offset)


@api.get(
    "/customers/{customerId}/wallet/{accountId}/grants/{grantId}",
    response_model=CreditGrantDetail,
    summary="Get a credit grant with its history (Drawdown extension)",
)
def get_grant(customerId: str, accountId: str, grantId: str, ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(wallet_ops.get_grant(conn, customerId, accountId, grantId, ctx.now()))
