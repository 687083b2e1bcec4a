"""/customers/{id}/payment-methods and /customers/{id}/wallet/{account}/auto-top-up (Drawdown extensions).

Cards live at Stripe; these routes call it outside any transaction (the services read, commit, call
Stripe, then write). A card or a customer of another scope answers exactly like an unknown one.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import Depends, Response

from drawdown.api.routing import Context, ExactJSONResponse, context, router
from drawdown.api.schemas.payment_methods import (
    AddPaymentMethodRequest,
    AutoTopUpRequest,
    AutoTopUpResponse,
    PaymentMethodList,
    SavedCard,
)
from drawdown.api.scoping import CallerScope
from drawdown.core.scopes import Scope
from drawdown.payments import auto_settings, cards
from drawdown.payments.models import AutoTopUpSetting, AutoTopUpView

api = router("Payment methods")
AUTO = "/customers/{customerId}/wallet/{accountId}/auto-top-up"


@api.get("/customers/{customerId}/payment-methods", response_model=PaymentMethodList,
         summary="List a customer's saved cards (Drawdown extension)")
def list_payment_methods(customerId: str, ctx: Context = Depends(context), scope: Scope = CallerScope) -> Any:
    found = cards.list_cards(ctx.engine, ctx.stripe, scope, customerId)
    return ExactJSONResponse({"items": [asdict(c) for c in found]})


@api.post("/customers/{customerId}/payment-methods", status_code=201, response_model=SavedCard,
          summary="Save a Stripe PaymentMethod as a card of the customer (Drawdown extension)")
def add_payment_method(
    customerId: str, body: AddPaymentMethodRequest, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> Any:
    card = cards.add_card(ctx.engine, ctx.stripe, scope, customerId, body.payment_method_id)
    return ExactJSONResponse(asdict(card), status_code=201)


@api.delete("/customers/{customerId}/payment-methods/{paymentMethodId}", status_code=204,
            summary="Remove a saved card (Drawdown extension)")
def delete_payment_method(
    customerId: str, paymentMethodId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> Response:
    cards.delete_card(ctx.engine, ctx.stripe, scope, customerId, paymentMethodId)
    return Response(status_code=204)


@api.put("/customers/{customerId}/payment-methods/{paymentMethodId}/default", status_code=204,
         summary="Make a saved card the default (Drawdown extension)")
def make_default_payment_method(
    customerId: str, paymentMethodId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> Response:
    cards.make_default(ctx.engine, ctx.stripe, scope, customerId, paymentMethodId, ctx.now())
    return Response(status_code=204)


# ---------------------------------------------------------------------------------- auto top-up
@api.put(AUTO, response_model=AutoTopUpResponse,
         summary="Turn auto top-up on or off for an account (Drawdown extension)")
def put_auto_top_up(
    customerId: str, accountId: str, body: AutoTopUpRequest, ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> Any:
    cmd = AutoTopUpSetting(body.enabled, body.threshold, body.amount, body.payment_method_id, body.monthly_limit)
    view = auto_settings.put(ctx.engine, ctx.stripe, scope, customerId, accountId, cmd, ctx.now(),
                             ctx.settings.overdraft_limit())
    return ExactJSONResponse(_shape(view))


@api.get(AUTO, response_model=AutoTopUpResponse,
         summary="An account's auto top-up and its last attempts (Drawdown extension)")
def get_auto_top_up(
    customerId: str, accountId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> Any:
    return ExactJSONResponse(_shape(auto_settings.get(ctx.engine, scope, customerId, accountId)))


@api.delete(AUTO, status_code=204, summary="Turn auto top-up off and forget it (Drawdown extension)")
def delete_auto_top_up(
    customerId: str, accountId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> Response:
    auto_settings.delete(ctx.engine, scope, customerId, accountId, ctx.now())
    return Response(status_code=204)


def _shape(view: AutoTopUpView) -> dict[str, Any]:
    doc = asdict(view)
    doc["paused"] = view.paused_at is not None
    return doc
