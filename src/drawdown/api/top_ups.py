"""/top-ups (Credyt) with refunds (Drawdown extension), and /stripe/webhook (Stripe's, not the API's).

A top-up is initiated here and paid on its page (``/pay/{token}``, api/pay.py); Stripe's answer comes
back through the webhook below, the page, or the payments worker's reconciliation (docs/payments.md).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from drawdown.api import idempotency
from drawdown.api.deps import Context, context
from drawdown.api.errors import Malformed
from drawdown.api.routing import ExactJSONResponse, router
from drawdown.api.schemas.payments import (
    CreateRefundRequest,
    GetTopUpResponse,
    InitiateTopUpRequest,
    InitiateTopUpResponse,
    RefundResponse,
)
from drawdown.api.scoping import CallerScope
from drawdown.core.errors import DomainError
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.payments import refunds, topups, webhooks
from drawdown.payments.models import NewTopUp, Refund, TopUp

log = structlog.get_logger()

api = router("Top-ups")
# Stripe's door: no API key (Stripe signs its deliveries instead), kept out of the OpenAPI document.
stripe_api = APIRouter(include_in_schema=False)


def _initiated(ctx: Context, t: TopUp) -> dict[str, Any]:
    return {"id": t.id, "status": t.status, "redirect_url": f"{ctx.settings.public_url.rstrip('/')}/pay/{t.page_token}",
            "created_at": t.created_at, "expires_at": t.expires_at}


def _top_up(t: TopUp) -> dict[str, Any]:
    return {
        "id": t.id, "customer_id": t.customer_id, "amount": t.amount, "currency": t.currency,
        "destination": {"account_name": t.account_name, "asset": t.asset, "exchange_rate": t.exchange_rate},
        "status": t.status, "kind": t.kind, "created_at": t.created_at, "expires_at": t.expires_at,
        "credited": t.credited, "refunded": t.refunded, "failure_message": t.failure_message,
    }


def _refund(r: Refund) -> dict[str, Any]:
    return {"id": r.id, "top_up_id": r.top_up_id, "amount": r.amount, "status": r.status,
            "failure_message": r.failure_message, "created_at": r.created_at}


@api.post("/top-ups", status_code=201, response_model=InitiateTopUpResponse, summary="Initiate a top-up")
def initiate(
    body: InitiateTopUpRequest,
    request: Request,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
    key: str | None = idempotency.IdempotencyKey,
) -> ExactJSONResponse:
    destination = body.destination
    cmd = NewTopUp(
        customer_id=body.customer_id, amount=body.amount, currency=body.currency, return_url=body.return_url,
        failure_url=body.failure_url, asset=destination.asset if destination else None,
        account_name=destination.account_name if destination else None,
        exchange_rate=destination.exchange_rate if destination else None,
        credit_expires_at=body.credit_expires_at, description=body.description, metadata=body.metadata,
    )
    now = ctx.now()

    def action(conn: Any) -> dict[str, Any]:
        made = topups.initiate(conn, scope, cmd, now, ctx.settings.top_up_link_minutes)
        # After the fields are checked (a bad one is a 422 either way), before the commit (the insert
        # is rolled back): 503 naming DRAWDOWN_STRIPE_SECRET_KEY, or a live key in a test scope.
        ctx.stripe.config.check(scope)
        return _initiated(ctx, made)

    return idempotency.create(ctx, scope, request, key, body.model_dump(mode="json"), action)


@api.get("/top-ups/{topUpId}", response_model=GetTopUpResponse, summary="Get a top-up")
def get(topUpId: str, ctx: Context = Depends(context), scope: Scope = CallerScope) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        found = topups.get(conn, scope, topUpId)
    return ExactJSONResponse(_top_up(found))


@api.post(
    "/top-ups/{topUpId}/refund",
    status_code=201,
    response_model=RefundResponse,
    summary="Refund a top-up, up to the value still unspent (Drawdown extension)",
)
def refund(
    topUpId: str, body: CreateRefundRequest, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        topups.get(conn, scope, topUpId)  # unknown or another scope's: 404 before anything else
    ctx.stripe.config.check(scope)
    limit = ctx.settings.overdraft_limit()
    with write(ctx.engine) as conn:
        reserved = refunds.reserve(conn, scope, topUpId, body.amount, ctx.now(), limit)
    # Committed: the units are out of the grant. Stripe is asked only now, outside any transaction.
    done = refunds.complete(ctx.engine, ctx.stripe, reserved, ctx.now(), limit)
    return ExactJSONResponse(_refund(done), status_code=201)


@stripe_api.post("/stripe/webhook")
async def stripe_webhook(request: Request) -> ExactJSONResponse:
    ctx: Context = request.app.state.ctx
    payload = await request.body()
    try:
        event = ctx.stripe.event(payload, request.headers.get("stripe-signature"))
    except ValueError as exc:
        raise Malformed(str(exc)) from None
    outcome = await run_in_threadpool(_handle, ctx, event)
    return ExactJSONResponse({"received": True, "outcome": outcome})


def _handle(ctx: Context, event: dict[str, Any]) -> str:
    try:
        with write(ctx.engine) as conn:
            outcome = webhooks.handle(
                conn, event, ctx.now(), ctx.settings.overdraft_limit(), ctx.settings.public_url
            )
    except DomainError as exc:
        # An intent that does not pay its top-up (amount or currency differ): retrying cannot fix
        # it, so Stripe is answered 200 and the refusal is logged for a person to look at.
        log.error("stripe_event_refused", event_id=event.get("id"), type=event.get("type"), reason=str(exc)[:300])
        return "refused"
    log.info("stripe_event", event_id=event.get("id"), type=event.get("type"), outcome=outcome)
    return outcome
