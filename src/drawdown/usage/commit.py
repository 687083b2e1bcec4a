"""Stage 8, commit: every row the group planned, written with one executemany per statement, in
foreign-key order (accounts and grants before the fees that name them; events before their fees and
costs), on PostgreSQL down one pipeline (``db.engine.pipelined``, ``db.pgwire``): one round trip for
all of them instead of one each, which is much of what a group of single events waits for, an
INSERT's rows as multi-row statements. A group of ``COPY_GROUP`` events or more sends its large plain
INSERTs by COPY instead, between the pipeline's other writes (COPY cannot run in a pipeline). The
customer, product and vendor rollups are upserted in key order at the end of the pipeline; the
subjects' rollups come last, outside it (a subject's rollup reads its totals first). An account the
group took below its auto top-up threshold gets its auto top-up recorded here, in the same
transaction (``wallets.autotopup``), and what the platform must hear of (a balance crossing a line, a
grant written off) goes into the webhooks outbox (``Ledger.publish``). Holds placed, settled or
released come after the fees they name. The transaction itself is committed by the caller."""

from __future__ import annotations

from typing import Any

from drawdown.db.engine import pipelined
from drawdown.db.rows import LAST, RowBuffer
from drawdown.usage import repository
from drawdown.usage.group import Group
from drawdown.wallets.autotopup import queue as queue_auto_top_ups
from drawdown.wallets.ledger_rows import collect

COPY_GROUP = 256  # events from which a group's writes leave the pipeline for COPY (PostgreSQL)


def commit(group: Group) -> None:
    conn, rows = group.conn, group.rows
    seqs = group.fetched.seqs[: len(rows.events)]  # taken with the customers' lock (usage/receive.py)
    ledger = RowBuffer()
    short = []
    for customer_id in sorted(group.customers):
        short += collect(group.customers[customer_id].ledger, ledger)
    rest = RowBuffer()
    for row, seq in zip(rows.events, seqs, strict=True):
        row["seq"] = seq
    rest.extend(LAST, repository.INSERT_FEES, _with_seqs(rows.fees, seqs))
    rest.extend(LAST, repository.INSERT_COSTS, _with_seqs(rows.costs, seqs))
    group.positions.collect(rest)
    rest.extend(LAST, repository.MOVE_REVISION, [{"b_id": c.id} for c in group.customers.values() if c.revised])
    scopes = group.scopes()
    # A small group's writes share one round trip. A large one's big plain INSERTs are COPYs (db/rows.py:_copy),
    # each ending the pipeline before it: 1,000 events a group, 2,242 events/s against 2,073 with all of
    # them as multi-row INSERTs in the pipeline (the writer's CPU 275 against 309 µs an event), 300
    # events, 1,622 against 1,414 (6 alternated rounds each, round nine).
    with pipelined(conn, copies=len(rows.events) >= COPY_GROUP):
        ledger.execute(conn)
        repository.INSERT_EVENTS.execute(conn, rows.events)
        rest.execute(conn)
        group.rollup.flush_totals(conn, scopes)
    if short:
        queue_auto_top_ups(conn, short, group.now)
    for customer_id in sorted(group.customers):  # balance crossings and expiries, for the platform's webhooks
        group.customers[customer_id].ledger.publish()
    group.holds.flush()  # after the accounts and fees its holds and settlements name
    group.rollup.subjects.flush(conn, scopes)


def _with_seqs(rows: list[tuple[int, dict[str, Any]]], seqs: list[int]) -> list[dict[str, Any]]:
    """The rows naming their event's sequence number, set in place: the group owns them and writes
    them once (a copy per fee row was 1% of the engine's time)."""
    for slot, row in rows:
        row["event_seq"] = seqs[slot]
    return [row for _, row in rows]
