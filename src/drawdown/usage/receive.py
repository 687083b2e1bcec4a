"""Stages 1 and 2, receive and prefetch: the group's customers found and locked, and everything their
events will need read once for the whole group.

Customers are locked in one statement, in id order, so several writers never deadlock. Sent with
the lock and run after it, in one round trip on PostgreSQL (a single-event group spent 2 ms of its 4.7
on five reads made one after another): the events already stored under the same ids (for the
replay check), every wallet account with its changeable grants and what its open holds set aside,
the rates' versions, and the new events' sequence numbers. Then, for the whole group at once: each customer's
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
from drawdown.db.driver import fetch_together
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
    locked = _lock_and_read(group, named)
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


def _lock_and_read(group: Group, named: dict[int, str]) -> dict[str, tuple[int, int]]:
    """The named customers locked in id order, and after the lock, sent with it (one round trip on
    PostgreSQL: ``db.driver.fetch_together``), what the group reads of them: their stored events with
    the group's ids, their wallets, the rates' versions of the group's scopes and the sequence numbers
    of its new events. (customer id -> (revision, scope id)) of those found; the rest in
    ``group.fetched``."""
    conn, batches = group.conn, group.batches
    ids = sorted(set(named.values()))
    pairs = sorted({(named[i], e.id) for i in named for e in batches[i].events})
    events = sum(len(batches[i].events) for i in named)
    scope_ids = sorted(group.scopes())
    lock = repository.lock_reads(ids)
    stored = repository.stored_events_reads(conn.dialect.paramstyle, "request_hash", pairs)
    wallets = [wallet_sql.wallets_read(chunk, group.now) for chunk in repository.chunks(ids)]
    seqs = [repository.seqs_read(conn.dialect.name, events)] if events else []
    answers = iter(fetch_together(conn, [*lock, *stored, *wallets, repository.versions_read(scope_ids), *seqs]))
    locked = repository.locked_from([next(answers) for _ in lock])
    fetched = group.fetched
    fetched.stored = [row for _ in stored for row in next(answers)]
    fetched.wallets = [found for _ in wallets for found in wallet_sql.wallets_from(next(answers))]
    fetched.versions = repository.versions_from(next(answers), scope_ids)
    fetched.seqs = repository.seqs_from(conn.dialect.name, next(answers), events) if events else []
    return locked


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
    for customer_id, event_id, digest in group.fetched.stored:
        if customer_id in customers:  # read for every customer named; kept for those locked in their scope
            customers[customer_id].seen[event_id] = digest
    for account, grants, held in group.fetched.wallets:
        if account.customer_id in customers:
            customers[account.customer_id].ledger.adopt(account, grants, held)
    revisions = {c: customers[c].revision for c in ids}
    for customer_id, prices in group.cache.subscribed_prices(conn, revisions).items():
        customers[customer_id].prices = prices
    _entitlements_due(group, revisions)
    group.positions.prefetch(
        {key for t in group.turns for e in _priced(t) for key in position_keys(t.customer.id, e, t.customer.prices)}
    )
    group.rates = group.cache.rates_at(conn, group.fetched.versions)
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


def _entitlements_due(group: Group, revisions: dict[str, int]) -> None:
    """Issue the entitlement grants due: a customer is skipped until its next one can fall due (the
    others' subscriptions are read in one query).

    A customer granted something here has its revision moved by one in this transaction, and the check
    is remembered under that revision: the grants exist only if the transaction commits, and if it does
    not (the group fails, and its batches are billed again alone), the revision read next is the old one
    and the grants fall due again. Remembered under the old revision, they would be missing until their
    next period."""
    due = group.cache.entitlements_due(revisions, group.now)
    if not due:
        return
    rows = entitlements.subscription_rows(group.conn, due)
    for customer_id in due:
        customer = group.customers[customer_id]
        issued, next_due = entitlements.refresh_until(
            group.conn, customer_id, group.now, customer.ledger, group.default_limit, rows[customer_id]
        )
        if issued:
            customer.revision += 1  # the row is locked by this group: nobody else moves it meanwhile
            customer.revised = True
        group.cache.entitlements_checked(customer_id, customer.revision, next_due)
