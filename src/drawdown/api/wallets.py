"""/customers/{id}/wallet"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
from drawdown.api.scoping import CallerScope
from drawdown.codec import fingerprint
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment, Charge, GrantFilter, GrantView

api = router("Wallets")


@api.get("/customers/{customerId}/wallet", response_model=GetWalletResponse, summary="Get a customer's wallet")
def get_wallet(customerId: str, ctx: Context = Depends(context), scope: Scope = CallerScope) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        accounts = wallets.wallet(conn, scope, customerId, ctx.now())
    return ExactJSONResponse(
        {"accounts": [{"id": a.key, "name": a.name, "asset": a.asset, "available": a.available} for a in accounts]}
    )


@api.post(
    "/customers/{customerId}/wallet/adjustments",
    status_code=201,
    response_model=CreateAdjustmentResponse,
    summary="Credit or debit an account",
)
def create_adjustment(
    customerId: str, body: CreateAdjustmentRequest, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    doc = body.model_dump()
    cmd = Adjustment(**doc, digest=fingerprint(doc))
    with write(ctx.engine) as conn:
        done = wallets.adjust(conn, scope, customerId, cmd, ctx.now(), ctx.settings.overdraft_limit())
    return ExactJSONResponse({"id": done.transaction_id, "created_at": done.created_at}, status_code=201)


@api.post("/customers/{customerId}/wallet/charges", status_code=201, summary="Charge an account")
def create_charge(
    customerId: str, body: CreateChargeRequest, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    doc = body.model_dump()
    cmd = Charge(
        body.transaction_id,
        body.asset,
        body.amount,
        body.account_name,
        body.description,
        body.metadata,
        digest=fingerprint(doc),
    )
    with write(ctx.engine) as conn:
        wallets.charge(conn, scope, customerId, cmd, ctx.now(), ctx.settings.overdraft_limit())
    return ExactJSONResponse({}, status_code=201)


@api.get(
    "/customers/{customerId}/wallet/transactions/{transactionId}",
    response_model=GetTransactionResponse,
    summary="Get a transaction",
)
def get_transaction(
    customerId: str, transactionId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        t = wallets.transaction(conn, scope, customerId, transactionId)
    return ExactJSONResponse(
        {
            "id": t.transaction_id,
            "type": t.type,
            "account_id": t.account_key,
            "asset": t.asset,
            "amount": t.amount,
            "description": t.description,
            "metadata": t.metadata,
            "created_at": t.created_at,
            "executed_at": t.executed_at,
            # Drawdown extensions (docs/api.md): where a fee was booked; the fees a usage transaction took
            **({"booked_in": t.booked_in} if t.booked_in else {}),
            **({"fees": [{"id": f.id, "event_id": f.event_id, "amount": f.amount} for f in t.fees]}
               if t.fees is not None else {}),
        }
    )


@api.get(
    "/customers/{customerId}/wallet/{accountId}", response_model=AccountDetails, summary="Get an account's balances"
)
def get_account(
    customerId: str, accountId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        b = wallets.balance(conn, scope, customerId, accountId, ctx.now())
    return ExactJSONResponse(
        {
            "id": b.key,
            "name": b.name,
            "asset": b.asset,
            "available": b.available,
            "pending_in": b.pending_in,
            "pending_out": b.pending_out,
            "overdraft_limit": b.overdraft_limit,
            "held": b.held,  # Drawdown extension: set aside by open holds, already out of ``available``
        }
    )


@api.patch(
    "/customers/{customerId}/wallet/{accountId}",
    status_code=204,
    summary="Set an account's overdraft limit (Drawdown extension; null = unlimited)",
)
def update_account(
    customerId: str,
    accountId: str,
    body: UpdateAccountRequest,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> Response:
    with write(ctx.engine) as conn:
        wallets.set_overdraft_limit(conn, scope, customerId, accountId, body.overdraft_limit)
    return Response(status_code=204)


@api.get(
    "/customers/{customerId}/wallet/{accountId}/grants",
    response_model=Page[CreditGrantItem],
    summary="List an account's credit grants",
)
def list_grants(
    customerId: str,
    accountId: str,
    offset: int = Offset,
    limit: int = Limit,
    purpose: str | None = Query(None),
    exclude_expired: bool = Query(False),
    effective_from: datetime | None = Query(None),
    effective_to: datetime | None = Query(None),
    expired_from: datetime | None = Query(None),
    expired_to: datetime | None = Query(None),
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    f = GrantFilter(
        purpose, exclude_expired, utc(effective_from), utc(effective_to), utc(expired_from), utc(expired_to)
    )
    with read(ctx.engine) as conn:
        items, total = wallets.grants(conn, scope, customerId, accountId, f, offset, limit, ctx.now())
    return page([_grant(g) for g in items], total, limit, offset)


@api.get(
    "/customers/{customerId}/wallet/{accountId}/grants/{grantId}",
    response_model=CreditGrantDetail,
    summary="Get a credit grant with its history (Drawdown extension)",
)
def get_grant(
    customerId: str, accountId: str, grantId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        found = wallets.grant_history(conn, scope, customerId, accountId, grantId, ctx.now())
    history = [
        {"transaction_id": m.transaction_id, "type": m.type, "amount": m.amount, "at": m.at} for m in found.movements
    ]
    return ExactJSONResponse({**_grant(found.grant), "history": history})


def _grant(g: GrantView) -> dict[str, Any]:
    return {
        "id": g.id,
        "available": g.available,
        "amount": g.amount,
        "expired_amount": g.expired_amount,
        "state": g.state,
        "effective_at": g.effective_at,
        "expires_at": g.expires_at,
        "expired_at": g.expired_at,
        "purpose": g.purpose,
        "priority": g.priority,
        "source": {"type": g.source_type, "id": g.source_id},
        "revenue_basis": g.revenue_basis,
        "cost_basis": g.cost_basis,
        "basis_currency": g.basis_currency,
        "created_at": g.created_at,
    }
