"""Product versions as the rating engine sees them, built from stored Credyt-shaped documents,
and the checks a price must pass before it can be stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from drawdown.core.pricing import USAGE_TYPES, VOLUME, UNIT, UNIT_AND_VOLUME, PriceEntry, PriceValue, UsagePrice

# What this release prices. Anything else is refused when a product is created, by field, rather
# than stored and silently billed wrong.
SUPPORTED_BILLING = ("real_time",)
SUPPORTED_PRICING_MODELS = (None, "flat")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)) if not isinstance(value, Decimal) else value


def _value(doc: dict) -> PriceValue:
    return PriceValue(
        unit_price=_dec(doc.get("unit_price")),
        volume_rate=_dec(doc.get("volume_rate")),
        package_size=doc.get("package_size"),
        min_amount=_dec(doc.get("min_amount")),
        max_amount=_dec(doc.get("max_amount")),
        name=doc.get("name"),
    )


def usage_price(doc: dict) -> UsagePrice:
    calc = doc["usage_calculation"]
    pricing = doc["pricing"][0]
    entries = []
    for row in pricing["values"]:
        if "dimensions" in row:
            entries.append(PriceEntry(_value(row["values"][0]), dict(row["dimensions"]), row.get("name")))
        else:
            entries.append(PriceEntry(_value(row)))
    return UsagePrice(
        id=doc["id"],
        name=doc["name"],
        event_type=calc["event_type"],
        usage_type=calc["usage_type"],
        asset=pricing["asset"],
        entries=tuple(entries),
        volume_field=calc.get("volume_field"),
        billable_dimensions=tuple(calc.get("billable_dimensions") or ()),
    )


def price_assets(prices: Iterable[dict]) -> list[str]:
    """The assets a version charges in (the first listed per price), in order, without repeats."""
    seen: list[str] = []
    for doc in prices:
        asset = doc["pricing"][0]["asset"]
        if asset not in seen:
            seen.append(asset)
    return seen


def check_price(doc: dict, path: str) -> dict[str, list[str]]:
    """Semantic checks on one validated price document; returns errors by field path."""
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(f"{path}.{field}" if field else path, []).append(message)

    if doc["type"] == "fixed":
        err("type", "fixed prices are not supported yet (planned with the complete pricing engine)")
        return errors
    billing = doc["billing_model"]["type"]
    if billing not in SUPPORTED_BILLING:
        err("billing_model.type", f"{billing!r} billing is not supported yet; use 'real_time'")
    if doc.get("pricing_model") not in SUPPORTED_PRICING_MODELS:
        err("pricing_model", f"{doc['pricing_model']!r} pricing is not supported yet; use 'flat'")
    for key in ("collection", "funding_destination"):
        if doc.get(key) is not None:
            err(key, "is not supported yet")
    calc = doc["usage_calculation"]
    usage_type = calc["usage_type"]
    if usage_type not in USAGE_TYPES:
        err("usage_calculation.usage_type", f"{usage_type!r} usage is not supported yet")
        return errors
    if usage_type in (VOLUME, UNIT_AND_VOLUME) and not calc.get("volume_field"):
        err("usage_calculation.volume_field", f"is required for {usage_type} usage")
    for key, default in (("unit_aggregation", "count"), ("volume_aggregation", "sum")):
        if calc.get(key) not in (None, default):
            err(f"usage_calculation.{key}", f"only {default!r} is supported for {usage_type} usage")
    dims = list(calc.get("billable_dimensions") or [])
    if len(set(dims)) != len(dims):
        err("usage_calculation.billable_dimensions", "must not repeat a dimension")
    for i, pricing in enumerate(doc["pricing"]):
        ppath = f"pricing[{i}]"
        rows = pricing["values"]
        dimensional = "dimensions" in rows[0]
        if dims and not dimensional:
            err(f"{ppath}.values", "billable_dimensions are set, so each value needs 'dimensions'")
        if dimensional and not dims:
            err(f"{ppath}.values", "dimensional values need usage_calculation.billable_dimensions")
        seen_dims: set[tuple] = set()
        for j, row in enumerate(rows):
            rpath = f"{ppath}.values[{j}]"
            if dimensional:
                unknown = set(row["dimensions"]) - set(dims)
                if unknown:
                    err(f"{rpath}.dimensions", f"{sorted(unknown)} are not billable_dimensions")
                key = tuple(sorted(row["dimensions"].items()))
                if key in seen_dims:
                    err(f"{rpath}.dimensions", "repeats an earlier entry")
                seen_dims.add(key)
                values = row["values"]
                if len(values) != 1:
                    err(f"{rpath}.values", "flat pricing takes exactly one value")
                for k, value in enumerate(values):
                    _check_value(value, usage_type, f"{rpath}.values[{k}]", err)
            else:
                if len(rows) != 1:
                    err(f"{ppath}.values", "flat pricing takes exactly one value")
                    break
                _check_value(row, usage_type, rpath, err)
    return errors


def _check_value(value: dict, usage_type: str, path: str, err) -> None:  # noqa: ANN001
    if value.get("up_to") is not None:
        err(f"{path}.up_to", "tiers need pricing_model 'tiered' or 'bulk' (not supported yet)")
    if usage_type in (UNIT, UNIT_AND_VOLUME) and value.get("unit_price") is None:
        err(f"{path}.unit_price", f"is required for {usage_type} usage")
    if usage_type in (VOLUME, UNIT_AND_VOLUME) and value.get("volume_rate") is None:
        err(f"{path}.volume_rate", f"is required for {usage_type} usage")
    if usage_type == UNIT and value.get("volume_rate") is not None:
        err(f"{path}.volume_rate", "is not used by unit usage")
    if usage_type == VOLUME and value.get("unit_price") is not None:
        err(f"{path}.unit_price", "is not used by volume usage")
    low, high = value.get("min_amount"), value.get("max_amount")
    if low is not None and high is not None and Decimal(str(low)) > Decimal(str(high)):
        err(f"{path}.min_amount", "must not exceed max_amount")
