"""``db.rows.Bulk`` on PostgreSQL writes a large batch of plain INSERT rows (``COPY_FROM`` rows or more) with
COPY outside a pipeline or in a block that allows it (``pipelined(copies=True)``, a large group's), and
otherwise as multi-row INSERTs in the pipeline or with an executemany. Both must store the very same values
(times, JSON documents, NULLs, text with tabs, newlines, backslashes and quotes, large integers), tell the
bench's watchers of every row, and fail as SQLAlchemy's exception class, taking the transaction back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from drawdown.db import rows as row_buffer
from drawdown.db.engine import pipelined, read, write
from drawdown.db.rows import COPY_FROM, Bulk
from drawdown.db.types import JSONDoc, UTCDateTime

_META = MetaData()
PROBE = Table(
    "bulk_copy_probe", _META,
    Column("id", String(64), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("note", Text),
    Column("at", UTCDateTime, nullable=False),
    Column("doc", JSONDoc),
)


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    # In a write transaction (BEGIN IMMEDIATE on SQLite): a plain one that reads the schema first cannot
    # wait for another writer of the shared test database, it fails at once with "database is locked".
    with write(engine) as conn:
        _META.create_all(conn)
    yield engine
    with write(engine) as conn:
        _META.drop_all(conn)


def _rows(prefix: str, n: int) -> list[dict[str, Any]]:
    at = datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC)
    notes = ["plain", "tab\there", "new\nline", "back\\slash", "quote ' and \" and \\N", "", None]
    return [
        {"id": f"{prefix}{i:03}", "amount": (-1) ** i * (9_000_000_000_000_000_000 - i), "note": notes[i % len(notes)],
         "at": at + timedelta(microseconds=i), "doc": None if i % 5 == 0 else {"n": str(i), "list": [1, "x\ty"]}}
        for i in range(n)
    ]


def _stored(engine: Engine, prefix: str) -> list[tuple[Any, ...]]:
    with read(engine) as conn:
        found = conn.execute(select(PROBE).where(PROBE.c.id.like(f"{prefix}%")).order_by(PROBE.c.id)).all()
    return [(r.id[1:], r.amount, r.note, r.at, r.doc) for r in found]


def test_copy_and_executemany_store_the_same_values_and_count_every_row(probe: Engine) -> None:
    bulk, n = Bulk(PROBE), COPY_FROM + 5
    seen: list[tuple[str, int]] = []

    def watch(sql: str, params: list[Any]) -> None:
        seen.append((sql.split(" (")[0], len(params)))

    row_buffer.WATCHERS.append(watch)
    try:
        with write(probe) as conn:
            bulk.execute(conn, _rows("a", n))  # outside a pipeline: COPY on PostgreSQL
        with write(probe) as conn, pipelined(conn):
            bulk.execute(conn, _rows("b", n))  # in a pipeline (a plain block on SQLite): multi-row INSERTs
        with write(probe) as conn, pipelined(conn, copies=True):  # a large group's block: COPY between its writes
            bulk.execute(conn, _rows("e", 2))
            bulk.execute(conn, _rows("f", n))
            bulk.execute(conn, _rows("g", 3))
    finally:
        row_buffer.WATCHERS.remove(watch)
    copied, sent = _stored(probe, "a"), _stored(probe, "b")
    assert len(copied) == n and copied == sent == _stored(probe, "f")
    assert _stored(probe, "e") == copied[:2] and _stored(probe, "g") == copied[:3]
    assert copied[1][2] == "tab\there" and copied[4][2] == "quote ' and \" and \\N" and copied[5][2] == ""
    assert copied[6][2] is None and copied[0][4] is None and copied[1][4] == {"n": "1", "list": [1, "x\ty"]}
    assert seen == [("INSERT INTO bulk_copy_probe", k) for k in (n, n, 2, n, 3)]


def test_a_refused_copy_is_sqlalchemys_error_and_nothing_of_the_transaction_stays(probe: Engine) -> None:
    bulk, n = Bulk(PROBE), COPY_FROM + 1
    with write(probe) as conn:
        bulk.execute(conn, _rows("c", 1))
    with pytest.raises(IntegrityError), write(probe) as conn:
        bulk.execute(conn, _rows("d", 3))
        bulk.execute(conn, _rows("c", n))  # c000 is taken
    assert len(_stored(probe, "c")) == 1 and _stored(probe, "d") == []
