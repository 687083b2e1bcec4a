"""Entitlements directly: a grant per period, issued once; expire_and_replace and rollover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import read, write
from drawdown.db.tables import entitlement_grants, subscriptions
from drawdown.wallets import entitlements
from drawdown.wallets import service as wallets
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.models import Charge, GrantFilter, GrantView
from tests.worlds import make_asset, make_customer, make_product, unbalanced, usage_price

D = Decimal
DAY = timedelta(days=1)


def _entitlement(asset: str, strategy: str | None, purpose: str = "bundled", **extra: Any) -> dict[str, Any]:
    life: dict[str, Any] = {"duration": "day", "duration_count": 1}
    if strategy is not None:
        life["refresh"] = {"strategy": strategy}
    return {"name": "allowance", "asset": asset, "amount": "10", "purpose": purpose, "lifecycle": life, **extra}


def _subscribed(engine: Engine, strategy: str | None, **extra: Any) -> tuple[datetime, str, str]:
    """(subscription start, asset, customer) for a product granting 10 a day."""
    now = datetime.now(UTC).replace(microsecond=0)
    with write(engine) as conn:
        asset = make_asset(conn, now)
        product = make_product(conn, now, [usage_price(asset, [{"volume_rate": "1"}])],
                               [_entitlement(asset, strategy, **extra)])
        return now, asset, make_customer(conn, now, product)


def _refresh(engine: Engine, cid: str, at: datetime) -> int:
    with write(engine) as conn:
        ledger = Ledger(conn, cid, at)
        issued = entitlements.refresh(conn, cid, at, ledger, D(0))
        ledger.flush()
    return issued


def _grants(engine: Engine, cid: str, asset: str, at: datetime) -> list[GrantView]:
    with read(engine) as conn:
        views, _ = wallets.grants(conn, DEFAULT_LIVE, cid, f"default:{asset}", GrantFilter(), 0, 50, at)
    return sorted(views, key=lambda g: g.effective_at)


def test_subscribing_issues_the_first_period_and_a_refresh_issues_each_period_once(engine: Engine) -> None:
    start, asset, cid = _subscribed(engine, "expire_and_replace", priority=7)
    (first,) = _grants(engine, cid, asset, start)
    assert (first.amount, first.purpose, first.priority, first.source_type) == (D(10), "bundled", 7, "entitlement")
    assert (first.effective_at, first.expires_at) == (start, start + DAY)
    assert _refresh(engine, cid, start + timedelta(hours=5)) == 0
    later = start + 2 * DAY + timedelta(hours=1)
    assert _refresh(engine, cid, later) == 2  # the missed period and the current one, in order
    assert _refresh(engine, cid, later) == 0
    grants = _grants(engine, cid, asset, later)
    periods = [(start + k * DAY, start + (k + 1) * DAY) for k in range(3)]
    assert [(g.effective_at, g.expires_at) for g in grants] == periods
    with read(engine) as conn:
        rows = conn.execute(select(func.count()).select_from(entitlement_grants)
                            .join(subscriptions, subscriptions.c.id == entitlement_grants.c.subscription_id)
                            .where(subscriptions.c.customer_id == cid)).scalar_one()
        assert rows == 3
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", later).available == D(10)


def test_expire_and_replace_writes_off_the_old_grant(engine: Engine) -> None:
    start, asset, cid = _subscribed(engine, "expire_and_replace")
    with write(engine) as conn:
        wallets.charge(conn, DEFAULT_LIVE, cid, Charge("spend", asset, D(3)), start, D(0))
    next_day = start + DAY + timedelta(minutes=1)
    assert _refresh(engine, cid, next_day) == 1
    old, new = _grants(engine, cid, asset, next_day)
    assert (old.state, old.expired_amount, old.available) == ("expired", D(7), D(0))
    assert (new.state, new.amount, new.available) == ("live", D(10), D(10))
    with read(engine) as conn:
        expiry = wallets.transaction(conn, DEFAULT_LIVE, cid, f"expiry:{old.id}")
        assert (expiry.type, expiry.amount, expiry.created_at) == ("expiry", D(-7), start + DAY)
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", next_day).available == D(10)
        assert unbalanced(conn, cid) == []


def test_rollover_carries_the_remainder_into_the_new_grant(engine: Engine) -> None:
    start, asset, cid = _subscribed(engine, "rollover", purpose="promotion")
    with write(engine) as conn:
        wallets.charge(conn, DEFAULT_LIVE, cid, Charge("spend", asset, D(4)), start, D(0))
    next_day = start + DAY + timedelta(minutes=1)
    assert _refresh(engine, cid, next_day) == 1
    assert _refresh(engine, cid, next_day) == 0
    old, new = _grants(engine, cid, asset, next_day)
    assert (old.available, old.expired_amount) == (D(0), D(0))  # nothing written off
    assert (new.amount, new.available, new.purpose, new.priority) == (D(16), D(16), "promotion", 50)
    with read(engine) as conn:
        carried = wallets.transaction(conn, DEFAULT_LIVE, cid, f"rollover:{old.id}")
        assert (carried.type, carried.amount) == ("rollover", D(0))
        moves = wallets.grant_history(conn, DEFAULT_LIVE, cid, f"default:{asset}", new.id, next_day).movements
        assert sorted((m.type, m.amount) for m in moves) == [("entitlement", D(10)), ("rollover", D(6))]
        with_expiry = [m for m in wallets.grant_history(
            conn, DEFAULT_LIVE, cid, f"default:{asset}", old.id, next_day
        ).movements
                       if m.type == "expiry"]
        assert with_expiry == []
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", next_day).available == D(16)
        assert unbalanced(conn, cid) == []


def test_a_one_off_entitlement_is_granted_once_for_one_period(engine: Engine) -> None:
    start, asset, cid = _subscribed(engine, None)
    assert _refresh(engine, cid, start + 3 * DAY) == 0
    (only,) = _grants(engine, cid, asset, start + 3 * DAY)
    assert (only.expires_at, only.state, only.expired_amount) == (start + DAY, "expired", D(10))


def test_after_downtime_each_missed_period_is_issued_in_order(engine: Engine) -> None:
    for strategy, final, written_off in (("rollover", D(26), D(0)), ("expire_and_replace", D(10), D(16))):
        start, asset, cid = _subscribed(engine, strategy)
        with write(engine) as conn:
            wallets.charge(conn, DEFAULT_LIVE, cid, Charge("spend", asset, D(4)), start, D(0))
        later = start + 2 * DAY + timedelta(hours=1)
        assert _refresh(engine, cid, later) == 2, strategy
        grants = _grants(engine, cid, asset, later)
        assert [g.state for g in grants] == ["expired", "expired", "live"], strategy
        assert grants[-1].available == final, strategy
        assert sum((g.expired_amount for g in grants), D(0)) == written_off, strategy
        with read(engine) as conn:
            assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", later).available == final, strategy
            assert unbalanced(conn, cid) == [], strategy
