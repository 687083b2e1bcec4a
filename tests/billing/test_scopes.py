"""The billing job runs for every scope at once, and bills each subscription with its own scope's data
(both backends): two scopes of the default account hold a product with the same code, granting the
same custom asset code, at different fees and different rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from drawdown.billing.job import run_due
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.core.money import from_scaled
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST, Scope
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import read, write
from drawdown.db.tables import credit_grants, wallet_accounts
from tests.customers import world

D = Decimal
LIMIT = D(0)
T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
RENEWAL = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
# Per scope: the monthly fee in USD and what one unit of the shared custom asset is worth in USD.
TERMS = {DEFAULT_LIVE: (D(20), D("0.01")), DEFAULT_TEST: (D(30), D("0.05"))}


def _subscribe(engine: Engine, scope: Scope, asset: str, plan: str) -> str:
    """A customer of ``scope`` funded with 100 USD, subscribed at T0 to the scope's product ``plan``."""
    fee, rate = TERMS[scope]
    with write(engine) as conn:
        catalog.create_asset(conn, scope, NewAsset(code=asset, name=asset, rates=(StartingRate("USD", rate),)), T0)
        product = NewProduct(
            code=plan, name=plan, prices=[world.monthly_fee("USD", fee)],
            entitlements=[world.daily_grant(asset, D(10))], publish=True,
        )
        catalog.create_product(conn, scope, product, T0)
        cid = customers.create_customer(conn, scope, NewCustomer(name=world.code("c")), T0, LIMIT).id
        world.fund(conn, cid, "USD", D(100), T0, scope=scope)
        customers.create_subscription(conn, scope, cid, NewSubscription((ProductRef(code=plan),)), T0, LIMIT, "")
    return cid


def _grant_cost_bases(engine: Engine, cid: str, asset: str) -> set[Decimal]:
    g, a = credit_grants.c, wallet_accounts.c
    with read(engine) as conn:
        rows = conn.execute(
            select(g.cost_basis).select_from(credit_grants.join(wallet_accounts, a.id == g.account_id))
            .where(a.customer_id == cid, a.asset == asset, g.source_type == "entitlement")
        ).scalars()
        return {from_scaled(x) for x in rows}


def _entitlement_grants(engine: Engine, cid: str, asset: str) -> int:
    g, a = credit_grants.c, wallet_accounts.c
    with read(engine) as conn:
        q = select(g.id).select_from(credit_grants.join(wallet_accounts, a.id == g.account_id))
        return len(conn.execute(q.where(a.customer_id == cid, a.asset == asset, g.source_type == "entitlement")).all())


def test_the_job_and_entitlement_refresh_use_each_subscriptions_own_scope(engine: Engine) -> None:
    asset, plan = world.code("A"), world.code("P")  # the same codes in both scopes
    cids = {scope: _subscribe(engine, scope, asset, plan) for scope in TERMS}
    for scope, cid in cids.items():  # the first month's fee, taken at subscription
        with read(engine) as conn:
            assert world.available(conn, cid, "USD", T0, scope=scope) == 100 - TERMS[scope][0]
    later = T0 + timedelta(days=2, hours=1)  # two daily entitlement periods more, for each scope
    report = run_due(engine, later, LIMIT, "", set(cids.values()))  # one run, both scopes
    assert report.visited == 2 and report.entitlements_granted >= 4
    report = run_due(engine, RENEWAL, LIMIT, "", set(cids.values()))
    assert report.fixed_charged == 2  # each scope's renewal, once
    for scope, cid in cids.items():
        fee, rate = TERMS[scope]
        with read(engine) as conn:
            assert world.available(conn, cid, "USD", RENEWAL, scope=scope) == 100 - 2 * fee
        assert _grant_cost_bases(engine, cid, asset) == {rate}  # valued at its own scope's rate
        assert _entitlement_grants(engine, cid, asset) == (RENEWAL - T0).days + 1
