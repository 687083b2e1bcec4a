"""Product versions as the rating engine sees them, built from stored Credyt-shaped documents,
and the checks a price must pass before it can be stored."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from drawdown.core.expressions import Expression, ExpressionError
from drawdown.core.periods import Period, advance, calendar_period, period_at
from drawdown.core.pricing import (
    BULK,
    CUSTOM,
    FLAT,
    PACKAGE,
    TIERED,
    UNIT,
    UNIT_AND_VOLUME,
    USAGE_TYPES,
    VOLUME,
    PriceEntry,
    PriceValue,
    UsagePrice,
)

ErrorSink = Callable[[str, str], None]
"""Where checks report an error: ``err(field path, message)``."""

REAL_TIME, RECURRING, ONE_TIME = "real_time", "recurring", "one_time"
PRICING_MODELS = (FLAT, TIERED, BULK, PACKAGE)
TIER_PERIODS = ("lifetime", "monthly", "quarterly", "yearly", "custom")


@dataclass(frozen=True)
class Cadence:
    """A recurring billing cadence (``interval`` × ``count``), or one-time/real-time."""

    kind: str
    interval: str = "month"
    count: int = 1


@dataclass(frozen=True)
class FixedPrice:
    id: str
    name: str
    asset: str
    amount: Decimal
    cadence: Cadence


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _value(doc: dict[str, Any]) -> PriceValue:
    return PriceValue(
        unit_price=_dec(doc.get("unit_price")),
        volume_rate=_dec(doc.get("volume_rate")),
        package_size=doc.get("package_size"),
        min_amount=_dec(doc.get("min_amount")),
        max_amount=_dec(doc.get("max_amount")),
        up_to=_dec(doc.get("up_to")),
        name=doc.get("name"),
    )


def cadence(doc: dict[str, Any]) -> Cadence:
    billing = doc["billing_model"]
    if billing["type"] == RECURRING:
        rec = billing["recurring"]
        return Cadence(RECURRING, rec["interval"], rec.get("interval_count") or 1)
    return Cadence(billing["type"])


def _expression(source: str | None, default: str) -> Expression | None:
    if source is None or source == default:
        return None
    return Expression(source)


def usage_price(doc: dict[str, Any]) -> UsagePrice:
    calc = doc["usage_calculation"]
    pricing = doc["pricing"][0]
    model = doc.get("pricing_model") or FLAT
    entries: list[PriceEntry | None] = []
    for row in pricing["values"]:
        if "dimensions" in row:
            values = tuple(_value(v) for v in row["values"])
            entries.append(PriceEntry(values, dict(row["dimensions"]), row.get("name")))
        else:
            entries.append(None)
    if entries and entries[0] is None:
        entries = [PriceEntry(tuple(_value(v) for v in pricing["values"]))]
    tiering = doc.get("tiering") or {}
    return UsagePrice(
        id=doc["id"],
        name=doc["name"],
        event_type=calc["event_type"],
        usage_type=calc["usage_type"],
        asset=pricing["asset"],
        # check_price refuses a price mixing rows with and without dimensions: no None is left here.
        entries=tuple(cast("list[PriceEntry]", entries)),
        volume_field=calc.get("volume_field"),
        billable_dimensions=tuple(calc.get("billable_dimensions") or ()),
        pricing_model=model,
        tier_basis=tiering.get("basis"),
        tier_period=tiering.get("period") or ("custom" if doc["billing_model"]["type"] == RECURRING else "monthly"),
        unit_expression=_custom(calc, "unit_aggregation", "count"),
        volume_expression=_custom(calc, "volume_aggregation", "sum"),
        billing=doc["billing_model"]["type"],
    )


def _custom(calc: dict[str, Any], key: str, default: str) -> Expression | None:
    if calc["usage_type"] != CUSTOM:
        return None
    source = calc.get(key)
    if source == default:
        # The named defaults inside custom usage: one unit per event / the volume field's value.
        return Expression("1") if key == "unit_aggregation" else Expression(f'field("{calc["volume_field"]}")')
    return _expression(source, default)


def fixed_price(doc: dict[str, Any]) -> FixedPrice:
    pricing = doc["pricing"][0]
    # unit_price is required on a fixed price's values (checked before it is stored).
    amount = sum(
        (cast(Decimal, _dec(v["unit_price"])) * (v.get("quantity") or 1) for v in pricing["values"]), Decimal(0)
    )
    return FixedPrice(doc["id"], doc["name"], pricing["asset"], amount, cadence(doc))


def price_assets(prices: Iterable[dict[str, Any]]) -> list[str]:
    """The assets a version charges in (the first listed per price), in order, without repeats."""
    seen: list[str] = []
    for doc in prices:
        asset = doc["pricing"][0]["asset"]
        if asset not in seen:
            seen.append(asset)
    return seen


def check_price(doc: dict[str, Any], path: str) -> dict[str, list[str]]:
    """Semantic checks on one validated price document; returns errors by field path."""
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(f"{path}.{field}" if field else path, []).append(message)

    for key in ("collection", "funding_destination"):
        if doc.get(key) is not None:
            err(key, "is not supported yet")
    billing = doc["billing_model"]["type"]
    if doc["type"] == "fixed":
        if billing == REAL_TIME:
            err("billing_model.type", "a fixed price is billed 'one_time' or 'recurring'")
        if doc.get("pricing_model") not in (None, FLAT) or doc.get("tiering"):
            err("pricing_model", "a fixed price has no pricing model or tiers")
        return errors
    model = doc.get("pricing_model") or FLAT
    calc = doc["usage_calculation"]
    usage_type = calc["usage_type"]
    if usage_type not in USAGE_TYPES:
        err("usage_calculation.usage_type", f"{usage_type!r} is not a usage type")
        return errors
    if usage_type in (VOLUME, UNIT_AND_VOLUME) and not calc.get("volume_field"):
        err("usage_calculation.volume_field", f"is required for {usage_type} usage")
    _check_aggregations(calc, usage_type, err)
    _check_tiering(doc, model, usage_type, err)
    dims = list(calc.get("billable_dimensions") or [])
    if len(set(dims)) != len(dims):
        err("usage_calculation.billable_dimensions", "must not repeat a dimension")
    for i, pricing in enumerate(doc["pricing"]):
        _check_pricing(pricing, f"pricing[{i}]", dims, model, usage_type, err)
    return errors


def _check_aggregations(calc: dict[str, Any], usage_type: str, err: ErrorSink) -> None:
    for key, default in (("unit_aggregation", "count"), ("volume_aggregation", "sum")):
        source = calc.get(key)
        if usage_type != CUSTOM:
            if source not in (None, default):
                message = f"expressions need usage_type 'custom'; {usage_type} usage uses {default!r}"
                err(f"usage_calculation.{key}", message)
            continue
        if source == "sum" and key == "volume_aggregation" and not calc.get("volume_field"):
            err("usage_calculation.volume_field", "is required when volume_aggregation is 'sum'")
        elif source not in (None, default):
            try:
                Expression(source)
            except ExpressionError as exc:
                err(f"usage_calculation.{key}", str(exc))
    if usage_type == CUSTOM and calc.get("unit_aggregation") is None and calc.get("volume_aggregation") is None:
        err("usage_calculation", "custom usage needs unit_aggregation or volume_aggregation")


def _check_tiering(doc: dict[str, Any], model: str, usage_type: str, err: ErrorSink) -> None:
    tiering = doc.get("tiering") or {}
    basis, period = tiering.get("basis"), tiering.get("period")
    if model == FLAT and tiering:
        err("tiering", "tiering applies to the tiered, bulk and package pricing models")
    if model in (TIERED, BULK) and usage_type == UNIT_AND_VOLUME:
        err("pricing_model", f"{model} pricing needs one quantity; use unit, volume or custom usage")
    calc = doc["usage_calculation"]
    if basis == VOLUME and usage_type == UNIT:
        err("tiering.basis", "unit usage has no volume to tier by")
    if basis == "custom" and usage_type != CUSTOM:
        err("tiering.basis", "the custom basis needs usage_type 'custom'")
    if basis == UNIT and usage_type == CUSTOM and calc.get("unit_aggregation") is None:
        err("tiering.basis", "the unit basis needs unit_aggregation")
    if period == "custom" and doc["billing_model"]["type"] != RECURRING:
        err("tiering.period", "the custom period follows a recurring billing cadence")


def _check_pricing(
    pricing: dict[str, Any], ppath: str, dims: list[str], model: str, usage_type: str, err: ErrorSink
) -> None:
    rows = pricing["values"]
    dimensional = "dimensions" in rows[0]
    if dims and not dimensional:
        err(f"{ppath}.values", "billable_dimensions are set, so each value needs 'dimensions'")
    if dimensional and not dims:
        err(f"{ppath}.values", "dimensional values need usage_calculation.billable_dimensions")
    groups: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None]] = (
        [(f"{ppath}.values[{j}]", row["values"], row) for j, row in enumerate(rows)] if dimensional
        else [(ppath, rows, None)]
    )
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for gpath, values, row in groups:
        if row is not None:
            unknown = set(row["dimensions"]) - set(dims)
            if unknown:
                err(f"{gpath}.dimensions", f"{sorted(unknown)} are not billable_dimensions")
            key = tuple(sorted(row["dimensions"].items()))
            if key in seen:
                err(f"{gpath}.dimensions", "repeats an earlier entry")
            seen.add(key)
        _check_values(values, f"{gpath}.values", model, usage_type, err)


def _check_values(values: list[dict[str, Any]], vpath: str, model: str, usage_type: str, err: ErrorSink) -> None:
    if model in (FLAT, PACKAGE) and len(values) != 1:
        err(vpath, f"{model} pricing takes exactly one value")
        return
    for k, value in enumerate(values):
        path = f"{vpath}[{k}]"
        last = k == len(values) - 1
        if model in (TIERED, BULK):
            if not last and value.get("up_to") is None:
                err(f"{path}.up_to", "every tier but the last needs up_to")
            if last and value.get("up_to") is not None:
                err(f"{path}.up_to", "the last tier has no up_to (it is open-ended)")
            if k > 0 and value.get("up_to") is not None and values[k - 1].get("up_to") is not None:
                if Decimal(str(value["up_to"])) <= Decimal(str(values[k - 1]["up_to"])):
                    err(f"{path}.up_to", "must be greater than the previous tier's")
            if value.get("unit_price") is None and value.get("volume_rate") is None:
                err(path, "a tier needs unit_price or volume_rate")
            if k > 0 and (value.get("min_amount") is not None or value.get("max_amount") is not None):
                err(path, "min_amount and max_amount belong on the first tier (they bound the whole event)")
        elif value.get("up_to") is not None:
            err(f"{path}.up_to", "tiers need pricing_model 'tiered' or 'bulk'")
        if model == PACKAGE:
            if not value.get("package_size"):
                err(f"{path}.package_size", "package pricing needs package_size")
            if value.get("unit_price") is None and value.get("volume_rate") is None:
                err(f"{path}.unit_price", "package pricing needs the price of one package (unit_price)")
        if model == FLAT:
            if usage_type in (UNIT, UNIT_AND_VOLUME) and value.get("unit_price") is None:
                err(f"{path}.unit_price", f"is required for {usage_type} usage")
            if usage_type in (VOLUME, UNIT_AND_VOLUME) and value.get("volume_rate") is None:
                err(f"{path}.volume_rate", f"is required for {usage_type} usage")
            if usage_type == UNIT and value.get("volume_rate") is not None:
                err(f"{path}.volume_rate", "is not used by unit usage")
            if usage_type == VOLUME and value.get("unit_price") is not None:
                err(f"{path}.unit_price", "is not used by volume usage")
            if usage_type == CUSTOM and value.get("unit_price") is None and value.get("volume_rate") is None:
                err(path, "custom usage needs unit_price or volume_rate")
        low, high = value.get("min_amount"), value.get("max_amount")
        if low is not None and high is not None and Decimal(str(low)) > Decimal(str(high)):
            err(f"{path}.min_amount", "must not exceed max_amount")


def tier_period_start(price: UsagePrice, cadence_: Cadence, anchor: datetime, at: datetime) -> datetime:
    """Start of the tier period holding ``at``: a UTC calendar period, or for ``custom`` the
    subscription's billing period (anchored at its start)."""
    if price.tier_period == "custom":
        return period_at(anchor, cadence_.interval, cadence_.count, at).start
    return calendar_period(price.tier_period or "monthly", at)[0]


def billing_period(cadence_: Cadence, anchor: datetime, at: datetime) -> Period:
    return period_at(anchor, cadence_.interval, cadence_.count, at)


def due_periods(
    fixed: FixedPrice, started_at: datetime, now: datetime, since: datetime | None = None
) -> list[tuple[datetime, datetime | None]]:
    """Periods whose fee is due by ``now``. After a version move (``since``), the new version's fees
    start with the first period beginning at or after the move: the current one was already paid."""
    since = since or started_at
    if fixed.cadence.kind != RECURRING:
        return [(since, None)] if since <= now else []
    out: list[tuple[datetime, datetime | None]] = []
    k = 0
    while True:
        start = advance(started_at, fixed.cadence.interval, fixed.cadence.count, k)
        if start > now:
            return out
        if start >= since:
            out.append((start, advance(started_at, fixed.cadence.interval, fixed.cadence.count, k + 1)))
        k += 1
