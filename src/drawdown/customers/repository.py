"""The customers room's SQL: customers, their subscriptions and the products these name.

Writes to ``subscriptions``, ``subscription_products`` (migration 0006) and ``subscription_product_versions``
(0008) move ``customers.revision`` by database trigger; nothing here needs to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, ScalarSelect, and_, exists, func, insert, select, update

from drawdown.customers.models import ACTIVE, INACTIVE, CustomerFilter
from drawdown.db.tables import (
    customers,
    product_versions,
    products,
    subscription_product_versions,
    subscription_products,
    subscriptions,
)

_c = customers.c
_s = subscriptions.c
_sp = subscription_products.c
_h = subscription_product_versions.c


# -------------------------------------------------------------------------------------- customers
def external_id_taken(conn: Connection, scope_id: int, external_id: str, but: str | None = None) -> bool:
    q = select(_c.id).where(_c.scope_id == scope_id, _c.external_id == external_id)
    if but:
        q = q.where(_c.id != but)
    return conn.execute(q).first() is not None


def insert_customer(
    conn: Connection,
    scope_id: int,
    customer_id: str,
    *,
    name: str,
    external_id: str | None,
    email: str | None,
    metadata: dict[str, str] | None,
    external_accounts: list[dict[str, str]] | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(customers).values(
            id=customer_id, scope_id=scope_id, external_id=external_id, name=name, email=email, metadata=metadata,
            external_accounts=external_accounts, created_at=now,
        )
    )


def update_customer(conn: Connection, scope_id: int, customer_id: str, values: dict[str, str]) -> None:
    conn.execute(update(customers).where(_c.scope_id == scope_id, _c.id == customer_id).values(**values))


def find_by_external_id(conn: Connection, scope_id: int, external_id: str) -> str | None:
    return conn.execute(select(_c.id).where(_c.scope_id == scope_id, _c.external_id == external_id)).scalar()


def _active_count() -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(subscriptions)
        .where(_s.customer_id == _c.id, _s.status == ACTIVE)
        .scalar_subquery()
    )


def customer(conn: Connection, scope_id: int, customer_id: str) -> Row[Any] | None:
    """The customer's row, with ``active_count`` (its active subscriptions)."""
    q = select(customers, _active_count().label("active_count")).where(_c.scope_id == scope_id, _c.id == customer_id)
    return conn.execute(q).first()


def customers_page(
    conn: Connection, scope_id: int, offset: int, limit: int, filters: CustomerFilter
) -> tuple[list[Row[Any]], int]:
    """Rows as ``customer`` gives them, oldest first, and the total matching ``filters``."""
    conds = [_c.scope_id == scope_id]
    conds += [getattr(_c, key) == value for key in ("id", "email", "name") if (value := getattr(filters, key))]
    has_active = exists().where(_s.customer_id == _c.id, _s.status == ACTIVE)
    if filters.status == ACTIVE:
        conds.append(has_active)
    elif filters.status == INACTIVE:
        conds.append(~has_active)
    where = and_(*conds)
    total = conn.execute(select(func.count()).select_from(customers).where(where)).scalar_one()
    rows = conn.execute(
        select(customers, _active_count().label("active_count"))
        .where(where)
        .order_by(_c.created_at, _c.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


# ---------------------------------------------------------------------------------- subscriptions
def insert_subscription(
    conn: Connection,
    subscription_id: str,
    customer_id: str,
    *,
    status: str,
    started_at: datetime,
    renews_at: datetime | None,
    return_url: str | None,
    failure_url: str | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(subscriptions).values(
            id=subscription_id, customer_id=customer_id, status=status, started_at=started_at, renews_at=renews_at,
            return_url=return_url, failure_url=failure_url, created_at=now,
        )
    )


def link_product(conn: Connection, subscription_id: str, product_id: str, version_id: str) -> None:
    conn.execute(insert(subscription_products).values(subscription_id=subscription_id, product_id=product_id,
                                                      version_id=version_id))


def subscription(conn: Connection, subscription_id: str) -> Row[Any]:
    return conn.execute(select(subscriptions).where(_s.id == subscription_id)).one()


def subscription_for_page(conn: Connection, subscription_id: str) -> Row[Any] | None:
    """A subscription with its customer's name and scope, for a page whose address is the subscription's id
    (the portal's payment page): the id alone is the key, so no scope is given."""
    q = (
        select(subscriptions, _c.name.label("customer_name"), _c.scope_id)
        .join(customers, _c.id == _s.customer_id)
        .where(_s.id == subscription_id)
    )
    return conn.execute(q).first()


def customer_subscription(conn: Connection, customer_id: str, subscription_id: str) -> Row[Any] | None:
    """The subscription's row, if it is the customer's."""
    q = select(subscriptions).where(_s.id == subscription_id, _s.customer_id == customer_id)
    return conn.execute(q).first()


def subscription_ids(conn: Connection, customer_id: str) -> list[str]:
    """The customer's subscriptions, oldest first (those created together in the id's order, so always the same)."""
    q = select(_s.id).where(_s.customer_id == customer_id).order_by(_s.created_at, _s.id)
    return list(conn.execute(q).scalars())


def subscribed_products(conn: Connection, subscription_id: str) -> list[Row[Any]]:
    """id, code and version of each product of the subscription, by code."""
    return list(
        conn.execute(
            select(products.c.id, products.c.code, product_versions.c.version)
            # Explicit ON clauses: product_versions also refers to products, and joined through products it
            # would bring every version of the product, not the one subscribed to.
            .select_from(
                subscription_products.join(products, products.c.id == _sp.product_id).join(
                    product_versions, product_versions.c.id == _sp.version_id
                )
            )
            .where(_sp.subscription_id == subscription_id)
            .order_by(products.c.code)
        )
    )


def subscribed_prices(conn: Connection, subscription_id: str) -> list[list[dict[str, Any]]]:
    """The price documents of each version the subscription holds."""
    return list(
        conn.execute(
            select(product_versions.c.prices)
            .select_from(subscription_products.join(product_versions))
            .where(_sp.subscription_id == subscription_id)
        ).scalars()
    )


def set_status(conn: Connection, subscription_id: str, status: str) -> None:
    conn.execute(update(subscriptions).where(_s.id == subscription_id).values(status=status))


def holds_product(conn: Connection, subscription_id: str, product_id: str) -> bool:
    link = select(subscription_products).where(_sp.subscription_id == subscription_id, _sp.product_id == product_id)
    return conn.execute(link).first() is not None


def open_version(
    conn: Connection, subscription_id: str, product_id: str, version_id: str, valid_from: datetime
) -> None:
    """Record that the subscription's product is on ``version_id`` from ``valid_from`` (the open window)."""
    conn.execute(
        insert(subscription_product_versions).values(
            subscription_id=subscription_id, product_id=product_id, version_id=version_id, valid_from=valid_from,
        )
    )


def move_version(conn: Connection, subscription_id: str, product_id: str, version_id: str, now: datetime) -> None:
    """Point the subscription's product at another version, from ``now``; its version history follows."""
    conn.execute(
        update(subscription_products)
        .where(_sp.subscription_id == subscription_id, _sp.product_id == product_id)
        .values(version_id=version_id, since=now)
    )
    held = (_h.subscription_id == subscription_id) & (_h.product_id == product_id) & _h.valid_until.is_(None)
    # A window not yet begun (a move before the subscription starts, or a second move in the same instant)
    # never priced anything: it takes the new version rather than closing empty.
    replaced = conn.execute(
        update(subscription_product_versions).where(held, _h.valid_from >= now).values(version_id=version_id)
    ).rowcount
    if not replaced:
        conn.execute(update(subscription_product_versions).where(held).values(valid_until=now))
        open_version(conn, subscription_id, product_id, version_id, now)
