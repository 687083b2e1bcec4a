"""Migrations 0013 and 0016 backfill the subject rollups of an upgraded database exactly: rows written
by the engine as events arrive equal the rows the migrations rebuild from the stored events, costs and
fees (dropped by going back to 0011, rebuilt by going forward again; and 0016 undone and redone from
0015's per-day rows), on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from sqlalchemy import select

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import make_engine, read, write
from drawdown.db.migrate import alembic_config, upgrade
from drawdown.db.subject_tables import subject_rollups
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Cost, UsageBatch, UsageEvent
from drawdown.vendors import service as vendors
from drawdown.vendors.models import NewVendor
from tests.worlds import volume_world

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def _rows(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with read(engine) as conn:
            return sorted(conn.execute(select(subject_rollups)).all(), key=tuple)
    finally:
        engine.dispose()


def test_backfill_equals_what_the_engine_maintains(fresh_url: str) -> None:
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    _, (a, b) = volume_world(engine, NOW - timedelta(days=3), Decimal("0.5"), 2, Decimal(1000))
    with write(engine) as conn:
        llm = vendors.create(conn, DEFAULT_LIVE, NewVendor("LLM"), NOW).id
        gpu = vendors.create(conn, DEFAULT_LIVE, NewVendor("GPU"), NOW).id

    def ev(eid: str, subject: str | None, days_ago: int, n: int) -> UsageEvent:
        costs = (Cost("c1", vendor_id=llm, category="inference", amount=Decimal("0.013")),
                 Cost("c2", vendor_id=gpu, amount=Decimal("0.1"), currency="USD"))
        return UsageEvent(eid, "u", NOW - timedelta(days=days_ago, minutes=n), subject, data={"n": n}, costs=costs)

    batches = [
        UsageBatch(DEFAULT_LIVE, a, None, [ev("a1", "run-1", 2, 3), ev("a2", "run-1", 1, 5), ev("a3", None, 1, 7)]),
        UsageBatch(DEFAULT_LIVE, a, None, [ev("a4", "run-1", 0, 9), ev("a5", "runs/2", 0, 1)]),
        UsageBatch(DEFAULT_LIVE, b, None, [ev("b1", "run-1", 0, 4)]),  # the same subject, another customer
    ]
    with write(engine) as conn:
        for batch in batches:
            answer = pipeline.bill(conn, [batch], NOW, None, HotCache())[0]
            assert not isinstance(answer, Exception), answer
    engine.dispose()
    maintained = _rows(fresh_url)
    # Rows: per subject (a's run-1, a's runs/2, b's run-1: two) a total, 2 vendors, 1 price; the scope's
    # total counts the 3 subjects; the days they started: Sep 29 (a's run-1) and Oct 1 (the others).
    assert len(maintained) == 3 * (1 + 2 + 1) + 1 + 2
    assert [(r.period, r.subjects) for r in maintained if r.subjects] == [("2026-09-29", 1), ("2026-10-01", 2),
                                                                          ("", 3)]
    events = {(r.customer_id, r.kind): 0 for r in maintained}
    for r in maintained:
        events[(r.customer_id, r.kind)] += r.events
    assert (events[("", "total")], events[(a, "total")], events[(b, "total")], events[("", "started")]) == (5, 4, 1, 5)
    assert {r.first_day for r in maintained if r.kind == "total" and r.customer_id} == {"2026-09-29", "2026-10-01"}

    cfg = alembic_config(fresh_url)
    command.downgrade(cfg, "0015")
    command.upgrade(cfg, "head")
    assert _rows(fresh_url) == maintained
    command.downgrade(cfg, "0011")
    command.upgrade(cfg, "head")
    assert _rows(fresh_url) == maintained
