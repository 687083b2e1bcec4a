"""Customers and subscriptions. Subscribing provisions a wallet account per asset the product prices in.

Every use case takes the caller's scope: a customer is found in it (another scope's answers like an
unknown one), external ids are unique within it, and the products subscribed to are resolved in it.
Subscriptions hang off their customer and are reached only through it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row

from drawdown.billing import cycle, schedule
from drawdown.billing.models import ACTION_REQUIRED
from drawdown.catalog import service as catalog
from drawdown.core import catalog as price_rules
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.ids import CUSTOMER, SUBSCRIPTION, new_id
from drawdown.core.scopes import Scope
from drawdown.customers import repository as repo
from drawdown.customers.models import (
    ACTIVE,
    SCHEDULED,
    Customer,
    CustomerCreated,
    CustomerFilter,
    CustomerSummary,
    CustomerUpdate,
    ExternalAccount,
    NewCustomer,
    NewSubscription,
    ProductRef,
    RequiredAction,
    SubscribedProduct,
    Subscription,
    SubscriptionStatusChange,
    VersionMove,
)
from drawdown.wallets import entitlements
from drawdown.wallets.accounts import DEFAULT_ACCOUNT
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.repository import ensure_account, lock_customer_in
from drawdown.webhooks import notify


# -------------------------------------------------------------------------------------- customers
def _taken(external_id: str) -> Conflict:
    return Conflict(f"a customer with external_id {external_id!r} already exists")


def create_customer(
    conn: Connection,
    scope: Scope,
    command: NewCustomer,
    now: datetime,
    overdraft_limit: Decimal | None,
    public_url: str = "",
) -> CustomerCreated:
    """Create the customer and its subscriptions (``subscriptions[i]`` in error paths)."""
    if command.external_id and repo.external_id_taken(conn, scope.id, command.external_id):
        raise _taken(command.external_id)
    customer_id = new_id(CUSTOMER)
    accounts = command.external_accounts
    repo.insert_customer(
        conn, scope.id, customer_id, name=command.name, external_id=command.external_id, email=command.email,
        metadata=command.metadata, now=now,
        external_accounts=None if accounts is None else [{"provider": a.provider, "provider_id": a.provider_id}
                                                         for a in accounts],
    )
    notify.announce(conn, customer_id, "customer.created", {
        "external_id": command.external_id, "name": command.name, "email": command.email}, now, scope)
    subs = tuple(
        _subscribe(conn, scope, customer_id, sub, now, overdraft_limit, f"subscriptions[{i}]", public_url)
        for i, sub in enumerate(command.subscriptions)
    )
    return CustomerCreated(customer_id, subs)


def get_customer(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> Customer:
    row = repo.customer(conn, scope.id, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    accounts = row.external_accounts
    return Customer(
        summary=_summary(row),
        created_at=row.created_at,
        metadata=row.metadata,
        external_accounts=None if accounts is None else tuple(ExternalAccount(**a) for a in accounts),
        subscriptions=tuple(_subscription(conn, s, now) for s in repo.subscription_ids(conn, customer_id)),
    )


def find_by_external_id(conn: Connection, scope: Scope, external_id: str) -> str | None:
    return repo.find_by_external_id(conn, scope.id, external_id)


def list_customers(
    conn: Connection, scope: Scope, offset: int, limit: int, filters: CustomerFilter
) -> tuple[list[CustomerSummary], int]:
    rows, total = repo.customers_page(conn, scope.id, offset, limit, filters)
    return [_summary(r) for r in rows], total


def update_customer(conn: Connection, scope: Scope, customer_id: str, command: CustomerUpdate) -> None:
    lock_customer_in(conn, scope.id, customer_id)
    values = {k: v for k, v in asdict(command).items() if v is not None}
    if command.external_id and repo.external_id_taken(conn, scope.id, command.external_id, but=customer_id):
        raise _taken(command.external_id)
    if values:
        repo.update_customer(conn, scope.id, customer_id, values)


def _summary(row: Row[Any]) -> CustomerSummary:
    return CustomerSummary(row.id, row.external_id, row.name, row.email, row.active_count)


# ---------------------------------------------------------------------------------- subscriptions
def create_subscription(
    conn: Connection,
    scope: Scope,
    customer_id: str,
    command: NewSubscription,
    now: datetime,
    overdraft_limit: Decimal | None,
    public_url: str = "",
) -> Subscription:
    lock_customer_in(conn, scope.id, customer_id)
    return _subscribe(conn, scope, customer_id, command, now, overdraft_limit, "", public_url)


def update_subscription(
    conn: Connection,
    scope: Scope,
    command: SubscriptionStatusChange,
    now: datetime,
    overdraft_limit: Decimal | None,
    public_url: str = "",
) -> None:
    lock_customer_in(conn, scope.id, command.customer_id)
    sub = _owned(conn, command.customer_id, command.subscription_id)
    if command.status == ACTIVE and sub.status == ACTION_REQUIRED:
        # Reactivation is a payment attempt: it succeeds only if the due fees can be collected.
        cycle.collect_fixed(conn, sub.id, now, overdraft_limit, public_url)
        return
    repo.set_status(conn, sub.id, command.status)
    schedule.write_next_due(conn, sub.id, now)


def update_subscription_product(
    conn: Connection, scope: Scope, command: VersionMove, now: datetime, overdraft_limit: Decimal | None
) -> None:
    lock_customer_in(conn, scope.id, command.customer_id)
    _owned(conn, command.customer_id, command.subscription_id)
    product, row = _resolve_version(conn, scope, ProductRef(id=command.product_id, version=command.version), "version")
    if not repo.holds_product(conn, command.subscription_id, product.id):
        raise NotFound(f"subscription {command.subscription_id} does not include product {command.product_id}")
    repo.move_version(conn, command.subscription_id, product.id, row.id, now)
    for asset in price_rules.price_assets(row.prices):
        ensure_account(conn, command.customer_id, DEFAULT_ACCOUNT, asset, now, overdraft_limit)
    schedule.write_next_due(conn, command.subscription_id, now)  # the new version's fees and entitlements


def _owned(conn: Connection, customer_id: str, subscription_id: str) -> Row[Any]:
    row = repo.customer_subscription(conn, customer_id, subscription_id)
    if row is None:
        raise NotFound(f"customer {customer_id} has no subscription {subscription_id}")
    return row


def _resolve_version(conn: Connection, scope: Scope, ref: ProductRef, path: str) -> tuple[Row[Any], Row[Any]]:
    """The product and version ``ref`` names in the scope, which must be published (errors at ``path``);
    another scope's product is not found, like an unknown one."""
    key = ref.id or ref.code or ""
    try:
        product, row = catalog.version_row(conn, scope, key, ref.version or "default")
    except NotFound as exc:
        raise Invalid.field(path, exc.detail) from None
    if row.status != catalog.PUBLISHED:
        status = f"version {row.version} of {product.code} is {row.status}"
        raise Invalid.field(path, f"{status}; only published versions take subscribers")
    return product, row


def _resolve_products(
    conn: Connection, scope: Scope, refs: tuple[ProductRef, ...], prefix: str
) -> list[tuple[Row[Any], Row[Any]]]:
    resolved = []
    seen = set()
    for j, ref in enumerate(refs):
        product, row = _resolve_version(conn, scope, ref, f"{prefix}products[{j}]")
        if product.id in seen:
            raise Invalid.field(f"{prefix}products[{j}]", "names a product twice")
        seen.add(product.id)
        resolved.append((product, row))
    return resolved


def _subscribe(
    conn: Connection,
    scope: Scope,
    customer_id: str,
    command: NewSubscription,
    now: datetime,
    overdraft_limit: Decimal | None,
    path: str,
    public_url: str,
) -> Subscription:
    prefix = f"{path}." if path else ""
    starts = command.starts_at or now
    if command.renews_at is not None and command.renews_at <= starts:
        raise Invalid.field(f"{prefix}renews_at", "must be after starts_at")
    resolved = _resolve_products(conn, scope, command.products, prefix)
    sub_id = new_id(SUBSCRIPTION)
    repo.insert_subscription(
        conn, sub_id, customer_id, status=ACTIVE, started_at=starts, renews_at=command.renews_at,
        return_url=command.return_url, failure_url=command.failure_url, now=now,
    )
    for product, row in resolved:
        repo.link_product(conn, sub_id, product.id, row.id)
        repo.open_version(conn, sub_id, product.id, row.id, starts)
        for asset in price_rules.price_assets(row.prices) + [e["asset"] for e in row.entitlements]:
            ensure_account(conn, customer_id, DEFAULT_ACCOUNT, asset, now, overdraft_limit)
    if starts <= now:
        # Entitlements and fixed fees are due the moment the subscription starts; a later start is the job's.
        ledger = Ledger(conn, customer_id, now)
        entitlements.refresh(conn, customer_id, now, ledger, overdraft_limit)
        ledger.flush()
        collected = cycle.collect_fixed(conn, sub_id, now, overdraft_limit, public_url)  # writes next_due_at too
        if not collected.blocked:  # a blocked one is announced as action_required instead (billing.cycle)
            notify.announce(conn, customer_id, "subscription.activated", {"subscription_id": sub_id}, now, scope)
    else:
        schedule.write_next_due(conn, sub_id, now)
    return _subscription(conn, sub_id, now)


def _subscription(conn: Connection, sub_id: str, now: datetime) -> Subscription:
    sub = repo.subscription(conn, sub_id)
    actions = sub.required_actions
    return Subscription(
        id=sub.id,
        started_at=sub.started_at,
        renews_at=sub.renews_at or _next_renewal(conn, sub, now),
        # An active subscription that starts later is reported as scheduled.
        status=SCHEDULED if sub.status == ACTIVE and sub.started_at > now else sub.status,
        products=tuple(SubscribedProduct(r.id, r.code, r.version) for r in repo.subscribed_products(conn, sub_id)),
        required_actions=None if actions is None else tuple(RequiredAction(**a) for a in actions),
    )


def _next_renewal(conn: Connection, sub: Row[Any], now: datetime) -> datetime | None:
    """The next period boundary of the subscription's recurring prices (None if it has none)."""
    ends = [
        price_rules.billing_period(c, sub.started_at, max(now, sub.started_at)).end
        for prices in repo.subscribed_prices(conn, sub.id)
        for c in (price_rules.cadence(doc) for doc in prices)
        if c.kind == price_rules.RECURRING
    ]
    return min(ends) if ends else None
