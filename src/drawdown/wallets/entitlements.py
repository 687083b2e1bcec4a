"""Entitlements: allowances a product version grants its subscribers, refreshed on schedule.

Periods are anchored at the subscription's start (or, after a version move, continue from the first
period beginning at or after the move) and last ``duration_count`` × ``duration``:

* ``refresh`` null: one grant, valid for one period from the start.
* ``expire_and_replace``: a grant per period, expiring at the period's end (its remainder is written
  off as the new period's grant arrives).
* ``rollover``: a grant per period; the unused remainder of the previous period's grant is carried into
  the new one (a ``rollover`` transaction), so nothing is written off while the subscription lasts.

Each (subscription, product, entitlement name, period start) is granted once (the primary key of
``entitlement_grants``): refreshing twice changes nothing, and refreshing after downtime issues each
missed period once, in order. Entitlement grants default to priority 50, ahead of adjustments (100),
so usage draws on them first and falls to paid value, then overdraft, when they run out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.accounts.service import scope_by_id
from drawdown.catalog import documents
from drawdown.catalog.rates import rate_in_force
from drawdown.codec import iso
from drawdown.core import grants as grant_rules
from drawdown.core.periods import advance, period_at
from drawdown.db.tables import entitlement_grants
from drawdown.wallets import repository
from drawdown.wallets.accounts import DEFAULT_ACCOUNT, account_key
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.notices import Notice

DEFAULT_PRIORITY = 50
PURPOSE = {"bundled": grant_rules.BUNDLED, "promotion": grant_rules.PROMOTION}


def _periods(
    e: dict[str, Any], anchor: datetime, since: datetime, now: datetime, after: datetime | None = None
) -> list[tuple[datetime, datetime]]:
    """Periods due by ``now``, starting with the one holding ``after`` (the last granted) if given."""
    life = e["lifecycle"]
    duration, count = life["duration"], life.get("duration_count") or 1
    if life.get("refresh") is None:
        return [(since, advance(since, duration, count, 1))] if since <= now else []
    out: list[tuple[datetime, datetime]] = []
    k = period_at(anchor, duration, count, after).index if after is not None else 0
    while True:
        start = advance(anchor, duration, count, k)
        if start > now:
            return out
        end = advance(anchor, duration, count, k + 1)
        if end > since:
            out.append((max(start, since), end))
        k += 1


def refresh(conn: Connection, customer_id: str, now: datetime, ledger: Ledger, overdraft_limit: Decimal | None) -> int:
    """Issue every entitlement grant due by ``now`` for the customer (who is locked). Returns how many."""
    return refresh_until(conn, customer_id, now, ledger, overdraft_limit)[0]


@dataclass(frozen=True)
class Entitled:
    """An active subscription's product, with its version's entitlements and prices."""

    customer_id: str
    scope_id: int
    sub_id: str
    started_at: datetime
    product_id: str
    since: datetime | None
    entitlements: list[dict[str, Any]]
    prices: list[dict[str, Any]]


def subscription_rows(conn: Connection, customer_ids: list[str]) -> dict[str, list[Entitled]]:
    """What ``refresh_until`` reads, for many customers in one query (and the versions' documents, read
    once per process: ``catalog.documents``)."""
    found = repository.entitled_subscriptions(conn, customer_ids)
    docs = documents.of(conn, (r.version_id for rows in found.values() for r in rows))
    return {
        customer_id: [
            Entitled(r.customer_id, r.scope_id, r.sub_id, r.started_at, r.product_id, r.since,
                     docs[r.version_id].entitlements, docs[r.version_id].prices)
            for r in rows
        ]
        for customer_id, rows in found.items()
    }


def refresh_until(
    conn: Connection,
    customer_id: str,
    now: datetime,
    ledger: Ledger,
    overdraft_limit: Decimal | None,
    rows: list[Entitled] | None = None,
) -> tuple[int, datetime | None]:
    """``refresh``, and the first moment after ``now`` at which another grant falls due (None: never,
    while the subscriptions stay as they are), so that a caller may skip refreshing until then.
    ``rows``: the customer's ``subscription_rows``, if the caller read them already."""
    if rows is None:
        rows = subscription_rows(conn, [customer_id])[customer_id]
    issued = 0
    due: datetime | None = None
    for r in rows:
        if not r.entitlements:
            continue
        for e in r.entitlements:
            at = _next_start(e, r.started_at, r.since or r.started_at, now)
            due = at if due is None or (at is not None and at < due) else due
        if r.started_at > now:
            continue
        done = repository.entitlement_grants_issued(conn, r.sub_id, r.product_id)
        for e in r.entitlements:
            issued += _refresh_one(conn, customer_id, r, e, done, now, ledger, overdraft_limit)
    return issued, due


def _next_start(e: dict[str, Any], anchor: datetime, since: datetime, now: datetime) -> datetime | None:
    """When the entitlement's next period after ``now`` begins (None: a one-off already due)."""
    life = e["lifecycle"]
    if anchor > now or since > now:
        return max(anchor, since)
    if life.get("refresh") is None:
        return None
    return period_at(anchor, life["duration"], life.get("duration_count") or 1, now).end


def next_due(
    e: dict[str, Any], anchor: datetime, since: datetime, issued: Collection[datetime], now: datetime
) -> datetime | None:
    """When the entitlement next needs a refresh (pure): the start of its first period due by ``now``
    and not granted yet (``issued``: the period starts granted), else of its next period; None for a
    one-off granted already. ``refresh`` looks from the last period granted on, and so does this."""
    for start, _ in _periods(e, anchor, since, now, max(issued) if issued else None):
        if start not in issued:
            return start
    return _next_start(e, anchor, since, now)


def _refresh_one(
    conn: Connection,
    customer_id: str,
    r: Entitled,
    e: dict[str, Any],
    done: dict[tuple[str, datetime], str],
    now: datetime,
    ledger: Ledger,
    limit: Decimal | None,
) -> int:
    granted = [(start, gid) for (name, start), gid in done.items() if name == e["name"]]
    last_start, previous = max(granted) if granted else (None, None)
    periods = _periods(e, r.started_at, r.since or r.started_at, now, last_start)
    rollover = (e["lifecycle"].get("refresh") or {}).get("strategy") == "rollover"
    account_id = repository.ensure_account(conn, customer_id, DEFAULT_ACCOUNT, e["asset"], now, limit)
    currency, revenue = _basis(e, r.prices)
    issued = 0
    for start, end in periods:
        if (e["name"], start) in done:
            previous = done[(e["name"], start)]
            continue
        amount = Decimal(str(e["amount"]))
        grant_id = ledger.credit(
            account_id,
            amount,
            {
                "transaction_id": f"entitlement:{r.sub_id}:{r.product_id}:{e['name']}:{iso(start)}",
                "type": "entitlement",
                "description": e["name"],
            },
            purpose=PURPOSE[e["purpose"]],
            effective_at=start,
            expires_at=end,
            source_type="entitlement",
            priority=int(e["priority"]) if e.get("priority") is not None else DEFAULT_PRIORITY,
            basis=(revenue, _cost(conn, r.scope_id, e["asset"], currency, start), currency),
            carry_from=previous if rollover else None,
        )
        ledger.after_grants(
            entitlement_grants,
            {
                "subscription_id": r.sub_id,
                "product_id": r.product_id,
                "name": e["name"],
                "period_start": start,
                "grant_id": grant_id,
                "created_at": now,
            },
        )
        ledger.notices.append(Notice(customer_id, "entitlement.refreshed", {
            "subscription_id": r.sub_id, "product_id": r.product_id, "entitlement": e["name"],
            "account_id": account_key(DEFAULT_ACCOUNT, e["asset"]), "asset": e["asset"], "grant_id": grant_id,
            "amount": amount, "rolled_over_from": previous if rollover else None,
            "period_start": start, "period_end": end, "occurred_at": max(start, r.started_at)}))
        done[(e["name"], start)] = grant_id
        previous = grant_id
        issued += 1
    return issued


def _basis(e: dict[str, Any], prices: list[dict[str, Any]]) -> tuple[str, Decimal | None]:
    """Revenue per unit (``accounting.revenue_basis``), in the currency of the version's first fixed
    price (the plan's currency), else USD."""
    currency = next((p["pricing"][0]["asset"] for p in prices if p.get("type") == "fixed"), "USD")
    accounting = e.get("accounting") or {}
    revenue = accounting.get("revenue_basis")
    return currency, None if revenue is None else Decimal(str(revenue))


def _cost(conn: Connection, scope_id: int, asset: str, currency: str, at: datetime) -> Decimal | None:
    """``cost_basis: auto``: what a unit of the asset is worth in the currency when granted, at the
    rate of the customer's scope (refreshes run per customer, for every scope: the job has no caller's)."""
    if asset == currency:
        return Decimal(1)
    scope = scope_by_id(conn, scope_id)
    found = rate_in_force(conn, scope, asset, currency, at) if scope is not None else None
    return found.rate if found else None
