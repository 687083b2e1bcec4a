"""What the webhooks room is asked and answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Delivery statuses (stored) and the delivery log's filter values (Credyt's ``Success``/``Failed``,
# and Drawdown's ``Pending``).
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
LOG_STATUSES = ("Success", "Failed", "Pending")


@dataclass(frozen=True, slots=True)
class NewDestination:
    url: str
    topics: list[str]
    connect: bool


@dataclass(frozen=True, slots=True)
class DestinationChanges:
    url: str | None = None
    topics: list[str] | None = None
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    id: str
    url: str
    topics: list[str]
    connect: bool
    enabled: bool
    secret: str
    created_at: datetime
    updated_at: datetime
    # Drawdown's additions: why the worker disabled it, and a rotated-out secret's last valid moment.
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class LogItem:
    """One event to one destination, as the delivery log shows it."""

    id: str
    destination_id: str
    topic: str
    time: datetime
    status: str
    successful_at: datetime | None
    failed_at: datetime | None
    next_attempt_at: datetime | None
    data: Any
    attempts: list[Attempt]
    position: int  # the cursor


@dataclass(frozen=True, slots=True)
class LogQuery:
    limit: int = 20
    after: int | None = None  # older than this position (``next``)
    before: int | None = None  # newer than this position (``prev``)
    destination_ids: tuple[str, ...] = ()
    status: str | None = None
    time_gte: datetime | None = None
    time_lte: datetime | None = None


@dataclass(frozen=True, slots=True)
class LogPage:
    items: list[LogItem]
    next: int | None
    prev: int | None
