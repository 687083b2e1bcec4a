"""What period billing answers: what one customer's subscription run charged, and a job run's report."""

from __future__ import annotations

from dataclasses import dataclass, field

# Subscription statuses billing sets: a fixed fee that cannot be paid blocks the subscription until
# a later run (or a reactivation) collects it.
ACTIVE, ACTION_REQUIRED = "active", "action_required"


@dataclass(frozen=True)
class FixedCollected:
    """What ``cycle.collect_fixed`` did to one subscription."""

    charged: int  # fixed fees charged (one per price and period)
    blocked: bool  # a due fee did not fit: the subscription needs a payment
    action_required: bool  # this run moved the subscription to action_required
    reactivated: bool  # this run collected what was due and made it active again


@dataclass
class Report:
    """A job run's totals, accumulated customer by customer (hence mutable)."""

    visited: int = 0  # customers visited (those with something due)
    fixed_charged: int = 0
    usage_charged: int = 0
    entitlements_granted: int = 0
    holds_expired: int = 0  # holds closed because their expiry had passed
    action_required: list[str] = field(default_factory=list)
