"""Saved cards: the customer's Stripe customer, made on first need, and the cards kept on it.

Stripe is called outside any transaction: read, commit, call Stripe, then record the answer in a new
transaction, under the customer's lock, re-reading first so two first payments at once keep one id.

A card is kept at Stripe in one of two forms: a PaymentMethod (``pm_…``, attached through the API or by
Stripe when a page payment saves it) or a card source (``card_…``, what the payment page keeps from
Stripe.js's ``createToken``). Both are listed, both can be the default and both can be charged
off-session. Stripe remembers the default (``invoice_settings.default_payment_method`` for a
PaymentMethod, ``default_source`` for a card source); Drawdown keeps no copy of the card list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from drawdown.core.errors import Invalid, NotFound
from drawdown.core.scopes import Scope
from drawdown.customers import repository as customers_repo
from drawdown.db.engine import read, write
from drawdown.payments import auto_repository
from drawdown.payments.gateway import CardError, Gateway, UnknownPaymentMethod
from drawdown.payments.models import SavedCard
from drawdown.wallets.repository import lock_customer

log = structlog.get_logger()

STRIPE = "stripe"


def _recorded(row: Any) -> str | None:
    for account in row.external_accounts or ():
        if account.get("provider") == STRIPE and account.get("provider_id"):
            return str(account["provider_id"])
    return None


def _customer_row(conn: Connection, scope: Scope, customer_id: str) -> Any:
    row = customers_repo.customer(conn, scope.id, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    return row


def recorded_customer(engine: Engine, scope: Scope, customer_id: str) -> str | None:
    """The customer's Stripe customer if it has one (NotFound for a customer not in ``scope``)."""
    with read(engine) as conn:
        return _recorded(_customer_row(conn, scope, customer_id))


def stripe_customer(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str) -> str:
    """The customer's Stripe customer id (``cus_…``), created and recorded in external_accounts if missing."""
    with read(engine) as conn:
        row = _customer_row(conn, scope, customer_id)
    found = _recorded(row)
    if found:
        return found
    gateway.config.check(scope)
    created = gateway.create_customer(
        row.email, row.name, {"drawdown_customer_id": customer_id, "drawdown_scope_id": str(scope.id)}
    )
    with write(engine) as conn:
        lock_customer(conn, customer_id)
        row = _customer_row(conn, scope, customer_id)
        found = _recorded(row)
        if not found:
            accounts = [*(row.external_accounts or ()), {"provider": STRIPE, "provider_id": created}]
            values: dict[str, Any] = {"external_accounts": accounts}
            customers_repo.update_customer(conn, scope.id, customer_id, values)
            return created
    # Another first payment got there before us: its Stripe customer is the one kept, ours is removed
    # (after the commit: Stripe is never called under the lock) so Stripe holds no stray empty customer.
    _forget(gateway, created)
    return found


def _forget(gateway: Gateway, stripe_id: str) -> None:
    try:
        gateway.delete_customer(stripe_id)
    except Exception as exc:  # noqa: BLE001 - an empty Stripe customer left behind is harmless; say so
        log.warning("stripe_customer_not_removed", stripe_customer=stripe_id, error=str(exc))


# ------------------------------------------------------------------------------------ cards
def _card(obj: dict[str, Any], default: str | None) -> SavedCard:
    facts = obj.get("card") or obj  # a PaymentMethod nests the card; a card source is the card
    return SavedCard(
        id=str(obj["id"]), brand=_text(facts.get("brand")), last4=_text(facts.get("last4")),
        exp_month=_number(facts.get("exp_month")), exp_year=_number(facts.get("exp_year")),
        is_default=obj["id"] == default,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> int | None:
    return None if value is None else int(value)


def default_card(gateway: Gateway, stripe_id: str) -> str | None:
    """The Stripe customer's default card: its default PaymentMethod, else its default card source."""
    found = gateway.customer(stripe_id)
    settings = found.get("invoice_settings") or {}
    value = settings.get("default_payment_method") or found.get("default_source")
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def cards_at(gateway: Gateway, stripe_id: str) -> list[SavedCard]:
    """Every card of the Stripe customer: PaymentMethods and card sources (localstripe lists the
    latter only as sources; real Stripe lists them in both, hence the de-duplication)."""
    default = default_card(gateway, stripe_id)
    found: dict[str, SavedCard] = {}
    for obj in [*gateway.payment_methods(stripe_id), *gateway.card_sources(stripe_id)]:
        found.setdefault(str(obj["id"]), _card(obj, default))
    return list(found.values())


def list_cards(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str) -> list[SavedCard]:
    stripe_id = recorded_customer(engine, scope, customer_id)
    if stripe_id is None:
        return []  # no Stripe customer yet: no card, and no reason to make one
    gateway.config.check(scope)
    return cards_at(gateway, stripe_id)


def _own_card(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, card_id: str) -> str:
    """The Stripe customer, if ``card_id`` is one of its cards; a card of anyone else is not found."""
    stripe_id = recorded_customer(engine, scope, customer_id)
    if stripe_id is not None:
        gateway.config.check(scope)
        if any(c.id == card_id for c in cards_at(gateway, stripe_id)):
            return stripe_id
    raise NotFound(f"payment method {card_id} not found")


def add_card(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, payment_method_id: str) -> SavedCard:
    """Attach a PaymentMethod (``pm_…``) to the customer; the first card becomes the default."""
    if not payment_method_id.startswith("pm_"):
        raise Invalid.field("payment_method_id", "must be a Stripe PaymentMethod id (pm_…)")
    stripe_id = stripe_customer(engine, gateway, scope, customer_id)
    try:
        attached = gateway.attach(payment_method_id, stripe_id)
    except (CardError, UnknownPaymentMethod) as exc:
        raise Invalid.field("payment_method_id", str(exc)) from None
    default = default_card(gateway, stripe_id)
    if default is None:
        gateway.set_default_payment_method(stripe_id, attached["id"])
        default = attached["id"]
    return _card(attached, default)


def delete_card(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, card_id: str) -> None:
    """Remove a card. When it was the default and others are left, the first left becomes the default:
    a customer with cards always has one that auto top-up and "pay with my default card" can use."""
    stripe_id = _own_card(engine, gateway, scope, customer_id, card_id)
    was_default = default_card(gateway, stripe_id) == card_id
    if card_id.startswith("pm_"):
        gateway.detach(card_id)
    else:
        gateway.delete_source(stripe_id, card_id)
    left = cards_at(gateway, stripe_id) if was_default else []
    if left and not any(c.is_default for c in left):
        if left[0].id.startswith("pm_"):
            gateway.set_default_payment_method(stripe_id, left[0].id)
        else:
            gateway.set_default_source(stripe_id, left[0].id)


def make_default(
    engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, card_id: str, now: datetime
) -> None:
    """Make a card the default. Auto top-ups that charge the default card and were paused by failures
    resume: the customer changed the card."""
    stripe_id = _own_card(engine, gateway, scope, customer_id, card_id)
    if card_id.startswith("pm_"):
        gateway.set_default_payment_method(stripe_id, card_id)
    else:
        gateway.set_default_source(stripe_id, card_id)
    with write(engine) as conn:
        lock_customer(conn, customer_id)
        auto_repository.resume_following_default(conn, customer_id, now)
