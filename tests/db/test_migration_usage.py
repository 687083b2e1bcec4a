"""Migration 0018: fees booked before it (each in a ``fee`` transaction of its own, whose transaction id
is the fee's id, and no ``charge_id``) are given their own id as ``charge_id``, so that every real-time
fee names the transaction that took it; fees booked since name their usage transaction and are left
alone, both ways; on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from alembic import command
from sqlalchemy import inspect, select, update

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import make_engine, read, write
from drawdown.db.migrate import alembic_config, upgrade
from drawdown.db.tables import fees, transactions
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from tests.worlds import volume_world

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def _charges(url: str) -> dict[str, str | None]:
    engine = make_engine(url)
    try:
        with read(engine) as conn:
            return {r.id: r.charge_id for r in conn.execute(select(fees.c.id, fees.c.charge_id))}
    finally:
        engine.dispose()


def test_fees_booked_before_0018_name_their_own_transaction(fresh_url: str) -> None:
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    _, (a,) = volume_world(engine, NOW, Decimal("0.5"), 1, Decimal(100))
    batch = UsageBatch(DEFAULT_LIVE, a, None, [UsageEvent(f"e{i}", "u", NOW, data={"n": 2}) for i in range(2)])
    with write(engine) as conn:
        assert not isinstance(pipeline.bill(conn, [batch], NOW, None, HotCache())[0], Exception)
    booked = _charges(fresh_url)
    usage = set(booked.values())
    assert len(booked) == 2 and len(usage) == 1  # one usage transaction for both
    with read(engine) as conn:
        assert conn.execute(select(transactions.c.type).where(transactions.c.transaction_id.in_(usage))).scalar_one() \
            == "usage"

    cfg = alembic_config(fresh_url)
    command.downgrade(cfg, "0017")
    assert _charges(fresh_url) == booked  # a usage transaction's fees keep naming it
    old = sorted(booked)[0]
    with write(engine) as conn:  # as the engine before 0018 left a fee: no charge_id
        conn.execute(update(fees).where(fees.c.id == old).values(charge_id=None))
    engine.dispose()

    command.upgrade(cfg, "head")
    assert _charges(fresh_url) == {**booked, old: old}
    engine = make_engine(fresh_url)
    try:
        assert "ix_fees_charge_id" in {i["name"] for i in inspect(engine).get_indexes("fees")}
    finally:
        engine.dispose()
    command.downgrade(cfg, "0017")
    assert _charges(fresh_url) == {**booked, old: None}
