"""The HotCache invalidation rule: every entry is stamped with a database version, never cleared by hand.

Subscription writes of any kind (services or raw SQL) move ``customers.revision`` through the
triggers of migrations 0006 and 0008 (the version history); rate changes move ``rates_version``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError

from drawdown.catalog import rates
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewRate, NewVersion
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST
from drawdown.customers import service as customers
from drawdown.customers.models import NewSubscription, ProductRef, SubscriptionStatusChange, VersionMove
from drawdown.db.engine import read, write
from drawdown.db.tables import customers as customer_rows
from drawdown.db.tables import product_versions, products, subscription_products
from drawdown.usage import pipeline, repository
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment, GrantFilter
from tests.worlds import make_asset, make_customer, make_product, usage_price

D = Decimal

LIVE, TEST = DEFAULT_LIVE.id, DEFAULT_TEST.id


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def revision(conn: Connection, cid: str) -> int:
    return int(conn.execute(select(customer_rows.c.revision).where(customer_rows.c.id == cid)).scalar_one())


def rates_of(cache: HotCache, conn: Connection, cid: str) -> list[Decimal]:
    """The volume rates of the customer's cached prices, read under its current revision."""
    found = cache.subscribed_prices(conn, {cid: revision(conn, cid)})[cid]
    return sorted(p.price.entries[0].values[0].volume_rate or D(0) for p in found)


def _version_id(conn: Connection, product_code: str, version: int = 1) -> tuple[str, str]:
    row = conn.execute(select(products.c.id, product_versions.c.id.label("vid")).join(product_versions)
                       .where(products.c.code == product_code, product_versions.c.version == version)).one()
    return row.id, row.vid


def _world(conn: Connection, now: datetime) -> tuple[str, str, str, str]:
    """(asset, product charging 1 per unit, customer subscribed to it, the subscription id)."""
    asset = make_asset(conn, now)
    product = make_product(conn, now, [usage_price(asset, [{"volume_rate": "1"}])])
    cid = make_customer(conn, now, product)
    return asset, product, cid, customers.get_customer(conn, DEFAULT_LIVE, cid, now).subscriptions[0].id


def test_service_writes_move_the_revision_and_the_cached_prices_follow(engine: Engine) -> None:
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        asset, product, cid, sub = _world(conn, now)
        assert rates_of(cache, conn, cid) == [D(1)]
        other = make_product(conn, now, [usage_price(asset, [{"volume_rate": "2"}])])
        before = revision(conn, cid)
        added = customers.create_subscription(
            conn, DEFAULT_LIVE, cid, NewSubscription((ProductRef(code=other),)), now, D(0)
        )
        assert revision(conn, cid) > before
        assert rates_of(cache, conn, cid) == [D(1), D(2)]
        product_id, _ = _version_id(conn, product)
        v2 = NewVersion([usage_price(asset, [{"volume_rate": "5"}])], publish=True)
        catalog.create_version(conn, DEFAULT_LIVE, product_id, v2, now)
        before = revision(conn, cid)
        customers.update_subscription_product(conn, DEFAULT_LIVE, VersionMove(cid, sub, product_id, 2), now, D(0))
        assert revision(conn, cid) > before
        assert rates_of(cache, conn, cid) == [D(2), D(5)]  # the moved product now prices at version 2
        before = revision(conn, cid)
        customers.update_subscription(conn, DEFAULT_LIVE, SubscriptionStatusChange(cid, sub, "inactive"), now, D(0))
        assert revision(conn, cid) > before
        assert rates_of(cache, conn, cid) == [D(2)]  # the cancelled subscription's price is gone
        before = revision(conn, cid)
        cancel = SubscriptionStatusChange(cid, added.id, "inactive")
        customers.update_subscription(conn, DEFAULT_LIVE, cancel, now, D(0))
        assert revision(conn, cid) > before
        assert rates_of(cache, conn, cid) == []


def test_raw_sql_subscription_writes_move_the_revision(engine: Engine) -> None:
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        _, product, cid, sub = _world(conn, now)
        product_id, version_id = _version_id(conn, product)
        assert rates_of(cache, conn, cid) == [D(1)]
        steps: list[tuple[str, dict[str, Any], list[Decimal]]] = [
            ("UPDATE subscriptions SET status = 'inactive' WHERE id = :s", {"s": sub}, []),
            ("UPDATE subscriptions SET status = 'active' WHERE id = :s", {"s": sub}, [D(1)]),
            # Prices come from the version history (migration 0008); the current link still moves the revision.
            ("DELETE FROM subscription_products WHERE subscription_id = :s", {"s": sub}, [D(1)]),
            ("INSERT INTO subscription_products (subscription_id, product_id, version_id) VALUES (:s, :p, :v)",
             {"s": sub, "p": product_id, "v": version_id}, [D(1)]),
            ("UPDATE subscription_products SET since = :t WHERE subscription_id = :s", {"s": sub, "t": now}, [D(1)]),
            ("DELETE FROM subscription_product_versions WHERE subscription_id = :s", {"s": sub}, []),
            ("INSERT INTO subscription_product_versions (subscription_id, product_id, version_id, valid_from) "
             "VALUES (:s, :p, :v, :t)", {"s": sub, "p": product_id, "v": version_id, "t": now}, [D(1)]),
            ("UPDATE subscription_product_versions SET valid_until = :t WHERE subscription_id = :s",
             {"s": sub, "t": now + timedelta(days=1)}, [D(1)]),
        ]
        for sql, params, expected in steps:
            before = revision(conn, cid)
            conn.execute(text(sql), params)
            assert revision(conn, cid) == before + 1, sql
            assert rates_of(cache, conn, cid) == expected, sql


def test_a_raw_status_change_stops_billing_at_once(engine: Engine) -> None:
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        asset, _, cid, sub = _world(conn, now)
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("in", asset, D(10), "gift"), now, D(0))
        batch = UsageBatch(DEFAULT_LIVE, cid, None, [UsageEvent("a", "u", now, data={"n": 2})])
        pipeline.bill(conn, [batch], now, D(0), cache)
        conn.execute(text("UPDATE subscriptions SET status = 'inactive' WHERE id = :s"), {"s": sub})
    with write(engine) as conn:
        batch = UsageBatch(DEFAULT_LIVE, cid, None, [UsageEvent("b", "u", now, data={"n": 2})])
        pipeline.bill(conn, [batch], now, D(0), cache)
    with read(engine) as conn:
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available == D(8)  # "b" found no price


def test_a_new_rate_moves_the_rates_version_and_the_cache_answers_with_it(engine: Engine) -> None:
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        asset = make_asset(conn, now, usd_rate=D("0.5"))
        version = _rates_version(conn, LIVE)
        held = cache.rates(conn, [LIVE])[LIVE]
        assert held.in_force(asset, "USD", now) == D("0.5")
        assert cache.rates(conn, [LIVE])[LIVE] is held  # nothing changed: not read again
        rates.add_rate(conn, DEFAULT_LIVE, asset, NewRate("USD", D("0.75"), valid_from=now), now)
        assert _rates_version(conn, LIVE) != version
        fresh = cache.rates(conn, [LIVE])[LIVE]
        assert fresh is not held
        assert (fresh.in_force(asset, "USD", now), fresh.in_force(asset, "USD", now - timedelta(days=1))) == (
            D("0.75"), D("0.5"))
        assert fresh.value_in(D(3), asset, "USD", now) == D("2.25")
        moved = _rates_version(conn, LIVE)
        rates.add_rate(conn, DEFAULT_LIVE, asset, NewRate("USD", D("0.75"), valid_from=now), now)  # a retry: no change
        assert _rates_version(conn, LIVE) == moved and cache.rates(conn, [LIVE])[LIVE] is fresh


def _rates_version(conn: Connection, scope_id: int) -> tuple[int, int]:
    return repository.rates_versions(conn, [scope_id])[scope_id]


def test_rates_are_held_per_scope(engine: Engine) -> None:
    """Each scope has its own assets and rates: a rate of one is not seen from the other, and a change
    in one does not move the other's version (its rates stay cached)."""
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        live_asset = make_asset(conn, now, usd_rate=D("0.5"))
        test_asset = make_asset(conn, now, usd_rate=D("0.25"), scope=DEFAULT_TEST)
        held = cache.rates(conn, [LIVE, TEST])
        assert held[LIVE].in_force(live_asset, "USD", now) == D("0.5")
        assert held[LIVE].in_force(test_asset, "USD", now) is None
        assert held[TEST].in_force(test_asset, "USD", now) == D("0.25")
        assert held[TEST].in_force(live_asset, "USD", now) is None
        test_version = _rates_version(conn, TEST)
        rates.add_rate(conn, DEFAULT_LIVE, live_asset, NewRate("USD", D("0.75"), valid_from=now), now)
        assert _rates_version(conn, TEST) == test_version
        again = cache.rates(conn, [LIVE, TEST])
        assert again[TEST] is held[TEST] and again[LIVE] is not held[LIVE]


def test_entitlements_are_due_again_when_the_revision_moves_or_their_time_comes(engine: Engine) -> None:
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        _, _, cid, sub = _world(conn, now)
        rev = revision(conn, cid)
        assert cache.entitlements_due({cid: rev}, now) == [cid]  # never checked
        cache.entitlements_checked(cid, rev, now + timedelta(hours=1))
        assert cache.entitlements_due({cid: rev}, now) == []
        assert cache.entitlements_due({cid: rev}, now + timedelta(hours=1)) == [cid]
        conn.execute(text("UPDATE subscriptions SET renews_at = :t WHERE id = :s"), {"t": now + timedelta(days=9),
                                                                                      "s": sub})
        assert cache.entitlements_due({cid: revision(conn, cid)}, now) == [cid]


def _monthly_entitlement(conn: Connection, now: datetime, asset: str) -> tuple[str, str]:
    """(product id, version id) of a product granting 7 of ``asset`` a month, expired and replaced."""
    extra = make_product(conn, now, [usage_price(asset, [{"volume_rate": "3"}])], [
        {"name": "monthly", "asset": asset, "amount": "7", "purpose": "promotion",
         "lifecycle": {"duration": "month", "refresh": {"strategy": "expire_and_replace"}}}])
    return _version_id(conn, extra)


def test_an_entitlement_product_linked_by_raw_sql_is_granted_by_the_next_bill(engine: Engine) -> None:
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        asset, _, cid, sub = _world(conn, now)
        extra_id, extra_version = _monthly_entitlement(conn, now, asset)
    with write(engine) as conn:  # the cache learns nothing falls due for a long while
        pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [])], now, D(0), cache)
        conn.execute(subscription_products.insert().values(subscription_id=sub, product_id=extra_id,
                                                           version_id=extra_version))
    later = now + timedelta(minutes=1)
    with write(engine) as conn:
        pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [])], later, D(0), cache)
    with read(engine) as conn:
        views, total = wallets.grants(conn, DEFAULT_LIVE, cid, f"default:{asset}", GrantFilter(), 0, 10, later)
    assert total == 1 and (views[0].amount, views[0].source_type, views[0].effective_at) == (D(7), "entitlement", now)


def test_the_revision_trigger_watches_every_subscription_column_but_the_schedule() -> None:
    """Migration 0007 lists the columns whose UPDATE moves customers.revision (all but next_due_at, which
    the billing job writes on every visit). A column added to subscriptions without joining that list
    would change subscriptions unseen by the cache: this fails until the trigger is recreated with it."""
    import importlib

    from drawdown.db.tables import subscriptions

    migration = importlib.import_module("drawdown.db.migrations.versions.0007_subscription_next_due")
    watched = {c.strip() for c in migration._WATCHED.split(",")}
    assert watched == {c.name for c in subscriptions.columns} - {"next_due_at"}


def test_value_in_uses_the_direct_rate_then_the_inverse(engine: Engine) -> None:
    """The rule every fee and cost is valued in USD by (the hot path holds the rates in memory)."""
    now = datetime.now(UTC)
    with write(engine) as conn:
        code = make_asset(conn, now, usd_rate=D("0.01"))
        held = HotCache().rates(conn, [LIVE])[LIVE]
    assert held.value_in(D(250), code, "USD", now) == D("2.50")
    assert held.value_in(D(3), "USD", code, now) == D(300)
    assert held.value_in(D(1), code, "GBP", now) is None
    assert held.value_in(D(7), "USD", "USD", now) == D(7)


_BOOM = {  # a write the database refuses: the commit stage of a group billing event "boom" fails
    "sqlite": [
        "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 'boom' THEN "
        "RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER boom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION boom()",
    ],
}
_UNBOOM = {"sqlite": ["DROP TRIGGER boom"], "postgresql": ["DROP TRIGGER boom ON events", "DROP FUNCTION boom()"]}


def test_an_entitlement_issued_by_a_group_that_failed_is_issued_by_the_next_one(engine: Engine) -> None:
    """The group that found the grant due issued it, then failed as a whole (its transaction rolled back):
    the cache must not remember the customer as checked, or the grant would be missing until its next
    period (the batching writer bills such a group's batches again, alone, at once)."""
    now = _now()
    cache = HotCache()
    with write(engine) as conn:
        asset, _, cid, sub = _world(conn, now)
        extra_id, extra_version = _monthly_entitlement(conn, now, asset)
        conn.execute(subscription_products.insert().values(subscription_id=sub, product_id=extra_id,
                                                           version_id=extra_version))
    with write(engine) as conn:
        for sql in _BOOM[engine.dialect.name]:
            conn.exec_driver_sql(sql)
    try:
        with pytest.raises(DBAPIError, match="boom"), write(engine) as conn:
            boom = UsageEvent("boom", "u", now, data={"n": 1})
            pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [boom])], now, D(0), cache)
    finally:
        with write(engine) as conn:
            for sql in _UNBOOM[engine.dialect.name]:
                conn.exec_driver_sql(sql)
    with write(engine) as conn:
        pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [])], now, D(0), cache)
    with read(engine) as conn:
        views, total = wallets.grants(conn, DEFAULT_LIVE, cid, f"default:{asset}", GrantFilter(), 0, 10, now)
        assert cache.entitlements_due({cid: revision(conn, cid)}, now) == []  # committed: checked, not due again
    assert total == 1 and (views[0].amount, views[0].source_type) == (D(7), "entitlement")
