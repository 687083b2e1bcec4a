"""Auto top-up, the charging half: a task of the payments worker that charges the saved card
off-session for every auto top-up the debit path recorded (``wallets/autotopup.py``).

Each auto top-up goes through three short steps, and Stripe is called only between them, outside any
transaction and without any lock held:

1. **claim** (one transaction): ``initiated`` -> ``pending``, a compare-and-set, so of two workers
   one charges it;
2. **charge** (no transaction): an off-session PaymentIntent on the saved card, confirmed at once,
   with the idempotency key ``auto-top-up-<id>`` and ``metadata.top_up_id``;
3. **settle** (one transaction, under the customer lock): the PaymentIntent recorded, then the
   credit (``topups.settle_succeeded``: a ``paid`` grant, once) or the failure, counted: three
   consecutive failures pause the setting.

Crash safety. A worker that dies between 2 and 3 leaves the top-up ``pending`` without a recorded
PaymentIntent. The payment_intent.succeeded webhook usually settles it anyway (it finds the top-up by
``metadata.top_up_id``); if that is lost too, the next worker takes the top-up again once it has
stalled for ``reconcile_after_seconds`` and, **before charging, asks Stripe whether it was charged**:
it lists the Stripe customer's charges created since the top-up was recorded (a list, which Stripe
answers consistently, unlike search) and reads their PaymentIntents for this ``top_up_id``. Found: it
settles by that PaymentIntent and charges nothing. Not found: nothing was charged, and it charges.
The idempotency key is a second guard on real Stripe (a retry within 24 hours returns the first
PaymentIntent); localstripe ignores idempotency keys, which is why the look comes first and why the
test of this path runs on localstripe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import stripe
import structlog
from sqlalchemy import Connection, Engine

from drawdown.accounts import repository as accounts_repo
from drawdown.core.money import from_scaled
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.payments import auto_repository as auto_repo
from drawdown.payments import cards, lookup, topups
from drawdown.payments import repository as repo
from drawdown.payments.gateway import CardError, Gateway, PaymentsUnavailable
from drawdown.payments.models import INITIATED, PENDING, SUCCEEDED, TopUp
from drawdown.settings import Settings
from drawdown.wallets import autotopup
from drawdown.wallets import repository as wallet_repo
from drawdown.wallets.accounts import account_key
from drawdown.webhooks import notify

log = structlog.get_logger()

BATCH = 50  # auto top-ups per tick; the rest wait for the next one
UNPAID = ("requires_payment_method", "requires_action", "requires_confirmation", "canceled")
AfterCharge = Callable[[dict[str, Any]], None]


def idempotency_key(top_up_id: str) -> str:
    return f"auto-top-up-{top_up_id}"


def charge_due(engine: Engine, gateway: Gateway, settings: Settings, now: datetime) -> int:
    """Charge every auto top-up waiting, and take back the stalled ones; answers how many were settled."""
    if not gateway.config.secret_key:
        return 0
    stalled_before = now - timedelta(seconds=settings.reconcile_after_seconds)
    with read(engine) as conn:
        fresh = auto_repo.waiting(conn, BATCH)
        stalled = auto_repo.stalled(conn, stalled_before, BATCH)
    settled = sum(charge_one(engine, gateway, settings, t, now) for t in fresh)
    return settled + sum(charge_one(engine, gateway, settings, t, now, stalled_before=stalled_before) for t in stalled)


def charge_one(
    engine: Engine,
    gateway: Gateway,
    settings: Settings,
    top_up_id: str,
    now: datetime,
    *,
    stalled_before: datetime | None = None,
    after_charge: AfterCharge | None = None,
) -> int:
    """Claim, charge and settle one auto top-up (1 if it was settled). ``after_charge`` is called with
    Stripe's answer before anything is recorded: the tests kill the process there."""
    claimed = _claim(engine, top_up_id, stalled_before, now)
    if claimed is None:
        return 0
    top_up, scope, minor = claimed
    try:
        gateway.config.check(scope)
        stripe_id = cards.stripe_customer(engine, gateway, scope, top_up.customer_id)
        intent = lookup.intent_for(gateway, stripe_id, top_up) if stalled_before is not None else None
        if intent is None:
            intent = _charge(gateway, stripe_id, top_up, minor)
    except CardError as exc:
        return _failed(engine, settings, top_up, str(exc), exc.payment_intent, now)
    except PaymentsUnavailable as exc:
        return _failed(engine, settings, top_up, str(exc), None, now)
    except stripe.StripeError as exc:
        # Stripe did not answer (or answered oddly): the top-up stays pending, and is looked up, not
        # charged blindly, once it has stalled.
        log.warning("auto_top_up_stripe_error", top_up_id=top_up.id, error=str(exc)[:200])
        return 0
    if after_charge is not None:
        after_charge(intent)
    return _settle(engine, settings, top_up, intent, now)


def _claim(
    engine: Engine, top_up_id: str, stalled_before: datetime | None, now: datetime
) -> tuple[TopUp, Scope, int] | None:
    with write(engine) as conn:
        status = PENDING if stalled_before is not None else INITIATED
        if not auto_repo.claim(conn, top_up_id, status, stalled_before, now):
            return None
        top_up = repo.top_up_any_scope(conn, top_up_id)
        assert top_up is not None
        scope = accounts_repo.scope_by_id(conn, top_up.scope_id)
        assert scope is not None
        return top_up, scope, topups.minor_amount(conn, top_up)


def _charge(gateway: Gateway, stripe_id: str, top_up: TopUp, minor: int) -> dict[str, Any]:
    card = top_up.payment_method or _default_card(gateway, stripe_id)
    if card is None:
        raise CardError("the customer has no saved card to charge", "no_card", None)
    return gateway.create_payment_intent(
        amount_minor=minor, currency=top_up.currency, customer=stripe_id, metadata={"top_up_id": top_up.id},
        idempotency_key=idempotency_key(top_up.id), payment_method=card, confirm=True, off_session=True,
    )


def _default_card(gateway: Gateway, stripe_id: str) -> str | None:
    """The default card, else the newest card kept (a customer with cards but no default still pays)."""
    found = cards.default_card(gateway, stripe_id)
    if found is None:
        kept = cards.cards_at(gateway, stripe_id)
        found = kept[-1].id if kept else None
    return found


def _settle(engine: Engine, settings: Settings, top_up: TopUp, intent: dict[str, Any], now: datetime) -> int:
    status = intent.get("status")
    if status in UNPAID:
        message = topups.failure_message(intent) or _unpaid_message(str(status))
        return _failed(engine, settings, top_up, message, intent, now)
    with write(engine) as conn:
        topups.mark_pending(conn, top_up.id, str(intent["id"]), topups_payment_method(intent, top_up), False, now)
        if status != SUCCEEDED:
            return 0  # processing: reconciliation settles it when Stripe has decided
        topups.settle_succeeded(conn, top_up.id, intent, now, settings.overdraft_limit())
        account_id = auto_repo.account_id(conn, top_up.customer_id, top_up.account_name, top_up.asset)
        if account_id is not None:
            auto_repo.record_success(conn, account_id, now)
            _next_if_still_short(conn, account_id, now)
    return 1


def _next_if_still_short(conn: Connection, account_id: str, now: datetime) -> None:
    """One recharge of ``amount`` may not lift the balance above the threshold: the next follows (the
    monthly limit permitting). Debits cannot queue it meanwhile as this one was still in flight."""
    row = wallet_repo.account(conn, account_id)
    if row.auto_threshold is None:
        return
    available = wallet_repo.balances(conn, account_id, now)["available"]
    setting = auto_repo.setting(conn, account_id)
    if setting is not None and available < from_scaled(int(setting.threshold)):
        autotopup.queue_account(conn, account_id, now)


def topups_payment_method(intent: dict[str, Any], top_up: TopUp) -> str | None:
    method = intent.get("payment_method")
    if isinstance(method, dict):
        method = method.get("id")
    return str(method) if method else top_up.payment_method


def _unpaid_message(status: str) -> str:
    if status == "requires_action":
        return "the card needs the customer's authentication, which an off-session charge cannot ask for"
    return f"the payment did not go through ({status})"


def _failed(
    engine: Engine, settings: Settings, top_up: TopUp, message: str, intent: dict[str, Any] | None, now: datetime
) -> int:
    """The attempt failed: record it, count it, and pause the setting at the third in a row."""
    with write(engine) as conn:
        if intent and intent.get("id"):
            topups.mark_pending(conn, top_up.id, str(intent["id"]), topups_payment_method(intent, top_up), False, now)
        done = topups.settle_failed(conn, top_up.id, message, now)
        account_id = auto_repo.account_id(conn, top_up.customer_id, top_up.account_name, top_up.asset)
        # Counted here, by the worker that made the attempt, whoever recorded the failure first (the
        # payment_failed webhook may have): once per attempt.
        if account_id is not None and done.status != SUCCEEDED:
            paused = auto_repo.record_failure(conn, account_id, now)
            if paused:
                log.warning("auto_top_up_paused", account_id=account_id, customer_id=top_up.customer_id)
            _announce_failure(conn, done, account_id, message, now)
    log.info("auto_top_up_failed", top_up_id=top_up.id, reason=message[:200])
    return 1


def _announce_failure(conn: Connection, top_up: TopUp, account_id: str, message: str, now: datetime) -> None:
    """auto_top_up.failed, once per attempt (where it is counted), with the count and whether it paused."""
    setting = auto_repo.setting(conn, account_id)
    failures = int(setting.failures) if setting is not None else 0
    notify.announce(conn, top_up.customer_id, "auto_top_up.failed", {
        "top_up_id": top_up.id, "amount": top_up.amount, "currency": top_up.currency,
        "account_id": account_key(top_up.account_name, top_up.asset), "asset": top_up.asset, "reason": message,
        "consecutive_failures": failures, "paused": setting is not None and setting.paused_at is not None,
    }, now)
