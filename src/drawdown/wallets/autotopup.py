"""Auto top-up, the wallet's half: when a write takes an account's ``available`` below its auto top-up
threshold, an auto top-up is recorded **in the same transaction** (an outbox row in ``top_ups``, kind
``auto``, status ``initiated``). The payments worker charges it later, after the commit, outside any
transaction (``payments/auto.py``): no Stripe call is ever made from here, and nothing here imports
the payments room.

At most one auto top-up is in flight per account: the partial unique index
``uq_top_ups_auto_in_flight`` refuses a second ``initiated``/``pending`` row, and the insert is
``ON CONFLICT DO NOTHING``, so any number of debits crossing the threshold, one after another under the
customer lock or in concurrent transactions, record one shortfall once.

The hot path pays nothing for accounts without auto top-up: ``wallet_accounts.auto_threshold`` is read
with the account row, and is NULL unless auto top-up is on and not paused.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

import structlog
from sqlalchemy import Connection, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from drawdown.catalog import rates
from drawdown.core.ids import new_id
from drawdown.core.money import from_scaled, to_scaled
from drawdown.core.scopes import Scope
from drawdown.db.tables import assets, auto_top_ups, customers, top_ups, wallet_accounts
from drawdown.wallets import repository
from drawdown.wallets.accounts import AccountState

log = structlog.get_logger()

# An auto top-up waits for the worker, not for a customer on a page: its "link" never really expires.
# Far enough that no sweep of unpaid pages ever expires one the worker has not reached yet.
AUTO_EXPIRES_AFTER = timedelta(days=30)
IN_FLIGHT = ("initiated", "pending")

Totals = tuple[int, int, int, int]  # debt, reserved, live, pending (nano), as ledger_rows writes them


def _available(t: Totals) -> int:
    debt, reserved, live, _ = t
    return live - debt - reserved


def fell_below(before: Totals, after: Totals, threshold: int) -> bool:
    """This write lowered ``available`` and left it below the threshold (a credit that leaves it below
    does not count: it is not a new shortfall)."""
    now_available = _available(after)
    return now_available < threshold and now_available < _available(before)


def queue(conn: Connection, states: list[AccountState], now: datetime) -> None:
    for state in states:
        queue_account(conn, state.account_id, now)


def queue_account(conn: Connection, account_id: str, now: datetime) -> str | None:
    """Record the account's next auto top-up, if its setting allows one now; the top-up's id, or None
    (off, paused, over the monthly limit, no price for the asset, or one already in flight)."""
    setting = _setting(conn, account_id)
    if setting is None or not setting.enabled or setting.paused_at is not None:
        return None
    if setting.monthly_limit is not None and _this_month(conn, setting, now) + setting.amount > setting.monthly_limit:
        log.info("auto_top_up_monthly_limit", account_id=account_id)
        return None
    price = _price(conn, setting, now)
    if price is None:
        log.warning("auto_top_up_unpriced", account_id=account_id, asset=setting.asset)
        return None
    currency, money, rate = price
    top_up_id = new_id("top")
    values = {
        "id": top_up_id, "scope_id": setting.scope_id, "customer_id": setting.customer_id, "kind": "auto",
        "status": "initiated", "amount": money, "currency": currency, "asset": setting.asset,
        "account_name": setting.name, "exchange_rate": rate, "description": "Auto top-up",
        "payment_method": setting.payment_method, "page_token": secrets.token_urlsafe(32),
        "expires_at": now + AUTO_EXPIRES_AFTER, "created_at": now, "updated_at": now,
    }
    done = conn.execute(_insert_once(conn, values))
    if done.rowcount != 1:
        return None  # one is in flight already: this shortfall is its
    log.info("auto_top_up_queued", top_up_id=top_up_id, account_id=account_id)
    return top_up_id


def _insert_once(conn: Connection, values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: the partial unique index decides, not a read before the write."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(top_ups).values(**values).on_conflict_do_nothing()


def _setting(conn: Connection, account_id: str) -> Any:
    a, w = auto_top_ups.c, wallet_accounts.c
    return conn.execute(
        select(auto_top_ups, w.name, w.asset, customers.c.scope_id)
        .select_from(auto_top_ups.join(wallet_accounts, w.id == a.account_id).join(customers,
                                                                                  customers.c.id == a.customer_id))
        .where(a.account_id == account_id)
    ).first()


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _this_month(conn: Connection, setting: Any, now: datetime) -> int:
    """Units (nano) of auto top-ups this calendar month: what succeeded, plus what is in flight
    (counted at the setting's amount, as it will be credited)."""
    t = top_ups.c
    units = case((t.status == "succeeded", func.coalesce(t.credited, 0)), else_=setting.amount)
    used = conn.execute(
        select(func.coalesce(func.sum(units), 0)).where(
            t.customer_id == setting.customer_id, t.account_name == setting.name, t.asset == setting.asset,
            t.kind == "auto", t.status.in_(("succeeded", *IN_FLIGHT)), t.created_at >= month_start(now),
        )
    ).scalar_one()
    return int(used)


def _price(conn: Connection, setting: Any, now: datetime) -> tuple[str, int, int | None] | None:
    """(currency, money in nano, exchange rate in nano or None) for ``amount`` units of the account's
    asset: a fiat asset is its own currency; a custom asset costs its rate in force from its first rate
    source, rounded up to the currency's minor unit (never credit less than the setting's amount)."""
    facts = conn.execute(
        select(assets.c.precision, assets.c.is_fiat).where(assets.c.scope_id == setting.scope_id,
                                                          assets.c.code == setting.asset)
    ).first()
    if facts is None:
        return None
    if facts.is_fiat:
        return setting.asset, int(setting.amount), None
    source = repository.first_rate_source(conn, setting.scope_id, setting.asset)
    found = rates.rate_in_force(conn, Scope(setting.scope_id, "", ""), setting.asset, source, now) if source else None
    if source is None or found is None:
        return None
    precision = conn.execute(
        select(assets.c.precision).where(assets.c.scope_id == setting.scope_id, assets.c.code == source)
    ).scalar_one()
    money = (from_scaled(int(setting.amount)) * found.rate).quantize(Decimal(1).scaleb(-precision), ROUND_CEILING)
    return source, to_scaled(money), to_scaled(found.rate)
