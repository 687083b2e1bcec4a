"""Paying a subscription that is ``action_required``: its fixed fees did not fit in the wallet.

The portal page shows what is due and what the wallet lacks, then pays that shortfall as a top-up of
kind ``subscription`` through the ordinary payment page. Once the top-up has credited the wallet, the
billing cycle's fixed-fee collection runs again for the subscription (in its own transaction, under
the customer's lock) and, the fees now fitting, makes it active. If that step is ever missed, the
billing job retries the collection on its next run: a blocked subscription stays due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import Connection, Engine

from drawdown.accounts import service as accounts
from drawdown.billing import cycle
from drawdown.billing import repository as billing_repo
from drawdown.billing.models import ACTION_REQUIRED
from drawdown.catalog import service as catalog
from drawdown.core import grants as grant_rules
from drawdown.core.errors import NotFound
from drawdown.core.scopes import Scope
from drawdown.customers import repository as customers_repo
from drawdown.db.engine import read, write
from drawdown.payments import topups
from drawdown.payments.models import SUBSCRIPTION, NewTopUp, TopUp
from drawdown.settings import Settings
from drawdown.wallets.accounts import DEFAULT_ACCOUNT
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.repository import account_by_key, lock_customer


@dataclass(frozen=True)
class Fee:
    name: str
    asset: str
    amount: Decimal


@dataclass(frozen=True)
class Due:
    """What a subscription waits for, and what to pay so that it can be collected."""

    subscription_id: str
    customer_id: str
    customer_name: str
    scope: Scope
    status: str
    fees: tuple[Fee, ...]
    asset: str | None  # the asset to pay into (the first one short), None when nothing is short
    shortfall: Decimal  # in ``asset``, rounded up to its smallest unit
    payable: bool  # the asset is a currency (a card pays money, not credits)
    return_url: str | None
    failure_url: str | None

    @property
    def blocked(self) -> bool:
        return self.status == ACTION_REQUIRED


def due(engine: Engine, subscription_id: str, now: datetime) -> Due:
    """What the subscription's payment page shows (NotFound for an unknown subscription)."""
    with read(engine) as conn:
        sub = customers_repo.subscription_for_page(conn, subscription_id)
        if sub is None:
            raise NotFound(f"subscription {subscription_id} not found")
        scope = accounts.scope_by_id(conn, sub.scope_id)
        assert scope is not None  # a customer's scope is never deleted
        blocked = sub.status == ACTION_REQUIRED
        fees = tuple(Fee(*f) for f in cycle.fixed_due(conn, subscription_id, now)) if blocked else ()
        asset, short = _first_short(conn, scope, sub.customer_id, fees, now)
        facts = catalog.asset_facts(conn, scope, asset) if asset else None
    return Due(
        subscription_id, sub.customer_id, sub.customer_name, scope, sub.status, fees, asset, short,
        bool(facts and facts[1]), sub.return_url, sub.failure_url,
    )


def _first_short(
    conn: Connection, scope: Scope, customer_id: str, fees: tuple[Fee, ...], now: datetime
) -> tuple[str | None, Decimal]:
    """The first asset whose fees do not fit in its account (as collection charges them, in order),
    and by how much, rounded up to the asset's precision so the payment covers it."""
    ledger = Ledger(conn, customer_id, now)
    for asset in dict.fromkeys(f.asset for f in fees):
        needed = sum((f.amount for f in fees if f.asset == asset), Decimal(0))
        row = account_by_key(conn, customer_id, DEFAULT_ACCOUNT, asset)
        room = Decimal(0)
        if row is not None:
            state = ledger.account(row.id)
            if state.overdraft_limit is None:
                continue  # no limit: anything fits
            room = grant_rules.available(state.grants, state.debt, now) - state.set_aside + state.overdraft_limit
        if needed > room:
            facts = catalog.asset_facts(conn, scope, asset)
            step = Decimal(1).scaleb(-(facts[0] if facts else 0))
            return asset, ((needed - room) / step).to_integral_value(ROUND_CEILING) * step
    return None, Decimal(0)


def start_payment(engine: Engine, found: Due, now: datetime, settings: Settings) -> TopUp:
    """A top-up paying the shortfall; its page is the ordinary payment page."""
    assert found.asset is not None and found.payable
    cmd = NewTopUp(
        customer_id=found.customer_id, amount=found.shortfall, currency=found.asset, asset=found.asset,
        return_url=found.return_url, failure_url=found.failure_url, kind=SUBSCRIPTION,
        subscription_id=found.subscription_id, description=f"Payment for subscription {found.subscription_id}",
    )
    with write(engine) as conn:
        return topups.initiate(conn, found.scope, cmd, now, settings.top_up_link_minutes)


def reactivate(engine: Engine, subscription_id: str, now: datetime, settings: Settings) -> bool:
    """Collect the subscription's fixed fees again (the wallet has been filled); True when it is active."""
    with write(engine) as conn:
        sub = billing_repo.subscription(conn, subscription_id)
        lock_customer(conn, sub.customer_id)
        return _collect(conn, subscription_id, now, settings.overdraft_limit(), settings.public_url)


def follow(conn: Connection, top_up: TopUp, now: datetime, default_limit: Decimal | None, public_url: str) -> None:
    """After a subscription's top-up succeeded by webhook or reconciliation, in the same transaction
    (the customer is locked by the settlement): collect the fees it paid for, reactivating the
    subscription at once rather than at the billing job's next run."""
    if top_up.kind == SUBSCRIPTION and top_up.subscription_id and top_up.status == "succeeded":
        _collect(conn, top_up.subscription_id, now, default_limit, public_url)


def _collect(conn: Connection, subscription_id: str, now: datetime, limit: Decimal | None, public_url: str) -> bool:
    if billing_repo.subscription(conn, subscription_id).status != ACTION_REQUIRED:
        return True
    return not cycle.collect_fixed(conn, subscription_id, now, limit, public_url).blocked
