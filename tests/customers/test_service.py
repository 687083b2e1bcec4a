"""customers.service directly: creating customers with subscriptions, the rules a subscription obeys,
status changes and version moves (real database, both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewVersion
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import (
    CustomerFilter,
    CustomerUpdate,
    ExternalAccount,
    NewCustomer,
    NewSubscription,
    ProductRef,
    SubscribedProduct,
    Subscription,
    SubscriptionStatusChange,
    VersionMove,
)
from drawdown.db.engine import read, write
from tests.customers import world

D = Decimal
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def by_id(s: Subscription) -> str:
    return s.id


def _sub(*codes: str, starts_at: datetime | None = None, renews_at: datetime | None = None) -> NewSubscription:
    return NewSubscription(tuple(ProductRef(code=c) for c in codes), starts_at=starts_at, renews_at=renews_at)


def test_create_with_subscriptions_provisions_an_account_per_asset(engine: Engine) -> None:
    with write(engine) as conn:
        priced, granted, fee = world.asset(conn, NOW), world.asset(conn, NOW), world.asset(conn, NOW)
        usage_id, usage = world.product(conn, NOW, [world.real_time(priced)], [world.daily_grant(granted, D(5))])
        plan_id, plan = world.product(conn, NOW, [world.monthly_fee(fee, D(0))])
        created = customers.create_customer(
            conn,
            DEFAULT_LIVE,
            NewCustomer(name="Ada", external_id=world.code("x"), email="ada@example.com", metadata={"tier": "gold"},
                        external_accounts=(ExternalAccount("stripe", "cus_1"),),
                        subscriptions=(_sub(usage), _sub(plan))),
            NOW, D(0),
        )
        assert world.account_assets(conn, created.id) == {priced, granted, fee}
        assert world.available(conn, created.id, granted, NOW) == 5  # the entitlement is granted at once
    first, second = created.subscriptions
    assert (first.status, first.started_at, first.renews_at, first.required_actions) == ("active", NOW, None, None)
    assert first.products == (SubscribedProduct(usage_id, usage, 1),)
    assert second.renews_at == datetime(2026, 4, 10, 9, 30, tzinfo=UTC)  # the monthly fee's next period
    with read(engine) as conn:
        got = customers.get_customer(conn, DEFAULT_LIVE, created.id, NOW)
        assert customers.find_by_external_id(conn, DEFAULT_LIVE, got.summary.external_id or "") == created.id
    assert (got.summary.name, got.summary.email, got.summary.active_subscription_count) == ("Ada", "ada@example.com", 2)
    assert (got.metadata, got.external_accounts) == ({"tier": "gold"}, (ExternalAccount("stripe", "cus_1"),))
    # Created in the same instant, so listed in no particular order.
    assert sorted(got.subscriptions, key=by_id) == sorted(created.subscriptions, key=by_id)
    assert plan_id in {p.id for s in got.subscriptions for p in s.products}


def test_external_ids_are_unique(engine: Engine) -> None:
    taken, other = world.code("x"), world.code("x")
    with write(engine) as conn:
        first = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="a", external_id=taken), NOW, None).id
        second = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="b", external_id=other), NOW, None).id
    with pytest.raises(Conflict, match=taken), write(engine) as conn:
        customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="c", external_id=taken), NOW, None)
    with pytest.raises(Conflict, match=taken), write(engine) as conn:
        customers.update_customer(conn, DEFAULT_LIVE, second, CustomerUpdate(external_id=taken))
    with write(engine) as conn:
        customers.update_customer(
            conn, DEFAULT_LIVE, first, CustomerUpdate(external_id=taken, name="renamed")
        )  # its own: fine
        assert customers.get_customer(conn, DEFAULT_LIVE, first, NOW).summary.name == "renamed"
        assert customers.get_customer(conn, DEFAULT_LIVE, second, NOW).summary.external_id == other


def test_only_published_versions_take_subscribers_and_the_error_names_the_field(engine: Engine) -> None:
    external_id = world.code("x")
    with write(engine) as conn:
        priced = world.asset(conn, NOW)
        _, good = world.product(conn, NOW, [world.real_time(priced)])
        draft_id, drafted = world.product(conn, NOW, [world.real_time(priced)])
        catalog.create_version(conn, DEFAULT_LIVE, draft_id, NewVersion(prices=[world.real_time(priced)]), NOW)
    refs = (ProductRef(code=good), ProductRef(code=drafted, version=2))
    with pytest.raises(Invalid) as refused, write(engine) as conn:
        customers.create_customer(
            conn,
            DEFAULT_LIVE,
            NewCustomer(name="n", external_id=external_id, subscriptions=(NewSubscription(refs),)),
            NOW,
            None,
        )
    assert list(refused.value.errors) == ["subscriptions[0].products[1]"]
    assert "only published versions take subscribers" in str(refused.value)
    with pytest.raises(Invalid) as twice, write(engine) as conn:
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="n"), NOW, None).id
        customers.create_subscription(conn, DEFAULT_LIVE, cid, _sub(good, good), NOW, None)
    assert list(twice.value.errors) == ["products[1]"]
    with read(engine) as conn:
        assert customers.find_by_external_id(conn, DEFAULT_LIVE, external_id) is None  # the refusal left nothing behind


def test_renews_at_must_come_after_the_start(engine: Engine) -> None:
    with write(engine) as conn:
        _, plan = world.product(conn, NOW, [world.real_time(world.asset(conn, NOW))])
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="r"), NOW, None).id
    start = NOW + timedelta(days=2)
    with pytest.raises(Invalid) as at_start, write(engine) as conn:
        customers.create_subscription(conn, DEFAULT_LIVE, cid, _sub(plan, starts_at=start, renews_at=start), NOW, None)
    assert at_start.value.errors == {"renews_at": ["must be after starts_at"]}
    with pytest.raises(Invalid) as nested, write(engine) as conn:
        customers.create_customer(
            conn, DEFAULT_LIVE, NewCustomer(name="r", subscriptions=(_sub(plan, renews_at=NOW),)), NOW, None
        )
    assert list(nested.value.errors) == ["subscriptions[0].renews_at"]
    with write(engine) as conn:
        later = customers.create_subscription(
            conn, DEFAULT_LIVE, cid, _sub(plan, starts_at=start, renews_at=start + timedelta(days=30)), NOW, None
        )
    assert (later.status, later.renews_at) == ("scheduled", start + timedelta(days=30))


def test_status_change(engine: Engine) -> None:
    with write(engine) as conn:
        _, plan = world.product(conn, NOW, [world.real_time(world.asset(conn, NOW))])
        created = customers.create_customer(
            conn, DEFAULT_LIVE, NewCustomer(name=world.code("s"), subscriptions=(_sub(plan),)), NOW, None
        )
        sub_id = created.subscriptions[0].id
        customers.update_subscription(
            conn, DEFAULT_LIVE, SubscriptionStatusChange(created.id, sub_id, "inactive"), NOW, None
        )
    with read(engine) as conn:
        got = customers.get_customer(conn, DEFAULT_LIVE, created.id, NOW)
        name = got.summary.name
        inactive, _ = customers.list_customers(conn, DEFAULT_LIVE, 0, 10, CustomerFilter(name=name, status="inactive"))
        active, _ = customers.list_customers(conn, DEFAULT_LIVE, 0, 10, CustomerFilter(name=name, status="active"))
    assert (got.subscriptions[0].status, got.summary.active_subscription_count) == ("inactive", 0)
    assert ([c.id for c in inactive], active) == ([created.id], [])
    with write(engine) as conn:
        customers.update_subscription(
            conn, DEFAULT_LIVE, SubscriptionStatusChange(created.id, sub_id, "active"), NOW, None
        )
        assert customers.get_customer(conn, DEFAULT_LIVE, created.id, NOW).subscriptions[0].status == "active"
    with pytest.raises(NotFound), write(engine) as conn:
        stranger = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="o"), NOW, None).id
        customers.update_subscription(
            conn, DEFAULT_LIVE, SubscriptionStatusChange(stranger, sub_id, "inactive"), NOW, None
        )


def test_version_move(engine: Engine) -> None:
    with write(engine) as conn:
        first, moved_to = world.asset(conn, NOW), world.asset(conn, NOW)
        product_id, plan = world.product(conn, NOW, [world.real_time(first)])
        _, other = world.product(conn, NOW, [world.real_time(first)])
        catalog.create_version(
            conn, DEFAULT_LIVE, product_id, NewVersion(prices=[world.real_time(moved_to)], publish=True), NOW
        )
        catalog.create_version(
            conn, DEFAULT_LIVE, product_id, NewVersion(prices=[world.real_time(moved_to)]), NOW
        )  # a draft: 3
        created = customers.create_customer(
            conn, DEFAULT_LIVE, NewCustomer(name="m", subscriptions=(_sub(plan),)), NOW, None
        )
    cid, sub_id = created.id, created.subscriptions[0].id
    with pytest.raises(Invalid) as draft, write(engine) as conn:
        customers.update_subscription_product(conn, DEFAULT_LIVE, VersionMove(cid, sub_id, product_id, 3), NOW, None)
    assert list(draft.value.errors) == ["version"]
    with pytest.raises(NotFound, match="does not include"), write(engine) as conn:
        customers.update_subscription_product(conn, DEFAULT_LIVE, VersionMove(cid, sub_id, other, 1), NOW, None)
    with write(engine) as conn:
        assert world.account_assets(conn, cid) == {first}
        customers.update_subscription_product(conn, DEFAULT_LIVE, VersionMove(cid, sub_id, product_id, 2), NOW, None)
        assert world.account_assets(conn, cid) == {first, moved_to}  # the new version's asset is provisioned
        assert customers.get_customer(conn, DEFAULT_LIVE, cid, NOW).subscriptions[0].products == (
            SubscribedProduct(product_id, plan, 2),
        )
