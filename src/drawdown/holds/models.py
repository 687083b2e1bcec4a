"""What the holds room is asked (commands) and what it answers (results)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from drawdown.core.errors import Invalid
from drawdown.core.money import plain


@dataclass(frozen=True)
class Estimate:
    """An event that has not happened yet, priced as it would be now (tiers read, never moved)."""

    event_type: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class PlaceHold:
    """Set value aside on ``account`` (``name:ASSET``), once per ``hold_id`` (per customer). Exactly
    one of ``amount`` and ``estimate``; at most one of ``expires_at`` and ``ttl_seconds``.
    ``dry_run``: only say whether it would succeed and what it would cost."""

    hold_id: str
    account: str
    amount: Decimal | None = None
    estimate: Estimate | None = None
    expires_at: datetime | None = None
    ttl_seconds: int | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    dry_run: bool = False
    digest: str = ""  # the request's fingerprint (without dry_run): a replay must match it


@dataclass(frozen=True)
class ReleaseHold:
    """Close a hold, returning what it still holds to ``available`` (once: a closed hold stays closed)."""

    hold_id: str
    account: str


HoldCommand = PlaceHold | ReleaseHold


@dataclass(frozen=True)
class Settlement:
    """A fee settled against a hold: ``from_hold`` of its ``amount`` came from the hold."""

    fee_id: str
    event_id: str
    amount: Decimal
    from_hold: Decimal
    created_at: datetime


@dataclass(frozen=True)
class HoldView:
    hold_id: str
    account: str  # name:ASSET
    asset: str
    status: str  # active | released | expired, as of now
    amount: Decimal
    settled: Decimal
    held: Decimal  # still set aside: amount - settled while active, 0 once closed
    released: Decimal  # returned to available when it closed
    expires_at: datetime
    closed_at: datetime | None
    description: str | None
    metadata: dict[str, str] | None
    estimate: dict[str, Any] | None
    created_at: datetime
    settlements: list[Settlement] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """A dry run's answer: would a hold of ``amount`` succeed now, and if not, how much is missing."""

    account: str
    asset: str
    amount: Decimal
    would_succeed: bool
    missing: Decimal


class InsufficientFunds(Invalid):
    """A hold the account cannot cover (available − held + overdraft limit): 422 ``insufficient_funds``."""

    def __init__(self, field_name: str, amount: Decimal, missing: Decimal) -> None:
        message = f"insufficient funds: the hold needs {plain(amount)}, {plain(missing)} more than is available"
        super().__init__({field_name: [message]})
        self.amount, self.missing = amount, missing
