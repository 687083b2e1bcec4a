"""The outbox contract: one row per emit, in the caller's transaction, exact decimals, known topics only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from drawdown.codec import loads
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST
from drawdown.db.engine import write
from drawdown.db.webhook_tables import webhook_outbox
from drawdown.webhooks.outbox import TOPICS, emit

T = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _row(engine: Engine, event_id: str):
    with engine.connect() as conn:
        return conn.execute(select(webhook_outbox).where(webhook_outbox.c.id == event_id)).one_or_none()


def test_emit_writes_one_exact_row(engine: Engine) -> None:
    with write(engine) as conn:
        event_id = emit(
            conn, DEFAULT_TEST, "balance.low", {"available": Decimal("0.000000001"), "at": T},
            customer_id="cust_x", now=T,
        )
    row = _row(engine, event_id)
    assert event_id.startswith("evt_") and row is not None
    assert loads(row.data) == {"at": "2026-11-26T12:00:00Z", "available": Decimal("0.000000001")}
    assert "." in row.data or "E" in row.data  # a JSON number, exact: never a float's rounding
    assert (row.topic, row.customer_id, row.live_mode, row.scope_id) == ("balance.low", "cust_x", False, 2)
    with write(engine) as conn:
        second = emit(conn, DEFAULT_LIVE, "customer.created", {}, customer_id=None, now=T)
    later = _row(engine, second)
    assert later is not None and later.seq > row.seq and later.live_mode is True


def test_a_rolled_back_transaction_announces_nothing(engine: Engine) -> None:
    ids: list[str] = []
    with pytest.raises(RuntimeError), write(engine) as conn:
        ids.append(emit(conn, DEFAULT_LIVE, "top_up.succeeded", {"id": "x"}, customer_id=None, now=T))
        raise RuntimeError("the change fails")
    assert _row(engine, ids[0]) is None


def test_unknown_topics_are_refused(engine: Engine) -> None:
    assert len(TOPICS) == 12
    with write(engine) as conn, pytest.raises(ValueError, match="nope"):
        emit(conn, DEFAULT_LIVE, "nope", {}, customer_id=None, now=T)
