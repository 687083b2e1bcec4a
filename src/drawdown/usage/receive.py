"""Stages 1 and 2, receive and prefetch: the group's customers found and locked, and everything their
events will need read once for the whole group.

Customers are locked in one statement, in id order, so several writers never deadlock. Then, for the
whole group at once: the events already stored under the same ids (for the replay check), every
wallet account with its changeable grants and what its open holds set aside, each customer's
subscribed prices (cached under its revision), the entitlement grants that have fallen due, the tier
positions the events (and hold estimates) will read, the exchange rates of each scope, and the holds
the events name or the hold commands touch.

A group may mix scopes (the batching writer takes every request waiting): each batch names its
customer within its own scope, and a customer of another scope is answered like an unknown one.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.core.errors import Invalid
from drawdown.holds.models import PlaceHold
from drawdown.usage import repository
from drawdown.usage.cache import HotCache
from drawdown.usage.group import Customer, Group, Turn
from drawdown.usage.holding import estimate_event
from drawdown.usage.models import Answer, UsageBatch, UsageEvent
from drawdown.usage.rating import position_keys
from drawdown.wallets import entitlements
from drawdown.wallets import repository as wallet_sql
from drawdown.wallets.ledger import Ledger


def receive(
    conn: Connection, batches: list[UsageBatch], now: datetime, default_limit: Decimal | None, cache: HotCache
) -> Group:
    """The group with its customers locked; a batch naming an unknown customer is answered at once."""
    answers: list[Answer | None] = [None] * len(batches)
    group = Group(conn, now, default_limit, cache, batches, answers)
    named = _customer_ids(conn, batches, answers)
    locked = repository.lock_customers(conn, sorted(set(named.values())))
    for i, customer_id in sorted(named.items(), key=lambda item: (item[1], item[0])):
        found = locked.get(customer_id)
        if found is None or found[1] != batches[i].scope.id:  # another scope's customer: as if unknown
            answers[i] = Invalid.field("customer_id", f"no customer has id {customer_id!r}")
            continue
        if customer_id not in group.customers:
            ledger = Ledger(conn, customer_id, now)
            group.customers[customer_id] = Customer(customer_id, found[1], found[0], ledger)
        group.turns.append(Turn(i, batches[i], group.customers[customer_id]))
    return group


def _customer_ids(conn: Connection, batches: list[UsageBatch], answers: list[Answer | None]) -> dict[int, str]:
    """Batch index -> customer id (its scope is checked by the lock); unknown external ids get their error.
    External ids are unique per scope: one query per scope naming some (most groups have one scope)."""
    external: dict[int, set[str]] = {}
    for b in batches:
        if not b.customer_id and b.customer_external_id:
            external.setdefault(b.scope.id, set()).add(b.customer_external_id)
    found = {
        (scope_id, ext): cid
        for scope_id, names in sorted(external.items())
        for ext, cid in repository.customer_ids_by_external(conn, scope_id, sorted(names)).items()
    }
    ids = {}
    for i, b in enumerate(batches):
        by_external = found.get((b.scope.id, b.customer_external_id or ""))
        if b.customer_id:
            ids[i] = b.customer_id
        elif by_external is not None:
            ids[i] = by_external
        else:
            answers[i] = Invalid.field(
                "customer_external_id", f"no customer has external_id {b.customer_external_id!r}"
            )
    return ids


def prefetch(group: Group) -> None:
    conn, customers = group.conn, group.customers
    ids = sorted(customers)
    pairs = sorted({(t.customer.id, e.id) for t in group.turns for e in t.batch.events})
    for customer_id, event_id, digest in repository.stored_events(conn, "request_hash", pairs):
        customers[customer_id].seen[event_id] = digest
    _wallets(group, ids)
    revisions = {c: customers[c].revision for c in ids}
    for customer_id, prices in group.cache.subscribed_prices(conn, revisions).items():
        customers[customer_id].prices = prices
    _entitlements_due(group, revisions)
    group.positions.prefetch(
        {key for t in group.turns for e in _priced(t) for key in position_keys(t.customer.id, e, t.customer.prices)}
    )
    group.rates = group.cache.rates(conn, group.scopes())
    group.holds.load(named_holds(group))


def _priced(turn: Turn) -> list[UsageEvent]:
    """The events a batch prices: its own, or the estimate its hold is priced from."""
    hold = turn.batch.hold
    if isinstance(hold, PlaceHold) and hold.estimate is not None:
        return [estimate_event(hold.estimate, turn.customer.ledger.now)]  # the ledger's now is the group's
    return turn.batch.events


def named_holds(group: Group) -> set[tuple[str, str]]:
    """(customer id, hold id) of every hold the group's events name or its hold commands touch."""
    named = {(t.customer.id, t.batch.hold.hold_id) for t in group.turns if t.batch.hold is not None}
    for t in group.turns:
        named.update((t.customer.id, h) for e in t.batch.events if (h := e.named_hold) is not None)
    return named


def _wallets(group: Group, ids: list[str]) -> None:
    """Each customer's accounts, changeable grants and open holds' totals, read for the whole group in
    one statement (per chunk of customers)."""
    for chunk in repository.chunks(ids):
        for account, grants, held in wallet_sql.wallets_of(group.conn, chunk, group.now):
            group.customers[account.customer_id].ledger.adopt(account, grants, held)


def _entitlements_due(group: Group, revisions: dict[str, int]) -> None:
    """Issue the entitlement grants due: a customer is skipped until its next one can fall due (the
    others' subscriptions are read in one query)."""
    due = group.cache.entitlements_due(revisions, group.now)
    if not due:
        return
    rows = entitlements.subscription_rows(group.conn, due)
    for customer_id in due:
        ledger = group.customers[customer_id].ledger
        _, next_due = entitlements.refresh_until(
            group.conn, customer_id, group.now, ledger, group.default_limit, rows[customer_id]
        )
        group.cache.entitlements_checked(customer_id, revisions[customer_id], next_due)
