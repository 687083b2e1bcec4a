"""``db.engine.pipelined``: the commit stage's writes sent in PostgreSQL's pipeline mode (a plain block on
SQLite). What was written lands; an error surfaces at the block's end as SQLAlchemy's exception class and
takes the whole transaction back; a connection lost meanwhile is thrown away, not reused."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from drawdown.db.engine import pipelined, read, write
from tests.conftest import PG_URL

TABLE = "pipelined_probe"


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    with write(engine) as conn:
        conn.exec_driver_sql(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
    yield engine
    with write(engine) as conn:
        conn.exec_driver_sql(f"DROP TABLE {TABLE}")


def _mark(conn) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _rows(engine: Engine) -> list[tuple[int, int]]:
    with read(engine) as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT id, v FROM {TABLE} ORDER BY id")]


def test_writes_in_the_block_land_in_order(probe: Engine) -> None:
    with write(probe) as conn:
        m = _mark(conn)
        with pipelined(conn):
            conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", [(1, 10), (2, 20), (3, 30)])
            conn.exec_driver_sql(f"UPDATE {TABLE} SET v = v + 1 WHERE id = {m}", [(1,), (3,)])
            conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", (4, 40))
        # read after the block, in the same transaction: every write is there
        assert conn.exec_driver_sql(f"SELECT sum(v) FROM {TABLE}").scalar_one() == 11 + 20 + 31 + 40
    assert _rows(probe) == [(1, 11), (2, 20), (3, 31), (4, 40)]


def test_an_error_surfaces_as_sqlalchemys_and_takes_the_transaction_back(probe: Engine) -> None:
    with write(probe) as conn:
        m = _mark(conn)
        conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", (1, 10))
    with pytest.raises(IntegrityError):
        with write(probe) as conn:
            with pipelined(conn):
                conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", [(2, 20), (3, 30)])
                conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES ({m}, {m})", [(1, 99)])  # taken
                conn.exec_driver_sql(f"UPDATE {TABLE} SET v = 0 WHERE id = {m}", [(1,)])
    assert _rows(probe) == [(1, 10)]  # nothing of the failed transaction, before or after the error


def test_a_connection_lost_in_the_block_is_thrown_away(probe: Engine) -> None:
    if probe.dialect.name != "postgresql":
        pytest.skip("SQLite has no connection to lose")
    with pytest.raises(DBAPIError) as caught:
        with write(probe) as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/" + probe.url.database, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pipelined(conn):
                conn.exec_driver_sql(f"INSERT INTO {TABLE} (id, v) VALUES (%s, %s)", [(1, 10)])
    assert caught.value.connection_invalidated
    with read(probe) as conn:  # the pool hands out a live connection, not the dead one
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
    assert _rows(probe) == []
