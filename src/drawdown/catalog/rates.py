"""Exchange rates of custom assets: schedules, the rate in force, quotes.

A rate is the price of one unit of the asset in a fiat ``source`` currency (fiat currencies may have
rates too, e.g. EUR in USD, which value non-USD costs and revenue in the reporting currency), valid
from ``valid_from`` until ``valid_to`` (open-ended when null). The rate in force at a time is the
latest-starting rate that covers it. Adding a rate that starts while an open rate is in force closes
that rate at its start. Rates belong to a scope, like the assets they price: the fiat currencies
are copied into every scope, and a rate scheduled in one scope is never seen from another.

Conversions into an asset round **down** to the asset's ``precision`` (a customer is never credited
more units than were paid for); the fiat amount is kept exactly on the grant as its revenue basis.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import Connection, Row

from drawdown.catalog import repository as repo
from drawdown.catalog.models import NewRate, Quote, QuoteRequest, Rate
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.core.scopes import Scope

__all__ = ["REPORTING", "Rate", "add_rate", "convert", "quote", "rate_in_force"]

REPORTING = "USD"

"""How to value one currency in another: ("*", rate), ("/", rate), or None when no rate links them."""


def rate_in_force(conn: Connection, scope: Scope, asset: str, source: str, at: datetime) -> Rate | None:
    row = repo.rate_in_force(conn, scope.id, asset, source, at)
    return None if row is None else Rate(row.source, from_scaled(row.rate), row.valid_from, row.valid_to)


def _asset(conn: Connection, scope: Scope, code: str) -> Row[Any]:
    row = repo.asset(conn, scope.id, code.upper())
    if row is None:
        raise NotFound(f"asset {code} not found")
    return row


def add_rate(conn: Connection, scope: Scope, code: str, command: NewRate, now: datetime) -> None:
    """Schedule a rate; a retry of the same rate changes nothing."""
    asset = _asset(conn, scope, code)
    source = command.source.upper()
    if not repo.is_fiat(conn, scope.id, source):
        raise Invalid.field("source", f"{source!r} is not a known fiat currency")
    if source == asset.code:
        raise Conflict(f"{asset.code} is worth exactly one of itself")
    start = command.valid_from or now
    end = command.valid_to
    if end is not None and end <= start:
        raise Invalid.field("valid_to", "must be after valid_from")
    scaled = to_scaled(command.rate)
    if repo.rate_scheduled(conn, scope.id, asset.code, source, scaled, start, end):
        return  # a retried request: the rate is already scheduled
    # The open rate in force when the new one starts ends there.
    repo.close_open_rate(conn, scope.id, asset.code, source, start)
    repo.insert_rate(conn, scope.id, asset.code, source, scaled, start, end, now)


def convert(
    conn: Connection, scope: Scope, code: str, source: str, amount: Decimal, at: datetime, path: str = "source"
) -> tuple[Decimal, Rate]:
    """``amount`` of ``source`` in units of asset ``code`` at the rate in force (rounded down)."""
    asset = _asset(conn, scope, code)
    found = rate_in_force(conn, scope, asset.code, source.upper(), at)
    if found is None:
        raise Invalid.field(path, f"{asset.code} has no rate from {source.upper()} in force at {at.isoformat()}")
    units = (amount / found.rate).quantize(Decimal(1).scaleb(-asset.precision), rounding=ROUND_DOWN)
    return units, found


def units_at(conn: Connection, scope: Scope, code: str, amount: Decimal, rate: Decimal) -> Decimal:
    """``amount`` of money in units of asset ``code`` at a price given per unit (rounded down to the
    asset's precision: a buyer never gets a fraction the asset cannot hold)."""
    asset = _asset(conn, scope, code)
    return (amount / rate).quantize(Decimal(1).scaleb(-asset.precision), rounding=ROUND_DOWN)


def quote(conn: Connection, scope: Scope, code: str, command: QuoteRequest, now: datetime) -> Quote:
    units, found = convert(conn, scope, code, command.source, command.amount, command.exchange_at or now)
    return Quote(
        source=found.source,
        source_amount=command.amount,
        destination=code.upper(),
        destination_amount=units,
        rate=found.rate,
        inverse_rate=quantize(Decimal(1) / found.rate),
    )
