"""Late events after a version move are priced with the version in force when they occurred (both backends).

Each version has its own price ids, so its own tier positions: usage priced under version 1 keeps moving
version 1's position, even when it arrives after the move.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from drawdown.billing import cycle
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewVersion
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef, VersionMove
from drawdown.db.engine import read, write
from drawdown.db.tables import fees, period_charges, subscription_product_versions, tier_counters
from drawdown.usage import events, pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.wallets.repository import lock_customer
from tests.customers import world

D = Decimal
LIMIT = D(0)
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # the subscription starts; the tier period is March
MOVE = T0 + timedelta(days=10)


def tiered(asset: str, low: str, high: str) -> dict[str, Any]:
    """``low`` per unit of volume ``n`` up to 100 in the calendar month, ``high`` beyond."""
    return {"name": "Tokens", "type": "usage_based", "pricing_model": "tiered", "billing_model": {"type": "real_time"},
            "tiering": {"basis": "volume", "period": "monthly"},
            "usage_calculation": {"event_type": "u", "usage_type": "volume", "volume_field": "n"},
            "pricing": [{"asset": asset, "values": [{"volume_rate": D(low), "up_to": 100}, {"volume_rate": D(high)}]}]}


def _subscribed(engine: Engine, v1: world.Price, v2: world.Price) -> tuple[str, str, str, str]:
    """(customer, subscription, product, asset): funded, subscribed at T0 to version 1, version 2 published."""
    with write(engine) as conn:
        asset = world.asset(conn, T0)
        product_id, plan = world.product(conn, T0, [v1(asset)])
        catalog.create_version(conn, DEFAULT_LIVE, product_id, NewVersion(prices=[v2(asset)], publish=True), T0)
        created = customers.create_customer(
            conn, DEFAULT_LIVE,
            NewCustomer(name="late", subscriptions=(NewSubscription((ProductRef(code=plan, version="1"),)),)),
            T0, LIMIT)
        world.fund(conn, created.id, asset, D(1000), T0)
    return created.id, created.subscriptions[0].id, product_id, asset


def _move(engine: Engine, cid: str, sub: str, product_id: str, version: int, at: datetime) -> None:
    with write(engine) as conn:
        customers.update_subscription_product(conn, DEFAULT_LIVE, VersionMove(cid, sub, product_id, version), at, LIMIT)


def _send(
    engine: Engine, cache: HotCache, cid: str, eid: str, n: int, occurred: datetime, now: datetime, kind: str = "u"
) -> None:
    with write(engine) as conn:
        batch = UsageBatch(DEFAULT_LIVE, cid, None, [UsageEvent(eid, kind, occurred, data={"n": n})])
        answer = pipeline.bill(conn, [batch], now, LIMIT, cache)[0]
    assert not isinstance(answer, Exception) and answer[1].accepted == [eid], answer


def _fee(engine: Engine, cid: str, eid: str) -> tuple[int, Decimal]:
    """(product version, amount) of the event's one fee."""
    with read(engine) as conn:
        (fee,) = events.get_event(conn, DEFAULT_LIVE, eid, cid).fees
    return fee.product_version, fee.amount


def _history(conn: Connection, sub: str) -> list[tuple[datetime, datetime | None]]:
    h = subscription_product_versions.c
    rows = conn.execute(select(h.valid_from, h.valid_until).where(h.subscription_id == sub).order_by(h.valid_from))
    return [(r.valid_from, r.valid_until) for r in rows]


def test_a_late_event_takes_the_version_and_tier_position_in_force_when_it_occurred(engine: Engine) -> None:
    cid, sub, product_id, _ = _subscribed(engine, lambda a: tiered(a, "1", "0.5"), lambda a: tiered(a, "2", "1"))
    cache = HotCache()  # one cache throughout: the move must reach it through customers.revision
    _send(engine, cache, cid, "a", 80, T0 + timedelta(days=1), T0 + timedelta(days=1))  # v1, position 0 -> 80
    _move(engine, cid, sub, product_id, 2, MOVE)  # in the middle of March's tier period
    later = MOVE + timedelta(days=2)
    _send(engine, cache, cid, "b", 50, MOVE + timedelta(days=1), later)  # v2 starts its own position: 0 -> 50
    _send(engine, cache, cid, "late", 40, T0 + timedelta(days=5), later)  # v1 again, from its 80: 20 at 1, 20 at 0.5
    _send(engine, cache, cid, "c", 60, later, later)  # v2 from 50: 50 at 2, 10 at 1
    _send(engine, cache, cid, "edge", 1, MOVE, later)  # the move's instant belongs to the new version
    _send(engine, cache, cid, "early", 5, T0 - timedelta(days=1), later)  # before the subscription: no price
    assert [_fee(engine, cid, e) for e in ("a", "b", "late", "c", "edge")] == [
        (1, D(80)), (2, D(100)), (1, D(30)), (2, D(110)), (2, D(1))
    ]
    with read(engine) as conn:
        assert events.get_event(conn, DEFAULT_LIVE, "early", cid).fees == []
        positions = conn.execute(
            select(fees.c.product_version, tier_counters.c.quantity)
            .join(tier_counters, tier_counters.c.price_id == fees.c.price_id)
            .where(tier_counters.c.customer_id == cid, fees.c.customer_id == cid)
            .distinct()
        ).all()
        assert _history(conn, sub) == [(T0, MOVE), (MOVE, None)]
    assert sorted((v, D(q) / 10**9) for v, q in positions) == [(1, D(120)), (2, D(111))]


def test_late_recurring_usage_accrues_to_its_own_period_under_the_old_version(engine: Engine) -> None:
    cid, sub, product_id, asset = _subscribed(engine, lambda a: world.monthly_tokens(a, D(1)),
                                              lambda a: world.monthly_tokens(a, D(3)))
    cache = HotCache()
    april = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)  # the first period, [T0, april), ends

    def tokens(eid: str, n: int, occurred: datetime, now: datetime) -> None:
        _send(engine, cache, cid, eid, n, occurred, now, "tokens")

    tokens("march", 10, T0 + timedelta(days=1), T0 + timedelta(days=1))
    _move(engine, cid, sub, product_id, 2, MOVE)
    tokens("late", 4, T0 + timedelta(days=2), MOVE + timedelta(hours=1))  # March still open
    _close(engine, cid, april)
    tokens("later", 5, T0 + timedelta(days=3), april + timedelta(days=1))  # March charged
    tokens("april", 2, april + timedelta(days=1), april + timedelta(days=1))
    with read(engine) as conn:
        rows = conn.execute(
            select(fees.c.product_version, fees.c.period_start, fees.c.amount, fees.c.charge_id.is_not(None))
            .where(fees.c.customer_id == cid)
            .order_by(fees.c.created_at, fees.c.amount)
        ).all()
        charged = conn.execute(select(period_charges.c.period_start, period_charges.c.amount)
                               .where(period_charges.c.subscription_id == sub)).all()
        pending = world.pending_out(conn, cid, asset, april + timedelta(days=1))
    assert [(v, start, D(amount) / 10**9, done) for v, start, amount, done in rows] == [
        (1, T0, D(10), True),
        (1, T0, D(4), True),  # late, but its period was still open: charged with it at 1 a unit
        (1, april, D(5), False),  # its period was charged: it accrues to the one open now, still at version 1
        (2, april, D(6), False),
    ]
    assert [(start, D(amount) / 10**9) for start, amount in charged] == [(T0, D(14))]
    assert pending == D(11)


def _close(engine: Engine, cid: str, now: datetime) -> None:
    with write(engine) as conn:
        lock_customer(conn, cid)
        assert cycle.close_usage(conn, cid, now) == 1


def test_a_move_records_the_history_and_a_move_before_any_use_replaces_the_version(engine: Engine) -> None:
    cid, sub, product_id, _ = _subscribed(engine, lambda a: world.real_time(a), lambda a: world.real_time(a))
    _move(engine, cid, sub, product_id, 2, T0)  # the same instant the subscription starts: nothing priced yet
    with read(engine) as conn:
        assert _history(conn, sub) == [(T0, None)]
    _move(engine, cid, sub, product_id, 1, MOVE)
    _move(engine, cid, sub, product_id, 2, MOVE + timedelta(days=1))
    with read(engine) as conn:
        h = subscription_product_versions.c
        versions = conn.execute(select(h.version_id).where(h.subscription_id == sub).order_by(h.valid_from)).scalars()
        assert len(set(versions)) == 2
        assert _history(conn, sub) == [(T0, MOVE), (MOVE, MOVE + timedelta(days=1)), (MOVE + timedelta(days=1), None)]
        customer = customers.get_customer(conn, DEFAULT_LIVE, cid, MOVE)
        assert [p.version for p in customer.subscriptions[0].products] == [2]
