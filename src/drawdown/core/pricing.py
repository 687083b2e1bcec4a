"""Rating: a usage event and a price -> a fee (or a reason there is none).

Pure functions over plain dataclasses; the API layer validates and builds these from Credyt-shaped
JSON. Rules (docs/pricing.md):

* ``unit``: one unit per event, charged ``unit_price``.
* ``volume``: ``V = data[volume_field]``, charged ``volume_rate * V / package_size`` (package_size
  defaults to 1; flat pricing prorates packages, it does not round them up).
* ``unit_and_volume``: both parts, summed.
* ``min_amount`` / ``max_amount`` clamp the fee of one event.
* Dimensional prices: the event's values for ``billable_dimensions`` pick the entry whose
  ``dimensions`` equal them; ``*`` matches any value (including a missing one). The entry with the
  fewest wildcards wins; among equals, the first listed.
* A price that lists several assets is charged in its first listed asset.
* The result is rounded to nine decimal places with ROUND_HALF_EVEN (core.money).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Mapping, Sequence

from drawdown.core.money import quantize

WILDCARD = "*"
UNIT = "unit"
VOLUME = "volume"
UNIT_AND_VOLUME = "unit_and_volume"
USAGE_TYPES = (UNIT, VOLUME, UNIT_AND_VOLUME)

EventData = Mapping[str, object]


@dataclass(frozen=True)
class PriceValue:
    unit_price: Decimal | None = None
    volume_rate: Decimal | None = None
    package_size: int | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    name: str | None = None


@dataclass(frozen=True)
class PriceEntry:
    """One row of a price's values: plain (``dimensions`` None) or dimensional."""

    value: PriceValue
    dimensions: Mapping[str, str] | None = None
    name: str | None = None


@dataclass(frozen=True)
class UsagePrice:
    id: str
    name: str
    event_type: str
    usage_type: str
    asset: str
    entries: Sequence[PriceEntry]
    volume_field: str | None = None
    billable_dimensions: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Rated:
    price: UsagePrice
    asset: str
    amount: Decimal
    dimensions: Mapping[str, str] | None
    input_volume: Decimal | None
    value: PriceValue
    description: str | None


class RatingError(ValueError):
    """The event cannot be priced because its data is unusable (a caller error, named by field)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def volume_of(data: EventData, volume_field: str) -> Decimal:
    """The event's volume, exact. Integers and decimal strings count; booleans and the rest do not."""
    if volume_field not in data:
        raise RatingError(f"data.{volume_field}", "the volume field is missing")
    raw = data[volume_field]
    if isinstance(raw, bool):
        raise RatingError(f"data.{volume_field}", "a volume must be a number, not a boolean")
    if isinstance(raw, int):
        volume = Decimal(raw)
    elif isinstance(raw, Decimal):
        volume = raw
    elif isinstance(raw, str):
        try:
            volume = Decimal(raw.strip())
        except InvalidOperation:
            raise RatingError(f"data.{volume_field}", f"{raw!r} is not a number") from None
    else:
        raise RatingError(f"data.{volume_field}", "a volume must be a number")
    if not volume.is_finite() or volume < 0:
        raise RatingError(f"data.{volume_field}", "a volume must be a finite number, zero or more")
    return volume


def dimension_values(data: EventData, keys: Sequence[str]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for key in keys:
        raw = data.get(key)
        if raw is None:
            values[key] = None
        elif isinstance(raw, bool):
            values[key] = "true" if raw else "false"
        else:
            values[key] = str(raw)
    return values


def choose_entry(price: UsagePrice, data: EventData) -> PriceEntry | None:
    """The entry that prices this event, or None when no dimensional entry matches."""
    if not price.billable_dimensions:
        return price.entries[0] if price.entries else None
    wanted = dimension_values(data, price.billable_dimensions)
    best: PriceEntry | None = None
    best_wildcards = len(wanted) + 1
    for entry in price.entries:
        dims = entry.dimensions or {}
        wildcards = 0
        for key, value in wanted.items():
            expected = dims.get(key, WILDCARD)
            if expected == WILDCARD:
                wildcards += 1
            elif expected != value:
                break
        else:
            if wildcards < best_wildcards:
                best, best_wildcards = entry, wildcards
    return best


def amount_for(usage_type: str, value: PriceValue, volume: Decimal | None) -> Decimal:
    amount = Decimal(0)
    if usage_type in (UNIT, UNIT_AND_VOLUME) and value.unit_price is not None:
        amount += value.unit_price
    if usage_type in (VOLUME, UNIT_AND_VOLUME) and value.volume_rate is not None and volume is not None:
        amount += value.volume_rate * volume / Decimal(value.package_size or 1)
    if value.min_amount is not None and amount < value.min_amount:
        amount = value.min_amount
    if value.max_amount is not None and amount > value.max_amount:
        amount = value.max_amount
    return quantize(amount)


def rate(price: UsagePrice, data: EventData) -> Rated | None:
    """Price one event against one price whose event_type already matched. None: no entry matches."""
    entry = choose_entry(price, data)
    if entry is None:
        return None
    volume = None
    if price.usage_type in (VOLUME, UNIT_AND_VOLUME):
        volume = volume_of(data, price.volume_field or "")
    amount = amount_for(price.usage_type, entry.value, volume)
    return Rated(
        price=price,
        asset=price.asset,
        amount=amount,
        dimensions=dict(entry.dimensions) if entry.dimensions is not None else None,
        input_volume=volume,
        value=entry.value,
        description=entry.name or entry.value.name,
    )
