"""The batching writer: concurrent requests share a commit; a refused one rolls back alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from drawdown.core.errors import Invalid
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import read
from drawdown.db.tables import events, wallet_accounts
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.usage.service import UsageService
from drawdown.wallets.repository import balances
from tests.worlds import volume_world


def test_group_commit_isolates_a_refused_request(engine) -> None:
    now = datetime.now(UTC)
    _, ids = volume_world(engine, now, Decimal(1), 6, Decimal(10))
    writer = UsageService(engine, lambda: datetime.now(UTC), Decimal(0), max_batch=64)
    try:

        def send(i: int) -> tuple[str, object]:
            ev = UsageEvent(f"e{i}", "u", now, data={"n": "lots" if i == 3 else 2})
            return writer.send_now(UsageBatch(DEFAULT_LIVE, ids[i], None, [ev]))

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(send, i) for i in range(6)]
        outcomes = []
        for i, f in enumerate(futures):
            if i == 3:
                with pytest.raises(Invalid):
                    f.result()
            else:
                outcomes.append(f.result()[1].accepted)
        assert outcomes == [[f"e{i}"] for i in (0, 1, 2, 4, 5)]
        with pytest.raises(Invalid):
            writer.send_now(UsageBatch(DEFAULT_LIVE, "cust_nobody", None, [UsageEvent("x", "u", now)]))
    finally:
        writer.close()
    with read(engine) as conn:
        stored = set(conn.execute(select(events.c.customer_id).where(events.c.customer_id.in_(ids))).scalars())
    assert stored == set(ids) - {ids[3]}


def test_two_writers_on_shared_customers_never_deadlock_lose_or_double_bill(engine) -> None:
    """Two writers (as two server workers would) bill overlapping customers, every event sent once
    through each: locks taken in id order mean no group ever fails, and each event bills once."""
    now = datetime.now(UTC)
    code, ids = volume_world(engine, now, Decimal("0.25"), 12, Decimal(1000))
    sent = [(ids[(i * 7) % 12], UsageEvent(f"e{i}", "u", now, data={"n": 1 + i % 5})) for i in range(240)]
    writers = [UsageService(engine, lambda: datetime.now(UTC), Decimal(0), max_batch=16) for _ in range(2)]
    try:
        jobs = [(w, cid, ev) for k, (cid, ev) in enumerate(sent) for w in (writers[k % 2], writers[1 - k % 2])]
        with ThreadPoolExecutor(8) as pool:
            results = list(
                pool.map(lambda job: job[0].send_now(UsageBatch(DEFAULT_LIVE, job[1], None, [job[2]]))[1], jobs)
            )
    finally:
        for w in writers:
            w.close()
    assert sum(len(r.accepted) for r in results) == 240 and sum(len(r.replayed) for r in results) == 240
    assert all(w.writer.groups_failed == 0 for w in writers) and sum(w.writer.groups for w in writers) < len(jobs)
    with read(engine) as conn:
        stored = sorted(conn.execute(select(events.c.id).where(events.c.customer_id.in_(ids))).scalars())
        accounts = {
            r.customer_id: r.id for r in conn.execute(select(wallet_accounts).where(wallet_accounts.c.asset == code))
        }
        for cid in ids:
            spent = sum(Decimal(ev.data["n"]) * Decimal("0.25") for c, ev in sent if c == cid)
            assert balances(conn, accounts[cid], now)["available"] == Decimal(1000) - spent
    assert stored == sorted(f"e{i}" for i in range(240))
