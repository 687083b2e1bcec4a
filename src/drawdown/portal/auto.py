"""The portal's auto top-up form: per wallet account of the customer, its setting (or none yet), the
last failed charge in plain words with how to fix it, and the form's values parsed into
``payments.auto_settings.put`` (which checks the amounts and the card; its errors go next to the
fields). Only the customer's own accounts can be set: ``put`` would otherwise open a new account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import Engine

from drawdown.catalog import service as catalog
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.scopes import Scope
from drawdown.db.engine import read
from drawdown.payments import auto_settings
from drawdown.payments.gateway import Gateway
from drawdown.payments.models import FAILED, AutoTopUpAttempt, AutoTopUpSetting, AutoTopUpView
from drawdown.wallets import service as wallets

FIELDS = {"threshold": "threshold", "amount": "amount", "monthly_limit": "monthly_limit", "payment_method_id": "card"}


@dataclass(frozen=True)
class Account:
    key: str  # name:ASSET
    name: str
    asset: str
    places: int
    setting: AutoTopUpView | None
    failure: AutoTopUpAttempt | None  # the latest attempt, when it failed


def accounts(engine: Engine, scope: Scope, customer_id: str, now: datetime) -> list[Account]:
    found: list[Account] = []
    with read(engine) as conn:
        keys = [(b.name, b.asset) for b in wallets.wallet(conn, scope, customer_id, now)]
        places = {a: (catalog.asset_facts(conn, scope, a) or (2, True))[0] for _, a in keys}
    for name, asset in keys:
        key = f"{name}:{asset}"
        try:
            setting: AutoTopUpView | None = auto_settings.get(engine, scope, customer_id, key)
        except NotFound:
            setting = None
        last = setting.attempts[0] if setting and setting.attempts else None
        found.append(Account(key, name, asset, places[asset], setting,
                             last if last is not None and last.status == FAILED else None))
    return found


def _number(text: str, label: str, errors: dict[str, str], field: str, optional: bool = False) -> Decimal | None:
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        if not optional:
            errors[field] = f"Enter {label}."
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        errors[field] = "Enter a number, like 20 or 12.50."
        return None
    if not value.is_finite() or len(cleaned) > 18:
        errors[field] = "Enter a number, like 20 or 12.50."
        return None
    return value


def _plain(message: str) -> str:
    """``auto_settings``' API wording, said to a person."""
    text = message.replace("must be", "Must be").replace("the customer has no saved card: save one, or name one",
                                                          "You have no saved card: add one on the Cards page first.")
    if "is not one of the customer's saved cards" in text:
        return "Choose one of your saved cards."
    return text[:1].upper() + text[1:]


def save(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, account: Account, form: dict[str, str],
         now: datetime, default_limit: Decimal | None) -> dict[str, str]:
    """The form saved, or the errors by field (threshold, amount, monthly_limit, card)."""
    errors: dict[str, str] = {}
    threshold = _number(form.get("threshold", ""), "a threshold", errors, "threshold")
    amount = _number(form.get("amount", ""), "an amount", errors, "amount")
    limit = _number(form.get("monthly_limit", ""), "", errors, "monthly_limit", optional=True)
    if errors or threshold is None or amount is None:
        return errors
    card = form.get("card") or None
    cmd = AutoTopUpSetting(enabled=form.get("enabled") == "on", threshold=threshold, amount=amount,
                           payment_method_id=card, monthly_limit=limit)
    try:
        auto_settings.put(engine, gateway, scope, customer_id, account.key, cmd, now, default_limit)
    except Invalid as exc:
        return {FIELDS.get(k, "amount"): _plain(" ".join(v)) for k, v in exc.errors.items()}
    return {}
