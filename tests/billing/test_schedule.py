"""subscriptions.next_due_at and the job that visits only what is due (both backends): written on
subscribe, by the job's visit, on reactivation and status changes; a run with nothing due reads three
indexes and visits nobody; fees after downtime, entitlements and grant expiry still come on time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, event, select

from drawdown.billing.job import run_due
from drawdown.core.money import from_scaled
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef, SubscriptionStatusChange
from drawdown.db.engine import read, write
from drawdown.db.tables import credit_grants, subscriptions, wallet_accounts
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment
from tests.customers import world

D = Decimal
LIMIT = D(0)
T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
FEB, MAR, APR, MAY = (datetime(2026, m, d, 10, 0, tzinfo=UTC) for m, d in ((2, 28), (3, 31), (4, 30), (5, 31)))
SECOND = timedelta(seconds=1)


def _customer(
    engine: Engine, funds: D, at: datetime = T0, fee: D | None = D(20), grants: list[world.Price] | None = None
) -> tuple[str, str, str]:
    """(customer, subscription, asset): subscribed at ``at`` to a monthly ``fee`` (and ``grants``)."""
    with write(engine) as conn:
        asset = world.asset(conn, at)
        prices = [world.monthly_fee(asset, fee)] if fee is not None else [world.real_time(asset)]
        entitled = [grant(asset) for grant in grants or []]
        _, plan = world.product(conn, at, prices, entitled)
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name=world.code("c")), at, LIMIT).id
        if funds:
            world.fund(conn, cid, asset, funds, at)
        subscribe = NewSubscription((ProductRef(code=plan),))
        sub = customers.create_subscription(conn, DEFAULT_LIVE, cid, subscribe, at, LIMIT, "")
    return cid, sub.id, asset


def _next_due(engine: Engine, sub_id: str) -> datetime | None:
    with read(engine) as conn:
        return conn.execute(select(subscriptions.c.next_due_at).where(subscriptions.c.id == sub_id)).scalar_one()


def _monthly(asset: str) -> world.Doc:
    return {"name": "allowance", "asset": asset, "amount": "5", "purpose": "bundled",
            "lifecycle": {"duration": "month", "refresh": {"strategy": "expire_and_replace"}}}


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []
    mine = threading.get_ident()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # This thread's only: a session server's background workers (the payments worker polling its
        # top-ups) share the engine and would be counted whenever they happen to run alongside.
        if threading.get_ident() == mine:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_next_due_is_the_next_period_start_after_subscribing_and_after_each_run(engine: Engine) -> None:
    cid, sub_id, _ = _customer(engine, D(100))
    assert _next_due(engine, sub_id) == FEB  # January's fee was charged on subscribing
    assert run_due(engine, FEB - SECOND, LIMIT, "", {cid}).visited == 0
    report = run_due(engine, FEB, LIMIT, "", {cid})
    assert (report.visited, report.fixed_charged) == (1, 1)
    assert _next_due(engine, sub_id) == MAR


def test_a_scheduled_subscription_is_due_at_its_start(engine: Engine) -> None:
    with write(engine) as conn:
        asset = world.asset(conn, T0)
        _, plan = world.product(conn, T0, [world.monthly_fee(asset, D(20))])
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name=world.code("c")), T0, LIMIT).id
        world.fund(conn, cid, asset, D(100), T0)
        later = NewSubscription((ProductRef(code=plan),), starts_at=FEB)
        sub_id = customers.create_subscription(conn, DEFAULT_LIVE, cid, later, T0, LIMIT, "").id
    assert _next_due(engine, sub_id) == FEB
    assert run_due(engine, FEB, LIMIT, "", {cid}).fixed_charged == 1
    assert _next_due(engine, sub_id) == datetime(2026, 3, 28, 10, 0, tzinfo=UTC)  # anchored at its start


def test_a_blocked_fee_keeps_it_due_and_reactivation_moves_it_on(engine: Engine) -> None:
    cid, sub_id, asset = _customer(engine, D(20))
    assert run_due(engine, FEB, LIMIT, "", {cid}).action_required == [sub_id]  # nothing left for February
    assert _next_due(engine, sub_id) == FEB  # retried on every run until paid
    assert run_due(engine, FEB + SECOND, LIMIT, "", {cid}).visited == 1
    with write(engine) as conn:
        world.fund(conn, cid, asset, D(20), FEB + 2 * SECOND)
        reactivate = SubscriptionStatusChange(cid, sub_id, "active")
        customers.update_subscription(conn, DEFAULT_LIVE, reactivate, FEB + 2 * SECOND, LIMIT)
    assert _next_due(engine, sub_id) == MAR


def test_an_inactive_subscription_is_never_due_and_comes_back_owing(engine: Engine) -> None:
    cid, sub_id, _ = _customer(engine, D(100))
    with write(engine) as conn:
        customers.update_subscription(conn, DEFAULT_LIVE, SubscriptionStatusChange(cid, sub_id, "inactive"), T0, LIMIT)
    assert _next_due(engine, sub_id) is None
    assert run_due(engine, MAR, LIMIT, "", {cid}).visited == 0
    with write(engine) as conn:  # active again: what fell due meanwhile is owed, as before
        customers.update_subscription(conn, DEFAULT_LIVE, SubscriptionStatusChange(cid, sub_id, "active"), MAR, LIMIT)
    assert _next_due(engine, sub_id) == FEB
    assert run_due(engine, MAR, LIMIT, "", {cid}).fixed_charged == 2
    assert _next_due(engine, sub_id) == APR


def test_fees_due_after_downtime_are_charged_once(engine: Engine) -> None:
    cid, sub_id, _ = _customer(engine, D(100))
    assert run_due(engine, MAY, LIMIT, "", {cid}).fixed_charged == 4  # February to May
    assert _next_due(engine, sub_id) == datetime(2026, 6, 30, 10, 0, tzinfo=UTC)
    assert run_due(engine, MAY + SECOND, LIMIT, "", {cid}).visited == 0
    assert run_due(engine, MAY, LIMIT, "", {cid}).fixed_charged == 0


def test_a_run_with_nothing_due_reads_four_indexes_and_visits_nobody(engine: Engine) -> None:
    # Long before any other test's data: only these customers exist then, and none is due.
    at = datetime(2001, 1, 1, tzinfo=UTC)
    subs = [_customer(engine, D(100), at)[1] for _ in range(3)]
    with _statements(engine) as seen:
        report = run_due(engine, at + timedelta(days=10), LIMIT, "")
    assert report.visited == 0
    # Subscriptions due, usage due, grants due, holds past their expiry.
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 4, seen
    assert all(_next_due(engine, s) == datetime(2001, 2, 1, tzinfo=UTC) for s in subs)


def test_entitlements_are_refreshed_on_time(engine: Engine) -> None:
    cid, sub_id, asset = _customer(engine, D(0), fee=None, grants=[_monthly])
    assert _next_due(engine, sub_id) == FEB
    assert run_due(engine, FEB - SECOND, LIMIT, "", {cid}).visited == 0
    assert run_due(engine, FEB, LIMIT, "", {cid}).entitlements_granted == 1
    assert _next_due(engine, sub_id) == MAR
    with read(engine) as conn:
        assert world.available(conn, cid, asset, FEB) == D(5)


def test_grants_expire_on_time(engine: Engine) -> None:
    cid, sub_id, asset = _customer(engine, D(100))
    expiry = T0 + timedelta(days=10)
    with write(engine) as conn:
        gift = Adjustment(world.code("t"), asset, D(7), "gift", expires_at=expiry)
        wallets.adjust(conn, DEFAULT_LIVE, cid, gift, T0, LIMIT)
    assert run_due(engine, expiry - SECOND, LIMIT, "", {cid}).visited == 0
    assert run_due(engine, expiry, LIMIT, "", {cid}).visited == 1  # the subscription is not due till February
    with read(engine) as conn:
        assert _expired(conn, cid) == [D(7)]  # written off by the job, not only hidden by the clock
        assert world.available(conn, cid, asset, expiry) == D(80)  # 100 - 20 January fee
    assert _next_due(engine, sub_id) == FEB


def _expired(conn: Connection, cid: str) -> list[D]:
    g, a = credit_grants.c, wallet_accounts.c
    rows = conn.execute(
        select(g.expired_amount).select_from(credit_grants.join(wallet_accounts))
        .where(a.customer_id == cid, g.state == "expired")
    )
    return [from_scaled(int(amount)) for amount in rows.scalars()]


def test_writing_next_due_alone_leaves_the_customer_revision(engine: Engine) -> None:
    cid, sub_id, _ = _customer(engine, D(100))
    with read(engine) as conn:
        before = world.revision(conn, cid)
    assert run_due(engine, FEB, LIMIT, "", {cid}).fixed_charged == 1
    assert _next_due(engine, sub_id) == MAR
    with read(engine) as conn:
        assert world.revision(conn, cid) == before  # the hot path's cached prices stay valid
