from datetime import UTC, datetime

import pytest

from drawdown.core.catalog import Cadence, FixedPrice, due_periods
from drawdown.core.periods import add_months, advance, calendar_period, period_at

UTC = UTC


def d(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_month_ends_are_calendar_correct_from_the_anchor() -> None:
    anchor = d(2026, 1, 31)
    assert [advance(anchor, "month", 1, k) for k in range(5)] == [
        d(2026, 1, 31),
        d(2026, 2, 28),
        d(2026, 3, 31),
        d(2026, 4, 30),
        d(2026, 5, 31),
    ]
    assert add_months(d(2028, 1, 31), 1) == d(2028, 2, 29)  # leap year
    assert advance(d(2024, 2, 29), "year", 1, 1) == d(2025, 2, 28)
    assert advance(anchor, "month", 3, 1) == d(2026, 4, 30)
    assert advance(anchor, "week", 2, 1) == d(2026, 2, 14)


@pytest.mark.parametrize(
    "at, index, start",
    [
        (d(2026, 1, 31), 0, d(2026, 1, 31)),
        (d(2026, 2, 27, 23, 59), 0, d(2026, 1, 31)),
        (d(2026, 2, 28), 1, d(2026, 2, 28)),
        (d(2026, 3, 30), 1, d(2026, 2, 28)),
        (d(2026, 3, 31), 2, d(2026, 3, 31)),
        (d(2027, 1, 31), 12, d(2027, 1, 31)),
    ],
)
def test_period_at_boundaries(at, index, start) -> None:
    period = period_at(d(2026, 1, 31), "month", 1, at)
    assert (period.index, period.start) == (index, start)
    assert period.start <= at < period.end


def test_calendar_periods() -> None:
    assert calendar_period("monthly", d(2026, 2, 28, 23)) == (d(2026, 2, 1), d(2026, 3, 1))
    assert calendar_period("quarterly", d(2026, 5, 5)) == (d(2026, 4, 1), d(2026, 7, 1))
    assert calendar_period("yearly", d(2026, 12, 31)) == (d(2026, 1, 1), d(2027, 1, 1))
    assert calendar_period("lifetime", d(2026, 5, 5))[1] is None


def test_fixed_fees_due_after_a_version_move_start_next_period() -> None:
    from decimal import Decimal

    fee = FixedPrice("p", "plan", "USD", Decimal(20), Cadence("recurring", "month", 1))
    starts = [s for s, _ in due_periods(fee, d(2026, 1, 15), d(2026, 4, 20))]
    assert starts == [d(2026, 1, 15), d(2026, 2, 15), d(2026, 3, 15), d(2026, 4, 15)]
    moved = [s for s, _ in due_periods(fee, d(2026, 1, 15), d(2026, 4, 20), since=d(2026, 3, 1))]
    assert moved == [d(2026, 3, 15), d(2026, 4, 15)]
