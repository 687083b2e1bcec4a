"""Scopes on the event path: every batch names its customer, vendors and rates within its own scope,
its rows carry that scope, and events are read back only in it. One group may mix scopes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine, func, select

from drawdown.apikeys import service as api_keys
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST, Scope
from drawdown.db.engine import read, write
from drawdown.db.tables import events, rollups
from drawdown.usage import events as usage_events
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Answer, Cost, EventFilter, UsageBatch, UsageEvent
from drawdown.usage.service import UsageService
from drawdown.vendors import service as vendors
from drawdown.vendors.models import NewVendor
from drawdown.wallets import service as wallets
from tests.conftest import Server, unique
from tests.worlds import volume_world

D = Decimal


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _ev(event_id: str, n: int, now: datetime, costs: tuple[Cost, ...] | None = None) -> UsageEvent:
    return UsageEvent(event_id, "u", now, data={"n": n}, costs=costs)


def _bill(engine: Engine, batches: list[UsageBatch], now: datetime) -> list[Answer]:
    with write(engine) as conn:
        return pipeline.bill(conn, batches, now, None, HotCache())


def _available(engine: Engine, scope: Scope, cid: str, code: str, now: datetime) -> Decimal:
    with read(engine) as conn:
        return wallets.balance(conn, scope, cid, f"default:{code}", now).available


def _stored(engine: Engine, cid: str) -> list[tuple[int, str]]:
    with read(engine) as conn:
        q = select(events.c.scope_id, events.c.id).where(events.c.customer_id == cid)
        return [(r.scope_id, r.id) for r in conn.execute(q)]


def test_a_customer_of_another_scope_is_answered_like_an_unknown_one_and_billed_nothing(engine: Engine) -> None:
    now = _now()
    code, (live,) = volume_world(engine, now, D(1), 1, D(10))
    answers = _bill(engine, [
        UsageBatch(DEFAULT_TEST, live, None, [_ev("x", 3, now)]),
        UsageBatch(DEFAULT_TEST, "cust_nobody", None, [_ev("x", 3, now)]),
        UsageBatch(DEFAULT_TEST, None, f"{code}-0", [_ev("y", 3, now)]),  # the live customer's external id
        UsageBatch(DEFAULT_TEST, None, "nobody", [_ev("y", 3, now)]),
    ], now)
    foreign, unknown, foreign_ext, unknown_ext = answers
    assert isinstance(foreign, Invalid) and isinstance(unknown, Invalid)
    assert foreign.errors == {"customer_id": [f"no customer has id {live!r}"]}
    assert str(foreign).replace(live, "?") == str(unknown).replace("cust_nobody", "?")
    assert isinstance(foreign_ext, Invalid) and isinstance(unknown_ext, Invalid)
    assert foreign_ext.errors == {"customer_external_id": [f"no customer has external_id '{code}-0'"]}
    assert _stored(engine, live) == []
    assert _available(engine, DEFAULT_LIVE, live, code, now) == D(10)


def test_the_same_event_id_in_two_scopes_is_two_events_billed_in_one_group(engine: Engine) -> None:
    now = _now()
    live_code, (live,) = volume_world(engine, now, D(1), 1, D(10))
    test_code, (test,) = volume_world(engine, now, D(2), 1, D(10), scope=DEFAULT_TEST)
    answers = _bill(engine, [
        UsageBatch(DEFAULT_LIVE, live, None, [_ev("same", 3, now)]),
        UsageBatch(DEFAULT_TEST, None, f"{test_code}-0", [_ev("same", 3, now)]),
    ], now)
    assert [a if isinstance(a, Exception) else (a[0], a[1].accepted) for a in answers] == [
        (live, ["same"]), (test, ["same"])
    ]
    assert _stored(engine, live) == [(DEFAULT_LIVE.id, "same")]
    assert _stored(engine, test) == [(DEFAULT_TEST.id, "same")]
    assert _available(engine, DEFAULT_LIVE, live, live_code, now) == D(7)
    assert _available(engine, DEFAULT_TEST, test, test_code, now) == D(4)
    with read(engine) as conn:
        assert usage_events.get_event(conn, DEFAULT_TEST, "same", test).customer_id == test
        with pytest.raises(NotFound):
            usage_events.get_event(conn, DEFAULT_TEST, "same", live)
        listed, total = usage_events.list_events(conn, DEFAULT_LIVE, EventFilter(customer_id=test), 0, 10)
        assert (listed, total) == ([], 0)


def test_rollups_are_written_in_the_scope_of_the_event(engine: Engine) -> None:
    now = _now()
    _, (live,) = volume_world(engine, now, D(1), 1, D(10))
    _, (test,) = volume_world(engine, now, D(1), 1, D(10), scope=DEFAULT_TEST)
    _bill(engine, [UsageBatch(DEFAULT_LIVE, live, None, [_ev("r", 1, now)]),
                   UsageBatch(DEFAULT_TEST, test, None, [_ev("r", 1, now)])], now)
    with read(engine) as conn:
        q = select(rollups.c.scope_id, func.count()).where(rollups.c.key.in_([live, test])).group_by(
            rollups.c.scope_id, rollups.c.key
        ).add_columns(rollups.c.key)
        found = {(r.scope_id, r.key): r[1] for r in conn.execute(q)}
    assert found == {(DEFAULT_LIVE.id, live): 2, (DEFAULT_TEST.id, test): 2}  # customer_day, customer_month


def test_a_cost_names_a_vendor_of_its_own_scope_only(engine: Engine) -> None:
    now = _now()
    _, (test,) = volume_world(engine, now, D(1), 1, D(10), scope=DEFAULT_TEST)
    with write(engine) as conn:
        live_vendor = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="v", external_id="shared"), now).id
        test_vendor = vendors.create(conn, DEFAULT_TEST, NewVendor(name="v", external_id="shared"), now).id
    foreign = Cost("c1", vendor_id=live_vendor, amount=D(1))
    (refused,) = _bill(engine, [UsageBatch(DEFAULT_TEST, test, None, [_ev("v1", 1, now, (foreign,))])], now)
    assert isinstance(refused, Invalid)
    assert refused.errors == {"events[0].costs[0].vendor_id": [f"no vendor {live_vendor!r}"]}
    by_external = Cost("c1", vendor_external_id="shared", amount=D(1))
    (answer,) = _bill(engine, [UsageBatch(DEFAULT_TEST, test, None, [_ev("v2", 1, now, (by_external,))])], now)
    assert not isinstance(answer, Exception) and answer[1].accepted == ["v2"]
    with read(engine) as conn:
        (cost,) = usage_events.get_event(conn, DEFAULT_TEST, "v2", test).costs or []
        key = select(rollups.c.scope_id).where(rollups.c.kind == "vendor_day", rollups.c.key == test_vendor)
        assert conn.execute(key).scalars().all() == [DEFAULT_TEST.id]
    assert cost["vendor_external_id"] == "shared"


def test_the_batching_writer_bills_batches_of_several_scopes_together(engine: Engine) -> None:
    now = _now()
    _, (live,) = volume_world(engine, now, D(1), 1, D(10))
    _, (test,) = volume_world(engine, now, D(1), 1, D(10), scope=DEFAULT_TEST)
    usage = UsageService(engine, lambda: now, None)
    try:
        futures = [usage.writer.submit(UsageBatch(s, c, None, [_ev("w", 1, now)]))  # type: ignore[union-attr]
                   for s, c in ((DEFAULT_LIVE, live), (DEFAULT_TEST, test), (DEFAULT_TEST, live))]
        answers = [f.result(timeout=30) for f in futures]
    finally:
        usage.close()
    assert [a[0] for a in answers[:2]] == [live, test]  # type: ignore[index]
    assert isinstance(answers[2], Invalid)
    assert _stored(engine, live) == [(DEFAULT_LIVE.id, "w")] and _stored(engine, test) == [(DEFAULT_TEST.id, "w")]


# --------------------------------------------------------------------------------------------- HTTP
def test_a_test_key_neither_sends_to_nor_reads_live_events(server: Server) -> None:
    now = _now()
    _, (live,) = volume_world(server.engine, now, D(1), 1, D(10))
    with write(server.engine) as conn:
        _, test_secret = api_keys.create(conn, DEFAULT_TEST, "test-env", now)
    event_id = unique("ev")
    body = {"customer_id": live, "events": [{"id": event_id, "event_type": "u", "occurred_at": now.isoformat(),
                                             "data": {"n": 1}}]}
    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": test_secret}, timeout=30) as as_test, \
            httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=30) as as_live:
        refused = as_test.post("/events", json=body)
        unknown = as_test.post("/events", json={**body, "customer_id": "cust_nobody"})
        assert refused.status_code == unknown.status_code == 422
        assert refused.json()["errors"] == {"customer_id": [f"no customer has id {live!r}"]}
        assert as_live.post("/events", json=body).status_code == 204
        assert as_live.get(f"/events/{event_id}").status_code == 200
        assert as_live.get("/events", params={"event_id": event_id}).json()["total_count"] == 1
        missing = as_test.get(f"/events/{event_id}")
        never = as_test.get("/events/ev-never-sent")
        assert missing.status_code == never.status_code == 404
        assert missing.json()["detail"].replace(event_id, "?") == never.json()["detail"].replace("ev-never-sent", "?")
        for params in ({"event_id": event_id}, {"customer_id": live}, {}):
            listed = as_test.get("/events", params=params).json()
            assert all(item["id"] != event_id for item in listed["items"]), params
        assert as_test.get("/events", params={"customer_id": live}).json()["total_count"] == 0
