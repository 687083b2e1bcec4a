"""The billing room's SQL: the fees a period closes, the ``period_charges`` that make a period charged
once, and the subscriptions the job visits.

The job runs for every scope at once, so nothing here takes a caller's scope: fees, charges and
subscriptions hang off a customer, and the one scoped table read (products) is read in the scope of
the subscription's customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, func, insert, literal, select, update

from drawdown.billing.models import ACTION_REQUIRED, ACTIVE
from drawdown.core import catalog as price_rules
from drawdown.core.money import to_scaled
from drawdown.db.tables import (
    customers,
    entitlement_grants,
    fees,
    period_charges,
    product_versions,
    products,
    subscription_products,
    subscriptions,
)

_f = fees.c
_s = subscriptions.c
_sp = subscription_products.c
_BILLED = (ACTIVE, ACTION_REQUIRED)  # statuses whose fees keep coming due


# ------------------------------------------------------------------------------------ usage fees
def _uncharged_usage(now: datetime) -> ColumnElement[bool]:
    # 'recurring' written into the SQL, not bound: only then can the planners prove that the partial index
    # ix_fees_recurring_uncharged (billing = 'recurring' AND charge_id IS NULL) holds every row wanted.
    recurring = literal(price_rules.RECURRING, literal_execute=True)
    return (_f.billing == recurring) & _f.charge_id.is_(None) & (_f.period_end <= now)


def usage_due(conn: Connection, customer_id: str, now: datetime) -> list[Row[Any]]:
    """Recurring usage fees of ended periods not charged yet, summed per (subscription, price, period, account)."""
    keys = (_f.subscription_id, _f.price_id, _f.price_name, _f.period_start, _f.account_id)
    return list(
        conn.execute(
            select(*keys, func.sum(_f.amount).label("total"))
            .where(_f.customer_id == customer_id, _uncharged_usage(now))
            .group_by(*keys)
        )
    )


def mark_usage_charged(
    conn: Connection, customer_id: str, subscription_id: str, price_id: str, period_start: datetime, charge_id: str
) -> None:
    conn.execute(
        update(fees)
        .where(
            _f.customer_id == customer_id,
            _f.subscription_id == subscription_id,
            _f.price_id == price_id,
            _f.period_start == period_start,
            _f.charge_id.is_(None),
        )
        .values(charge_id=charge_id)
    )


def insert_fixed_fee(
    conn: Connection,
    fee_id: str,
    sub: Row[Any],
    account_id: str,
    product: Row[Any],
    fixed: price_rules.FixedPrice,
    period: tuple[datetime, datetime | None],
    now: datetime,
) -> None:
    """A fixed fee is its own charge (``charge_id`` is the fee); ``product`` is a ``subscribed_versions`` row."""
    conn.execute(
        insert(fees).values(
            id=fee_id, event_seq=None, subscription_id=sub.id, billing=fixed.cadence.kind, period_start=period[0],
            period_end=period[1], customer_id=sub.customer_id, account_id=account_id, product_id=product.id,
            product_code=product.code, product_version=product.version, price_id=fixed.id, price_name=fixed.name,
            asset=fixed.asset, usage_type="fixed", amount=to_scaled(fixed.amount), description=fixed.name,
            charge_id=fee_id, created_at=now,
        )
    )


# --------------------------------------------------------------------------------- period charges
def charged_periods(conn: Connection, subscription_id: str) -> set[tuple[str, datetime]]:
    """(price id, period start) of every period already charged on the subscription."""
    rows = conn.execute(
        select(period_charges.c.price_id, period_charges.c.period_start).where(
            period_charges.c.subscription_id == subscription_id
        )
    )
    return {(r.price_id, r.period_start) for r in rows}


def insert_period_charge(
    conn: Connection,
    *,
    subscription_id: str,
    price_id: str,
    period_start: datetime,
    kind: str,
    customer_id: str,
    transaction_id: str,
    amount: int,
    now: datetime,
) -> None:
    """``amount`` is scaled (``core.money.to_scaled``)."""
    conn.execute(
        insert(period_charges).values(
            subscription_id=subscription_id, price_id=price_id, period_start=period_start, kind=kind,
            customer_id=customer_id, transaction_id=transaction_id, amount=amount, created_at=now,
        )
    )


# ---------------------------------------------------------------------------------- subscriptions
def subscription(conn: Connection, subscription_id: str) -> Row[Any]:
    return conn.execute(select(subscriptions).where(_s.id == subscription_id)).one()


def subscribed_versions(conn: Connection, subscription_id: str) -> list[Row[Any]]:
    """The subscription's products: id, code, version, prices, entitlements and since (when that version
    took over). Only products of its customer's scope: another scope's product is never billed."""
    return list(
        conn.execute(
            select(
                products.c.id, products.c.code, product_versions.c.version, product_versions.c.prices,
                product_versions.c.entitlements, subscription_products.c.since,
            )
            .select_from(
                subscription_products.join(product_versions, product_versions.c.id == _sp.version_id)
                .join(subscriptions, _s.id == _sp.subscription_id)
                .join(customers, customers.c.id == _s.customer_id)
                .join(products, (products.c.id == _sp.product_id) & (products.c.scope_id == customers.c.scope_id))
            )
            .where(subscription_products.c.subscription_id == subscription_id)
        )
    )


def set_status(
    conn: Connection, subscription_id: str, status: str, required_actions: list[dict[str, str]] | None
) -> None:
    conn.execute(
        update(subscriptions).where(_s.id == subscription_id).values(status=status, required_actions=required_actions)
    )


def billed_subscriptions(conn: Connection, customer_id: str, now: datetime) -> list[str]:
    """The customer's started subscriptions whose fixed fees keep coming due."""
    return list(
        conn.execute(
            select(_s.id).where(_s.customer_id == customer_id, _s.status.in_(_BILLED), _s.started_at <= now)
        ).scalars()
    )


def revisited_subscriptions(conn: Connection, customer_id: str, now: datetime) -> list[str]:
    """The customer's subscriptions whose ``next_due_at`` has passed (the job recomputes it)."""
    return list(conn.execute(select(_s.id).where(_s.customer_id == customer_id, _s.next_due_at <= now)).scalars())


def entitlement_periods_issued(conn: Connection, subscription_id: str) -> set[tuple[str, str, datetime]]:
    """(product id, entitlement name, period start) of every entitlement grant issued on the subscription."""
    e = entitlement_grants.c
    rows = conn.execute(select(e.product_id, e.name, e.period_start).where(e.subscription_id == subscription_id))
    return {(r.product_id, r.name, r.period_start) for r in rows}


def set_next_due(conn: Connection, subscription_id: str, next_due_at: datetime | None) -> None:
    """Only ``next_due_at`` is written: the revision triggers (migration 0007) ignore such an update."""
    conn.execute(update(subscriptions).where(_s.id == subscription_id).values(next_due_at=next_due_at))


# ------------------------------------------------------------------------- what the job visits
# Each is a range scan of an index holding only what is due (or was, unrecorded): a run with nothing
# due reads nothing, however many customers there are.
def customers_with_usage_due(conn: Connection, now: datetime) -> set[str]:
    """Customers with recurring usage of an ended period not charged (ix_fees_recurring_uncharged)."""
    return set(conn.execute(select(_f.customer_id).where(_uncharged_usage(now))).scalars())


def customers_due(conn: Connection, now: datetime) -> set[str]:
    """Customers with a subscription whose ``next_due_at`` has passed (ix_subscriptions_next_due_at)."""
    return set(conn.execute(select(_s.customer_id).where(_s.next_due_at <= now)).scalars())
