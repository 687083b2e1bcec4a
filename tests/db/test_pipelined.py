"""``db.engine.pipelined``: the row buffer's writes (``db.rows.send``) down one libpq pipeline on PostgreSQL
(``db.pgwire``; a plain block on SQLite). What was written lands, in order, whatever the number of rows
or the size of their values; an error surfaces at the block's end as SQLAlchemy's exception class and
takes the whole transaction back; the statements prepared on a connection outlive a rollback and a
failed block; a connection lost meanwhile is thrown away, not reused."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from drawdown.db import pgwire
from drawdown.db.engine import make_engine, pipelined, read, settle, write
from drawdown.db.rows import send
from tests.conftest import PG_URL

TABLE = "pipelined_probe"


@pytest.fixture(params=["engine", "writer"])
def probe(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The probe table, on the shared engine or on a batching writer's (``make_engine(writer=True)``: on
    PostgreSQL the statements are then prepared under names of ours, not parsed once a pipeline)."""
    if request.param == "writer" and engine.dialect.name != "postgresql":
        pytest.skip("a writer's engine differs on PostgreSQL only")
    price = "TEXT" if engine.dialect.name == "sqlite" else "NUMERIC(20, 6)"  # SQLite's NUMERIC is a float
    with write(engine) as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, v BIGINT NOT NULL, note TEXT, price {price})"
        )
    used = engine
    if request.param == "writer":
        used = make_engine(engine.url.render_as_string(hide_password=False), writer=True)
    yield used
    if used is not engine:
        used.dispose()
    with write(engine) as conn:
        conn.exec_driver_sql(f"DROP TABLE {TABLE}")


def _sql(conn, sql: str) -> str:
    return sql.replace("%s", "?") if conn.dialect.paramstyle == "qmark" else sql


def _insert(conn) -> str:
    return _sql(conn, f"INSERT INTO {TABLE} (id, v, note, price) VALUES (%s, %s, %s, %s)")


def _rows(engine: Engine) -> list[tuple]:
    with read(engine) as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT id, v, note, price FROM {TABLE} ORDER BY id")]


def test_writes_in_the_block_land_in_order(probe: Engine) -> None:
    with write(probe) as conn:
        with pipelined(conn):
            send(conn, _insert(conn), [(1, 10, None, None), (2, 20, None, None), (3, 30, None, None)])
            send(conn, _sql(conn, f"UPDATE {TABLE} SET v = v + 1 WHERE id = %s"), [(1,), (3,)])
            send(conn, _insert(conn), [(4, 40, None, None)])
        # read after the block, in the same transaction: every write is there
        assert conn.exec_driver_sql(f"SELECT sum(v) FROM {TABLE}").scalar_one() == 11 + 20 + 31 + 40
    assert [r[:2] for r in _rows(probe)] == [(1, 11), (2, 20), (3, 31), (4, 40)]


def test_many_rows_of_any_values_land_as_sent(probe: Engine) -> None:
    """More rows than one multi-row statement takes, with integers of every size (psycopg would type each
    by its size), NULLs, quotes, percent signs and exact decimals: each stored as sent."""
    count = pgwire.CHUNK * 2 + 5
    rows = [
        (i, [1, -300, 70_000, 2**40, -(2**62)][i % 5], [None, "it's", "100%", "a\tb\nc\\d", "é"][i % 5],
         [None, Decimal("0.000001"), Decimal("-12345678901234.5")][i % 3])
        for i in range(1, count + 1)
    ]
    with write(probe) as conn:
        if conn.dialect.name == "sqlite":  # sqlite3 binds no Decimal (money is a scaled integer there)
            rows = [(i, v, note, None if p is None else str(p)) for i, v, note, p in rows]
        with pipelined(conn):
            send(conn, _insert(conn), rows[:-1])
            send(conn, _insert(conn), rows[-1:])
    stored = _rows(probe)
    assert [(i, v, note) for i, v, note, _ in stored] == [(i, v, note) for i, v, note, _ in rows]
    def exact(p: object) -> Decimal | None:
        return None if p is None else Decimal(str(p))

    assert [exact(p) for *_, p in stored] == [exact(p) for *_, p in rows]


def test_an_upsert_of_many_rows_adds_to_what_is_there(probe: Engine) -> None:
    if probe.dialect.name != "postgresql":
        pytest.skip("the multi-row texts are PostgreSQL's")
    upsert = f"INSERT INTO {TABLE} (id, v) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET v = {TABLE}.v + excluded.v"
    with write(probe) as conn:
        with pipelined(conn):
            send(conn, upsert, [(i, i) for i in range(1, 21)])
            send(conn, upsert, [(i, 100) for i in range(11, 31)])
    assert [r[:2] for r in _rows(probe)] == [(i, i + 100 * (i > 10)) for i in range(1, 21)] + [
        (i, 100) for i in range(21, 31)
    ]


def test_a_statement_after_settle_runs_in_order_with_the_blocks_writes(probe: Engine) -> None:
    with write(probe) as conn:
        with pipelined(conn):
            send(conn, _insert(conn), [(1, 10, None, None)])
            settle(conn)
            conn.execute(text(f"UPDATE {TABLE} SET v = v * 2"))
            send(conn, _insert(conn), [(2, 5, None, None)])
    assert [r[:2] for r in _rows(probe)] == [(1, 20), (2, 5)]


def test_an_error_surfaces_as_sqlalchemys_and_takes_the_transaction_back(probe: Engine) -> None:
    with write(probe) as conn:
        conn.exec_driver_sql(_insert(conn), (1, 10, None, None))
    with pytest.raises(IntegrityError):
        with write(probe) as conn:
            with pipelined(conn):
                send(conn, _insert(conn), [(2, 20, None, None), (3, 30, None, None)])
                send(conn, _insert(conn), [(1, 99, None, None)])  # taken
                send(conn, _sql(conn, f"UPDATE {TABLE} SET v = 0 WHERE id = %s"), [(1,)])
    assert [r[:2] for r in _rows(probe)] == [(1, 10)]  # nothing of the failed transaction, before or after it


def test_a_block_that_opens_the_transaction_is_taken_back_whole(probe: Engine) -> None:
    with pytest.raises(RuntimeError):
        with write(probe) as conn:
            with pipelined(conn):
                send(conn, _insert(conn), [(1, 10, None, None)])
            raise RuntimeError("after the block")
    assert _rows(probe) == []


def test_statements_prepared_on_a_connection_outlive_a_rollback_and_a_failed_block(probe: Engine) -> None:
    """On a writer's engine a rollback does not unprepare them (psycopg's own preparation, which would, is
    off there), and a statement whose preparation a failed block skipped is prepared again when next
    used. On the shared engine none of ours is left prepared, and the same blocks work."""
    if probe.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    probe.dispose()  # one connection for the whole test
    update = f"UPDATE {TABLE} SET note = %s WHERE id = %s"
    ours = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'dd%%'"
    with write(probe) as conn:
        writer = conn.connection.dbapi_connection.prepare_threshold is None
        with pipelined(conn):
            send(conn, _insert(conn), [(1, 10, None, None)])
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        for _ in range(6):  # what psycopg's own preparation would prepare, then deallocate with ours at a rollback
            conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}")
    for _ in range(2):  # a failed block: the UPDATE's preparation comes after the error, so never happens
        with pytest.raises(IntegrityError), write(probe) as conn:
            with pipelined(conn):
                send(conn, _insert(conn), [(1, 99, None, None)])
                send(conn, update, [("never", 1)])
    with write(probe) as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == pid
        before = conn.exec_driver_sql(ours).scalar_one()
        with pipelined(conn):
            send(conn, _insert(conn), [(2, 20, None, None)])
            send(conn, update, [("kept", 2)])
        assert (before, conn.exec_driver_sql(ours).scalar_one()) == ((1, 2) if writer else (0, 0))
    assert _rows(probe) == [(1, 10, None, None), (2, 20, "kept", None)]


def test_a_connection_lost_in_the_block_is_thrown_away(probe: Engine) -> None:
    if probe.dialect.name != "postgresql":
        pytest.skip("SQLite has no connection to lose")
    with pytest.raises(DBAPIError) as caught:
        with write(probe) as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/" + probe.url.database, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pipelined(conn):
                send(conn, _insert(conn), [(1, 10, None, None)])
    assert caught.value.connection_invalidated
    with read(probe) as conn:  # the pool hands out a live connection, not the dead one
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
    assert _rows(probe) == []


def test_the_commit_stages_inserts_go_many_rows_a_statement() -> None:
    """Every INSERT the commit stage sends, as SQLAlchemy compiles it for psycopg (each value cast:
    ``%s::VARCHAR``), is one ``pgwire`` can send as multi-row statements: were one not, its rows would go
    one statement each, unnoticed but for the time they cost."""
    from sqlalchemy.dialects import postgresql

    from drawdown.db.rows import Bulk
    from drawdown.reports.repository import _UPSERTS, rollup_upsert
    from drawdown.usage import repository as usage_sql
    from drawdown.wallets import repository as wallet_sql

    dialect = postgresql.psycopg.dialect()

    class _Conn:  # rollup_upsert builds its statement for the connection's dialect
        pass

    conn = _Conn()
    conn.dialect = dialect  # type: ignore[attr-defined]
    bulks = [usage_sql.INSERT_EVENTS, usage_sql.INSERT_FEES, usage_sql.INSERT_COSTS, usage_sql.INSERT_POSITION,
             wallet_sql.INSERT_ACCOUNT, wallet_sql.INSERT_GRANT, wallet_sql.INSERT_TRANSACTION,
             wallet_sql.INSERT_ENTRY, rollup_upsert(conn)]  # type: ignore[arg-type]
    assert _UPSERTS["postgresql"] in bulks
    for bulk in bulks:
        assert isinstance(bulk, Bulk)
        keys = tuple(c.key for c in bulk.table.c if not (c.primary_key and c.autoincrement is True))
        plan = bulk._plan(dialect, keys)
        assert plan is not None, bulk.table.name
        texts = pgwire.Texts(plan[0])
        assert texts.parts is not None, plan[0]
        assert texts.rows(3).count(b"), (") == 2 and b"$" + str(3 * len(keys)).encode() in texts.rows(3)
