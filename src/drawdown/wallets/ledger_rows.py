"""The ledger's writer: every row a ``Ledger`` has planned, handed to a ``RowBuffer``.

Time moves grants along here: a pending grant whose ``effective_at`` has come is rewritten as live,
and a grant whose ``expires_at`` has come is written off (its remainder moves to ``system:expired``)
and stays listed, with its history, after expiry. Account rows are rewritten only when their totals
change.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Table

from drawdown.core.money import to_scaled
from drawdown.db.rows import (
    ACCOUNT_CHANGES,
    ACCOUNTS,
    ENTRIES,
    EXPIRIES,
    GRANT_CHANGES,
    GRANT_DEPENDENTS,
    GRANTS,
    TRANSACTIONS,
    Bulk,
    RowBuffer,
)
from drawdown.wallets import repository as sql
from drawdown.wallets.accounts import GONE, LIVE, PENDING, ZERO, AccountState, account_key
from drawdown.wallets.autotopup import fell_below
from drawdown.wallets.notices import Notice, available, crossings


class Planned(Protocol):
    """What the writer reads from a ``wallets.ledger.Ledger`` (which writes itself through ``collect``)."""

    now: datetime
    accounts: dict[str, AccountState]
    new_grants: list[dict[str, Any]]
    planned: list[Any]  # PlannedTransaction: .row and .postings
    expired: dict[str, Decimal]
    dependents: list[tuple[Table, dict[str, Any]]]
    notices: list[Notice]
    expires_at: dict[str, datetime]

    def pass_time(self, a: AccountState) -> None: ...

    def book_usage(self) -> None: ...


_inserts: dict[Table, Bulk] = {}  # insert statements of grant dependents, built once per table


def collect(ledger: Planned, buffer: RowBuffer) -> list[AccountState]:
    """Hand every row planned in ``ledger`` to ``buffer`` (for the caller to execute, possibly
    together with other customers' rows), and forget the plan. Answers the accounts this plan took
    below their auto top-up threshold, for the caller to queue (``wallets.autotopup.queue``) once the
    rows are written; what the platform must hear of (balances crossing a line, grants written off)
    joins ``ledger.notices``, for the caller to publish with the rows (``wallets.notices.publish``)."""
    short = []
    ledger.book_usage()
    for state in ledger.accounts.values():
        known = set(ledger.expired)
        ledger.pass_time(state)
        ledger.notices.extend(_expiries(ledger, state, set(ledger.expired) - known))
    new_ids = {g["id"] for g in ledger.new_grants}
    _grants(ledger, buffer)
    for table, row in ledger.dependents:
        if table not in _inserts:
            _inserts[table] = Bulk(table)
        buffer.add(GRANT_DEPENDENTS, _inserts[table], row)
    for state in ledger.accounts.values():
        _grant_changes(ledger, state, new_ids, buffer)
        before, held_before = state.stored, state.held_seen
        _account(ledger, state, buffer)
        if state.auto_threshold is not None and fell_below(before, state.stored, state.auto_threshold):
            short.append(state)
        if state.stored != before or state.held != held_before:
            # What the customer can spend: open holds set value aside without a stored row changing.
            was, now = available(before) - to_scaled(held_before), available(state.stored) - to_scaled(state.held)
            ledger.notices.extend(crossings(state.customer_id, state.name, state.asset, was, now, state.alert_levels))
            state.held_seen = state.held
    for gid, amount in ledger.expired.items():
        if gid not in new_ids:
            buffer.add(EXPIRIES, sql.EXPIRE_GRANT, {"b_id": gid, "b_amount": to_scaled(amount), "b_at": ledger.now})
    for p in ledger.planned:
        buffer.add(TRANSACTIONS, sql.INSERT_TRANSACTION, p.row)
        for posting in p.postings:
            buffer.add(
                ENTRIES,
                sql.INSERT_ENTRY,
                {
                    "transaction_id": p.row["id"],
                    "account": posting.account,
                    "asset": p.row["asset"],
                    "grant_id": posting.grant_id,
                    "amount": to_scaled(posting.amount),
                    "created_at": p.row["created_at"],
                },
            )
    ledger.dependents.clear()
    ledger.new_grants.clear()
    ledger.planned.clear()
    ledger.expired.clear()
    ledger.expires_at.clear()
    return short


def _expiries(ledger: Planned, state: AccountState, gone: set[str]) -> list[Notice]:
    """grant.expired for each grant of ``state`` that time has just written off, with what was lost."""
    key = account_key(state.name, state.asset)
    return [
        Notice(state.customer_id, "grant.expired", {
            "account_id": key, "asset": state.asset, "grant_id": gid, "written_off": ledger.expired[gid],
            "expired_at": ledger.expires_at[gid], "occurred_at": ledger.expires_at[gid]})
        for gid in sorted(gone)
    ]


def _grants(ledger: Planned, buffer: RowBuffer) -> None:
    """New grants, with what is left of them after this unit of work."""
    final = {g.id: g for a in ledger.accounts.values() for g in a.grants}
    for g in ledger.new_grants:
        remaining = final[g["id"]].remaining if g["id"] in final else ZERO
        gone = g["id"] in ledger.expired
        state = GONE if gone else PENDING if g["effective_at"] > ledger.now else LIVE
        buffer.add(
            GRANTS,
            sql.INSERT_GRANT,
            {
                **g,
                "remaining": to_scaled(remaining),
                "state": state,
                "expired_amount": to_scaled(ledger.expired.get(g["id"], ZERO)),
                "expired_at": ledger.now if gone else None,
            },
        )


def _grant_changes(ledger: Planned, state: AccountState, new_ids: set[str], buffer: RowBuffer) -> None:
    """Stored grants drawn from, and pending ones whose time has come (rewritten as live)."""
    now = ledger.now
    by_id = {g.id: g for g in state.grants}
    arrived = {g.id for g in state.grants if g.id in state.stored_pending and g.effective_at <= now}
    for gid in (state.touched | arrived) - new_ids - set(ledger.expired):
        g = by_id[gid]
        buffer.add(
            GRANT_CHANGES,
            sql.UPDATE_GRANT,
            {"b_id": gid, "b_remaining": to_scaled(g.remaining), "b_state": PENDING if g.effective_at > now else LIVE},
        )
    state.stored_pending = {g.id for g in state.grants if g.effective_at > now}
    state.touched.clear()


def _account(ledger: Planned, state: AccountState, buffer: RowBuffer) -> None:
    now = ledger.now
    live = sum((g.remaining for g in state.grants if g.effective_at <= now), ZERO)
    pending = sum((g.remaining for g in state.grants if g.effective_at > now), ZERO)
    totals = (to_scaled(state.debt), to_scaled(state.reserved), to_scaled(live), to_scaled(pending))
    unchanged, state.stored = state.stored == totals, totals
    if state.created:
        buffer.add(
            ACCOUNTS,
            sql.INSERT_ACCOUNT,
            {
                "id": state.account_id,
                "customer_id": state.customer_id,
                "name": state.name,
                "asset": state.asset,
                "overdraft_limit": None if state.overdraft_limit is None else to_scaled(state.overdraft_limit),
                "created_at": now,
                "debt": totals[0],
                "reserved": totals[1],
                "live_total": totals[2],
                "pending_total": totals[3],
            },
        )
        state.created = False
    elif not unchanged:
        buffer.add(
            ACCOUNT_CHANGES,
            sql.UPDATE_ACCOUNT,
            {
                "b_id": state.account_id,
                "b_debt": totals[0],
                "b_reserved": totals[1],
                "b_live": totals[2],
                "b_pending": totals[3],
            },
        )
