"""Rating: a usage event and a price -> a fee (or None when no entry matches).

Pure functions over plain dataclasses; ``core.catalog`` builds them from stored Credyt-shaped JSON.
The rules are written out in docs/pricing.md; in short:

* Quantities. ``unit``: one unit per event. ``volume``: ``data[volume_field]``. ``unit_and_volume``:
  both. ``custom``: ``unit_aggregation`` / ``volume_aggregation`` expressions (core.expressions).
* ``flat``: ``unit_price × units + volume_rate × volume ÷ package_size``.
* Tiered models measure a position: the customer's cumulative quantity (by ``tiering.basis``) for this
  price entry within the current tier period, before the event. Units are numbered from 1; a tier
  with ``up_to = N`` holds positions up to and including N.
  - ``tiered`` (graduated): each unit is priced in the tier its position falls in, so an event that
    straddles a boundary is split across tiers.
  - ``bulk``: every unit of the event is priced at the tier the new total reaches.
  - ``package``: charged ``unit_price`` per package of ``package_size`` started; packages already
    started earlier in the period are not charged again.
* ``min_amount`` / ``max_amount`` (of the first value) clamp the fee of one event.
* The result is rounded to nine decimal places, half-even (core.money).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from drawdown.core.expressions import EvaluationError, Expression
from drawdown.core.money import MAX_AMOUNT, MoneyError, check_exact, quantize

WILDCARD = "*"
UNIT = "unit"
VOLUME = "volume"
UNIT_AND_VOLUME = "unit_and_volume"
CUSTOM = "custom"
USAGE_TYPES = (UNIT, VOLUME, UNIT_AND_VOLUME, CUSTOM)
FLAT, TIERED, BULK, PACKAGE = "flat", "tiered", "bulk", "package"
ZERO = Decimal(0)

EventData = Mapping[str, object]


@dataclass(frozen=True)
class PriceValue:
    unit_price: Decimal | None = None
    volume_rate: Decimal | None = None
    package_size: int | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    up_to: Decimal | None = None
    name: str | None = None


@dataclass(frozen=True)
class PriceEntry:
    """One priced row: plain (``dimensions`` None) or dimensional; ``values`` are its tiers."""

    values: tuple[PriceValue, ...]
    dimensions: Mapping[str, str] | None = None
    name: str | None = None

    @property
    def value(self) -> PriceValue:
        return self.values[0]


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
    pricing_model: str = FLAT
    tier_basis: str | None = None
    tier_period: str | None = None
    unit_expression: Expression | None = None
    volume_expression: Expression | None = None
    billing: str = "real_time"

    @property
    def counted(self) -> bool:
        """Whether rating needs the customer's position (tiers and packages do)."""
        return self.pricing_model != FLAT

    @property
    def basis(self) -> str:
        if self.tier_basis:
            return self.tier_basis
        if self.usage_type == UNIT:
            return UNIT
        if self.usage_type == CUSTOM:
            return CUSTOM
        return VOLUME


@dataclass(frozen=True)
class Rated:
    price: UsagePrice
    entry_index: int
    asset: str
    amount: Decimal
    dimensions: Mapping[str, str] | None
    input_volume: Decimal | None
    value: PriceValue
    description: str | None
    quantity: Decimal  # what this event adds to the tier position (zero for flat prices)


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
    return _non_negative(volume, f"data.{volume_field}")


def _non_negative(value: Decimal, where: str) -> Decimal:
    if not value.is_finite() or value < 0:
        raise RatingError(where, "a quantity must be a finite number, zero or more")
    if value > MAX_AMOUNT:  # tier positions are stored like amounts: a larger quantity cannot be counted
        raise RatingError(where, f"a quantity must be at most {MAX_AMOUNT}")
    return value


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


def choose_entry(price: UsagePrice, data: EventData) -> int | None:
    """Index of the entry that prices this event, or None when no dimensional entry matches."""
    if not price.billable_dimensions:
        return 0 if price.entries else None
    wanted = dimension_values(data, price.billable_dimensions)
    best: int | None = None
    best_wildcards = len(wanted) + 1
    for index, entry in enumerate(price.entries):
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
                best, best_wildcards = index, wildcards
    return best


def quantities(price: UsagePrice, data: EventData) -> tuple[Decimal | None, Decimal | None]:
    """(units, volume) of the event for this price."""
    if price.usage_type == UNIT:
        return Decimal(1), None
    if price.usage_type == VOLUME:
        return None, volume_of(data, price.volume_field or "")
    if price.usage_type == UNIT_AND_VOLUME:
        return Decimal(1), volume_of(data, price.volume_field or "")
    units = volume = None
    for expr, kind in ((price.unit_expression, "unit_aggregation"), (price.volume_expression, "volume_aggregation")):
        if expr is None:
            continue
        try:
            value = _non_negative(expr(data), kind)
        except EvaluationError as exc:
            raise RatingError(exc.field or kind, str(exc)) from None
        if kind == "unit_aggregation":
            units = value
        else:
            volume = value
    return units, volume


def basis_quantity(price: UsagePrice, units: Decimal | None, volume: Decimal | None) -> Decimal:
    if price.basis == UNIT:
        return units if units is not None else Decimal(1)
    if price.basis == CUSTOM:
        return volume if volume is not None else (units or ZERO)
    return volume if volume is not None else (units or ZERO)


def flat_amount(usage_type: str, value: PriceValue, units: Decimal | None, volume: Decimal | None) -> Decimal:
    amount = ZERO
    if units is not None and value.unit_price is not None:
        amount += value.unit_price * units
    if volume is not None and value.volume_rate is not None:
        amount += value.volume_rate * volume / Decimal(value.package_size or 1)
    return amount


def _ceil_div(x: Decimal, size: int) -> Decimal:
    return (x / Decimal(size)).to_integral_value(rounding=ROUND_CEILING)


def tier_rate(value: PriceValue, basis: str) -> Decimal:
    """Price of one measured unit in this tier."""
    if basis == PACKAGE:
        return value.unit_price if value.unit_price is not None else (value.volume_rate or ZERO)
    if value.volume_rate is not None:
        return value.volume_rate / Decimal(value.package_size or 1)
    return value.unit_price or ZERO


def tiered_amount(tiers: Sequence[PriceValue], basis: str, start: Decimal, end: Decimal, bulk: bool) -> Decimal:
    """Price of positions (start, end] across tiers (graduated) or at the tier ``end`` reaches (bulk)."""
    amount = ZERO
    low = ZERO
    for index, tier in enumerate(tiers):
        high = tier.up_to if tier.up_to is not None and index < len(tiers) - 1 else None
        if bulk:
            if high is None or end <= high:
                return (end - start) * tier_rate(tier, basis)
        else:
            top = end if high is None else min(end, high)
            portion = top - max(start, low)
            if portion > 0:
                amount += portion * tier_rate(tier, basis)
            if high is None or end <= high:
                return amount
        low = high if high is not None else low
    return amount


def _fee(amount: Decimal, price: UsagePrice) -> Decimal:
    """The fee at the storage scale; one that cannot be stored is the event data's fault, named."""
    try:
        return check_exact(quantize(amount))
    except MoneyError as exc:
        where = f"data.{price.volume_field}" if price.volume_field else "data"
        raise RatingError(where, f"the fee it makes {exc}") from None


def measured(price: UsagePrice, entry: PriceEntry, position: Decimal) -> Decimal:
    """A raw cumulative quantity in the units tiers count (packages for the package basis)."""
    if price.basis == PACKAGE:
        return _ceil_div(position, entry.value.package_size or 1)
    return position


def rate(price: UsagePrice, data: EventData, position: Decimal = ZERO, entry_index: int | None = None) -> Rated | None:
    """Price one event against one price whose event_type already matched.

    ``position`` is the cumulative basis quantity of this price entry in the current tier period
    before this event (ignored by flat prices).
    """
    index = choose_entry(price, data) if entry_index is None else entry_index
    if index is None:
        return None
    entry = price.entries[index]
    units, volume = quantities(price, data)
    q = basis_quantity(price, units, volume)
    first = entry.value
    if price.pricing_model == FLAT:
        amount = flat_amount(price.usage_type, first, units, volume)
        q = ZERO
    elif price.pricing_model == PACKAGE:
        size = first.package_size or 1
        packages = _ceil_div(position + q, size) - _ceil_div(position, size)
        amount = packages * tier_rate(first, PACKAGE)
    else:
        start, end = measured(price, entry, position), measured(price, entry, position + q)
        amount = tiered_amount(entry.values, price.basis, start, end, bulk=price.pricing_model == BULK)
    if first.min_amount is not None and amount < first.min_amount:
        amount = first.min_amount
    if first.max_amount is not None and amount > first.max_amount:
        amount = first.max_amount
    return Rated(
        price=price,
        entry_index=index,
        asset=price.asset,
        amount=_fee(amount, price),
        dimensions=dict(entry.dimensions) if entry.dimensions is not None else None,
        input_volume=volume,
        value=first,
        description=entry.name or first.name,
        quantity=q,
    )
