"""Refunds of top-ups: money back through Stripe, the same value out of the top-up's grant.

What can be refunded is the value still unspent in the top-up's grant, in money: units remaining ×
price per unit (``amount paid / units credited``, so refunding everything unspent returns exactly
what was paid), rounded down to the currency's minor unit, and never more than was paid and not yet
refunded. The units taken for a refund of ``m`` are ``m × units credited / amount paid``, rounded up to
the nano-unit: the customer never keeps a fraction of a unit whose money went back.

Three steps, so that Stripe is never called inside a transaction: ``reserve`` (one transaction:
refund row ``pending``, units out of the grant, so they cannot be spent meanwhile), then ``complete``
calls Stripe with the refund's id as idempotency key and writes the end: ``succeeded``, or ``failed``
with the units put back into the same grant. A refund left pending by a crash is completed by the
payments worker (``retry_pending``), with the same idempotency key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import stripe
import structlog
from sqlalchemy import Connection, Engine

from drawdown.core.errors import Conflict, Invalid
from drawdown.core.ids import new_id
from drawdown.core.money import DECIMAL_PLACES, MoneyError, to_minor, to_scaled
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.payments import repository as repo
from drawdown.payments import topups
from drawdown.payments.gateway import Gateway
from drawdown.payments.models import REFUND_FAILED, REFUND_PENDING, REFUND_SUCCEEDED, SUCCEEDED, Refund, TopUp
from drawdown.settings import Settings
from drawdown.wallets import repository as wallet_repo
from drawdown.wallets import service as wallets

log = structlog.get_logger()

REFUND = "rfd"
NANO = Decimal(1).scaleb(-DECIMAL_PLACES)
ZERO = Decimal(0)


def reserve(
    conn: Connection, scope: Scope, top_up_id: str, amount: Decimal | None, now: datetime, default_limit: Decimal | None
) -> Refund:
    """Record a refund ``pending`` and take its units out of the top-up's grant (one transaction)."""
    found = topups.get(conn, scope, top_up_id)  # another scope's top-up: 404, like an unknown one
    wallet_repo.lock_customer(conn, found.customer_id)
    top_up = topups.get(conn, scope, top_up_id)  # again, under the lock: settlements and refunds wait
    if top_up.status != SUCCEEDED or top_up.grant_id is None or not top_up.credited:
        raise Conflict(f"top-up {top_up_id} is {top_up.status}: only a succeeded top-up can be refunded")
    places = topups.precision(conn, top_up)
    if amount is not None:
        _check_amount(amount, places)
    refund_id = new_id(REFUND)
    chosen: list[Decimal] = []

    def units(left: Decimal | None) -> Decimal:
        cap = refundable(top_up, left or ZERO, _in_flight(conn, top_up), places)
        money = cap if amount is None else amount
        if money <= 0:
            raise Invalid.field("amount", "nothing of this top-up is left to refund (spent, expired or refunded)")
        if money > cap:
            raise Invalid.field("amount", f"at most {cap} {top_up.currency} of this top-up can be refunded")
        chosen.append(money)
        return units_for(top_up, money)

    transaction_id = f"refund:{refund_id}"
    taken = wallets.withdraw_grant(
        conn, scope, top_up.customer_id, (top_up.account_name, top_up.asset), top_up.grant_id, units,
        (transaction_id, f"Refund of top-up {top_up.id}"), now, default_limit,
    )
    repo.insert_refund(conn, {
        "id": refund_id, "top_up_id": top_up.id, "amount": to_scaled(chosen[0]), "units": to_scaled(taken),
        "status": REFUND_PENDING, "transaction_id": transaction_id, "created_at": now,
    })
    found_refund = repo.refund(conn, refund_id)
    assert found_refund is not None
    return found_refund


def _check_amount(amount: Decimal, places: int) -> None:
    if not amount.is_finite() or amount <= 0:
        raise Invalid.field("amount", "must be more than zero")
    try:
        to_minor(amount, places)
    except MoneyError as exc:
        raise Invalid.field("amount", str(exc)) from None


def _in_flight(conn: Connection, top_up: TopUp) -> Decimal:
    """Money already refunded or being refunded (pending refunds count: their units are out already)."""
    return sum((r.amount for r in repo.refunds_of(conn, top_up.id) if r.status != REFUND_FAILED), ZERO)


def refundable(top_up: TopUp, units_left: Decimal, refunded: Decimal, places: int) -> Decimal:
    """Money that may still be refunded: the unspent units' value, rounded down to the minor unit,
    within what was paid and not yet refunded."""
    assert top_up.credited
    value = (units_left * top_up.amount / top_up.credited).quantize(Decimal(1).scaleb(-places), ROUND_FLOOR)
    return max(ZERO, min(value, top_up.amount - refunded))


def units_for(top_up: TopUp, money: Decimal) -> Decimal:
    """Units a refund of ``money`` takes back, rounded up to the nano-unit."""
    assert top_up.credited
    return (money * top_up.credited / top_up.amount).quantize(NANO, ROUND_CEILING)


# ---------------------------------------------------------------------------- after the commit
def complete(engine: Engine, gateway: Gateway, refund: Refund, now: datetime, default_limit: Decimal | None) -> Refund:
    """Ask Stripe for the money back (no transaction open), then write how it ended."""
    with read(engine) as conn:
        top_up = repo.top_up_any_scope(conn, refund.top_up_id)
        assert top_up is not None and top_up.payment_intent is not None
        minor = to_minor(refund.amount, topups.precision(conn, top_up))
    try:
        done = gateway.refund(top_up.payment_intent, minor, idempotency_key=refund.id)
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc)
        return _failed(engine, top_up, refund, message, now, default_limit)
    if done.get("status") in ("failed", "canceled"):
        return _failed(engine, top_up, refund, str(done.get("failure_reason") or "Stripe refused the refund"), now,
                       default_limit)
    with write(engine) as conn:
        if repo.settle_refund(conn, refund.id, {"status": REFUND_SUCCEEDED, "stripe_refund": done.get("id"),
                                                "settled_at": now}):
            repo.add_refunded(conn, top_up.id, to_scaled(refund.amount), now)
            log.info("refund_succeeded", refund_id=refund.id, top_up_id=top_up.id)
        return _reread(conn, refund.id)


def _failed(
    engine: Engine, top_up: TopUp, refund: Refund, message: str, now: datetime, default_limit: Decimal | None
) -> Refund:
    """Stripe would not refund: the units go back into the same grant (a reversal transaction), unless
    the grant has expired meanwhile (the units would have expired with it)."""
    with write(engine) as conn:
        if repo.settle_refund(conn, refund.id, {"status": REFUND_FAILED, "failure_message": message[:500],
                                                "settled_at": now}):
            assert top_up.grant_id is not None
            wallets.withdraw_grant(
                conn, topups.scope_of(top_up), top_up.customer_id, (top_up.account_name, top_up.asset),
                top_up.grant_id, lambda left: ZERO if left is None else -refund.units,
                (f"refund-reversal:{refund.id}", f"Refund of top-up {top_up.id} failed: units back"), now,
                default_limit,
            )
            log.warning("refund_failed", refund_id=refund.id, top_up_id=top_up.id, reason=message[:200])
        return _reread(conn, refund.id)


def _reread(conn: Connection, refund_id: str) -> Refund:
    found = repo.refund(conn, refund_id)
    assert found is not None
    return found


def retry_pending(engine: Engine, gateway: Gateway, settings: Settings, now: datetime) -> int:
    """A worker task: refunds left pending (the process died between the reservation and Stripe's
    answer) are completed with the same idempotency key, so Stripe refunds them at most once."""
    if not gateway.config.secret_key:
        return 0
    with read(engine) as conn:
        stale = repo.refunds_pending(conn, now - timedelta(seconds=max(settings.reconcile_after_seconds, 60)), 50)
    for refund in stale:
        complete(engine, gateway, refund, now, settings.overdraft_limit())
    return len(stale)
