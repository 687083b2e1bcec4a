"""Rows written per table, counted from the statements themselves (``drawdown bench ingest``).

Counting rows in each table before and after a phase misses what an event costs in updates: the
grant, the account and the rollup upserts change rows that already exist. So every INSERT, UPDATE and
DELETE that any SQLAlchemy engine of this process executes is counted, and every one the row buffer
sends on the driver's cursor (``db.rows.WATCHERS``): one row per parameter set (an upsert counts once,
whether it inserted or updated). Every write of the event path names exactly one
row per set (inserts, upserts, updates by key), and the cursor's own row count cannot be used: on
PostgreSQL the commit stage writes in pipeline mode (``db.engine.pipelined``), where it is not known
when the statement returns. The raw-driver ceiling counts its statements by the rows its cursor reports
(``bench/ceiling.py``), ``check_same_rows`` holds the two together, and the bench test checks the
counts against the rows the tables hold.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from drawdown.db import rows as row_buffer

_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)

# Relative difference allowed between the engine's rows per event and the ceiling's, per table: the
# customers each batch touches and the fees that debit nothing vary a little with the random events.
TOLERANCE = 0.05


def table_written(statement: str) -> str | None:
    """The table an INSERT, UPDATE or DELETE writes, or None for any other statement."""
    match = _WRITE.match(statement)
    return match.group(1) if match else None


@contextmanager
def counting_writes() -> Iterator[Counter[str]]:
    """Rows written by table, by every engine of this process, while the block runs."""
    counts: Counter[str] = Counter()

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        table = table_written(statement)
        if table is not None:
            counts[table] += len(params) if executemany else 1

    def sent(statement: str, params: list[Any]) -> None:  # the row buffer's writes, on the driver's cursor
        table = table_written(statement)
        if table is not None:
            counts[table] += len(params)

    event.listen(Engine, "after_cursor_execute", after)
    row_buffer.WATCHERS.append(sent)
    try:
        yield counts
    finally:
        row_buffer.WATCHERS.remove(sent)
        event.remove(Engine, "after_cursor_execute", after)


def per_event(counts: Counter[str], n: int) -> dict[str, float]:
    return {table: round(rows / n, 3) for table, rows in sorted(counts.items())}


def check_same_rows(engine: dict[str, float], ceiling: dict[str, float], tolerance: float = TOLERANCE) -> None:
    """Fail loudly when the ceiling no longer writes what the engine writes: a ceiling that writes less
    would flatter the database, one that writes more would flatter the engine."""
    assert engine.keys() == ceiling.keys(), f"tables written differ: engine {engine}, ceiling {ceiling}"
    for table, rows in engine.items():
        assert abs(ceiling[table] - rows) <= tolerance * rows, (
            f"{table}: the engine writes {rows} rows per event, the ceiling {ceiling[table]}"
        )
