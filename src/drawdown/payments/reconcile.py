"""Lost webhooks and abandoned links: the payments worker's own tasks.

``reconcile`` asks Stripe about every top-up pending for longer than ``reconcile_after_seconds`` (or
pending past its link's expiry) and settles it exactly as its webhook would have. ``expire`` ends the
top-ups nobody started to pay before their link expired. Stripe is asked outside any transaction;
each answer is written in its own, under the customer's lock (``topups.settle_*``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import stripe
import structlog
from sqlalchemy import Engine

from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.payments import cards, lookup, subscriptions, topups
from drawdown.payments import repository as repo
from drawdown.payments.checkout import CLAIM_LIFETIME
from drawdown.payments.gateway import Gateway
from drawdown.payments.models import AUTO, TopUp
from drawdown.settings import Settings

log = structlog.get_logger()

BATCH = 100  # top-ups per tick; the rest wait for the next one
UNPAID = ("requires_payment_method", "requires_confirmation", "requires_action")


def reconcile(engine: Engine, gateway: Gateway, settings: Settings, now: datetime) -> int:
    """Settle pending top-ups by what Stripe says; answers how many were settled."""
    if not gateway.config.secret_key:
        return 0
    asked_before = now - timedelta(seconds=settings.reconcile_after_seconds)
    with read(engine) as conn:
        due = repo.pending_due(conn, asked_before, now, BATCH)
    return sum(_reconcile_one(engine, gateway, settings, t, now) for t in due)


def _reconcile_one(engine: Engine, gateway: Gateway, settings: Settings, top_up: TopUp, now: datetime) -> int:
    if top_up.payment_intent is None:
        return _unrecorded(engine, gateway, settings, top_up, now)
    try:
        intent = gateway.payment_intent(top_up.payment_intent)
        lapsed = now >= top_up.expires_at and intent.get("status") in UNPAID
        if lapsed:
            # The link is over and nobody paid: cancel at Stripe first, so that the payment cannot
            # still be made; if it was made meanwhile, the cancel fails and the re-read says so.
            try:
                gateway.cancel_payment_intent(top_up.payment_intent)
            except stripe.StripeError:
                pass
            intent = gateway.payment_intent(top_up.payment_intent)
    except stripe.StripeError as exc:
        log.warning("top_up_reconcile_failed", top_up_id=top_up.id, error=str(exc)[:200])
        return 0
    limit = settings.overdraft_limit()
    with write(engine) as conn:
        if lapsed and intent.get("status") == "canceled":
            topups.expire(conn, top_up.id, now)
            return 1
        settled = topups.settle_from_intent(conn, top_up.id, intent, now, limit)
        if settled is None:
            repo.touch_pending(conn, top_up.id, now)
            return 0
        subscriptions.follow(conn, settled, now, limit, settings.public_url)
    log.info("top_up_reconciled", top_up_id=top_up.id, status=settled.status)
    return 1


def expire(engine: Engine, gateway: Gateway, settings: Settings, now: datetime) -> int:
    """Top-ups still ``initiated`` past their link's expiry: nobody paid, they end ``expired``.
    A ``pending`` one is never expired blindly (Stripe may have the money): ``reconcile`` asks first."""
    with read(engine) as conn:
        due = repo.initiated_expired(conn, now, BATCH)
    for top_up_id in due:
        with write(engine) as conn:
            topups.expire(conn, top_up_id, now)
    return len(due)


def _unrecorded(engine: Engine, gateway: Gateway, settings: Settings, top_up: TopUp, now: datetime) -> int:
    """A pending top-up with no PaymentIntent recorded: a page's card attempt that died mid-way (auto
    top-ups are taken back by their own task). Stripe is asked whether it charged for it; if it did,
    the top-up is settled, else once its link is over it expires, never credited without a payment."""
    if top_up.kind == AUTO:
        return 0
    try:
        scope = Scope(top_up.scope_id, "", "")
        stripe_id = cards.recorded_customer(engine, scope, top_up.customer_id)
        intent = lookup.intent_for(gateway, stripe_id, top_up) if stripe_id else None
    except stripe.StripeError as exc:
        log.warning("top_up_reconcile_failed", top_up_id=top_up.id, error=str(exc)[:200])
        return 0
    with write(engine) as conn:
        limit = settings.overdraft_limit()
        settled = topups.settle_from_intent(conn, top_up.id, intent, now, limit) if intent else None
        if settled is None and now >= top_up.expires_at + CLAIM_LIFETIME:
            topups.expire(conn, top_up.id, now)
            return 1
        if settled is None:
            repo.touch_pending(conn, top_up.id, now)
            return 0
        subscriptions.follow(conn, settled, now, limit, settings.public_url)
    return 1
