"""The wallet room's SQL: accounts, grants, transactions and ledger entries.

Statements used by the event hot path are built once, here, at import.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, any_, bindparam, case, func, insert, select, update

from drawdown.core.errors import NotFound
from drawdown.core.ids import new_id
from drawdown.core.money import from_scaled, to_scaled
from drawdown.db.driver import DriverSelect, Read
from drawdown.db.rows import Bulk, Prepared
from drawdown.db.tables import (
    asset_rates,
    assets,
    credit_grants,
    customers,
    entitlement_grants,
    events,
    fees,
    holds,
    ledger_entries,
    product_versions,
    subscription_products,
    subscriptions,
    transactions,
    wallet_accounts,
)
from drawdown.db.types import AnyRow
from drawdown.wallets.accounts import GONE, LIVE, PENDING
from drawdown.wallets.models import GrantFilter

_g = credit_grants.c
_a = wallet_accounts.c

# Grants that can still change: pending ones, live ones with value left, and used-up ones whose
# expiry has come (to be marked expired).
_CHANGEABLE = (_g.state == PENDING) | ((_g.state == LIVE) & ((_g.remaining > 0) | (_g.expires_at <= bindparam("now"))))
_CHANGEABLE_GRANTS = select(credit_grants).where(_g.account_id.in_(bindparam("accounts", expanding=True)), _CHANGEABLE)
# What an open hold sets aside counts while it is active and not yet past its expiry (an expired hold
# stops holding at its expiry, whether or not the job has closed it yet).
_OPEN_HOLD = (holds.c.status == "active") & (holds.c.expires_at > bindparam("now"))

INSERT_ACCOUNT = Bulk(wallet_accounts)
INSERT_GRANT = Bulk(credit_grants)
INSERT_TRANSACTION = Bulk(transactions)
INSERT_ENTRY = Bulk(ledger_entries)
UPDATE_GRANT = Prepared(
    update(credit_grants)
    .where(_g.id == bindparam("b_id"))
    .values(remaining=bindparam("b_remaining"), state=bindparam("b_state"))
)
EXPIRE_GRANT = Prepared(
    update(credit_grants)
    .where(_g.id == bindparam("b_id"))
    .values(remaining=0, state=GONE, expired_amount=bindparam("b_amount"), expired_at=bindparam("b_at"))
)
UPDATE_ACCOUNT = Prepared(
    update(wallet_accounts)
    .where(_a.id == bindparam("b_id"))
    .values(
        debt=bindparam("b_debt"),
        reserved=bindparam("b_reserved"),
        live_total=bindparam("b_live"),
        pending_total=bindparam("b_pending"),
    )
)


# ------------------------------------------------------------------------------------ customers
def lock_customer(conn: Connection, customer_id: str) -> None:
    """Serialise wallet writes per customer (PostgreSQL row lock; SQLite holds the write lock already).
    For work done per customer whatever its scope (the billing job); a request locks through
    ``lock_customer_in``, so a customer of another scope is not found."""
    _lock(conn, customers.c.id == customer_id, customer_id)


def lock_customer_in(conn: Connection, scope_id: int, customer_id: str) -> None:
    """``lock_customer`` for the customer of this scope (another scope's answers like an unknown one)."""
    _lock(conn, (customers.c.scope_id == scope_id) & (customers.c.id == customer_id), customer_id)


def _lock(conn: Connection, where: ColumnElement[bool], customer_id: str) -> None:
    if conn.execute(select(customers.c.id).where(where).with_for_update()).first() is None:
        raise NotFound(f"customer {customer_id} not found")


def customer_exists(conn: Connection, scope_id: int, customer_id: str) -> bool:
    c = customers.c
    return conn.execute(select(c.id).where(c.scope_id == scope_id, c.id == customer_id)).first() is not None


# ------------------------------------------------------------------------------------- accounts
def asset_exists(conn: Connection, scope_id: int, code: str) -> bool:
    q = select(assets.c.code).where(assets.c.scope_id == scope_id, assets.c.code == code)
    return conn.execute(q).first() is not None


def asset_is_fiat(conn: Connection, scope_id: int, code: str) -> bool:
    row = conn.execute(select(assets.c.is_fiat).where(assets.c.scope_id == scope_id, assets.c.code == code)).first()
    return bool(row is not None and row.is_fiat)


def first_rate_source(conn: Connection, scope_id: int, asset: str) -> str | None:
    r = asset_rates.c
    return conn.execute(
        select(r.source).where(r.scope_id == scope_id, r.asset_code == asset).order_by(r.id).limit(1)
    ).scalar()


def ensure_account(
    conn: Connection, customer_id: str, name: str, asset: str, now: datetime, overdraft_limit: Decimal | None
) -> str:
    """The account's id, creating it if needed (idempotent; the caller holds the customer lock)."""
    row = conn.execute(select(_a.id).where(_a.customer_id == customer_id, _a.name == name, _a.asset == asset)).first()
    if row:
        return str(row.id)
    account_id = new_id("wac")
    conn.execute(
        insert(wallet_accounts).values(
            id=account_id,
            customer_id=customer_id,
            name=name,
            asset=asset,
            debt=0,
            created_at=now,
            overdraft_limit=None if overdraft_limit is None else to_scaled(overdraft_limit),
        )
    )
    return account_id


def account(conn: Connection, account_id: str) -> AnyRow:
    return conn.execute(select(wallet_accounts).where(_a.id == account_id)).one()


# Every account of some customers, each with its changeable grants and what its open holds set aside,
# in one statement: one row per (account, grant), an account without any on one row of NULL grant
# columns. Three statements before (accounts, grants, holds): on PostgreSQL, three round trips of the
# sixteen a group of single events made.
_HELD_BY = (
    select(func.coalesce(func.sum(holds.c.amount - holds.c.settled), 0))
    .where(holds.c.account_id == _a.id, _OPEN_HOLD)
    .scalar_subquery()
)
_WALLETS_OF = select(wallet_accounts, credit_grants, _HELD_BY.label("held")).select_from(
    wallet_accounts.outerjoin(credit_grants, (_g.account_id == _a.id) & _CHANGEABLE)
)
_WALLETS = DriverSelect(
    _WALLETS_OF.where(_a.customer_id.in_(bindparam("customers", expanding=True))),
    _WALLETS_OF.where(_a.customer_id == any_(bindparam("customers"))),
)
_AccountRow = namedtuple("_AccountRow", [c.key for c in wallet_accounts.c])  # type: ignore[misc]
_GrantRow = namedtuple("_GrantRow", [c.key for c in credit_grants.c])  # type: ignore[misc]
_SPLIT = len(wallet_accounts.c)


def wallets_read(customer_ids: Sequence[str], now: datetime) -> Read:
    """(account, its changeable grants, nano-units its open holds set aside) for every account of the
    customers, read in one statement, sent with the group's other reads (``db.driver.fetch_together``);
    ``wallets_from`` its answer, whose rows have the attributes of their tables' rows."""
    return _WALLETS, {"customers": list(customer_ids), "now": now}


def wallets_from(rows: list[tuple[Any, ...]]) -> list[tuple[Any, list[Any], int]]:
    out: dict[str, tuple[Any, list[Any], int]] = {}
    end = _SPLIT + len(credit_grants.c)
    for values in rows:
        account_id = values[0]
        found = out.get(account_id)
        if found is None:
            found = out[account_id] = (_AccountRow(*values[:_SPLIT]), [], int(values[end]))
        if values[_SPLIT] is not None:  # the grant's id: NULL when the account has no changeable grant
            found[1].append(_GrantRow(*values[_SPLIT:end]))
    return list(out.values())


def account_by_key(conn: Connection, customer_id: str, name: str, asset: str) -> AnyRow | None:
    return conn.execute(
        select(wallet_accounts).where(_a.customer_id == customer_id, _a.name == name, _a.asset == asset)
    ).first()


def customer_accounts(conn: Connection, customer_id: str) -> list[AnyRow]:
    return list(conn.execute(select(wallet_accounts).where(_a.customer_id == customer_id).order_by(_a.name, _a.asset)))


def set_overdraft_limit(conn: Connection, account_id: str, limit: Decimal | None) -> None:
    conn.execute(
        update(wallet_accounts)
        .where(_a.id == account_id)
        .values(overdraft_limit=None if limit is None else to_scaled(limit))
    )


def balances(conn: Connection, account_id: str, now: datetime) -> dict[str, Decimal]:
    """available / pending_in / pending_out from the maintained totals, corrected only by the grants
    whose effective or expiry time has passed since the account was last written (an indexed look
    at due grants, never a scan of history)."""
    row = account(conn, account_id)
    expired_since = conn.execute(
        select(func.coalesce(func.sum(_g.remaining), 0)).where(
            _g.account_id == account_id, _g.state == LIVE, _g.expires_at <= now
        )
    ).scalar_one()
    still_live = case(((_g.expires_at.is_(None)) | (_g.expires_at > now), _g.remaining), else_=0)
    due = conn.execute(
        select(
            func.coalesce(func.sum(_g.remaining), 0).label("all"),
            func.coalesce(func.sum(still_live), 0).label("live"),
        ).where(_g.account_id == account_id, _g.state == PENDING, _g.effective_at <= now)
    ).one()
    live = int(row.live_total) - int(expired_since) + int(due.live)
    held = held_totals(conn, [account_id], now).get(account_id, 0)
    return {
        "available": from_scaled(live - int(row.debt) - int(row.reserved) - held),
        "pending_in": from_scaled(int(row.pending_total) - int(due.all)),
        "pending_out": from_scaled(int(row.reserved)),
        "held": from_scaled(held),
    }


_h = holds.c
# What the open holds of some accounts set aside.
_HELD = (
    select(_h.account_id, func.sum(_h.amount - _h.settled).label("held"))
    .where(_h.account_id.in_(bindparam("accounts", expanding=True)), _OPEN_HOLD)
    .group_by(_h.account_id)
)


def held_totals(conn: Connection, account_ids: Sequence[str], now: datetime) -> dict[str, int]:
    """account id -> nano-units its open holds set aside (accounts without any are left out)."""
    if not account_ids:
        return {}
    return {r.account_id: int(r.held) for r in conn.execute(_HELD, {"accounts": list(account_ids), "now": now})}


def accounts_due(conn: Connection, now: datetime, customer_id: str | None = None) -> set[tuple[str, str]]:
    """(customer, account) pairs with a grant whose effective or expiry time has passed unrecorded."""
    due = ((_g.state == LIVE) & (_g.expires_at <= now)) | ((_g.state == PENDING) & (_g.effective_at <= now))
    q = select(_a.customer_id, _g.account_id).select_from(credit_grants.join(wallet_accounts)).where(due).distinct()
    if customer_id is not None:
        q = q.where(_a.customer_id == customer_id)
    return {(r.customer_id, r.account_id) for r in conn.execute(q)}


# --------------------------------------------------------------------------------------- grants
def changeable_grants(conn: Connection, account_ids: Sequence[str], now: datetime) -> list[AnyRow]:
    return list(conn.execute(_CHANGEABLE_GRANTS, {"accounts": list(account_ids), "now": now}))


def grants_page(
    conn: Connection, account_id: str, f: GrantFilter, now: datetime, offset: int, limit: int
) -> tuple[list[AnyRow], int]:
    where = [_g.account_id == account_id]
    if f.purpose:
        where.append(_g.purpose == f.purpose)
    if f.exclude_expired:
        where.append(_g.expires_at.is_(None) | (_g.expires_at > now))
    if f.effective_from is not None:
        where.append(_g.effective_at >= f.effective_from)
    if f.effective_to is not None:
        where.append(_g.effective_at <= f.effective_to)
    if f.expired_from is not None:
        where.append(_g.expires_at >= f.expired_from)
    if f.expired_to is not None:
        where.append(_g.expires_at <= f.expired_to)
    total = conn.execute(select(func.count()).select_from(credit_grants).where(*where)).scalar_one()
    rows = conn.execute(select(credit_grants).where(*where).order_by(_g.created_at, _g.id).offset(offset).limit(limit))
    return list(rows), int(total)


def grant(conn: Connection, account_id: str, grant_id: str) -> AnyRow | None:
    return conn.execute(select(credit_grants).where(_g.id == grant_id, _g.account_id == account_id)).first()


def grant_history(conn: Connection, grant_id: str) -> list[AnyRow]:
    le, t = ledger_entries.c, transactions.c
    return list(
        conn.execute(
            select(le.amount, le.created_at, t.transaction_id, t.type)
            .select_from(ledger_entries.join(transactions, t.id == le.transaction_id))
            .where(le.grant_id == grant_id)
            .order_by(le.id)
        )
    )


# ---------------------------------------------------------------------------------- transactions
def transaction(conn: Connection, customer_id: str, transaction_id: str) -> AnyRow | None:
    """A customer's transaction by its (caller-chosen) transaction_id, with its account's name."""
    t = transactions.c
    return conn.execute(
        select(transactions, _a.name)
        .select_from(transactions.join(wallet_accounts))
        .where(t.customer_id == customer_id, t.transaction_id == transaction_id)
    ).first()


def real_time_fee(conn: Connection, customer_id: str, fee_id: str) -> AnyRow | None:
    """A customer's real-time fee by id, with its account's name: since migration 0018 it is booked in
    its account's ``usage`` transaction of the commit (``fees.charge_id``), not in one of its own."""
    f = fees.c
    return conn.execute(
        select(f.id, f.asset, f.amount, f.price_name, f.charge_id, f.created_at, _a.name)
        .select_from(fees.join(wallet_accounts, _a.id == f.account_id))
        .where(f.id == fee_id, f.customer_id == customer_id, f.billing == "real_time")
    ).first()


def fees_taken(conn: Connection, customer_id: str, charge_id: str) -> list[AnyRow]:
    """(fee id, event id, amount) of the fees a transaction took, in event order
    (``ix_fees_charge_id``)."""
    f = fees.c
    return list(
        conn.execute(
            select(f.id, events.c.id.label("event_id"), f.amount)
            .select_from(fees.join(events, events.c.seq == f.event_seq))
            .where(f.customer_id == customer_id, f.charge_id == charge_id)
            .order_by(f.event_seq, f.id)
        )
    )


def transaction_by_key(conn: Connection, customer_id: str, transaction_id: str) -> AnyRow | None:
    t = transactions.c
    return conn.execute(
        select(transactions).where(t.customer_id == customer_id, t.transaction_id == transaction_id)
    ).first()


# ---------------------------------------------------------------------------------- entitlements
# Each row carries its customer's scope: rates behind ``cost_basis: auto`` are looked up in it.
_ENTITLED = (
    select(
        subscriptions.c.customer_id,
        customers.c.scope_id,
        subscriptions.c.id.label("sub_id"),
        subscriptions.c.started_at,
        subscription_products.c.product_id,
        subscription_products.c.since,
        product_versions.c.id.label("version_id"),  # its documents: ``catalog.documents``
    )
    .select_from(
        subscriptions.join(customers, customers.c.id == subscriptions.c.customer_id)
        .join(subscription_products)
        .join(product_versions)
    )
    .where(subscriptions.c.customer_id.in_(bindparam("customers", expanding=True)), subscriptions.c.status == "active")
)


def entitled_subscriptions(conn: Connection, customer_ids: list[str]) -> dict[str, list[AnyRow]]:
    """Each customer's active subscription products, with their versions' ids."""
    out: dict[str, list[AnyRow]] = {c: [] for c in customer_ids}
    for k in range(0, len(customer_ids), 2000):
        for r in conn.execute(_ENTITLED, {"customers": customer_ids[k : k + 2000]}):
            out[r.customer_id].append(r)
    return out


def entitlement_grants_issued(
    conn: Connection, subscription_id: str, product_id: str
) -> dict[tuple[str, datetime], str]:
    """(entitlement name, period start) -> grant id, for what has been granted already."""
    e = entitlement_grants.c
    rows = conn.execute(
        select(entitlement_grants).where(e.subscription_id == subscription_id, e.product_id == product_id)
    )
    return {(g.name, g.period_start): g.grant_id for g in rows}
