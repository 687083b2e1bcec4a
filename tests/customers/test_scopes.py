"""Customers and subscriptions belong to one scope: external ids are unique per scope, and a customer,
its subscriptions or a product of another scope answer exactly like unknown ones (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from drawdown.core.errors import Conflict, DomainError, Invalid, NotFound
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST
from drawdown.customers import service as customers
from drawdown.customers.models import (
    CustomerFilter,
    CustomerUpdate,
    NewCustomer,
    NewSubscription,
    ProductRef,
    SubscriptionStatusChange,
    VersionMove,
)
from drawdown.db.engine import read, write
from tests.customers import world

D = Decimal
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def _refusal(engine: Engine, call: Callable[..., object], *args: object) -> DomainError:
    """The error a write refuses with (its transaction rolled back)."""
    with pytest.raises(DomainError) as refused, write(engine) as conn:
        call(conn, *args)
    return refused.value


def test_the_same_external_id_lives_in_each_scope_and_is_unique_within_one(engine: Engine) -> None:
    external_id = world.code("x")
    with write(engine) as conn:
        live = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="L", external_id=external_id), NOW, None)
        test = customers.create_customer(conn, DEFAULT_TEST, NewCustomer(name="T", external_id=external_id), NOW, None)
    assert live.id != test.id
    with read(engine) as conn:
        assert customers.find_by_external_id(conn, DEFAULT_LIVE, external_id) == live.id
        assert customers.find_by_external_id(conn, DEFAULT_TEST, external_id) == test.id
    with pytest.raises(Conflict), write(engine) as conn:
        customers.create_customer(conn, DEFAULT_TEST, NewCustomer(name="again", external_id=external_id), NOW, None)
    # Taking an external id used only in the other scope is no conflict.
    other = world.code("x")
    with write(engine) as conn:
        customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="o", external_id=other), NOW, None)
        customers.update_customer(conn, DEFAULT_TEST, test.id, CustomerUpdate(external_id=other))
        assert customers.find_by_external_id(conn, DEFAULT_TEST, other) == test.id


def test_a_customer_of_another_scope_answers_like_an_unknown_one(engine: Engine) -> None:
    with write(engine) as conn:
        _, plan = world.product(conn, NOW, [world.real_time(world.asset(conn, NOW))])
        name = world.code("n")
        created = customers.create_customer(
            conn, DEFAULT_LIVE, NewCustomer(name=name, subscriptions=(NewSubscription((ProductRef(code=plan),)),)),
            NOW, None,
        )
    cid, sub_id = created.id, created.subscriptions[0].id
    unknown = "cus_" + "0" * 26
    with read(engine) as conn:
        for customer_id in (cid, unknown):
            with pytest.raises(NotFound) as missing:
                customers.get_customer(conn, DEFAULT_TEST, customer_id, NOW)
            assert str(missing.value) == f"customer {customer_id} not found"
        listed, total = customers.list_customers(conn, DEFAULT_TEST, 0, 100, CustomerFilter(name=name))
        assert (listed, total) == ([], 0)
        listed, total = customers.list_customers(conn, DEFAULT_TEST, 0, 100, CustomerFilter(id=cid))
        assert (listed, total) == ([], 0)
        listed, _ = customers.list_customers(conn, DEFAULT_LIVE, 0, 100, CustomerFilter(name=name))
        assert [c.id for c in listed] == [cid]
    # Every write through the customer from the other scope: the same 404 as for an unknown customer.
    writes = [
        (customers.update_customer, lambda c: (c, CustomerUpdate(name="stolen"))),
        (customers.create_subscription, lambda c: (c, NewSubscription((ProductRef(code=plan),)), NOW, None)),
        (customers.update_subscription, lambda c: (SubscriptionStatusChange(c, sub_id, "inactive"), NOW, None)),
        (customers.update_subscription_product, lambda c: (VersionMove(c, sub_id, plan, 1), NOW, None)),
    ]
    for call, args in writes:
        foreign = _refusal(engine, call, DEFAULT_TEST, *args(cid))
        missing = _refusal(engine, call, DEFAULT_TEST, *args(unknown))
        assert isinstance(foreign, NotFound)
        assert (type(foreign), str(foreign).replace(cid, unknown)) == (type(missing), str(missing))
    with read(engine) as conn:  # and nothing of the customer changed
        got = customers.get_customer(conn, DEFAULT_LIVE, cid, NOW)
    assert (got.summary.name, [s.status for s in got.subscriptions]) == (name, ["active"])


def test_a_product_of_another_scope_cannot_be_subscribed_to(engine: Engine) -> None:
    with write(engine) as conn:
        product_id, plan = world.product(conn, NOW, [world.real_time(world.asset(conn, NOW))])  # live
        cid = customers.create_customer(conn, DEFAULT_TEST, NewCustomer(name="t"), NOW, None).id
    for ref, unknown in ((ProductRef(code=plan), ProductRef(code="no-such-plan")),
                         (ProductRef(id=product_id), ProductRef(id="prod_" + "0" * 26))):
        sub, none = NewSubscription((ref,)), NewSubscription((unknown,))
        foreign = _refusal(engine, customers.create_subscription, DEFAULT_TEST, cid, sub, NOW, None)
        missing = _refusal(engine, customers.create_subscription, DEFAULT_TEST, cid, none, NOW, None)
        assert isinstance(foreign, Invalid) and isinstance(missing, Invalid)
        assert list(foreign.errors) == ["products[0]"]
        assert str(foreign).replace(ref.id or ref.code or "", unknown.id or unknown.code or "") == str(missing)
        nested = NewCustomer(name="n", subscriptions=(sub,))
        refused = _refusal(engine, customers.create_customer, DEFAULT_TEST, nested, NOW, None)
        assert isinstance(refused, Invalid) and list(refused.errors) == ["subscriptions[0].products[0]"]
    with read(engine) as conn:
        assert customers.get_customer(conn, DEFAULT_TEST, cid, NOW).subscriptions == ()
