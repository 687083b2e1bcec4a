"""Holds through the usage service (the batching writer, as served), on both backends: placed,
settled by events, released, expired; each check reads what was committed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.holds.models import Check, HoldView, InsufficientFunds
from tests.holds.conftest import World

D = Decimal


def test_a_hold_sets_value_aside_until_released(world: World) -> None:
    placed = world.place("job-1", "30", description="agent run")
    assert isinstance(placed, HoldView)
    assert (placed.status, placed.amount, placed.held) == ("active", D(30), D(30))
    assert world.balance()["available"] == D(70) and world.balance()["held"] == D(30)
    released = world.release("job-1")
    assert (released.status, released.held, released.released) == ("released", D(0), D(30))
    assert world.balance()["available"] == D(100) and world.balance()["held"] == D(0)
    again = world.release("job-1")  # never twice
    assert (again.status, again.released) == ("released", D(30))
    assert world.balance()["available"] == D(100)


def test_a_hold_past_what_the_account_covers_is_refused_with_what_is_missing(world: World) -> None:
    world.place("a", "60")
    with pytest.raises(InsufficientFunds) as refused:
        world.place("b", "50.5")
    assert refused.value.missing == D("10.5") and "amount" in refused.value.errors
    assert world.balance()["available"] == D(40)
    with pytest.raises(NotFound):  # nothing of it was kept
        world.hold("b")


def test_hold_id_is_the_idempotency_key(world: World) -> None:
    first = world.place("k", "10", digest="body-1")
    again = world.place("k", "10", digest="body-1")
    assert isinstance(first, HoldView) and isinstance(again, HoldView)
    assert again.created_at == first.created_at and world.balance()["held"] == D(10)
    with pytest.raises(Conflict):
        world.place("k", "11", digest="body-2")


def test_events_draw_from_their_hold_first_then_the_wallet(world: World) -> None:
    world.place("run", "25")
    world.use("e1", 10, "run")
    assert world.hold("run").held == D(15) and world.balance()["available"] == D(75)
    world.use("e2", 20, "run")  # 15 from the hold, 5 from the wallet
    h = world.hold("run")
    assert (h.settled, h.held) == (D(25), D(0))
    assert [(s.event_id, s.amount, s.from_hold) for s in h.settlements] == [("e1", D(10), D(10)), ("e2", D(20), D(15))]
    assert world.balance()["available"] == D(70)
    assert world.release("run").released == D(0)
    assert world.balance()["available"] == D(70)


def test_fees_beyond_the_hold_follow_the_overdraft_rule(world: World) -> None:
    world.place("run", "90")
    outcome = world.use("big", 101, "run")  # 90 from the hold, 11 more than the 10 left
    assert outcome.rejected and not outcome.accepted
    assert world.hold("run").held == D(90)
    assert world.use("fits", 100, "run").accepted == ["fits"]
    assert world.balance()["available"] == D(0)


def test_value_on_hold_cannot_be_spent_by_other_events(world: World) -> None:
    world.place("run", "95")
    assert world.use("other", 6).rejected  # only 5 is free
    assert world.use("small", 5).accepted == ["small"]
    assert world.balance()["available"] == D(0) and world.balance()["held"] == D(95)


def test_an_event_naming_a_closed_or_unknown_hold_bills_as_usual_and_says_so(world: World) -> None:
    world.place("done", "10")
    world.release("done")
    outcome = world.use("late", 4, "done")
    assert outcome.accepted == ["late"] and "released" in outcome.notes[0]
    assert "no hold" in world.use("nobody", 1, "ghost").notes[0]
    assert world.hold("done").settlements == [] and world.balance()["available"] == D(95)


def test_a_hold_expires_on_read_and_the_job_closes_it(world: World) -> None:
    from drawdown.billing.job import run_due

    world.place("short", "40", ttl_seconds=60)
    world.use("e", 15, "short")
    world.later(seconds=61)
    h = world.hold("short")
    assert (h.status, h.held, h.released) == ("expired", D(0), D(25))
    assert world.balance()["available"] == D(85)
    assert "expired" in world.use("after", 1, "short").notes[0]
    report = run_due(world.engine, world.now, D(0), "http://x", {world.customer})
    assert report.holds_expired == 1
    h2 = world.release("short")  # a release after expiry gives nothing back twice
    assert (h2.status, h2.released, h2.closed_at) == ("expired", D(25), h.expires_at)
    assert world.balance()["available"] == D(84)


def test_bad_expiries_are_refused_naming_the_field(world: World) -> None:
    with pytest.raises(Invalid) as refused:
        world.place("x", "1", ttl_seconds=7 * 86400 + 1)
    assert "ttl_seconds" in refused.value.errors
    with pytest.raises(Invalid) as refused:
        world.place("y", "1", expires_at=world.now)
    assert "expires_at" in refused.value.errors
    with pytest.raises(Invalid) as refused:
        world.place("z", "1", account="default:NOPE")
    assert "account_id" in refused.value.errors


def test_a_dry_run_answers_without_reserving(world: World) -> None:
    yes = world.place("q", "100", dry_run=True)
    no = world.place("q", "100.000000001", dry_run=True)
    assert isinstance(yes, Check) and isinstance(no, Check)
    assert (yes.would_succeed, yes.missing) == (True, D(0))
    assert (no.would_succeed, no.missing) == (False, D("0.000000001"))
    assert world.balance()["held"] == D(0)
    with pytest.raises(NotFound):
        world.hold("q")


def test_other_spending_paths_cannot_take_held_value(world: World) -> None:
    from drawdown.core.scopes import DEFAULT_LIVE
    from drawdown.db.engine import write
    from drawdown.wallets import service as wallets
    from drawdown.wallets.models import Charge

    world.place("run", "95")
    with pytest.raises(Invalid), write(world.engine) as conn:
        wallets.charge(conn, DEFAULT_LIVE, world.customer, Charge("c1", world.asset, D(6)), world.now, D(0))
    with write(world.engine) as conn:
        wallets.charge(conn, DEFAULT_LIVE, world.customer, Charge("c2", world.asset, D(5)), world.now, D(0))
    assert world.balance()["available"] == D(0) and world.balance()["held"] == D(95)
    world.later(minutes=16)  # the hold expired: its value is free again, without any write
    assert world.balance()["available"] == D(95) and world.balance()["held"] == D(0)
