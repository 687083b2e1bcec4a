"""Calendar periods in UTC: billing intervals, tier-reset periods, renewals.

Months are added calendar-correctly from the anchor, never from the previous boundary: a subscription
started on 31 January renews on 28 (or 29) February, then 31 March, then 30 April.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTERVALS = ("day", "week", "month", "year")


def add_months(anchor: datetime, months: int) -> datetime:
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def advance(anchor: datetime, interval: str, count: int, k: int) -> datetime:
    """The start of period ``k`` of a cadence of ``count`` × ``interval`` anchored at ``anchor``."""
    if interval == "day":
        return anchor + timedelta(days=count * k)
    if interval == "week":
        return anchor + timedelta(weeks=count * k)
    if interval == "month":
        return add_months(anchor, count * k)
    if interval == "year":
        return add_months(anchor, 12 * count * k)
    raise ValueError(f"unknown interval {interval!r}")


@dataclass(frozen=True)
class Period:
    index: int
    start: datetime
    end: datetime


def period_at(anchor: datetime, interval: str, count: int, at: datetime) -> Period:
    """The period of the cadence containing ``at`` (``at`` before the anchor is period 0's start)."""
    if at < anchor:
        return Period(0, anchor, advance(anchor, interval, count, 1))
    if interval in ("day", "week"):
        length = timedelta(days=count) if interval == "day" else timedelta(weeks=count)
        k = int((at - anchor) / length)
    else:
        months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
        step = count * (12 if interval == "year" else 1)
        k = max(months // step - 1, 0)
    while advance(anchor, interval, count, k + 1) <= at:
        k += 1
    while k > 0 and advance(anchor, interval, count, k) > at:
        k -= 1
    return Period(k, advance(anchor, interval, count, k), advance(anchor, interval, count, k + 1))


def calendar_period(kind: str, at: datetime) -> tuple[datetime, datetime | None]:
    """Tier-reset periods on the UTC calendar: monthly, quarterly, yearly, or lifetime (never resets)."""
    at = at.astimezone(UTC)
    if kind == "lifetime":
        return EPOCH, None
    if kind == "monthly":
        start = datetime(at.year, at.month, 1, tzinfo=UTC)
        return start, add_months(start, 1)
    if kind == "quarterly":
        start = datetime(at.year, 3 * ((at.month - 1) // 3) + 1, 1, tzinfo=UTC)
        return start, add_months(start, 3)
    if kind == "yearly":
        start = datetime(at.year, 1, 1, tzinfo=UTC)
        return start, add_months(start, 12)
    raise ValueError(f"unknown tier period {kind!r}")
