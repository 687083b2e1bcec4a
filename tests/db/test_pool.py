"""PostgreSQL connections are pinged on checkout only after resting (``db.engine._ping_when_idle``): a
connection the server dropped while it rested is replaced unseen; a busy one is not pinged."""

from __future__ import annotations

import psycopg

from drawdown.db import engine as engines
from drawdown.db.engine import make_engine, read
from tests.conftest import PG_URL, postgres_database


def test_a_rested_connection_the_server_dropped_is_replaced_and_a_busy_one_is_not_pinged(monkeypatch) -> None:
    with postgres_database("drawdown_pool") as url:
        engine = make_engine(url)
        pings = []
        ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
        try:
            with read(engine) as conn:
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            for _ in range(20):  # at once, again and again: never pinged
                with read(engine) as conn:
                    assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == pid
            assert pings == []

            with psycopg.connect(PG_URL, autocommit=True) as admin:  # the server drops it while it rests
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            monkeypatch.setattr(engines, "IDLE_BEFORE_PING", 0.0)
            with read(engine) as conn:
                assert conn.exec_driver_sql("SELECT 2").scalar_one() == 2
                assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
            assert len(pings) >= 1
        finally:
            engine.dispose()
