"""What the usage room is handed (one customer's batch of events) and what it answers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from drawdown.codec import fingerprint
from drawdown.core.scopes import Scope
from drawdown.holds.models import Check, HoldCommand, HoldView


@dataclass(frozen=True)
class Cost:
    """A vendor cost the platform attaches to an event (what the work behind it cost)."""

    id: str
    vendor_id: str | None = None
    vendor_external_id: str | None = None
    category: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    units: Decimal | None = None
    unit_price: Decimal | None = None
    input_volume: Decimal | None = None
    volume_rate: Decimal | None = None
    package_size: Decimal | None = None
    amount: Decimal | None = None
    currency: str | None = None

    def doc(self) -> dict[str, Any]:
        """The cost as stored with its event (the fields given)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class UsageEvent:
    id: str
    event_type: str
    occurred_at: datetime
    subject: str | None = None
    description: str | None = None
    data: dict[str, Any] | None = None
    costs: tuple[Cost, ...] | None = None
    hold_id: str | None = None  # Drawdown extension: the hold its fees settle against first

    def cost_docs(self) -> list[dict[str, Any]] | None:
        return None if self.costs is None else [c.doc() for c in self.costs]

    @property
    def named_hold(self) -> str | None:
        """The hold the event names: ``hold_id``, or ``data.hold_id`` (the official client passes
        fields it does not know through in ``data``)."""
        if self.hold_id is not None:
            return self.hold_id
        named = (self.data or {}).get("hold_id")
        return named if isinstance(named, str) and named else None

    def doc(self) -> dict[str, Any]:
        """What identifies the event's content: a replay must match it exactly."""
        doc = {
            "id": self.id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "subject": self.subject,
            "description": self.description,
            "data": self.data,
            "costs": self.cost_docs(),
        }
        if self.hold_id is not None:  # only when given: digests of events stored before holds stay the same
            doc["hold_id"] = self.hold_id
        return doc

    @cached_property
    def digest(self) -> str:
        """The fingerprint of ``doc()``, which a replay is compared by. Taken once, and on the request's
        side (``UsageBatch.take_digests``): the writer, the one stage that runs a group at a time, then
        does not spend 3-5% of its time on it. It travels with the event to a writer process (pickled
        with the instance's dict)."""
        return fingerprint(self.doc())


@dataclass(frozen=True)
class UsageBatch:
    """One customer's events, named by id or by external id within ``scope`` (the caller's): billed
    together, each event alone. A group may mix scopes, so every batch carries its own."""

    scope: Scope
    customer_id: str | None
    customer_external_id: str | None
    events: list[UsageEvent]
    hold: HoldCommand | None = None  # a hold to place or release (with no events): same writer, same lock

    def take_digests(self) -> UsageBatch:
        """Each event's digest taken now, before the batch is handed to the writer."""
        for event in self.events:
            _ = event.digest
        return self


@dataclass
class Outcome:
    accepted: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)  # event index -> why it was not recorded
    notes: dict[int, str] = field(default_factory=dict)  # event index -> what became of the hold it named
    hold: HoldView | Check | None = None  # the batch's hold command answered


Answer = tuple[str, Outcome] | Exception  # (customer id, outcome), or why the whole batch was refused


@dataclass(frozen=True)
class FeeView:
    id: str
    product_id: str
    product_code: str
    product_version: int
    price_id: str
    price_name: str | None
    asset: str
    dimensions: dict[str, Any] | None
    usage_type: str | None
    volume_field: str | None
    input_volume: Decimal | None
    unit_price: Decimal | None
    volume_rate: Decimal | None
    package_size: int | None
    description: str | None
    amount: Decimal


@dataclass(frozen=True)
class EventView:
    """A stored event with its fees, and what it earned and cost (USD)."""

    id: str
    customer_id: str
    event_type: str
    occurred_at: datetime
    subject: str | None
    description: str | None
    data: dict[str, Any] | None
    costs: list[dict[str, Any]] | None
    created_at: datetime
    fees: list[FeeView]
    revenue: Decimal
    cost: Decimal


@dataclass(frozen=True)
class EventSummary:
    id: str
    customer_id: str
    external_id: str | None
    event_type: str
    subject: str | None
    description: str | None
    occurred_at: datetime
    created_at: datetime
    fee_totals: dict[str, Decimal]  # asset -> total of the event's fees in it, one entry per asset billed
    revenue: Decimal
    cost: Decimal

    @property
    def fee_currency(self) -> str | None:
        """The currency ``total_fees`` is in: the event's only one, or the first by code when several."""
        return min(self.fee_totals) if self.fee_totals else None

    @property
    def total_fees(self) -> Decimal | None:
        """The event's fees in ``fee_currency`` (never a sum across currencies)."""
        currency = self.fee_currency
        return None if currency is None else self.fee_totals[currency]


@dataclass(frozen=True)
class EventFilter:
    event_id: str | None = None
    customer_id: str | None = None
    customer_external_id: str | None = None
    subject: str | None = None
    occurred_from: datetime | None = None  # inclusive
    occurred_before: datetime | None = None  # exclusive
    event_types: list[str] | None = None
    has_fees: bool | None = None
