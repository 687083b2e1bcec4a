"""/customers and their subscriptions"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from drawdown.api import idempotency
from drawdown.api.idempotency import IdempotencyKey
from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.customers import (
    CreateCustomerRequest,
    CreateCustomerResponse,
    CreateSubscription,
    CustomerSubscription,
    CustomerSummary,
    GetCustomerResponse,
    UpdateCustomerRequest,
    UpdateSubscriptionProductRequest,
    UpdateSubscriptionRequest,
)
from drawdown.api.schemas.vendors import CustomerStatsPage, Profitability
from drawdown.api.scoping import CallerScope
from drawdown.api.shapes import customers as shape
from drawdown.api.vendors import day
from drawdown.core.errors import NotFound
from drawdown.core.scopes import Scope
from drawdown.customers import service as customers
from drawdown.customers.models import (
    CustomerFilter,
    CustomerUpdate,
    ExternalAccount,
    NewCustomer,
    NewSubscription,
    ProductRef,
    SubscriptionStatusChange,
    VersionMove,
)
from drawdown.db.engine import read, write
from drawdown.reports import profitability

api = router("Customers")


def _new_subscription(body: CreateSubscription) -> NewSubscription:
    return NewSubscription(
        products=tuple(ProductRef(id=p.id, code=p.code, version=p.version) for p in body.products),
        starts_at=body.starts_at,
        renews_at=body.renews_at,
        return_url=body.return_url,
        failure_url=body.failure_url,
    )


def _new_customer(body: CreateCustomerRequest) -> NewCustomer:
    accounts = body.external_accounts
    return NewCustomer(
        name=body.name,
        external_id=body.external_id,
        email=body.email,
        metadata=body.metadata,
        external_accounts=None if accounts is None else tuple(
            ExternalAccount(a.provider, a.provider_id) for a in accounts
        ),
        subscriptions=tuple(_new_subscription(sub) for sub in body.subscriptions or ()),
    )


@api.post("/customers", status_code=201, response_model=CreateCustomerResponse, summary="Create a customer")
def create_customer(
    body: CreateCustomerRequest,
    request: Request,
    key: str | None = IdempotencyKey,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    command = _new_customer(body)
    limit, url = ctx.settings.overdraft_limit(), ctx.settings.public_url
    return idempotency.create(
        ctx, scope, request, key, body.model_dump(exclude_none=True),
        lambda conn: shape.customer_created(customers.create_customer(conn, scope, command, ctx.now(), limit, url)),
    )


@api.get(
    "/customers",
    response_model=Page[CustomerSummary],
    summary="List customers; with external_id, 303 to the customer",
    responses={303: {"description": "The customer with this external_id"}},
)
def list_customers(
    offset: int = Offset,
    limit: int = Limit,
    customer_id: str | None = Query(None),
    external_id: str | None = Query(None),
    email: str | None = Query(None),
    name: str | None = Query(None),
    status: Literal["active", "inactive"] | None = Query(None),
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> Response:
    with read(ctx.engine) as conn:
        if external_id is not None:
            found = customers.find_by_external_id(conn, scope, external_id)
            if found is None:
                raise NotFound(f"no customer has external_id {external_id!r}")
            return RedirectResponse(f"/customers/{found}", status_code=303)
        filters = CustomerFilter(id=customer_id, email=email, name=name, status=status)
        items, total = customers.list_customers(conn, scope, offset, limit, filters)
    return page([shape.customer_summary(c) for c in items], total, limit, offset)


@api.get("/customers/stats", response_model=CustomerStatsPage, summary="Profitability per customer over a period")
def customers_stats(
    offset: int = Offset,
    limit: int = Limit,
    period_from: date | None = Query(None, description="First day (UTC, inclusive)"),
    period_to: date | None = Query(None, description="Last day (UTC, inclusive)"),
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    from drawdown.api.shapes import reports as shapes

    with read(ctx.engine) as conn:
        result = shapes.customers_stats(
            profitability.customers_page(conn, scope, day(period_from), day(period_to), offset, limit)
        )
    return ExactJSONResponse(
        {**result, "period_from": day(period_from), "period_to": day(period_to), "limit": limit, "offset": offset}
    )


@api.get("/customers/{customerId}/stats", response_model=Profitability, summary="A customer's profitability")
def customer_stats(customerId: str, ctx: Context = Depends(context), scope: Scope = CallerScope) -> ExactJSONResponse:
    from drawdown.api.shapes import reports as shapes

    with read(ctx.engine) as conn:
        customers.get_customer(conn, scope, customerId, ctx.now())  # 404 unless the customer is the caller's
        return ExactJSONResponse(shapes.stats(profitability.customer(conn, scope, customerId)))


@api.get("/customers/{customerId}", response_model=GetCustomerResponse, summary="Get a customer")
def get_customer(customerId: str, ctx: Context = Depends(context), scope: Scope = CallerScope) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(shape.customer(customers.get_customer(conn, scope, customerId, ctx.now())))


@api.patch("/customers/{customerId}", status_code=204, summary="Update a customer")
def update_customer(
    customerId: str, body: UpdateCustomerRequest, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> Response:
    command = CustomerUpdate(name=body.name, external_id=body.external_id, email=body.email)
    with write(ctx.engine) as conn:
        customers.update_customer(conn, scope, customerId, command)
    return Response(status_code=204)


@api.post(
    "/customers/{customerId}/subscriptions", status_code=201, response_model=CustomerSubscription,
    summary="Subscribe a customer",
)
def create_subscription(
    customerId: str,
    body: CreateSubscription,
    request: Request,
    key: str | None = IdempotencyKey,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    command = _new_subscription(body)
    limit, url = ctx.settings.overdraft_limit(), ctx.settings.public_url
    return idempotency.create(
        ctx, scope, request, key, body.model_dump(exclude_none=True),
        lambda conn: shape.subscription(
            customers.create_subscription(conn, scope, customerId, command, ctx.now(), limit, url)
        ),
    )


@api.patch(
    "/customers/{customerId}/subscriptions/{subscriptionId}", status_code=204,
    summary="Activate or deactivate a subscription",
)
def update_subscription(
    customerId: str, subscriptionId: str, body: UpdateSubscriptionRequest,
    ctx: Context = Depends(context), scope: Scope = CallerScope,
) -> Response:
    command = SubscriptionStatusChange(customerId, subscriptionId, body.status)
    with write(ctx.engine) as conn:
        customers.update_subscription(
            conn, scope, command, ctx.now(), ctx.settings.overdraft_limit(), ctx.settings.public_url
        )
    return Response(status_code=204)


@api.patch(
    "/customers/{customerId}/subscriptions/{subscriptionId}/products/{productId}",
    status_code=204,
    summary="Move a subscription to another version of a product",
)
def update_subscription_product(
    customerId: str, subscriptionId: str, productId: str,
    body: UpdateSubscriptionProductRequest, ctx: Context = Depends(context), scope: Scope = CallerScope,
) -> Response:
    command = VersionMove(customerId, subscriptionId, productId, body.version)
    with write(ctx.engine) as conn:
        customers.update_subscription_product(conn, scope, command, ctx.now(), ctx.settings.overdraft_limit())
    return Response(status_code=204)
