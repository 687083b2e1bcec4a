"""Auto top-up settings per wallet account: PUT, GET and DELETE
``/customers/{id}/wallet/{account}/auto-top-up``.

A setting says: when ``available`` falls below ``threshold``, buy ``amount`` (units of the account's
asset) with the customer's card, at most ``monthly_limit`` units per calendar month. It is kept in
``auto_top_ups``; ``wallet_accounts.auto_threshold`` mirrors its threshold while it is on and not
paused, which is all the debit path reads. The card is checked at Stripe before anything is written
(outside any transaction); the write is one short transaction under the customer's lock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine

from drawdown.catalog import service as catalog
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.money import MoneyError, from_scaled, to_minor, to_scaled
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.payments import auto_repository as auto_repo
from drawdown.payments import cards
from drawdown.payments.gateway import Gateway
from drawdown.payments.models import AutoTopUpAttempt, AutoTopUpSetting, AutoTopUpView
from drawdown.wallets import autotopup
from drawdown.wallets import repository as wallet_repo
from drawdown.wallets.accounts import parse_account_key

ATTEMPTS_SHOWN = 10
TURNED_OFF = "auto top-up was turned off before this top-up was charged"


def put(
    engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, key: str, cmd: AutoTopUpSetting,
    now: datetime, default_limit: Decimal | None,
) -> AutoTopUpView:
    """Turn auto top-up on (or off) for an account, creating the account if needed. Any PUT also
    resumes a paused setting: the customer has looked at it (and maybe changed the card)."""
    name, asset = parse_account_key(key)
    with read(engine) as conn:
        precision = _precision(conn, scope, customer_id, asset, key)
    _check_amounts(cmd, precision)
    _check_card(engine, gateway, scope, customer_id, cmd.payment_method_id)
    with write(engine) as conn:
        wallet_repo.lock_customer_in(conn, scope.id, customer_id)
        account_id = wallet_repo.ensure_account(conn, customer_id, name, asset, now, default_limit)
        found = auto_repo.setting(conn, account_id)
        auto_repo.save(conn, {
            "account_id": account_id, "customer_id": customer_id, "enabled": cmd.enabled,
            "threshold": to_scaled(cmd.threshold), "amount": to_scaled(cmd.amount),
            "payment_method": cmd.payment_method_id,
            "monthly_limit": None if cmd.monthly_limit is None else to_scaled(cmd.monthly_limit),
            "failures": 0, "paused_at": None, "updated_at": now,
            "created_at": found.created_at if found is not None else now,
        })
        if not cmd.enabled:
            auto_repo.cancel_waiting(conn, customer_id, name, asset, TURNED_OFF, now)
        elif wallet_repo.balances(conn, account_id, now)["available"] < cmd.threshold:
            # Already below the threshold: no debit will cross it, so top up now.
            autotopup.queue_account(conn, account_id, now)
        return _view(conn, account_id)


def get(engine: Engine, scope: Scope, customer_id: str, key: str) -> AutoTopUpView:
    with read(engine) as conn:
        account_id = _setting_account(conn, scope, customer_id, key)
        return _view(conn, account_id)


def delete(engine: Engine, scope: Scope, customer_id: str, key: str, now: datetime) -> None:
    """Turn auto top-up off and forget the setting; a top-up already at Stripe finishes as Stripe says."""
    name, asset = parse_account_key(key)
    with write(engine) as conn:
        wallet_repo.lock_customer_in(conn, scope.id, customer_id)
        account_id = _setting_account(conn, scope, customer_id, key)
        auto_repo.remove(conn, account_id)
        auto_repo.cancel_waiting(conn, customer_id, name, asset, TURNED_OFF, now)


# ------------------------------------------------------------------------------------ checks
def _precision(conn: Connection, scope: Scope, customer_id: str, asset: str, key: str) -> int:
    if not wallet_repo.customer_exists(conn, scope.id, customer_id):
        raise NotFound(f"customer {customer_id} not found")
    facts = catalog.asset_facts(conn, scope, asset)
    if facts is None:
        raise NotFound(f"no wallet account {key!r}: asset {asset} is unknown")
    return facts[0]


def _check_amounts(cmd: AutoTopUpSetting, precision: int) -> None:
    errors: dict[str, list[str]] = {}
    for field, value, least in (("threshold", cmd.threshold, "zero or more"), ("amount", cmd.amount, "more than zero"),
                                ("monthly_limit", cmd.monthly_limit, "more than zero")):
        if value is None:
            continue
        if not value.is_finite() or value < 0 or (value == 0 and field != "threshold"):
            errors[field] = [f"must be {least}"]
            continue
        try:
            to_minor(value, precision)
        except MoneyError as exc:
            errors[field] = [f"{exc} (the asset has {precision})"]
    if "amount" not in errors and "monthly_limit" not in errors and cmd.monthly_limit is not None \
            and cmd.monthly_limit < cmd.amount:
        errors["monthly_limit"] = ["must be at least amount, or no auto top-up could ever be made"]
    if errors:
        raise Invalid(errors)


def _check_card(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, card: str | None) -> None:
    """The card must be one of the customer's; with none named, the customer must have a card."""
    gateway.config.check(scope)
    kept = cards.list_cards(engine, gateway, scope, customer_id)
    if card is not None and all(c.id != card for c in kept):
        raise Invalid.field("payment_method_id", f"{card} is not one of the customer's saved cards")
    if card is None and not kept:
        raise Invalid.field("payment_method_id", "the customer has no saved card: save one, or name one")


def _setting_account(conn: Connection, scope: Scope, customer_id: str, key: str) -> str:
    name, asset = parse_account_key(key)
    if not wallet_repo.customer_exists(conn, scope.id, customer_id):
        raise NotFound(f"customer {customer_id} not found")
    account_id = auto_repo.account_id(conn, customer_id, name, asset)
    if account_id is None or auto_repo.setting(conn, account_id) is None:
        raise NotFound(f"no auto top-up for wallet account {key!r}")
    return account_id


# ------------------------------------------------------------------------------------- views
def _view(conn: Connection, account_id: str) -> AutoTopUpView:
    s = auto_repo.setting(conn, account_id)
    account = wallet_repo.account(conn, account_id)
    rows = auto_repo.attempts(conn, s.customer_id, account.name, account.asset, ATTEMPTS_SHOWN)
    return AutoTopUpView(
        account_id=f"{account.name}:{account.asset}", enabled=bool(s.enabled), threshold=from_scaled(s.threshold),
        amount=from_scaled(s.amount), payment_method_id=s.payment_method,
        monthly_limit=None if s.monthly_limit is None else from_scaled(s.monthly_limit),
        failures=int(s.failures), paused_at=s.paused_at, attempts=tuple(_attempt(r) for r in rows),
    )


def _attempt(r: Any) -> AutoTopUpAttempt:
    return AutoTopUpAttempt(
        id=r.id, status=r.status, amount=from_scaled(r.amount), currency=r.currency,
        credited=None if r.credited is None else from_scaled(r.credited), message=r.failure_message,
        created_at=r.created_at, settled_at=r.settled_at,
    )
