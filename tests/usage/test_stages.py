"""The pipeline's stages directly: rating, funding and attribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from drawdown.catalog import rates
from drawdown.catalog.models import NewRate
from drawdown.core.errors import Invalid
from drawdown.core.money import from_scaled
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import read, write
from drawdown.db.tables import tier_counters
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.costs import price_costs
from drawdown.usage.events import get_event
from drawdown.usage.models import Cost, Outcome, UsageBatch, UsageEvent
from drawdown.usage.rating import rate_event
from drawdown.usage.receive import prefetch, receive
from drawdown.vendors import service as vendors
from drawdown.vendors.models import NewVendor
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment
from tests.worlds import make_asset, make_customer, make_product, usage_price

D = Decimal
TIERS: list[dict[str, Any]] = [
    {"volume_rate": "0.01", "up_to": 500}, {"volume_rate": "0.005", "up_to": 1000}, {"volume_rate": "0.001"},
]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def ev(eid: str, n: int, at: datetime, costs: tuple[Cost, ...] | None = None) -> UsageEvent:
    return UsageEvent(eid, "u", at, data={"n": n}, costs=costs)


def _customer(engine: Engine, now: datetime, price: dict[str, Any], asset: str, funds: Adjustment | None,
              limit: Decimal | None = D(0)) -> str:
    with write(engine) as conn:
        cid = make_customer(conn, now, make_product(conn, now, [price]), limit)
        if funds is not None:
            wallets.adjust(conn, DEFAULT_LIVE, cid, funds, now, limit)
    return cid


def _bill(engine: Engine, cid: str, events: list[UsageEvent], now: datetime, limit: Decimal | None = D(0)) -> Outcome:
    with write(engine) as conn:
        answer = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, events)], now, limit, HotCache())[0]
    assert not isinstance(answer, Exception), answer
    return answer[1]


def _fees(engine: Engine, cid: str, *ids: str) -> list[Decimal]:
    with read(engine) as conn:
        return [sum((f.amount for f in get_event(conn, DEFAULT_LIVE, i, cid).fees), D(0)) for i in ids]


# -------------------------------------------------------------------------------------------- rating
def test_rating_moves_nothing_until_booked_and_a_batch_takes_successive_positions(engine: Engine) -> None:
    now = _now()
    with write(engine) as conn:
        asset = make_asset(conn, now)
    price = usage_price(asset, TIERS, "tiered", tiering={"basis": "volume", "period": "lifetime"})
    cid = _customer(engine, now, price, asset, Adjustment("in", asset, D(100), "gift"))
    first, second = ev("e1", 400, now), ev("e2", 200, now)
    with write(engine) as conn:
        group = receive(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [first, second])], now, D(0), HotCache())
        prefetch(group)
        prices = group.customers[cid].prices
        (fee,) = rate_event(group, cid, prices, first, "events[0]")
        assert fee.position is not None
        assert (fee.amount, fee.rated.quantity, group.positions.get(fee.position)) == (D(4), D(400), D(0))
        (again,) = rate_event(group, cid, prices, first, "events[0]")
        assert again.amount == D(4)  # rating alone moved nothing
        group.positions.move(fee.position, fee.rated.quantity)  # what booking does
        (after,) = rate_event(group, cid, prices, second, "events[1]")
        assert after.amount == D("1.5")  # 100 @ 0.01 + 100 @ 0.005
        with pytest.raises(Invalid) as refused:
            rate_event(group, cid, prices, UsageEvent("bad", "u", now, data={"n": "lots"}), "events[2]")
        assert list(refused.value.errors) == ["events[2].data.n"]
    assert _bill(engine, cid, [first, second], now).accepted == ["e1", "e2"]
    assert _fees(engine, cid, "e1", "e2") == [D(4), D("1.5")]
    assert _bill(engine, cid, [ev("e3", 500, now)], now).accepted == ["e3"]
    assert _fees(engine, cid, "e3") == [D("2.1")]  # 400 @ 0.005 + 100 @ 0.001
    with read(engine) as conn:
        stored = conn.execute(select(tier_counters.c.quantity).where(tier_counters.c.customer_id == cid)).scalar_one()
    assert from_scaled(stored) == D(1100)


# ------------------------------------------------------------------------------------------- funding
def test_an_event_past_the_limit_is_refused_while_the_next_one_bills(engine: Engine) -> None:
    now = _now()
    with write(engine) as conn:
        asset = make_asset(conn, now)
    cid = _customer(engine, now, usage_price(asset, [{"volume_rate": "1"}]), asset,
                    Adjustment("in", asset, D(10), "gift"))
    outcome = _bill(engine, cid, [ev("big", 12, now), ev("small", 3, now)], now)
    assert outcome.accepted == ["small"]
    assert outcome.rejected == {0: f"insufficient funds in default:{asset}: fees 12, available 10, overdraft limit 0"}
    with read(engine) as conn:
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available == D(7)
        with pytest.raises(Exception, match="not found"):
            get_event(conn, DEFAULT_LIVE, "big", cid)


# --------------------------------------------------------------------------------------- attribution
def _costs_world(engine: Engine, now: datetime) -> tuple[str, str, str]:
    """(vendor id, a currency with no USD rate, a currency worth 0.5 USD)."""
    with write(engine) as conn:
        vendor = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="v"), now).id
        return vendor, make_asset(conn, now), make_asset(conn, now, usd_rate=D("0.5"))


def _priced(engine: Engine, event: UsageEvent) -> list[dict[str, Any]]:
    with read(engine) as conn:
        return price_costs(conn, DEFAULT_LIVE, HotCache().rates(conn, [DEFAULT_LIVE.id])[DEFAULT_LIVE.id], event,
                           "events[0]")


def _refused(engine: Engine, event: UsageEvent) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as refused:
        _priced(engine, event)
    return refused.value.errors


def test_price_costs_values_in_usd_and_refuses_naming_the_field(engine: Engine) -> None:
    now = _now()
    vendor, unrated, half = _costs_world(engine, now)
    rows = _priced(engine, ev("ok", 1, now, (Cost("a", vendor_id=vendor, amount=D(3), currency=half),
                                             Cost("b", vendor_id=vendor, units=D(4), unit_price=D("0.25")))))
    assert [(r["cost_id"], r["currency"], from_scaled(r["amount"]), from_scaled(r["amount_usd"])) for r in rows] == [
        ("a", half, D(3), D("1.5")), ("b", "USD", D(1), D(1))]
    assert _refused(engine, ev("x", 1, now, (Cost("a", vendor_id="vnd_nobody", amount=D(1)),))) == {
        "events[0].costs[0].vendor_id": ["no vendor 'vnd_nobody'"]}
    twice = (Cost("a", vendor_id=vendor, amount=D(1)), Cost("a", vendor_id=vendor, amount=D(2)))
    assert list(_refused(engine, ev("x", 1, now, twice))) == ["events[0].costs[1].id"]
    assert list(_refused(engine, ev("x", 1, now, (Cost("a", vendor_id=vendor, amount=D(1), currency=unrated),)))) == [
        "events[0].costs[0].currency"]


def test_a_batch_with_a_bad_cost_is_refused_whole(engine: Engine) -> None:
    now = _now()
    with write(engine) as conn:
        asset = make_asset(conn, now)
    cid = _customer(engine, now, usage_price(asset, [{"volume_rate": "1"}]), asset,
                    Adjustment("in", asset, D(10), "gift"))
    with write(engine) as conn:
        (answer,) = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [
            ev("fine", 1, now), ev("bad", 1, now, (Cost("a", vendor_id="vnd_nobody", amount=D(1)),))])],
            now, D(0), HotCache())
    assert isinstance(answer, Invalid) and list(answer.errors) == ["events[1].costs[0].vendor_id"]
    with read(engine) as conn:
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available == D(10)


def test_revenue_follows_the_grant_drawn(engine: Engine) -> None:
    now = _now()
    with write(engine) as conn:
        asset = make_asset(conn, now, usd_rate=D("0.01"))
        vendor = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="v"), now).id
    price = usage_price(asset, [{"volume_rate": "1"}])
    paid = _customer(engine, now, price, asset, Adjustment("in", asset, D(1), "external_topup", currency="USD"))
    promo = _customer(engine, now, price, asset, Adjustment("in", asset, D(100), "gift"))
    owing = _customer(engine, now, price, asset, None, limit=None)
    later = now + timedelta(minutes=1)
    with write(engine) as conn:  # the asset is worth more by the time it is spent
        rates.add_rate(conn, DEFAULT_LIVE, asset, NewRate("USD", D("0.02"), valid_from=now + timedelta(seconds=1)), now)
    cost = (Cost("c", vendor_id=vendor, amount=D("0.004")),)
    for cid in (paid, promo, owing):
        assert _bill(engine, cid, [ev("e", 30, later, cost)], later, None).accepted == ["e"]
    with read(engine) as conn:
        views = {cid: get_event(conn, DEFAULT_LIVE, "e", cid) for cid in (paid, promo, owing)}
    assert views[paid].revenue == D("0.3")  # 30 units of paid value at its revenue basis, 0.01 USD each
    assert views[promo].revenue == D(0)  # promotional value earns nothing
    assert views[owing].revenue == D("0.6")  # owed on overdraft, at the asset's value now
    assert {v.cost for v in views.values()} == {D("0.004")}
