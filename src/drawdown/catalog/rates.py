"""Exchange rates of custom assets: schedules, the rate in force, quotes.

A rate is the price of one unit of the asset in a fiat ``source`` currency (fiat currencies may have
rates too, e.g. EUR in USD, which value non-USD costs and revenue in the reporting currency), valid from ``valid_from``
until ``valid_to`` (open-ended when null). The rate in force at a time is the latest-starting rate that
covers it. Adding a rate that starts while an open rate is in force closes that rate at its start.

Conversions into an asset round **down** to the asset's ``precision`` (a customer is never credited
more units than were paid for); the fiat amount is kept exactly on the grant as its revenue basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import Connection, bindparam, insert, select, update

from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.db.tables import asset_rates, assets


@dataclass(frozen=True)
class Rate:
    source: str
    rate: Decimal
    valid_from: datetime
    valid_to: datetime | None


# Built once: this runs for every fee and cost on the event hot path.
_r = asset_rates.c
_IN_FORCE = (
    select(asset_rates)
    .where(
        _r.asset_code == bindparam("asset"),
        _r.source == bindparam("source"),
        _r.valid_from <= bindparam("at", type_=_r.valid_from.type),
        (_r.valid_to.is_(None)) | (_r.valid_to > bindparam("at", type_=_r.valid_from.type)),
    )
    .order_by(_r.valid_from.desc(), _r.id.desc())
    .limit(1)
)


def rate_in_force(conn: Connection, asset: str, source: str, at: datetime) -> Rate | None:
    row = conn.execute(_IN_FORCE, {"asset": asset, "source": source, "at": at}).first()
    return None if row is None else Rate(row.source, from_scaled(row.rate), row.valid_from, row.valid_to)


def _asset(conn: Connection, code: str):  # noqa: ANN202
    row = conn.execute(select(assets).where(assets.c.code == code.upper())).first()
    if row is None:
        raise NotFound(f"asset {code} not found")
    return row


def add_rate(conn: Connection, code: str, body: dict, now: datetime) -> None:
    asset = _asset(conn, code)
    source = body["source"].upper()
    fiat = conn.execute(select(assets.c.is_fiat).where(assets.c.code == source)).scalar()
    if not fiat:
        raise Invalid.field("source", f"{source!r} is not a known fiat currency")
    if source == asset.code:
        raise Conflict(f"{asset.code} is worth exactly one of itself")
    start = body.get("valid_from") or now
    end = body.get("valid_to")
    if end is not None and end <= start:
        raise Invalid.field("valid_to", "must be after valid_from")
    r = asset_rates.c
    same = conn.execute(
        select(r.id).where(
            r.asset_code == asset.code, r.source == source, r.valid_from == start, r.rate == to_scaled(body["rate"]),
            (r.valid_to.is_(None)) if end is None else (r.valid_to == end),
        )
    ).first()
    if same is not None:
        return  # a retried request: the rate is already scheduled
    # The open rate in force when the new one starts ends there.
    conn.execute(
        update(asset_rates)
        .where(r.asset_code == asset.code, r.source == source, r.valid_to.is_(None), r.valid_from < start)
        .values(valid_to=start)
    )
    conn.execute(
        insert(asset_rates).values(
            asset_code=asset.code, source=source, rate=to_scaled(body["rate"]), valid_from=start, valid_to=end, created_at=now
        )
    )


def convert(conn: Connection, code: str, source: str, amount: Decimal, at: datetime, path: str = "source") -> tuple[Decimal, Rate]:
    """``amount`` of ``source`` in units of asset ``code`` at the rate in force (rounded down)."""
    asset = _asset(conn, code)
    found = rate_in_force(conn, asset.code, source.upper(), at)
    if found is None:
        raise Invalid.field(path, f"{asset.code} has no rate from {source.upper()} in force at {at.isoformat()}")
    units = (amount / found.rate).quantize(Decimal(1).scaleb(-asset.precision), rounding=ROUND_DOWN)
    return units, found


def quote(conn: Connection, code: str, body: dict, now: datetime) -> dict:
    at = body.get("exchange_at") or now
    units, found = convert(conn, code, body["source"], body["amount"], at)
    return {
        "source": found.source,
        "source_amount": body["amount"],
        "destination": code.upper(),
        "destination_amount": units,
        "rate": found.rate,
        "inverse_rate": quantize(Decimal(1) / found.rate),
    }


REPORTING = "USD"


def value_in(
    conn: Connection, amount: Decimal, currency: str, target: str, at: datetime, cache: dict | None = None
) -> Decimal | None:
    """``amount`` of ``currency`` in ``target`` at the rates in force (exact; None when no rate links
    them). Tries the direct rate, then the inverse of the target's rate in the currency. ``cache``
    (one batch's) remembers the factor per (currency, target, time)."""
    if currency == target:
        return amount
    key = (currency, target, at)
    if cache is not None and key in cache:
        factor = cache[key]
    else:
        direct = rate_in_force(conn, currency, target, at)
        if direct is not None:
            factor = ("*", direct.rate)
        else:
            inverse = rate_in_force(conn, target, currency, at)
            factor = ("/", inverse.rate) if inverse is not None else None
        if cache is not None:
            cache[key] = factor
    if factor is None:
        return None
    return amount * factor[1] if factor[0] == "*" else amount / factor[1]
