"""core.schedule: when a fixed fee next falls due, never later than it does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from drawdown.core.catalog import ONE_TIME, RECURRING, Cadence, FixedPrice
from drawdown.core.schedule import earliest, fixed_due, next_start, period_end

T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
FEB, MAR, APR = (datetime(2026, m, d, 10, 0, tzinfo=UTC) for m, d in ((2, 28), (3, 31), (4, 30)))
MONTHLY = Cadence(RECURRING, "month", 1)
PLAN = FixedPrice("p", "Plan", "USD", Decimal(20), MONTHLY)


def test_the_next_period_start_once_everything_due_is_charged() -> None:
    assert fixed_due(PLAN, T0, T0, {("p", T0)}, T0) == FEB
    assert fixed_due(PLAN, T0, T0, {("p", T0), ("p", FEB)}, MAR.replace(day=1)) == MAR


def test_a_period_due_and_not_charged_is_due_now() -> None:
    assert fixed_due(PLAN, T0, T0, {("p", T0)}, MAR) == FEB
    assert fixed_due(PLAN, T0, T0, set(), T0) == T0


def test_after_a_version_move_the_first_period_at_or_after_it() -> None:
    moved = datetime(2026, 2, 10, tzinfo=UTC)
    assert fixed_due(PLAN, T0, moved, set(), moved) == FEB  # January's period was paid on the old version
    assert fixed_due(PLAN, T0, FEB, set(), FEB) == FEB  # a move on a period start pays that period
    assert next_start(MONTHLY, T0, moved, T0) == FEB  # a move after now
    assert next_start(MONTHLY, T0, FEB + (FEB - moved), T0) == MAR


def test_a_one_time_fee_is_due_once() -> None:
    once = FixedPrice("o", "Setup", "USD", Decimal(5), Cadence(ONE_TIME))
    assert fixed_due(once, T0, T0, set(), T0) == T0
    assert fixed_due(once, T0, T0, {("o", T0)}, APR) is None


def test_before_the_start_and_recurring_period_ends() -> None:
    assert next_start(MONTHLY, FEB, FEB, T0) == FEB
    assert period_end(MONTHLY, T0, FEB) == MAR
    assert earliest([None, MAR, FEB]) == FEB
    assert earliest([None]) is None
