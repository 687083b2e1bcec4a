"""``db/round_trips.py``: on PostgreSQL a transaction's BEGIN goes out with its first statement (queued in
a pipeline of reads) and a writer that opted in commits with its last writes. A transaction must stay one
transaction all the same: its lock held until it ends, all of it undone by a failure, nothing run after
its early COMMIT. The same calls are plain transactions on SQLite, and the tests hold there too."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from drawdown.db.driver import fetch_together
from drawdown.db.engine import on_cursor, pipelined, read, write
from drawdown.db.round_trips import CommittedAlready
from tests.conftest import PG_URL

TABLE = "round_trips_probe"


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    with write(engine) as conn:
        conn.exec_driver_sql(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES (1, 10)")
    yield engine
    with write(engine) as conn:
        conn.exec_driver_sql(f"DROP TABLE {TABLE}")


def _m(engine: Engine) -> str:
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"


def _rows(engine: Engine) -> list[tuple[int, int]]:
    with read(engine) as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT id, v FROM {TABLE} ORDER BY id")]


def _outsider(engine: Engine) -> psycopg.Connection:
    return psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/" + str(engine.url.database), autocommit=True)


def test_a_lock_taken_by_the_first_read_of_a_pipeline_is_held_until_the_transaction_ends(probe: Engine) -> None:
    """The BEGIN queued before the reads: without it the lock would end with the read (autocommit)."""
    if probe.dialect.name != "postgresql":
        pytest.skip("a row lock is PostgreSQL's; SQLite's write lock is the whole database")
    with write(probe) as conn, _outsider(probe) as outsider:
        (locked,) = fetch_together(conn, [(f"SELECT v FROM {TABLE} WHERE id = %s FOR UPDATE", (1,))])
        assert locked == [(10,)]
        with pytest.raises(psycopg.errors.LockNotAvailable):
            outsider.execute(f"SELECT v FROM {TABLE} WHERE id = 1 FOR UPDATE NOWAIT")
    with _outsider(probe) as outsider:  # and released once it has
        assert outsider.execute(f"SELECT v FROM {TABLE} WHERE id = 1 FOR UPDATE NOWAIT").fetchall() == [(10,)]


@pytest.mark.parametrize("first", ["sqlalchemy", "driver cursor", "pipeline of reads"])
def test_a_failure_takes_back_everything_from_the_first_statement_on(probe: Engine, first: str) -> None:
    m = _m(probe)
    with pytest.raises(RuntimeError), write(probe, commit_with_last_writes=True) as conn:
        if first == "sqlalchemy":
            conn.exec_driver_sql(f"UPDATE {TABLE} SET v = 11 WHERE id = 1")
        elif first == "driver cursor":
            on_cursor(conn, f"UPDATE {TABLE} SET v = 11 WHERE id = {m} RETURNING v", (1,))
        else:
            fetch_together(conn, [(f"UPDATE {TABLE} SET v = 11 WHERE id = {m} RETURNING v", (1,))])
        conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES (2, 20)")
        raise RuntimeError("the caller fails before the end")
    assert _rows(probe) == [(1, 10)]


def test_a_writer_that_opted_in_commits_with_its_last_writes_and_nothing_may_follow(probe: Engine) -> None:
    m = _m(probe)
    with write(probe, commit_with_last_writes=True) as conn:
        conn.exec_driver_sql(f"UPDATE {TABLE} SET v = 11 WHERE id = 1")
        with pipelined(conn, last=True):
            conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", [(2, 20), (3, 30)])
        if probe.dialect.name == "postgresql":
            with _outsider(probe) as outsider:  # committed already: another connection sees all of it
                assert outsider.execute(f"SELECT sum(v) FROM {TABLE}").fetchone() == (61,)
            with pytest.raises(CommittedAlready):
                conn.exec_driver_sql(f"SELECT v FROM {TABLE}")
            with pytest.raises(CommittedAlready):
                on_cursor(conn, f"SELECT v FROM {TABLE}", ())
    assert _rows(probe) == [(1, 11), (2, 20), (3, 30)]
    with write(probe, commit_with_last_writes=True) as conn:  # the next transaction on it is a whole one again
        conn.exec_driver_sql(f"UPDATE {TABLE} SET v = 12 WHERE id = 1")
    assert _rows(probe)[0] == (1, 12)


def test_without_opting_in_the_last_writes_wait_for_the_callers_commit(probe: Engine) -> None:
    m = _m(probe)
    with write(probe) as conn:
        with pipelined(conn, last=True):
            conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", [(2, 20)])
        if probe.dialect.name == "postgresql":
            with _outsider(probe) as outsider:
                assert outsider.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (1,)
        conn.exec_driver_sql(f"UPDATE {TABLE} SET v = 21 WHERE id = 2")  # still the same transaction
    assert _rows(probe) == [(1, 10), (2, 21)]


def test_a_failed_last_write_commits_nothing_and_leaves_the_connection_usable(probe: Engine) -> None:
    m = _m(probe)
    with pytest.raises(Exception) as caught, write(probe, commit_with_last_writes=True) as conn:
        conn.exec_driver_sql(f"UPDATE {TABLE} SET v = 11 WHERE id = 1")
        with pipelined(conn, last=True):
            conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", [(2, 20), (1, 99)])  # 1 is taken
    assert "UNIQUE" in str(caught.value).upper() or "unique" in str(caught.value)
    assert _rows(probe) == [(1, 10)]
    for _ in range(3):  # every pooled connection, the failed one among them, is a whole transaction again
        with write(probe, commit_with_last_writes=True) as conn:
            conn.exec_driver_sql(f"UPDATE {TABLE} SET v = v + 1 WHERE id = 1")
    assert _rows(probe) == [(1, 13)]
