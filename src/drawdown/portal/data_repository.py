"""The portal's SQL: one customer's events, fees, transactions, grants and spend. Every statement is
filtered by the customer, whom the service has found in its scope first (``customer_exists``): what
hangs off a customer (its events, fees, accounts, grants, transactions) is in its scope.

Each statement is led by the customer's own index, checked with EXPLAIN on both backends: events by
``ix_events_customer_created`` (customer, recorded time; no ``scope_id`` term, which would tempt the
planner into ``ix_events_scope_created``, a walk through the whole scope), fees by their event
(``ix_fees_event_seq``) or subscription (``ix_fees_subscription_id``), transactions by
``uq_transactions_customer_transaction`` (customer first, then sorted), ledger entries by
``ix_ledger_entries_transaction_id``, grants by their accounts (``ix_credit_grants_account_state_expires``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, and_, cast, exists, func, or_, select, union_all

from drawdown.db.tables import (
    assets,
    credit_grants,
    customers,
    events,
    fees,
    ledger_entries,
    products,
    subscriptions,
    transactions,
    wallet_accounts,
)
from drawdown.portal.data_models import UsageFilter

AnyRow = Any
_e, _f, _t, _g, _a = events.c, fees.c, transactions.c, credit_grants.c, wallet_accounts.c


def customer_exists(conn: Connection, scope_id: int, customer_id: str) -> bool:
    c = customers.c
    return conn.execute(select(c.id).where(c.scope_id == scope_id, c.id == customer_id)).first() is not None


# ------------------------------------------------------------------------------------------ usage
def _usage_where(customer_id: str, f: UsageFilter) -> list[ColumnElement[bool]]:
    where = [_e.customer_id == customer_id]
    if f.date_from is not None:
        where.append(_e.created_at >= f.date_from)
    if f.date_to is not None:
        where.append(_e.created_at < f.date_to)
    if f.product_id is not None:
        where.append(exists().where(_f.event_seq == _e.seq, _f.product_id == f.product_id))
    return where


def usage_query(customer_id: str, f: UsageFilter) -> Any:
    """The events, newest recorded first (the statement, for EXPLAIN too)."""
    cols = (_e.seq, _e.id, _e.event_type, _e.occurred_at, _e.created_at, _e.subject, _e.description)
    return select(*cols).where(*_usage_where(customer_id, f)).order_by(_e.created_at.desc(), _e.seq.desc())


def usage_page(
    conn: Connection, customer_id: str, f: UsageFilter, offset: int, limit: int
) -> tuple[list[AnyRow], int]:
    where = _usage_where(customer_id, f)
    total = conn.execute(select(func.count()).select_from(events).where(*where)).scalar_one()
    rows = conn.execute(usage_query(customer_id, f).offset(offset).limit(limit))
    return list(rows), int(total)


def usage_after(
    conn: Connection, customer_id: str, f: UsageFilter, after: tuple[datetime, int] | None, limit: int
) -> list[AnyRow]:
    """The next ``limit`` events after ``after`` (recorded time, seq) in the page order (keyset)."""
    q = usage_query(customer_id, f)
    if after is not None:
        at, seq = after
        # The first term bounds the index range; the second breaks ties of one recorded time by seq.
        q = q.where(_e.created_at <= at, or_(_e.created_at < at, _e.seq < seq))
    return list(conn.execute(q.limit(limit)))


def fees_of(conn: Connection, seqs: Sequence[int]) -> list[AnyRow]:
    """The fees of these events, with their product's name, in a stable order."""
    if not seqs:
        return []
    q = (
        select(_f.event_seq, _f.product_id, _f.product_code, products.c.name.label("product_name"), _f.price_name,
               _f.amount, _f.asset)
        .select_from(fees.outerjoin(products, products.c.id == _f.product_id))
        .where(_f.event_seq.in_(list(seqs)))
        .order_by(_f.event_seq, _f.id)
    )
    return list(conn.execute(q))


# ----------------------------------------------------------------------------------- transactions
def transactions_page(conn: Connection, customer_id: str, offset: int, limit: int) -> tuple[list[AnyRow], int]:
    total = conn.execute(select(func.count()).select_from(transactions).where(_t.customer_id == customer_id))
    q = (
        select(_t.id, _t.transaction_id, _t.type, _t.reason, _t.amount, _t.asset, _t.description, _t.created_at,
               _a.name.label("account_name"))
        .select_from(transactions.join(wallet_accounts, _a.id == _t.account_id))
        .where(_t.customer_id == customer_id)
        .order_by(_t.created_at.desc(), _t.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(q)), int(total.scalar_one())


def grants_touched(conn: Connection, txn_ids: Sequence[str]) -> list[AnyRow]:
    """(transaction, grant, purpose) for every grant these transactions moved, once each."""
    if not txn_ids:
        return []
    le = ledger_entries.c
    q = (
        select(le.transaction_id, le.grant_id, _g.purpose)
        .select_from(ledger_entries.join(credit_grants, _g.id == le.grant_id))
        .where(le.transaction_id.in_(list(txn_ids)))
        .group_by(le.transaction_id, le.grant_id, _g.purpose)
        .order_by(le.transaction_id, func.min(le.id))
    )
    return list(conn.execute(q))


# ---------------------------------------------------------------------------------------- credits
def open_grants(conn: Connection, scope_id: int, customer_id: str, now: datetime) -> list[AnyRow]:
    """The customer's live and pending grants not yet expired at ``now``, soonest expiry first (no
    expiry last), with their account and asset. Its accounts first, then their grants by account."""
    accounts = {
        r.id: r
        for r in conn.execute(
            select(_a.id, _a.name, _a.asset, assets.c.label, assets.c.precision)
            .select_from(wallet_accounts.join(assets, and_(assets.c.scope_id == scope_id, assets.c.code == _a.asset)))
            .where(_a.customer_id == customer_id)
        )
    }
    if not accounts:
        return []
    q = (
        select(_g.id, _g.account_id, _g.purpose, _g.state, _g.remaining, _g.amount, _g.effective_at, _g.expires_at)
        .where(_g.account_id.in_(list(accounts)), _g.state.in_(("live", "pending")))
        .where(or_(_g.expires_at.is_(None), _g.expires_at > now))
        .order_by(_g.expires_at.is_(None), _g.expires_at, _g.effective_at, _g.id)
    )
    return [OpenGrant(g, accounts[g.account_id]) for g in conn.execute(q)]


@dataclass(frozen=True)
class OpenGrant:
    grant: AnyRow
    account: AnyRow


# ------------------------------------------------------------------------------------------ spend
def _day(conn: Connection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return cast(func.date(column), String)


def spend_by_day(conn: Connection, customer_id: str, since: datetime, until: datetime) -> list[AnyRow]:
    """(day 'YYYY-MM-DD' in UTC, asset, exact sum) of the customer's fees recorded in [since, until):
    usage fees through their events, fixed fees through the customer's subscriptions."""
    subs = [r.id for r in conn.execute(select(subscriptions.c.id).where(subscriptions.c.customer_id == customer_id))]
    parts = [
        select(_e.created_at.label("at"), _f.asset, _f.amount)
        .select_from(events.join(fees, _f.event_seq == _e.seq))
        .where(_e.customer_id == customer_id, _e.created_at >= since, _e.created_at < until)
    ]
    if subs:
        parts.append(
            select(_f.created_at.label("at"), _f.asset, _f.amount)
            .where(_f.subscription_id.in_(subs), _f.event_seq.is_(None))
            .where(_f.created_at >= since, _f.created_at < until)
        )
    both = union_all(*parts).subquery()
    day = _day(conn, both.c.at).label("day")
    q = select(day, both.c.asset, func.sum(both.c.amount).label("total")).group_by(day, both.c.asset)
    return list(conn.execute(q.order_by(both.c.asset, day)))


def precisions(conn: Connection, scope_id: int, codes: Sequence[str]) -> dict[str, int]:
    if not codes:
        return {}
    q = select(assets.c.code, assets.c.precision).where(assets.c.scope_id == scope_id, assets.c.code.in_(list(codes)))
    return {r.code: int(r.precision) for r in conn.execute(q)}
