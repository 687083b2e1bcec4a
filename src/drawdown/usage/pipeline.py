"""The path of a usage event, top to bottom. ``bill`` takes a group of batches (each one customer's
events; the batching writer hands over every batch waiting) and, inside the caller's transaction:

1. **receive** (``receive.py``): finds the customers, each in its batch's scope, and locks them in id
   order; sent with the lock (one round trip on PostgreSQL), it reads their stored events with the
   group's ids, their wallets, the rates' versions and the sequence numbers of the new events;
2. **prefetch** (``receive.py``): takes in what the whole group needs, once: those reads, subscribed
   prices, entitlements due, tier positions, rates;

then, for each batch in lock order (a batch carrying a hold command has it placed or released by
``holding.py`` instead) and each of its events:

3. **replay** (``replay.py``): an event id seen before is answered as before, or refused if changed;
4. **rate** (``rating.py``, ``costs.py``): the fees it makes, and its vendor costs in USD;
5. **fund** (``funding.py``): all its fees fit within the overdraft limit (what the hold it names
   still holds counts for them), or it is refused whole;
6. **book** (``booking.py``): the event and fee rows, tier positions, settlements against its hold,
   debits and reservations;
7. **attribute** (``attribution.py``): its revenue and costs, on the event and in the rollups;

and finally

8. **commit** (``commit.py``): every row written, one executemany per statement.

Nothing is written before step 8, so a batch that cannot be billed at all (data that cannot be rated,
a bad cost) is taken back whole and gets its error, while the others are unaffected. If step 8 fails,
the transaction fails, and the batching writer bills each batch alone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.usage.attribution import attribute
from drawdown.usage.booking import book
from drawdown.usage.cache import HotCache
from drawdown.usage.commit import commit
from drawdown.usage.costs import price_costs
from drawdown.usage.funding import fund
from drawdown.usage.group import Group, Turn
from drawdown.usage.holding import take_hold
from drawdown.usage.models import Answer, UsageBatch, UsageEvent
from drawdown.usage.rating import rate_event
from drawdown.usage.receive import prefetch, receive
from drawdown.usage.replay import is_known


def bill(
    conn: Connection, batches: list[UsageBatch], now: datetime, default_limit: Decimal | None, cache: HotCache
) -> list[Answer]:
    """Bill a group of batches in the caller's transaction; one answer (or error) per batch."""
    group = receive(conn, batches, now, default_limit, cache)
    prefetch(group)
    for turn in group.turns:
        group.answers[turn.index] = _take_turn(group, turn)
    commit(group)
    return [a if a is not None else RuntimeError("batch left unbilled") for a in group.answers]


def _take_turn(group: Group, turn: Turn) -> Answer:
    """Bill one batch, event by event; if one event cannot be billed at all, take the batch back."""
    ledger = turn.customer.ledger
    mark, sizes, held = ledger.mark(), group.rows.sizes(), group.holds.mark(turn.customer.id)
    try:
        if turn.batch.hold is not None:
            take_hold(group, turn)
        for i, event in enumerate(turn.batch.events):
            _bill_event(group, turn, i, event)
    except Exception as exc:  # noqa: BLE001 - the batch is refused whole and answered with its own error
        ledger.undo(mark)
        group.holds.undo(held)
        group.positions.drop()
        group.rows.truncate(sizes)
        return exc
    group.positions.keep()
    group.rollup.merge(turn.rollup)
    turn.customer.seen.update(turn.added)
    return turn.customer.id, turn.outcome


def _bill_event(group: Group, turn: Turn, i: int, event: UsageEvent) -> None:
    known, digest = is_known(turn, i, event)
    if known:
        return
    path = f"events[{i}]"
    fees = rate_event(group, turn.customer.id, turn.customer.prices, event, path)
    costs = price_costs(group.conn, turn.scope, group.rates[turn.scope.id], event, path)
    funded = fund(group, turn, i, event, fees)
    if funded is None:
        return
    slot, booked = book(group, turn, event, digest, fees, funded)
    attribute(group, turn, event, slot, booked, costs)
    turn.outcome.accepted.append(event.id)
