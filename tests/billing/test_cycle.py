"""billing.cycle and billing.job directly: fixed fees once per period, payment required and
reactivation, recurring usage closed at period end, catching up after downtime (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from drawdown.billing.job import run_due
from drawdown.core.money import to_scaled
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import (
    NewCustomer,
    NewSubscription,
    ProductRef,
    RequiredAction,
    Subscription,
    SubscriptionStatusChange,
)
from drawdown.db.engine import read, write
from drawdown.db.tables import fees, period_charges
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from tests.customers import world

D = Decimal
LIMIT = D(0)
T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
RENEWAL = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)  # calendar-correct: 31 January + 1 month
URL = "http://drawdown.test/"


def _customer(engine: Engine, prices: list[world.Doc], funds: D, at: datetime = T0) -> tuple[str, str, str]:
    """(customer id, subscription id, asset): a customer funded with ``funds`` of a fresh asset,
    subscribed at ``at`` to a product with ``prices`` (built from that asset)."""
    with write(engine) as conn:
        asset = world.asset(conn, at)
        _, plan = world.product(conn, at, [price(asset) for price in prices])
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name=world.code("c")), at, LIMIT).id
        if funds:
            world.fund(conn, cid, asset, funds, at)
        subscribe = NewSubscription((ProductRef(code=plan),))
        sub = customers.create_subscription(conn, DEFAULT_LIVE, cid, subscribe, at, LIMIT, URL)
    return cid, sub.id, asset


def _fee(amount: str) -> world.Price:
    return lambda asset: world.monthly_fee(asset, D(amount))


def _subscription(engine: Engine, cid: str, at: datetime) -> Subscription:
    with read(engine) as conn:
        return customers.get_customer(conn, DEFAULT_LIVE, cid, at).subscriptions[0]


def _available(engine: Engine, cid: str, asset: str, at: datetime) -> D:
    with read(engine) as conn:
        return world.available(conn, cid, asset, at)


def _charged_periods(engine: Engine, sub_id: str, kind: str) -> int:
    with read(engine) as conn:
        q = select(func.count()).select_from(period_charges).where(
            period_charges.c.subscription_id == sub_id, period_charges.c.kind == kind
        )
        return int(conn.execute(q).scalar_one())


def _tokens(engine: Engine, cid: str, at: datetime, n: int) -> None:
    event = UsageEvent(world.code("ev"), "tokens", at, data={"n": n})
    with write(engine) as conn:
        [answer] = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [event])], at, LIMIT, HotCache())
    assert not isinstance(answer, Exception), answer
    assert answer[1].accepted == [event.id]


def test_a_fixed_fee_is_charged_once_per_period_however_often_the_job_runs(engine: Engine) -> None:
    cid, sub_id, asset = _customer(engine, [_fee("20")], D(100))
    assert _available(engine, cid, asset, T0) == 80  # the first month, in advance, at subscription
    for at in (T0, T0 + timedelta(hours=1), RENEWAL - timedelta(seconds=1)):
        assert run_due(engine, at, LIMIT, URL, {cid}).fixed_charged == 0
    assert run_due(engine, RENEWAL, LIMIT, URL, {cid}).fixed_charged == 1
    for _ in range(3):
        assert run_due(engine, RENEWAL + timedelta(days=1), LIMIT, URL, {cid}).fixed_charged == 0
    assert _available(engine, cid, asset, RENEWAL) == 60
    assert _charged_periods(engine, sub_id, "fixed") == 2


def test_a_fee_that_does_not_fit_asks_for_payment_until_funded(engine: Engine) -> None:
    cid, sub_id, asset = _customer(engine, [_fee("20")], D(10))
    blocked = _subscription(engine, cid, T0)
    payment = RequiredAction("payment", f"http://drawdown.test/portal/subscriptions/{sub_id}/payment")
    assert (blocked.status, blocked.required_actions) == ("action_required", (payment,))
    assert _available(engine, cid, asset, T0) == 10  # nothing taken: the fee is all or nothing
    still = run_due(engine, T0 + timedelta(hours=1), LIMIT, URL, {cid})
    assert (still.fixed_charged, still.action_required) == (0, [])  # already waiting: not reported again
    active = SubscriptionStatusChange(cid, sub_id, "active")
    with write(engine) as conn:  # asking to reactivate without the money changes nothing
        customers.update_subscription(conn, DEFAULT_LIVE, active, T0, LIMIT, URL)
    assert _subscription(engine, cid, T0).status == "action_required"
    with write(engine) as conn:
        world.fund(conn, cid, asset, D(15), T0)
    assert run_due(engine, T0 + timedelta(hours=2), LIMIT, URL, {cid}).fixed_charged == 1
    active = _subscription(engine, cid, T0)
    assert (active.status, active.required_actions) == ("active", None)
    assert _available(engine, cid, asset, T0) == 5


def test_reactivation_is_a_payment_attempt(engine: Engine) -> None:
    cid, sub_id, asset = _customer(engine, [_fee("20")], D(0))
    with write(engine) as conn:
        world.fund(conn, cid, asset, D(20), T0)
        reactivate = SubscriptionStatusChange(cid, sub_id, "active")
        customers.update_subscription(conn, DEFAULT_LIVE, reactivate, T0, LIMIT, URL)
    assert (_subscription(engine, cid, T0).status, _available(engine, cid, asset, T0)) == ("active", 0)


def test_the_job_reports_a_subscription_it_blocks(engine: Engine) -> None:
    with write(engine) as conn:
        asset = world.asset(conn, T0)
        _, plan = world.product(conn, T0, [world.monthly_fee(asset, D(20))])
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="later"), T0, LIMIT).id
        later = NewSubscription((ProductRef(code=plan),), starts_at=T0 + timedelta(days=3))
        sub_id = customers.create_subscription(conn, DEFAULT_LIVE, cid, later, T0, LIMIT, URL).id
    assert run_due(engine, T0 + timedelta(days=1), LIMIT, URL, {cid}).action_required == []  # not started yet
    assert run_due(engine, T0 + timedelta(days=3), LIMIT, URL, {cid}).action_required == [sub_id]


def test_recurring_usage_is_reserved_then_charged_at_the_period_end(engine: Engine) -> None:
    cid, sub_id, asset = _customer(engine, [lambda a: world.monthly_tokens(a, D("0.01"))], D(100))
    _tokens(engine, cid, T0 + timedelta(days=1), 500)
    _tokens(engine, cid, T0 + timedelta(days=2), 250)
    with read(engine) as conn:  # reserved as it accrued: out of available, pending until the period closes
        assert (world.available(conn, cid, asset, T0), world.pending_out(conn, cid, asset, T0)) == (D("92.5"), D("7.5"))
    assert run_due(engine, RENEWAL - timedelta(seconds=1), LIMIT, URL, {cid}).usage_charged == 0
    assert run_due(engine, RENEWAL, LIMIT, URL, {cid}).usage_charged == 1  # one charge per price and period
    assert run_due(engine, RENEWAL, LIMIT, URL, {cid}).usage_charged == 0
    with read(engine) as conn:
        assert (world.available(conn, cid, asset, RENEWAL), world.pending_out(conn, cid, asset, RENEWAL)) == (
            D("92.5"), D(0)
        )
        charge = conn.execute(
            select(period_charges.c.amount, period_charges.c.transaction_id).where(
                period_charges.c.subscription_id == sub_id, period_charges.c.kind == "usage"
            )
        ).one()
        charged = set(conn.execute(select(fees.c.charge_id).where(fees.c.subscription_id == sub_id)).scalars())
    assert charge.amount == to_scaled(D("7.5"))
    assert charged == {charge.transaction_id}  # both fees name the charge that closed them


def test_the_job_catches_up_after_downtime_charging_each_missed_period_once(engine: Engine) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    plan = [_fee("20"), lambda a: world.monthly_tokens(a, D(1))]
    cid, sub_id, asset = _customer(engine, plan, D(100), at=start)
    _tokens(engine, cid, datetime(2026, 1, 20, tzinfo=UTC), 3)  # January's usage
    _tokens(engine, cid, datetime(2026, 3, 5, tzinfo=UTC), 2)  # March's: no job ran in between
    back = datetime(2026, 4, 15, tzinfo=UTC)  # February, March and April renewals missed
    report = run_due(engine, back, LIMIT, URL, {cid})
    assert (report.fixed_charged, report.usage_charged) == (3, 2)
    again = run_due(engine, back + timedelta(hours=1), LIMIT, URL, {cid})
    assert (again.fixed_charged, again.usage_charged) == (0, 0)
    assert _available(engine, cid, asset, back) == 100 - 4 * 20 - 3 - 2
    assert (_charged_periods(engine, sub_id, "fixed"), _charged_periods(engine, sub_id, "usage")) == (4, 2)
