"""Paying a top-up from its page: the card typed into Stripe.js, charged with a PaymentIntent.

The page sends a single-use card token. Nothing here holds a transaction while Stripe is asked
(rule: read and commit, call Stripe, write the answer in a new transaction). Stripe's answer settles
the top-up at once; a webhook may have settled it first or may come later, and settling twice is a
no-op (``topups.settle_succeeded``). A card the customer did not ask to keep is removed from their
Stripe customer once the payment is over, so saved cards are only ever the ones asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import Engine

from drawdown.accounts import service as accounts
from drawdown.core.errors import NotFound
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.payments import repository as repo
from drawdown.payments import subscriptions, topups
from drawdown.payments.cards import stripe_customer
from drawdown.payments.gateway import CardError, Gateway
from drawdown.payments.models import EXPIRED, FAILED, INITIATED, OPEN, PENDING, SUBSCRIPTION, SUCCEEDED, TopUp
from drawdown.settings import Settings
from drawdown.wallets.repository import lock_customer

log = structlog.get_logger()

REQUIRES_ACTION: Final = "requires_action"  # the bank wants the customer to authenticate (3-D Secure)
DECLINED = "Your card was declined."
IN_PROGRESS = "A payment for this link is already in progress."
# A card attempt claims its top-up (pending, no PaymentIntent yet) while it talks to Stripe; a claim
# this old belongs to an attempt that died before Stripe answered, and may be taken over.
CLAIM_LIFETIME = timedelta(minutes=2)


@dataclass(frozen=True)
class Outcome:
    """What the page does next: go to ``redirect``, or run 3-D Secure with ``client_secret`` first."""

    status: str  # succeeded | failed | expired | pending | requires_action
    redirect: str | None = None
    client_secret: str | None = None
    message: str | None = None


def page_top_up(engine: Engine, token: str, now: datetime) -> TopUp | None:
    """The top-up behind a page address; an open one past its link's expiry is expired here and now."""
    with read(engine) as conn:
        found = topups.by_token(conn, token)
    if found is not None and found.status in OPEN and now >= found.expires_at and found.payment_intent is None:
        with write(engine) as conn:
            found = topups.expire(conn, found.id, now)
    return found


def takes_card(top_up: TopUp, now: datetime) -> bool:
    """Whether the page may take a card for the top-up now (no other attempt alive)."""
    if top_up.payment_intent is not None or top_up.status not in OPEN:
        return False
    return top_up.status == INITIATED or top_up.updated_at <= now - CLAIM_LIFETIME


def settled(top_up: TopUp) -> Outcome:
    """Where a top-up that is no longer waiting for a card sends the customer."""
    if top_up.status == SUCCEEDED:
        return Outcome(SUCCEEDED, top_up.return_url)
    if top_up.status == PENDING:  # Stripe is still working on it; the webhook will settle it
        return Outcome(PENDING, top_up.return_url)
    return Outcome(top_up.status, top_up.failure_url, message=top_up.failure_message)


def pay_with_token(
    engine: Engine, gateway: Gateway, settings: Settings, top_up: TopUp, card_token: str, save_card: bool,
    clock: Callable[[], datetime],
) -> Outcome:
    """Charge the card behind ``card_token`` for the top-up (which the caller found open)."""
    scope = _scope(engine, top_up)
    gateway.config.check(scope)
    if not _claim(engine, top_up, clock()):
        return Outcome(PENDING, message=IN_PROGRESS)
    try:
        customer = stripe_customer(engine, gateway, scope, top_up.customer_id)
        card = str(gateway.attach_token(customer, card_token)["id"])
    except CardError as exc:
        return _failed(engine, top_up, str(exc) or DECLINED, clock())
    except Exception:
        _release(engine, top_up)  # Stripe unreachable, say: the customer may try again at once
        raise
    with read(engine) as conn:
        amount_minor = topups.minor_amount(conn, top_up)
    try:
        intent = gateway.create_payment_intent(
            amount_minor=amount_minor, currency=top_up.currency, customer=customer,
            metadata={"top_up_id": top_up.id, "scope_id": str(top_up.scope_id)},
            # One attempt per card token (single-use): a retried request is the same charge at Stripe.
            idempotency_key=f"top-up:{top_up.id}:{card_token}",
            payment_method=card, confirm=True, save_card=save_card,
        )
    except CardError as exc:
        if exc.payment_intent and exc.payment_intent.get("id"):
            _record(engine, top_up, exc.payment_intent, card, save_card, clock())
        _forget(gateway, customer, card, save_card)
        return _failed(engine, top_up, str(exc) or DECLINED, clock())
    _record(engine, top_up, intent, card, save_card, clock())
    return _follow(engine, gateway, settings, top_up, intent, customer, card, save_card, clock)


def complete(
    engine: Engine, gateway: Gateway, settings: Settings, top_up: TopUp, clock: Callable[[], datetime]
) -> Outcome:
    """After 3-D Secure in the page (or a page reloaded mid-payment): ask Stripe and settle."""
    if top_up.status not in OPEN or top_up.payment_intent is None:
        return settled(top_up)
    intent = gateway.payment_intent(top_up.payment_intent)
    customer = intent.get("customer")
    card = top_up.payment_method
    return _follow(engine, gateway, settings, top_up, intent, str(customer or ""), card, top_up.save_card, clock)


def _follow(
    engine: Engine, gateway: Gateway, settings: Settings, top_up: TopUp, intent: dict[str, Any],
    customer: str, card: str | None, save_card: bool, clock: Callable[[], datetime],
) -> Outcome:
    status = intent.get("status")
    if status == SUCCEEDED:
        with write(engine) as conn:
            done = topups.settle_succeeded(conn, top_up.id, intent, clock(), settings.overdraft_limit())
        if done.kind == SUBSCRIPTION and done.subscription_id:
            subscriptions.reactivate(engine, done.subscription_id, clock(), settings)
        _forget(gateway, customer, card, save_card)
        return Outcome(SUCCEEDED, done.return_url)
    if status == REQUIRES_ACTION:
        return Outcome(REQUIRES_ACTION, client_secret=intent.get("client_secret"))
    if status in ("requires_payment_method", "canceled"):
        _forget(gateway, customer, card, save_card)
        error = intent.get("last_payment_error") or {}
        return _failed(engine, top_up, str(error.get("message") or DECLINED), clock())
    return Outcome(PENDING, top_up.return_url)  # processing: the webhook or reconciliation settles it


def _claim(engine: Engine, top_up: TopUp, now: datetime) -> bool:
    """One card attempt at a time: two submissions at once (a double click, two tabs) must not make
    two charges. The claim is taken under the customer's lock, and no Stripe call is made while held."""
    with write(engine) as conn:
        lock_customer(conn, top_up.customer_id)
        again = repo.top_up_any_scope(conn, top_up.id)
        if again is None or not takes_card(again, now):
            return False
        repo.set_fields(conn, top_up.id, status=PENDING, updated_at=now)
    return True


def _release(engine: Engine, top_up: TopUp) -> None:
    with write(engine) as conn:
        lock_customer(conn, top_up.customer_id)
        again = repo.top_up_any_scope(conn, top_up.id)
        if again is not None and again.status == PENDING and again.payment_intent is None:
            repo.set_fields(conn, top_up.id, status=INITIATED)


def _record(engine: Engine, top_up: TopUp, intent: dict[str, Any], card: str, save_card: bool, now: datetime) -> None:
    with write(engine) as conn:
        topups.mark_pending(conn, top_up.id, str(intent["id"]), card, save_card, now)


def _failed(engine: Engine, top_up: TopUp, message: str, now: datetime) -> Outcome:
    with write(engine) as conn:
        done = topups.settle_failed(conn, top_up.id, message, now)
    if done.status == SUCCEEDED:  # a success got there first: the money was taken, so it is a success
        return Outcome(SUCCEEDED, done.return_url)
    return Outcome(done.status if done.status in (FAILED, EXPIRED) else FAILED, done.failure_url, message=message)


def _forget(gateway: Gateway, customer: str, card: str | None, save_card: bool) -> None:
    """Remove a card used once; a failure here must not undo the payment, so it is logged, not raised."""
    if save_card or not card or not customer:
        return
    try:
        if card.startswith("card_"):
            gateway.delete_source(customer, card)
        else:
            gateway.detach(card)
    except Exception:  # noqa: BLE001 - the payment is done; a card left behind is logged for the operator
        log.warning("card_not_removed", customer=customer, card=card)


def _scope(engine: Engine, top_up: TopUp) -> Scope:
    with read(engine) as conn:
        scope = accounts.scope_by_id(conn, top_up.scope_id)
    if scope is None:
        raise NotFound(f"top-up {top_up.id} not found")
    return scope
