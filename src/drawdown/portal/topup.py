"""The portal's top-up form: what a customer may buy (each wallet account, or the default wallet in the
reporting currency when it has none yet), the amount typed checked to the currency's precision, a live
quote of the units it buys at the rate in force, and the top-up made by ``payments.topups.initiate``
(its payment page, ``/pay/{token}``, takes the card). Nothing here calls Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import Connection

from drawdown.catalog import rates
from drawdown.catalog import service as catalog
from drawdown.core.errors import Invalid
from drawdown.core.scopes import Scope
from drawdown.payments import topups
from drawdown.payments.models import API, DEFAULT_ACCOUNT_NAME, NewTopUp, TopUp
from drawdown.wallets import service as wallets

MAX_DIGITS = 18  # an amount longer than this is a typing slip, not a top-up


@dataclass(frozen=True)
class Choice:
    """One account the customer can fill: paid in ``currency``; ``rate`` is the currency per unit
    (None for a currency itself)."""

    key: str  # "account_name:asset", the form's value
    account_name: str
    asset: str
    currency: str
    places: int  # the currency's precision (the amount typed)
    asset_places: int
    rate: Decimal | None


@dataclass(frozen=True)
class Made:
    top_up: TopUp | None
    errors: dict[str, str]


def _currency_for(conn: Connection, scope: Scope, asset: str, now: datetime) -> tuple[str, Decimal] | None:
    """The currency a custom asset is bought in (the reporting currency first) and its rate in force."""
    sources = [s.source for s in catalog.get_asset(conn, scope, asset).schedules]
    for source in sorted(sources, key=lambda s: s != rates.REPORTING):
        found = rates.rate_in_force(conn, scope, asset, source, now)
        if found is not None:
            return source, found.rate
    return None


def choices(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> list[Choice]:
    found: list[Choice] = []
    keys = [(b.name, b.asset) for b in wallets.wallet(conn, scope, customer_id, now)]
    if not keys:
        keys = [(DEFAULT_ACCOUNT_NAME, rates.REPORTING)]
    for name, asset in keys:
        facts = catalog.asset_facts(conn, scope, asset)
        if facts is None:
            continue
        if facts[1]:
            found.append(Choice(f"{name}:{asset}", name, asset, asset, facts[0], facts[0], None))
            continue
        priced = _currency_for(conn, scope, asset, now)
        if priced is not None:  # an asset without a rate in force cannot be bought by card
            money = catalog.asset_facts(conn, scope, priced[0])
            found.append(Choice(f"{name}:{asset}", name, asset, priced[0], money[0] if money else 2, facts[0],
                                priced[1]))
    return found


def amount(text: str, places: int) -> tuple[Decimal | None, str | None]:
    """The amount typed, or why it cannot be paid."""
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        return None, "Enter an amount."
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None, "Enter a number, like 20 or 12.50."
    if not value.is_finite() or len(cleaned) > MAX_DIGITS:
        return None, "Enter a number, like 20 or 12.50."
    if value <= 0:
        return None, "Enter an amount more than zero."
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return None, f"Use at most {places} decimal places." if places else "Use a whole number."
    return value, None


def units(choice: Choice, paid: Decimal) -> Decimal:
    """The units ``paid`` buys (rounded down, like the credit itself)."""
    if choice.rate is None:
        return paid
    return (paid / choice.rate).quantize(Decimal(1).scaleb(-choice.asset_places), rounding="ROUND_DOWN")


def start(conn: Connection, scope: Scope, customer_id: str, choice: Choice, text: str, return_url: str,
          failure_url: str, now: datetime, link_minutes: int) -> Made:
    paid, error = amount(text, choice.places)
    if paid is None:
        return Made(None, {"amount": error or "Enter an amount."})
    cmd = NewTopUp(customer_id=customer_id, amount=paid, currency=choice.currency, return_url=return_url,
                   failure_url=failure_url, asset=choice.asset, account_name=choice.account_name, kind=API,
                   exchange_rate=choice.rate,  # the rate quoted on the form is the rate paid
                   description="Top-up from the billing portal")
    try:
        return Made(topups.initiate(conn, scope, cmd, now, link_minutes), {})
    except Invalid as exc:
        field = "amount" if "amount" in exc.errors else "account"
        return Made(None, {field: " ".join(m for ms in exc.errors.values() for m in ms)})
