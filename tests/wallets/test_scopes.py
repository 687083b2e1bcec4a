"""Wallets follow their customer's scope: from another scope a customer's wallet, accounts, grants and
transactions answer like an unknown customer's; assets and rates are the scope's own; a transaction_id
is per customer, so the same one in two scopes makes two transactions (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine

from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, StartingRate
from drawdown.core.errors import DomainError, Invalid, NotFound
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST, Scope
from drawdown.db.engine import read, write
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment, Charge, GrantFilter
from tests.worlds import make_asset, make_customer, make_product, new_code, transaction_count, usage_price

D = Decimal
NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
LIMIT = D(0)
UNKNOWN = "cus_" + "0" * 26


def _same_code_in_both(conn: Connection, live_rate: str, test_rate: str) -> str:
    """One custom asset code, created in each default scope with its own USD rate."""
    code = new_code()
    for scope, rate in ((DEFAULT_LIVE, live_rate), (DEFAULT_TEST, test_rate)):
        catalog.create_asset(conn, scope, NewAsset(code=code, name=code, rates=(StartingRate("USD", D(rate)),)), NOW)
    return code


def test_a_wallet_of_another_scope_answers_like_an_unknown_customer(engine: Engine) -> None:
    with write(engine) as conn:
        asset = make_asset(conn, NOW)
        cid = make_customer(conn, NOW)
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("gift", asset, D(10), "gift"), NOW, LIMIT)
        (grant,), _ = wallets.grants(conn, DEFAULT_LIVE, cid, f"default:{asset}", GrantFilter(), 0, 10, NOW)
    key = f"default:{asset}"
    reads: list[Callable[..., object]] = [
        lambda c, s, x: wallets.wallet(c, s, x, NOW),
        lambda c, s, x: wallets.balance(c, s, x, key, NOW),
        lambda c, s, x: wallets.grants(c, s, x, key, GrantFilter(), 0, 10, NOW),
        lambda c, s, x: wallets.grant_history(c, s, x, key, grant.id, NOW),
        lambda c, s, x: wallets.transaction(c, s, x, "gift"),
    ]
    writes: list[Callable[..., object]] = [
        lambda c, s, x: wallets.adjust(c, s, x, Adjustment("gift", asset, D(10), "gift"), NOW, LIMIT),
        lambda c, s, x: wallets.adjust(c, s, x, Adjustment("more", asset, D(5), "gift"), NOW, LIMIT),
        lambda c, s, x: wallets.charge(c, s, x, Charge("fee", asset, D(1)), NOW, LIMIT),
        lambda c, s, x: wallets.set_overdraft_limit(c, s, x, key, D(100)),
    ]
    for call in reads + writes:
        errors = []
        for customer_id in (cid, UNKNOWN):
            with pytest.raises(DomainError) as refused, write(engine) as conn:
                call(conn, DEFAULT_TEST, customer_id)
            errors.append(refused.value)
        foreign, missing = errors
        assert isinstance(foreign, NotFound)
        assert (type(foreign), str(foreign).replace(cid, UNKNOWN)) == (type(missing), str(missing))
    with read(engine) as conn:  # the live wallet is as it was
        (balance,) = wallets.wallet(conn, DEFAULT_LIVE, cid, NOW)
        assert (balance.available, balance.overdraft_limit) == (D(10), LIMIT)
        assert transaction_count(conn, cid) == 1


def test_the_same_transaction_id_in_two_scopes_makes_two_transactions(engine: Engine) -> None:
    with write(engine) as conn:
        asset = _same_code_in_both(conn, "0.01", "0.01")
        live, test = make_customer(conn, NOW), make_customer(conn, NOW, scope=DEFAULT_TEST)
        first = wallets.adjust(conn, DEFAULT_LIVE, live, Adjustment("topup-1", asset, D(10), "gift"), NOW, LIMIT)
        # A different request under the same id: in its own scope it is new, not a 409.
        second = wallets.adjust(conn, DEFAULT_TEST, test, Adjustment("topup-1", asset, D(3), "other"), NOW, LIMIT)
    assert first.transaction_id == second.transaction_id == "topup-1"
    with read(engine) as conn:
        assert wallets.transaction(conn, DEFAULT_LIVE, live, "topup-1").amount == D(10)
        assert wallets.transaction(conn, DEFAULT_TEST, test, "topup-1").amount == D(3)
        assert (transaction_count(conn, live), transaction_count(conn, test)) == (1, 1)
        assert wallets.balance(conn, DEFAULT_TEST, test, f"default:{asset}", NOW).available == D(3)


@pytest.mark.parametrize("verb", ["adjust", "charge"])
def test_an_asset_must_be_the_scope_s_own(engine: Engine, verb: str) -> None:
    with write(engine) as conn:
        live_asset = make_asset(conn, NOW)
        cid = make_customer(conn, NOW, scope=DEFAULT_TEST, limit=None)

    def post(scope: Scope, asset: str) -> None:
        with write(engine) as conn:
            if verb == "adjust":
                wallets.adjust(conn, scope, cid, Adjustment("t", asset, D(1), "gift"), NOW, None)
            else:
                wallets.charge(conn, scope, cid, Charge("t", asset, D(1)), NOW, None)

    with pytest.raises(Invalid) as foreign:
        post(DEFAULT_TEST, live_asset)
    with pytest.raises(Invalid) as unknown:
        post(DEFAULT_TEST, "NOSUCHASSET")
    assert foreign.value.errors == {"asset": [f"unknown asset {live_asset!r}"]}
    assert unknown.value.errors == {"asset": ["unknown asset 'NOSUCHASSET'"]}
    post(DEFAULT_TEST, "USD")  # the fiat currencies are every scope's
    with read(engine) as conn:
        assert [b.asset for b in wallets.wallet(conn, DEFAULT_TEST, cid, NOW)] == ["USD"]


def test_rates_come_from_the_customer_s_scope(engine: Engine) -> None:
    """A top-up paid in USD and an entitlement's cost basis are valued at the rate of the customer's
    scope, though another scope has an asset of the same code at another rate."""
    with write(engine) as conn:
        asset = _same_code_in_both(conn, "0.50", "0.25")
        entitlement = {
            "name": "monthly",
            "asset": asset,
            "amount": "10",
            "purpose": "bundled",
            "lifecycle": {"duration": "month"},
        }
        plan = make_product(conn, NOW, [usage_price(asset, [{"volume_rate": "1"}])], [entitlement], scope=DEFAULT_TEST)
        cid = make_customer(conn, NOW, plan, scope=DEFAULT_TEST)
        paid = Adjustment("paid", asset, D(1), "external_topup", currency="USD")
        wallets.adjust(conn, DEFAULT_TEST, cid, paid, NOW, LIMIT)
        views, _ = wallets.grants(conn, DEFAULT_TEST, cid, f"default:{asset}", GrantFilter(), 0, 10, NOW)
    by_source = {g.source_type: g for g in views}
    assert (by_source["adjustment"].amount, by_source["adjustment"].revenue_basis) == (D(4), D("0.25"))
    assert (by_source["entitlement"].amount, by_source["entitlement"].cost_basis) == (D(10), D("0.25"))
