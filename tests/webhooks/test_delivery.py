"""The delivery worker against a real receiver, with the injectable clock: events are emitted in a
far future, so the test servers' own workers (real time) never find them due; this test's Deliverer
is ticked at the moments it chooses. Nothing is mocked between the outbox and the socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from drawdown.accounts import service as accounts
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.db.webhook_tables import webhook_deliveries, webhook_destinations
from drawdown.ops.metrics import WEBHOOKS
from drawdown.settings import Settings
from drawdown.webhooks import delivery
from drawdown.webhooks import service as hooks
from drawdown.webhooks.models import LogQuery, NewDestination
from drawdown.webhooks.outbox import emit
from drawdown.webhooks.worker import Deliverer
from tests.webhooks.receiver import Receiver

T0 = datetime(2031, 1, 1, tzinfo=UTC)
# Later than any moment a test here ticks at: what other tests left pending (in the shared database, for
# their own destinations) is attempted then, once, and is never due again at this module's moments.
LEFTOVERS = T0 + timedelta(days=3650)


@pytest.fixture
def scope(engine: Engine) -> Scope:
    with write(engine) as conn:
        return accounts.scope_for(conn, accounts.create_platform(conn, "Deliveries", T0).id, "live")


@pytest.fixture
def deliverer(engine: Engine) -> Iterator[Deliverer]:
    settings = Settings(webhooks_allow_private=True, webhooks_timeout_seconds=1, webhooks_connect_timeout_seconds=1)
    d = Deliverer(engine, settings)
    d.drain(LEFTOVERS)  # so this test's receiver and the metrics it reads see this test's deliveries alone
    yield d
    d.close()


def destination(engine: Engine, scope: Scope, receiver: Receiver, topics: list[str] | None = None) -> str:
    with write(engine) as conn:
        made = hooks.create(conn, scope, NewDestination(receiver.url, topics or ["*"], False), T0)
    receiver.trust(made.secret)
    return made.id


def send(engine: Engine, scope: Scope, customer: str | None, n: int, at: datetime = T0) -> str:
    with write(engine) as conn:
        return emit(conn, scope, "balance.low", {"n": n}, customer_id=customer, now=at)


def row(engine: Engine, event_id: str) -> Any:
    with read(engine) as conn:
        return conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.event_id == event_id)).one()


def test_in_order_per_customer_at_least_once(engine: Engine, scope: Scope, receiver: Receiver,
                                             deliverer: Deliverer) -> None:
    destination(engine, scope, receiver)
    a1, a2, b1 = send(engine, scope, "cust_a", 1), send(engine, scope, "cust_a", 2), send(engine, scope, "cust_b", 1)
    receiver.answer_event(a1, 500, 200)  # a1 and b1 go out side by side: which arrives first is not fixed
    deliverer.drain(T0)
    # a1 failed once; a2 waits behind it; b1, another customer, went on.
    assert [d.json["id"] for d in receiver.deliveries] == [a1, b1] or [d.json["id"] for d in receiver.deliveries] == [
        b1, a1]
    assert all(d.verified for d in receiver.deliveries)
    assert row(engine, a2).attempts == 0 and row(engine, a1).status == "pending"
    deliverer.drain(T0 + timedelta(seconds=20))  # not yet due (30 s ± 20 %)
    assert len(receiver.deliveries) == 2
    deliverer.drain(T0 + timedelta(seconds=40))
    ids = [d.json["id"] for d in receiver.deliveries]
    assert ids[2:] == [a1, a2]
    assert receiver.deliveries[0].body == receiver.deliveries[2].body or receiver.deliveries[1].body == \
        receiver.deliveries[2].body  # the same bytes, the same id: receivers de-duplicate by it
    assert {row(engine, e).status for e in (a1, a2, b1)} == {"succeeded"}
    deliverer.drain(T0 + timedelta(days=9))
    assert len(receiver.deliveries) == 4  # nothing sent twice once it succeeded


def test_back_off_over_three_days_then_given_up_and_disabled(engine: Engine, scope: Scope, receiver: Receiver,
                                                             deliverer: Deliverer) -> None:
    dest = destination(engine, scope, receiver)
    receiver.answer(503)
    event = send(engine, scope, "cust_a", 1)
    before = WEBHOOKS.snapshot()
    now, gaps = T0, []
    for _ in range(40):
        deliverer.drain(now)
        r = row(engine, event)
        if r.status != "pending":
            break
        gaps.append(r.next_attempt_at - now)
        now = r.next_attempt_at
    assert r.status == "failed" and r.failed_at - r.first_attempt_at >= timedelta(hours=72)
    assert len(receiver.deliveries) == r.attempts == len(gaps) + 1
    for n, gap in enumerate(gaps, start=1):
        base = min(timedelta(seconds=30) * 3 ** (n - 1), timedelta(hours=12))
        assert base * 0.8 <= gap <= base * 1.2, (n, gap)
    assert gaps[-1] <= timedelta(hours=14.4) and len(gaps) >= 10
    after = WEBHOOKS.snapshot()
    assert after["failed"] - before["failed"] == r.attempts and after["given_up"] - before["given_up"] == 1
    # The destination failed every attempt for 72 hours, 10+ in a row: disabled, and it says why.
    with read(engine) as conn:
        got = hooks.get(conn, scope, dest)
    assert got.enabled is False and "failed" in (got.disabled_reason or "") and got.disabled_at == now
    assert after["disabled"] - before["disabled"] == 1
    # While disabled, nothing more is sent; enabled again, what waits goes out.
    receiver.answer(200)
    later = send(engine, scope, "cust_b", 2, now)
    deliverer.drain(now + timedelta(days=1))
    assert len(receiver.deliveries) == r.attempts
    with write(engine) as conn:
        hooks.update(conn, scope, dest, hooks.DestinationChanges(enabled=True), now + timedelta(days=1))
        assert hooks.redeliver(conn, scope, event, None, now + timedelta(days=1)) == 1
    deliverer.drain(now + timedelta(days=1))
    assert {d.json["id"] for d in receiver.deliveries[-1:]} <= {event}
    assert row(engine, event).status == "succeeded"
    with read(engine) as conn:  # sent while the destination was disabled: not for it
        assert conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.event_id == later)).first() is None


def test_the_log_shows_attempts_with_cursors_and_filters(engine: Engine, scope: Scope, receivers,
                                                         deliverer: Deliverer) -> None:
    good, bad = receivers(), receivers()
    ok_dest, bad_dest = destination(engine, scope, good), destination(engine, scope, bad)
    bad.answer(500)
    events = [send(engine, scope, None, n, T0 + timedelta(minutes=n)) for n in range(3)]
    deliverer.drain(T0 + timedelta(minutes=5))
    with read(engine) as conn:
        everything = hooks.delivery_log(conn, scope, LogQuery(limit=50))
        assert len(everything.items) == 6 and everything.next is None and everything.prev is None
        first = hooks.delivery_log(conn, scope, LogQuery(limit=4))
        assert first.next is not None and first.prev is None
        second = hooks.delivery_log(conn, scope, LogQuery(limit=4, after=first.next))
        assert len(second.items) == 2 and second.next is None and second.prev is not None
        back = hooks.delivery_log(conn, scope, LogQuery(limit=4, before=second.prev))
        assert [i.position for i in back.items] == [i.position for i in first.items]
        ok = hooks.delivery_log(conn, scope, LogQuery(status="Success"))
        failed = hooks.delivery_log(conn, scope, LogQuery(status="Failed"))
        one = hooks.delivery_log(conn, scope, LogQuery(destination_ids=(bad_dest,)))
        late = hooks.delivery_log(conn, scope, LogQuery(time_gte=T0 + timedelta(minutes=2)))
    assert {i.destination_id for i in ok.items} == {ok_dest} and len(ok.items) == 3
    assert {i.destination_id for i in failed.items} == {bad_dest} and len(failed.items) == 3
    assert all(i.attempts[0].status_code == 500 and i.failed_at is not None for i in failed.items)
    assert all(i.successful_at is not None and i.attempts[0].duration_ms >= 0 for i in ok.items)
    assert {i.destination_id for i in one.items} == {bad_dest}
    assert {i.id for i in late.items} == {events[2]}
    assert {i.data["n"] for i in everything.items} == {0, 1, 2}


def test_bounds_slow_redirect_huge(engine: Engine, scope: Scope, receivers, deliverer: Deliverer) -> None:
    slow, moved, huge, target = receivers(), receivers(), receivers(), receivers()
    slow.delay = 3
    moved.redirect_to = target.url
    huge.huge_body = 200 * 1024 * 1024
    for r in (slow, moved, huge):
        destination(engine, scope, r)
    started = datetime.now(UTC)
    event = send(engine, scope, None, 1)
    deliverer.drain(T0)
    took = datetime.now(UTC) - started
    assert took < timedelta(seconds=2.9)  # the slow one was cut off at its bound (1 s + 1 s)
    with read(engine) as conn:
        items = {i.destination_id: i for i in hooks.delivery_log(conn, scope, LogQuery()).items}
        dests = {d.url: d.id for d in hooks.list_destinations(conn, scope)}
    assert "timed out" in (items[dests[slow.url]].attempts[0].error or "")
    assert items[dests[moved.url]].attempts[0].status_code == 302
    assert "redirect" in (items[dests[moved.url]].attempts[0].error or "") and target.deliveries == []
    assert items[dests[huge.url]].successful_at is not None  # 2xx: delivered; the body read stops at 64 KiB
    assert items[dests[huge.url]].id == event


def test_a_slow_receiver_does_not_hold_the_others(engine: Engine, scope: Scope, receivers,
                                                  deliverer: Deliverer) -> None:
    slow, fast = receivers(), receivers()
    slow.delay = 0.8
    destination(engine, scope, slow)
    destination(engine, scope, fast)
    send(engine, scope, None, 1)
    deliverer.tick(T0)  # starts both, waits for neither
    assert fast.wait_for(1, timeout=5) and slow.wait_for(1, timeout=5)
    assert fast.deliveries[0].received_at - slow.deliveries[0].received_at < 0.5


def test_private_addresses_are_refused_at_delivery_unless_allowed(engine: Engine, scope: Scope, receiver: Receiver,
                                                                  deliverer: Deliverer) -> None:
    destination(engine, scope, receiver)
    strict = Deliverer(engine, Settings(webhooks_allow_private=False))
    try:
        event = send(engine, scope, None, 1)
        strict.drain(T0)
    finally:
        strict.close()
    assert receiver.deliveries == []
    with read(engine) as conn:
        [item] = hooks.delivery_log(conn, scope, LogQuery()).items
    assert "private" in (item.attempts[0].error or "") and row(engine, event).status == "pending"


def test_back_off_schedule_is_bounded() -> None:
    assert delivery.backoff(1) <= timedelta(seconds=36) and delivery.backoff(1000) <= timedelta(hours=14.4)


def test_two_workers_never_send_one_attempt_twice(engine: Engine, scope: Scope, receiver: Receiver) -> None:
    destination(engine, scope, receiver)
    settings = Settings(webhooks_allow_private=True)
    one, two = Deliverer(engine, settings), Deliverer(engine, settings)
    try:
        events = [send(engine, scope, f"cust_{n % 3}", n) for n in range(12)]
        for _ in range(30):
            one.tick(T0, wait=True)
            two.tick(T0, wait=True)
    finally:
        one.close()
        two.close()
    assert sorted(d.json["id"] for d in receiver.deliveries) == sorted(events)
    with read(engine) as conn:
        assert conn.execute(select(webhook_destinations.c.consecutive_failures)).scalars().all().count(0) >= 1
