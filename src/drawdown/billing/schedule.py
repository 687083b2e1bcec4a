"""``subscriptions.next_due_at``: the moment the billing job must next visit a subscription.

It is the earliest of the subscription's next fixed-fee period start not yet charged, its next recurring
period end and its next entitlement refresh (``core.schedule``, ``wallets.entitlements.next_due``);
NULL when the subscription is not billed (inactive) or nothing of it can fall due again. Whoever changes
what a subscription owes writes it again (``write_next_due``): subscribing, a status change, a version
move, and the job's own visit (``cycle.collect_fixed``). Recurring usage and grants falling due are
found by their own indexes (``repository.customers_with_usage_due``, ``wallets.repository.accounts_due``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from drawdown.billing import repository as repo
from drawdown.billing.models import ACTION_REQUIRED, ACTIVE
from drawdown.core import catalog as price_rules
from drawdown.core import schedule
from drawdown.wallets import entitlements

_BILLED = (ACTIVE, ACTION_REQUIRED)


def write_next_due(conn: Connection, sub_id: str, now: datetime) -> datetime | None:
    """Compute the subscription's next due moment from what is stored, write it, and return it."""
    sub = repo.subscription(conn, sub_id)
    due = None
    if sub.status in _BILLED:
        products = repo.subscribed_versions(conn, sub_id)
        charged = repo.charged_periods(conn, sub_id)
        due = next_due(sub.started_at, products, charged, repo.entitlement_periods_issued(conn, sub_id), now)
    if due != sub.next_due_at:
        repo.set_next_due(conn, sub_id, due)
    return due


def next_due(
    started_at: datetime,
    products: list[Row[Any]],
    charged: Collection[tuple[str, datetime]],
    issued: Collection[tuple[str, str, datetime]],
    now: datetime,
) -> datetime | None:
    """The next due moment of a billed subscription (pure). ``products``: ``repository.subscribed_versions``
    rows; ``charged``: (price id, period start) charged; ``issued``: (product id, entitlement name, period
    start) granted."""
    moments: list[datetime | None] = [started_at] if started_at > now else []
    for product in products:
        since = product.since or started_at
        for doc in product.prices:
            cadence = price_rules.cadence(doc)
            if doc.get("type") == "fixed":
                moments.append(schedule.fixed_due(price_rules.fixed_price(doc), started_at, since, charged, now))
            elif cadence.kind == price_rules.RECURRING:
                moments.append(schedule.period_end(cadence, started_at, now))
        for e in product.entitlements or ():
            granted = {start for pid, name, start in issued if pid == product.id and name == e["name"]}
            moments.append(entitlements.next_due(e, started_at, since, granted, now))
    return schedule.earliest(moments)
