"""When a subscription's prices next fall due: the pure rules behind ``subscriptions.next_due_at``.

The billing job visits a subscription only once its next due moment has passed, so every rule here
errs early: a moment too early costs one visit, a moment too late would leave a fee uncharged.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from drawdown.core.catalog import RECURRING, Cadence, FixedPrice, billing_period, due_periods
from drawdown.core.periods import period_at


def fixed_due(
    fixed: FixedPrice, started_at: datetime, since: datetime, charged: Collection[tuple[str, datetime]], now: datetime
) -> datetime | None:
    """When the fixed price next needs charging: the start of its first period due by ``now`` and not
    charged yet (a fee that did not fit), else its next period start at or after ``since`` (when a
    version took over); None for a one-time fee already charged."""
    if fixed.cadence.kind != RECURRING:
        return None if (fixed.id, since) in charged else since
    for start, _ in due_periods(fixed, started_at, now, since):
        if (fixed.id, start) not in charged:
            return start
    return next_start(fixed.cadence, started_at, since, now)


def next_start(cadence: Cadence, anchor: datetime, since: datetime, now: datetime) -> datetime:
    """The first period start of the cadence after ``now`` and at or after ``since``."""
    if since > now:
        period = period_at(anchor, cadence.interval, cadence.count, since)
        return period.start if period.start >= since else period.end
    if anchor > now:
        return anchor
    return billing_period(cadence, anchor, now).end


def period_end(cadence: Cadence, anchor: datetime, now: datetime) -> datetime:
    """The end of the recurring period holding ``now`` (of the first period, before the anchor)."""
    return billing_period(cadence, anchor, now).end


def earliest(moments: Collection[datetime | None]) -> datetime | None:
    """The earliest of the moments given (None when none is)."""
    return min((m for m in moments if m is not None), default=None)
