"""Customers and subscriptions. Subscribing provisions a wallet account per asset the product prices in."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, select, update

from drawdown.core import catalog as price_rules
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.ids import CUSTOMER, SUBSCRIPTION, new_id
from drawdown.catalog import service as catalog
from drawdown.billing import cycle
from drawdown.wallets import entitlements
from drawdown.db.tables import customers, product_versions, products, subscription_products, subscriptions
from drawdown.wallets.books import DEFAULT_ACCOUNT, Books, ensure_account, lock_customer, subscriptions_changed

ACTIVE, INACTIVE, SCHEDULED = "active", "inactive", "scheduled"


def _external_id_taken(conn: Connection, external_id: str, but: str | None = None) -> bool:
    q = select(customers.c.id).where(customers.c.external_id == external_id)
    if but:
        q = q.where(customers.c.id != but)
    return conn.execute(q).first() is not None


def create_customer(
    conn: Connection, body: dict[str, Any], now: datetime, overdraft_limit: Decimal | None, public_url: str = ""
) -> dict:
    if body.get("external_id") and _external_id_taken(conn, body["external_id"]):
        raise Conflict(f"a customer with external_id {body['external_id']!r} already exists")
    customer_id = new_id(CUSTOMER)
    conn.execute(
        insert(customers).values(
            id=customer_id,
            external_id=body.get("external_id"),
            name=body["name"],
            email=body.get("email"),
            metadata=body.get("metadata"),
            external_accounts=body.get("external_accounts"),
            created_at=now,
        )
    )
    subs = [
        _subscribe(conn, customer_id, sub, now, overdraft_limit, f"subscriptions[{i}]", public_url)
        for i, sub in enumerate(body.get("subscriptions") or [])
    ]
    return {"id": customer_id, "subscriptions": subs}


def create_subscription(
    conn: Connection, customer_id: str, body: dict[str, Any], now: datetime, overdraft_limit: Decimal | None, public_url: str = ""
) -> dict:
    lock_customer(conn, customer_id)
    return _subscribe(conn, customer_id, body, now, overdraft_limit, "", public_url)


def _resolve_version(conn: Connection, ref: dict, path: str) -> tuple[Any, Any]:
    key = ref.get("id") or ref.get("code")
    version = ref.get("version") or "default"
    try:
        product, row = catalog.version_row(conn, key, version)
    except NotFound as exc:
        raise Invalid.field(path, exc.detail) from None
    if row.status != catalog.PUBLISHED:
        raise Invalid.field(path, f"version {row.version} of {product.code} is {row.status}; only published versions take subscribers")
    return product, row


def _subscribe(
    conn: Connection,
    customer_id: str,
    body: dict[str, Any],
    now: datetime,
    overdraft_limit: Decimal | None,
    path: str,
    public_url: str,
) -> dict:
    prefix = f"{path}." if path else ""
    starts = body.get("starts_at") or now
    renews = body.get("renews_at")
    if renews is not None and renews <= starts:
        raise Invalid.field(f"{prefix}renews_at", "must be after starts_at")
    resolved = []
    seen = set()
    for j, ref in enumerate(body["products"]):
        product, row = _resolve_version(conn, ref, f"{prefix}products[{j}]")
        if product.id in seen:
            raise Invalid.field(f"{prefix}products[{j}]", "names a product twice")
        seen.add(product.id)
        resolved.append((product, row))
    sub_id = new_id(SUBSCRIPTION)
    conn.execute(
        insert(subscriptions).values(
            id=sub_id, customer_id=customer_id, status=ACTIVE, started_at=starts, renews_at=renews,
            return_url=body.get("return_url"), failure_url=body.get("failure_url"), created_at=now,
        )
    )
    subscriptions_changed(conn, customer_id)
    for product, row in resolved:
        conn.execute(insert(subscription_products).values(subscription_id=sub_id, product_id=product.id, version_id=row.id))
        for asset in price_rules.price_assets(row.prices) + [e["asset"] for e in row.entitlements]:
            ensure_account(conn, customer_id, DEFAULT_ACCOUNT, asset, now, overdraft_limit)
    if starts <= now:
        # Entitlements and fixed fees are due the moment the subscription starts; a later start is the job's.
        books = Books(conn, customer_id, now)
        entitlements.refresh(conn, customer_id, now, books, overdraft_limit)
        books.flush()
        cycle.collect_fixed(conn, sub_id, now, overdraft_limit, public_url, cycle.Report())
    return _subscription_doc(conn, sub_id, now)


def _status(stored: str, started_at: datetime, now: datetime) -> str:
    if stored == ACTIVE and started_at > now:
        return SCHEDULED
    return stored


def _subscription_doc(conn: Connection, sub_id: str, now: datetime) -> dict:
    sub = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).one()
    rows = conn.execute(
        select(products.c.id, products.c.code, product_versions.c.version)
        .select_from(subscription_products.join(products).join(product_versions))
        .where(subscription_products.c.subscription_id == sub_id)
        .order_by(products.c.code)
    )
    rows = rows.all()
    return {
        "id": sub.id,
        "started_at": sub.started_at,
        "renews_at": sub.renews_at or _next_renewal(conn, sub, now),
        "status": _status(sub.status, sub.started_at, now),
        "products": [{"id": r.id, "code": r.code, "version": r.version} for r in rows],
        "required_actions": sub.required_actions,
    }


def _next_renewal(conn: Connection, sub: Any, now: datetime) -> datetime | None:
    """The next period boundary of the subscription's recurring prices (None if it has none)."""
    docs = conn.execute(
        select(product_versions.c.prices)
        .select_from(subscription_products.join(product_versions))
        .where(subscription_products.c.subscription_id == sub.id)
    ).scalars()
    ends = [
        price_rules.billing_period(c, sub.started_at, max(now, sub.started_at)).end
        for prices in docs
        for c in (price_rules.cadence(doc) for doc in prices)
        if c.kind == price_rules.RECURRING
    ]
    return min(ends) if ends else None


def _active_count():  # noqa: ANN202
    return (
        select(func.count())
        .select_from(subscriptions)
        .where(subscriptions.c.customer_id == customers.c.id, subscriptions.c.status == ACTIVE)
        .scalar_subquery()
    )


def _summary(row: Any) -> dict:
    return {
        "id": row.id,
        "external_id": row.external_id,
        "name": row.name,
        "email": row.email,
        "active_subscription_count": row.active_count,
    }


def get_customer(conn: Connection, customer_id: str, now: datetime) -> dict:
    row = conn.execute(
        select(customers, _active_count().label("active_count")).where(customers.c.id == customer_id)
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    sub_ids = conn.execute(
        select(subscriptions.c.id).where(subscriptions.c.customer_id == customer_id).order_by(subscriptions.c.created_at)
    ).scalars()
    return {
        **_summary(row),
        "created_at": row.created_at,
        "metadata": row.metadata,
        "external_accounts": row.external_accounts,
        "subscriptions": [_subscription_doc(conn, s, now) for s in sub_ids],
    }


def find_by_external_id(conn: Connection, external_id: str) -> str | None:
    return conn.execute(select(customers.c.id).where(customers.c.external_id == external_id)).scalar()


def list_customers(conn: Connection, offset: int, limit: int, filters: dict[str, Any]) -> tuple[list[dict], int]:
    conds = []
    for key in ("id", "email", "name"):
        if filters.get(key):
            conds.append(getattr(customers.c, key) == filters[key])
    has_active = exists().where(subscriptions.c.customer_id == customers.c.id, subscriptions.c.status == ACTIVE)
    if filters.get("status") == ACTIVE:
        conds.append(has_active)
    elif filters.get("status") == INACTIVE:
        conds.append(~has_active)
    where = and_(True, *conds)
    total = conn.execute(select(func.count()).select_from(customers).where(where)).scalar_one()
    rows = conn.execute(
        select(customers, _active_count().label("active_count"))
        .where(where)
        .order_by(customers.c.created_at, customers.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [_summary(r) for r in rows], total


def update_customer(conn: Connection, customer_id: str, body: dict[str, Any]) -> None:
    lock_customer(conn, customer_id)
    values = {k: v for k, v in body.items() if v is not None}
    if values.get("external_id") and _external_id_taken(conn, values["external_id"], but=customer_id):
        raise Conflict(f"a customer with external_id {values['external_id']!r} already exists")
    if values:
        conn.execute(update(customers).where(customers.c.id == customer_id).values(**values))


def _subscription(conn: Connection, customer_id: str, subscription_id: str) -> Any:
    row = conn.execute(
        select(subscriptions).where(subscriptions.c.id == subscription_id, subscriptions.c.customer_id == customer_id)
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} has no subscription {subscription_id}")
    return row


def update_subscription(
    conn: Connection,
    customer_id: str,
    subscription_id: str,
    status: str,
    now: datetime,
    overdraft_limit: Decimal | None,
    public_url: str = "",
) -> None:
    lock_customer(conn, customer_id)
    sub = _subscription(conn, customer_id, subscription_id)
    if status == ACTIVE and sub.status == cycle.ACTION_REQUIRED:
        # Reactivation is a payment attempt: it succeeds only if the due fees can be collected.
        cycle.collect_fixed(conn, subscription_id, now, overdraft_limit, public_url, cycle.Report())
        return
    conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id).values(status=status))
    subscriptions_changed(conn, customer_id)


def update_subscription_product(
    conn: Connection,
    customer_id: str,
    subscription_id: str,
    product_id: str,
    version: int | str,
    now: datetime,
    overdraft_limit: Decimal | None,
) -> None:
    lock_customer(conn, customer_id)
    _subscription(conn, customer_id, subscription_id)
    product, row = _resolve_version(conn, {"id": product_id, "version": version}, "version")
    link = conn.execute(
        select(subscription_products).where(
            subscription_products.c.subscription_id == subscription_id, subscription_products.c.product_id == product.id
        )
    ).first()
    if link is None:
        raise NotFound(f"subscription {subscription_id} does not include product {product_id}")
    conn.execute(
        update(subscription_products)
        .where(subscription_products.c.subscription_id == subscription_id, subscription_products.c.product_id == product.id)
        .values(version_id=row.id, since=now)
    )
    subscriptions_changed(conn, customer_id)
    for asset in price_rules.price_assets(row.prices):
        ensure_account(conn, customer_id, DEFAULT_ACCOUNT, asset, now, overdraft_limit)
