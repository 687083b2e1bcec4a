"""Every write to a subscription moves ``customers.revision`` (database triggers, migration 0006): the
event hot path caches subscribed prices under it. Read before and after through SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from drawdown.billing.job import run_due
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewVersion
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import (
    NewCustomer,
    NewSubscription,
    ProductRef,
    SubscriptionStatusChange,
    VersionMove,
)
from drawdown.db.engine import read, write
from tests.customers import world

D = Decimal
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMIT = D(0)


def _revision(engine: Engine, cid: str) -> int:
    with read(engine) as conn:
        return world.revision(conn, cid)


def test_every_subscription_write_moves_the_customer_revision(engine: Engine) -> None:
    with write(engine) as conn:
        asset = world.asset(conn, T0)
        product_id, plan = world.product(conn, T0, [world.monthly_fee(asset, D(20))])
        catalog.create_version(
            conn, DEFAULT_LIVE, product_id, NewVersion(prices=[world.monthly_fee(asset, D(30))], publish=True), T0
        )
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="rev"), T0, LIMIT).id
    start = T0 + timedelta(days=1)
    steps: list[tuple[str, int, int]] = []

    def step(name: str, before: int) -> int:
        after = _revision(engine, cid)
        steps.append((name, before, after))
        return after

    rev = _revision(engine, cid)
    with write(engine) as conn:  # scheduled: nothing else (no fee) is written with it
        later = NewSubscription((ProductRef(code=plan),), starts_at=start)
        sub_id = customers.create_subscription(conn, DEFAULT_LIVE, cid, later, T0, LIMIT, "").id
    rev = step("subscribe", rev)
    for status in ("inactive", "active"):
        with write(engine) as conn:
            customers.update_subscription(conn, DEFAULT_LIVE, SubscriptionStatusChange(cid, sub_id, status), T0, LIMIT)
        rev = step(f"status {status}", rev)
    with write(engine) as conn:
        customers.update_subscription_product(conn, DEFAULT_LIVE, VersionMove(cid, sub_id, product_id, 2), T0, LIMIT)
    rev = step("version move", rev)
    assert run_due(engine, start, LIMIT, "", {cid}).action_required == [sub_id]  # unfunded at its start
    rev = step("action required", rev)
    with write(engine) as conn:
        world.fund(conn, cid, asset, D(30), start)
        customers.update_subscription(conn, DEFAULT_LIVE, SubscriptionStatusChange(cid, sub_id, "active"), start, LIMIT)
    rev = step("reactivation", rev)
    assert [name for name, before, after in steps if after <= before] == []
    # A run that writes no subscription leaves the revision (and so the hot path's caches) alone.
    run_due(engine, start + timedelta(hours=1), LIMIT, "", {cid})
    assert _revision(engine, cid) == rev
