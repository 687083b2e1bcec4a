"""The replay check (``usage.repository.stored_events``) is planned afresh for its values every time on
PostgreSQL, never from a prepared statement: on a new database, the generic plan PostgreSQL cached for
the prepared statement while ``events`` was empty was a hash join over a sequential scan, kept until
the table was next analyzed, so each group's check read every stored event (4.2 ms a group of 8 after
24,000 events, from 0.4 ms). Found answers and driver errors stay what they were."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import fetch_planned_afresh, write
from drawdown.usage import pipeline, repository
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from tests.conftest import unique
from tests.worlds import make_asset, make_customer, make_product, usage_price


def test_the_replay_check_finds_stored_events_and_leaves_no_prepared_statement(engine: Engine) -> None:
    now = datetime.now(UTC)
    with write(engine) as conn:
        asset = make_asset(conn, now)
        product = make_product(conn, now, [usage_price(asset, [{"volume_rate": "1"}])])
        cid = make_customer(conn, now, product, limit=None)
    stored = UsageEvent(unique("ev"), "u", now, data={"n": 2})
    with write(engine) as conn:
        answer = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [stored])], now, None, HotCache())
    assert answer[0][1].accepted == [stored.id], answer
    with write(engine) as conn:
        for _ in range(8):  # psycopg prepares a statement from its fifth run
            found = repository.stored_events(conn, "request_hash", [(cid, stored.id), (cid, "never-sent")])
            assert [(c, e) for c, e, _ in found] == [(cid, stored.id)]
        if conn.dialect.name == "postgresql":
            prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
            assert not [s for s in prepared if "wanted" in s], prepared


def test_a_driver_error_is_sqlalchemys(engine: Engine) -> None:
    with pytest.raises(DBAPIError):  # SQLAlchemy's class, whichever driver raised
        with write(engine) as conn:
            fetch_planned_afresh(conn, "SELECT no_such_column FROM events", ())
