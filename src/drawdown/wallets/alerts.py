"""Balance alerts (Drawdown extension): ``PUT``, ``GET`` and ``DELETE
/customers/{id}/wallet/{account}/alerts``.

A platform sets thresholds on a wallet account, each absolute (``{"amount": 5}``, units of the
account's asset) or a percentage of the last top-up (``{"percent": 20}``). When a write takes the
account's ``available`` from at or above a threshold to below it, ``balance.low`` is sent with that
threshold: once per crossing, detected in the billing transaction itself (``wallets.notices``), and
again only after a later write has lifted the balance back above it.

The thresholds are kept in ``balance_alerts``; ``wallet_accounts.alert_levels`` mirrors them resolved
to amounts (a percentage of the last top-up, rounded down to the asset's precision; inactive before
the first top-up), which is all the debit path reads. A successful top-up moves the percentages
(``note_top_up``, in the top-up's own transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.catalog import service as catalog
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.money import MoneyError, from_scaled, to_minor, to_scaled
from drawdown.core.scopes import Scope
from drawdown.wallets import alerts_repository as repo
from drawdown.wallets import repository
from drawdown.wallets.accounts import parse_account_key
from drawdown.wallets.notices import Level, levels_text

MAX_THRESHOLDS = 10
HUNDRED = Decimal(100)
LEDGER_PLACES = 9  # the ledger's own precision (nano), for an asset no longer found


@dataclass(frozen=True)
class Threshold:
    """One threshold as sent: exactly one of ``amount`` and ``percent``."""

    amount: Decimal | None = None
    percent: Decimal | None = None


@dataclass(frozen=True)
class ThresholdView:
    amount: Decimal | None
    percent: Decimal | None
    level: Decimal | None  # the amount it stands at now (None: a percentage before any top-up)
    below: bool  # available is under it now (it fired when crossed, and re-arms above it)


@dataclass(frozen=True)
class AlertsView:
    account_id: str
    asset: str
    available: Decimal
    last_top_up: Decimal | None
    thresholds: tuple[ThresholdView, ...]
    updated_at: datetime


def put(conn: Connection, scope: Scope, customer_id: str, key: str, wanted: list[Threshold], now: datetime,
        default_limit: Decimal | None) -> AlertsView:
    """Set the account's thresholds (replacing any), creating the account if needed."""
    name, asset = parse_account_key(key)
    places = _places(conn, scope, customer_id, asset, key)
    _check(wanted, places)
    repository.lock_customer_in(conn, scope.id, customer_id)
    account_id = repository.ensure_account(conn, customer_id, name, asset, now, default_limit)
    repo.save(conn, account_id, customer_id, _text(wanted), now)
    _mirror(conn, account_id, places)
    return _view(conn, account_id, key, asset, places, now)


def get(conn: Connection, scope: Scope, customer_id: str, key: str, now: datetime) -> AlertsView:
    account_id, asset, places = _existing(conn, scope, customer_id, key)
    return _view(conn, account_id, key, asset, places, now)


def remove(conn: Connection, scope: Scope, customer_id: str, key: str) -> None:
    repository.lock_customer_in(conn, scope.id, customer_id)
    account_id, _, _ = _existing(conn, scope, customer_id, key)
    repo.remove(conn, account_id)


def account_of(conn: Connection, customer_id: str, name: str, asset: str) -> str | None:
    return repo.account_id(conn, customer_id, name, asset)


def note_top_up(conn: Connection, scope: Scope, account_id: str, asset: str, credited: Decimal) -> None:
    """A top-up added ``credited`` units: percentages of the last top-up now measure against it."""
    if repo.row(conn, account_id) is None:
        return
    repo.set_last_top_up(conn, account_id, to_scaled(credited))
    facts = catalog.asset_facts(conn, scope, asset)
    _mirror(conn, account_id, facts[0] if facts else LEDGER_PLACES)


# ----------------------------------------------------------------------------------- helpers
def _places(conn: Connection, scope: Scope, customer_id: str, asset: str, key: str) -> int:
    if not repository.customer_exists(conn, scope.id, customer_id):
        raise NotFound(f"customer {customer_id} not found")
    facts = catalog.asset_facts(conn, scope, asset)
    if facts is None:
        raise NotFound(f"no wallet account {key!r}: asset {asset} is unknown")
    return int(facts[0])


def _existing(conn: Connection, scope: Scope, customer_id: str, key: str) -> tuple[str, str, int]:
    name, asset = parse_account_key(key)
    places = _places(conn, scope, customer_id, asset, key)
    account_id = repo.account_id(conn, customer_id, name, asset)
    if account_id is None or repo.row(conn, account_id) is None:
        raise NotFound(f"no balance alerts on wallet account {key!r}")
    return account_id, asset, places


def _check(wanted: list[Threshold], places: int) -> None:
    errors: dict[str, list[str]] = {}
    if not 1 <= len(wanted) <= MAX_THRESHOLDS:
        errors["thresholds"] = [f"must hold 1 to {MAX_THRESHOLDS} thresholds"]
    for i, t in enumerate(wanted):
        at = f"thresholds[{i}]"
        if (t.amount is None) == (t.percent is None):
            errors[at] = ["must have exactly one of amount and percent"]
        elif t.amount is not None:
            _amount(f"{at}.amount", t.amount, places, errors)
        elif t.percent is not None and not _percent_ok(t.percent):
            errors[f"{at}.percent"] = ["must be more than 0 and at most 100, with at most 2 decimal places"]
    if errors:
        raise Invalid(errors)


def _percent_ok(value: Decimal) -> bool:
    return value.is_finite() and 0 < value <= HUNDRED and value == value.quantize(Decimal("0.01"))


def _amount(field: str, value: Decimal, places: int, errors: dict[str, list[str]]) -> None:
    if not value.is_finite() or value <= 0:
        errors[field] = ["must be more than zero"]
        return
    try:
        to_minor(value, places)
    except MoneyError as exc:
        errors[field] = [f"{exc} (the asset has {places})"]


def _text(wanted: list[Threshold]) -> str:
    return json.dumps([{"amount": str(t.amount)} if t.amount is not None else {"percent": str(t.percent)}
                       for t in wanted])


def _thresholds(row: Any) -> list[Threshold]:
    return [Threshold(amount=Decimal(t["amount"])) if "amount" in t else Threshold(percent=Decimal(t["percent"]))
            for t in json.loads(row.thresholds)]


def _level(t: Threshold, last: Decimal | None, places: int) -> Decimal | None:
    """Where the threshold stands: its amount, or its share of the last top-up rounded down to the
    asset's precision (None before the first top-up)."""
    if t.amount is not None:
        return t.amount
    if last is None or t.percent is None:
        return None
    return (last * t.percent / HUNDRED).quantize(Decimal(1).scaleb(-places), ROUND_DOWN)


def _last(row: Any) -> Decimal | None:
    return None if row.last_top_up is None else from_scaled(row.last_top_up)


def _mirror(conn: Connection, account_id: str, places: int) -> None:
    row = repo.row(conn, account_id)
    found: list[Level] = []
    for t in _thresholds(row):
        level = _level(t, _last(row), places)
        if level is not None and level > 0:
            found.append((to_scaled(level), t.percent))
    repo.mirror(conn, account_id, levels_text(found))


def _view(conn: Connection, account_id: str, key: str, asset: str, places: int, now: datetime) -> AlertsView:
    row = repo.row(conn, account_id)
    available = repository.balances(conn, account_id, now)["available"]
    shown = []
    for t in _thresholds(row):
        level = _level(t, _last(row), places)
        shown.append(ThresholdView(t.amount, t.percent, level, level is not None and available < level))
    return AlertsView(key, asset, available, _last(row), tuple(shown), row.updated_at)
