"""A group's hot reads (customers locked, wallets, rates' versions) run on the driver's own cursor
(``db.driver.DriverSelect``: psycopg's on PostgreSQL, sqlite3's on SQLite): they must answer exactly
what the same statement answers through SQLAlchemy (times as aware UTC, amounts as integers), be
planned afresh on PostgreSQL (on a batching writer's connection, from a preparation that is made again
once its plan is a few seconds old), probe their index on SQLite, and refuse at once a column or a list
they could not handle faithfully."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, any_, bindparam, select
from sqlalchemy.exc import DBAPIError

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db import pgwire
from drawdown.db.driver import DriverSelect, fetch_together
from drawdown.db.engine import make_engine, write
from drawdown.db.tables import customers, events
from drawdown.usage import repository as usage_sql
from drawdown.wallets import repository as wallet_sql
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment
from tests.worlds import make_asset, make_customer


def test_the_reads_answer_on_the_driver_what_sqlalchemy_answers(engine: Engine) -> None:
    postgres = engine.dialect.name == "postgresql"
    now = datetime.now(UTC)
    with write(engine) as conn:
        asset = make_asset(conn, now, usd_rate=Decimal("0.01"))
        cid = make_customer(conn, now)
        for k, (amount, effective, expires) in enumerate(
            (("10.5", None, None), ("2.000000001", now + timedelta(days=1), None), ("3", None, now + timedelta(days=9)))
        ):
            grant = Adjustment(f"t{k}", asset, Decimal(amount), "gift", effective_at=effective, expires_at=expires)
            wallets.adjust(conn, DEFAULT_LIVE, cid, grant, now, None)
    reads = [
        (wallet_sql._WALLETS, {"customers": [cid, "cus_unknown"], "now": now}),
        (usage_sql._LOCK, {"ids": [cid, "cus_unknown"]}),
        (usage_sql._RATES_VERSION, {"scopes": [DEFAULT_LIVE.id, 999]}),
    ]
    with write(engine) as conn:
        if postgres:
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'Asia/Kolkata'")  # the driver answers times at +05:30
        for read, params in reads:
            through_sqlalchemy = sorted(tuple(row) for row in conn.execute(read.core, params))
            assert through_sqlalchemy, read.sql  # something to compare
            for _ in range(7):  # psycopg would prepare a statement from its fifth run
                assert sorted(read.fetch(conn, params)) == through_sqlalchemy
                assert sorted(fetch_together(conn, [(read, params)])[0]) == through_sqlalchemy
        times = [v for row in wallet_sql._WALLETS.fetch(conn, reads[0][1]) for v in row if isinstance(v, datetime)]
        assert times and all(t.tzinfo is UTC for t in times)
        assert [t for t in times if t.microsecond]  # stored and read back to the microsecond
        if postgres:
            prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
            assert not [s for s in prepared if "ANY" in s], prepared


def test_a_list_on_sqlite_probes_the_index_as_sqlalchemys_list_of_parameters_does(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("a SQLite query plan")
    with write(engine) as conn:
        for read, table in ((usage_sql._LOCK, "customers"), (wallet_sql._WALLETS, "wallet_accounts")):
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + read.lite.sql,
                                                                           tuple(None for _ in read.lite.order)))
            assert f"SEARCH {table} USING" in plan and f"SCAN {table}" not in plan, plan


def test_a_column_the_driver_would_read_differently_is_refused_when_the_statement_is_made() -> None:
    with pytest.raises(TypeError, match="data"):  # a JSON document: psycopg would parse its numbers as floats
        DriverSelect(select(events.c.data), select(events.c.data))


def test_a_list_sqlite_would_have_to_convert_is_refused_when_the_statement_is_made() -> None:
    at = events.c.created_at  # times are text on SQLite: a JSON list of them would not compare as stored
    with pytest.raises(TypeError, match="times"):
        DriverSelect(select(events.c.id).where(at.in_(bindparam("times", expanding=True))),
                     select(events.c.id).where(at == any_(bindparam("times"))))


def test_reads_sent_together_answer_each_what_it_answers_alone(engine: Engine) -> None:
    """On PostgreSQL they go out in one pipeline, the lock first; each answer must be its own read's."""
    now = datetime.now(UTC)
    with write(engine) as conn:
        asset = make_asset(conn, now)
        first, second = make_customer(conn, now), make_customer(conn, now)
        wallets.adjust(conn, DEFAULT_LIVE, second, Adjustment("t", asset, Decimal("4.25"), "gift"), now, None)
    with write(engine) as conn:
        reads = [
            *usage_sql.lock_reads([first, second]),
            wallet_sql.wallets_read([second], now),
            wallet_sql.wallets_read([first], now),
            usage_sql.seqs_read(conn.dialect.name, 3),
            usage_sql.versions_read([DEFAULT_LIVE.id]),
        ]
        together = fetch_together(conn, reads)
        alone = [fetch_together(conn, [read])[0] for read in reads]
    assert usage_sql.locked_from(together[:1]) == usage_sql.locked_from(alone[:1])
    assert set(usage_sql.locked_from(together[:1])) == {first, second}
    assert together[1] == alone[1] and together[2] == alone[2] and together[4] == alone[4]
    assert [a.customer_id for a, _, _ in wallet_sql.wallets_from(together[1])] == [second]
    assert wallet_sql.wallets_from(together[2]) == []  # a customer without accounts has none
    assert len(usage_sql.seqs_from(conn.dialect.name, together[3], 3)) == 3


def test_an_error_among_reads_sent_together_is_sqlalchemys(engine: Engine) -> None:
    with pytest.raises(DBAPIError):  # SQLAlchemy's class, whichever driver raised
        with write(engine) as conn:
            fetch_together(conn, [usage_sql.versions_read([1]), ("SELECT no_such_column FROM events", ())])


def test_reads_that_open_the_transaction_hold_their_locks_until_it_ends(engine: Engine) -> None:
    """On PostgreSQL the reads carry the transaction's BEGIN in their own round trip: a ``FOR UPDATE`` sent
    first must keep its row locked until the commit, not only for its own statement."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks")
    now = datetime.now(UTC)
    with write(engine) as conn:
        cid = make_customer(conn, now)
    lock = select(customers.c.id).where(customers.c.id == cid).with_for_update(nowait=True)
    with write(engine) as conn:
        assert usage_sql.locked_from(fetch_together(conn, usage_sql.lock_reads([cid]))[:1])
        with engine.connect() as other, pytest.raises(DBAPIError, match="lock"):
            other.execute(lock)
    with engine.connect() as other:  # committed: free again
        assert other.execute(lock).scalar_one() == cid


def test_a_writers_reads_are_prepared_and_prepared_again_once_their_plan_is_old(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a batching writer's connection a read is prepared under a name of ours and kept for
    ``READ_PLAN_SECONDS`` at most: then it is deallocated and prepared again (planned for the table's size
    now), so one prepared statement a text is left, never more, and it answers what a read planned
    afresh answers."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    now = datetime.now(UTC)
    with write(engine) as conn:
        make_asset(conn, now)
        expected = fetch_together(conn, [usage_sql.versions_read([DEFAULT_LIVE.id])])
    writer = make_engine(engine.url.render_as_string(hide_password=False), writer=True)
    sent, _ = usage_sql.versions_read([DEFAULT_LIVE.id])
    mine = "SELECT name FROM pg_prepared_statements WHERE statement = %s"

    def names_after_a_read() -> list[str]:
        with write(writer) as conn:
            assert fetch_together(conn, [usage_sql.versions_read([DEFAULT_LIVE.id])]) == expected
            return [n for (n,) in conn.exec_driver_sql(mine, (sent.query.text.decode(),))]  # type: ignore[union-attr]

    try:
        kept = [names_after_a_read() for _ in range(3)]
        assert len(kept[0]) == 1 and kept[0] == kept[1] == kept[2]  # one preparation, used again
        monkeypatch.setattr(pgwire, "READ_PLAN_SECONDS", 0.0)
        renewed = [names_after_a_read() for _ in range(3)]
        assert all(len(names) == 1 for names in renewed)  # the old one deallocated each time
        assert len({names[0] for names in [kept[0], *renewed]}) == 4
    finally:
        writer.dispose()


def test_a_generic_plan_made_while_a_table_was_tiny_lasts_only_until_the_read_is_prepared_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why a writer's reads are prepared again: PostgreSQL caches a generic plan after five runs, and one
    made on a table of a few rows scans it whole; the table grows (not analyzed yet) and the cached plan
    still scans. Prepared again, the read is planned for the table's size now: an index probe."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    writer = make_engine(engine.url.render_as_string(hide_password=False), writer=True)
    sql = "SELECT h FROM plan_probe WHERE c = %s AND e = %s"
    mine = "SELECT name FROM pg_prepared_statements WHERE statement = %s"

    def plan_after_reads(runs: int) -> str:
        with write(writer) as conn:
            for _ in range(runs):
                assert fetch_together(conn, [(sql, ("c1", "e1"))]) == [[("h",)]]
            name = conn.exec_driver_sql(mine, (pgwire.query(sql).text.decode(),)).scalar_one()
            return "\n".join(conn.exec_driver_sql(f"EXPLAIN EXECUTE {name}('c1', 'e1')").scalars())

    with write(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE plan_probe (c TEXT, e TEXT, h TEXT, PRIMARY KEY (c, e)) "
                             "WITH (autovacuum_enabled = off)")
        conn.exec_driver_sql("INSERT INTO plan_probe SELECT 'c' || i, 'e' || i, 'h' FROM generate_series(1, 5) i")
        conn.exec_driver_sql("ANALYZE plan_probe")
    try:
        assert "Seq Scan" in plan_after_reads(6)  # the generic plan, chosen on five rows
        with write(engine) as conn:
            conn.exec_driver_sql("INSERT INTO plan_probe SELECT 'c' || i, 'e' || i, 'h' "
                                 "FROM generate_series(6, 50000) i")
        assert "Seq Scan" in plan_after_reads(1)  # still cached: a scan of 50,000 rows a read
        monkeypatch.setattr(pgwire, "READ_PLAN_SECONDS", 0.0)
        plan_after_reads(1)  # its preparation is old: made again
        monkeypatch.setattr(pgwire, "READ_PLAN_SECONDS", 3600.0)
        assert "Index Scan" in plan_after_reads(6)  # the generic plan chosen now probes the index
    finally:
        writer.dispose()
        with write(engine) as conn:
            conn.exec_driver_sql("DROP TABLE plan_probe")
