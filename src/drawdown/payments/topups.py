"""Top-ups: a payment that fills one wallet account, credited exactly once when Stripe says it succeeded.

``initiate`` records the top-up and the address of its payment page; nothing is asked of Stripe yet.
The page (or the auto top-up worker) creates the PaymentIntent outside any transaction and records it
with ``mark_pending``. Stripe's answer, by whichever way it arrives first (the page, a webhook, the
reconciliation job), is written by ``settle_succeeded`` or ``settle_failed``: both lock the customer,
re-read the top-up and do nothing if it is already settled, so repeated, late or concurrent answers
credit at most once. The credit itself is an adjustment whose transaction_id is the top-up's id: a
second credit could not be recorded even if the status check were bypassed.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Connection

from drawdown.catalog import rates
from drawdown.catalog import service as catalog
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.ids import new_id
from drawdown.core.money import MoneyError, from_minor, to_minor, to_scaled
from drawdown.core.scopes import Scope
from drawdown.customers import service as customers
from drawdown.payments import repository as repo
from drawdown.payments.models import (
    AUTO,
    DEFAULT_ACCOUNT_NAME,
    EXPIRED,
    FAILED,
    INITIATED,
    OPEN,
    PENDING,
    SUCCEEDED,
    NewTopUp,
    TopUp,
)
from drawdown.wallets import alerts
from drawdown.wallets import repository as wallet_repo
from drawdown.wallets import service as wallets
from drawdown.wallets.accounts import account_key
from drawdown.wallets.models import Adjustment
from drawdown.webhooks import notify

log = structlog.get_logger()

TOP_UP = "top"
CREDIT_LIFETIME = timedelta(days=365)  # a paid grant's default life (Credyt: one year)


# ------------------------------------------------------------------------------------- create
def initiate(conn: Connection, scope: Scope, cmd: NewTopUp, now: datetime, link_minutes: int) -> TopUp:
    """Record a top-up and its payment page; every field is checked here, so a bad one is a 422 naming it."""
    _check_customer(conn, scope, cmd.customer_id, now)
    currency, asset = _checked_money(conn, scope, cmd, now)
    if cmd.credit_expires_at is not None and cmd.credit_expires_at <= now:
        raise Invalid.field("credit_expires_at", "must be in the future")
    top_up_id = new_id(TOP_UP)
    repo.insert_top_up(conn, {
        "id": top_up_id, "scope_id": scope.id, "customer_id": cmd.customer_id, "kind": cmd.kind,
        "status": INITIATED, "amount": to_scaled(cmd.amount), "currency": currency, "asset": asset,
        "account_name": cmd.account_name or DEFAULT_ACCOUNT_NAME,
        "exchange_rate": None if cmd.exchange_rate is None else to_scaled(cmd.exchange_rate),
        "credit_expires_at": cmd.credit_expires_at, "description": cmd.description, "metadata": cmd.metadata,
        "return_url": cmd.return_url, "failure_url": cmd.failure_url, "subscription_id": cmd.subscription_id,
        "page_token": secrets.token_urlsafe(32), "expires_at": now + timedelta(minutes=link_minutes),
        "created_at": now, "updated_at": now,
    })
    return get(conn, scope, top_up_id)


def _check_customer(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> None:
    try:
        customers.get_customer(conn, scope, customer_id, now)
    except NotFound:
        raise Invalid.field("customer_id", f"unknown customer {customer_id!r}") from None


def _checked_money(conn: Connection, scope: Scope, cmd: NewTopUp, now: datetime) -> tuple[str, str]:
    """(currency, asset), upper-cased, after checking the amount fits the currency and the asset can be bought."""
    currency = cmd.currency.upper()
    facts = catalog.asset_facts(conn, scope, currency)
    if facts is None or not facts[1]:
        raise Invalid.field("currency", f"{cmd.currency!r} is not a currency (a fiat asset) of this environment")
    if not cmd.amount.is_finite() or cmd.amount <= 0:
        raise Invalid.field("amount", "must be more than zero")
    try:
        to_minor(cmd.amount, facts[0])
    except MoneyError as exc:
        raise Invalid.field("amount", str(exc)) from None
    asset = (cmd.asset or currency).upper()
    path = "destination.asset"
    target = catalog.asset_facts(conn, scope, asset)
    if target is None:
        raise Invalid.field(path, f"unknown asset {asset!r}")
    if cmd.exchange_rate is not None and (not cmd.exchange_rate.is_finite() or cmd.exchange_rate <= 0):
        raise Invalid.field("destination.exchange_rate", "must be more than zero")
    priced = cmd.exchange_rate is not None or rates.rate_in_force(conn, scope, asset, currency, now) is not None
    if asset != currency and not priced:
        raise Invalid.field(path, f"{asset} has no rate from {currency} in force: give destination.exchange_rate")
    return currency, asset


# -------------------------------------------------------------------------------------- reads
def get(conn: Connection, scope: Scope, top_up_id: str) -> TopUp:
    found = repo.top_up(conn, scope.id, top_up_id)
    if found is None:
        raise NotFound(f"top-up {top_up_id} not found")
    return found


def by_token(conn: Connection, token: str) -> TopUp | None:
    """The top-up a payment page belongs to (the token is its only key: it is the page's address)."""
    return repo.by_token(conn, token)


def by_payment_intent(conn: Connection, payment_intent: str) -> TopUp | None:
    return repo.by_payment_intent(conn, payment_intent)


def minor_amount(conn: Connection, top_up: TopUp) -> int:
    """What Stripe is asked to charge, in the currency's minor units."""
    return to_minor(top_up.amount, precision(conn, top_up))


def precision(conn: Connection, top_up: TopUp) -> int:
    """Decimal places of the top-up's currency (its minor unit)."""
    facts = catalog.asset_facts(conn, scope_of(top_up), top_up.currency)
    assert facts is not None  # checked when the top-up was made; currencies are never deleted
    return facts[0]


def scope_of(top_up: TopUp) -> Scope:
    # The environment is not needed below the request edge: rows are found by scope id alone.
    return Scope(top_up.scope_id, "", "")


# ------------------------------------------------------------------------------------- writes
def mark_pending(conn: Connection, top_up_id: str, payment_intent: str, payment_method: str | None,
                 save_card: bool, now: datetime) -> None:
    """Stripe has the payment: record its PaymentIntent (only while nothing has settled the top-up)."""
    found = repo.top_up_any_scope(conn, top_up_id)
    if found is None or found.status not in OPEN:
        return
    repo.set_fields(conn, top_up_id, status=PENDING, payment_intent=payment_intent, payment_method=payment_method,
                    save_card=save_card, updated_at=now)


def settle_succeeded(
    conn: Connection, top_up_id: str, payment_intent: dict[str, Any], now: datetime, default_limit: Decimal | None
) -> TopUp:
    """Credit the top-up, once. A payment that succeeds after the top-up failed or expired is credited all
    the same: the money was taken. An intent that does not match the top-up is refused, not credited."""
    found = _locked(conn, top_up_id)
    if found.status == SUCCEEDED:
        return found
    received = payment_intent.get("amount_received") or payment_intent.get("amount")
    places = precision(conn, found)
    if (
        payment_intent.get("status") != "succeeded"
        or str(payment_intent.get("currency", "")).upper() != found.currency
        or received is None
        or from_minor(int(received), places) != found.amount
    ):
        raise Invalid.field("payment_intent", f"{payment_intent.get('id')} does not pay top-up {top_up_id}")
    scope = scope_of(found)
    wallets.adjust(conn, scope, found.customer_id, _credit(found, now), now, default_limit)
    grant, credited = repo.grant_of(conn, found.customer_id, found.id)
    repo.set_fields(
        conn, top_up_id, status=SUCCEEDED, payment_intent=payment_intent.get("id"), grant_id=grant,
        credited=credited, failure_message=None, settled_at=now, updated_at=now,
        payment_method=_payment_method(payment_intent) or found.payment_method,
    )
    log.info("top_up_succeeded", top_up_id=top_up_id, customer_id=found.customer_id)
    done = get(conn, scope, top_up_id)
    account = alerts.account_of(conn, found.customer_id, found.account_name, found.asset)
    if account is not None and done.credited is not None:
        alerts.note_top_up(conn, scope, account, found.asset, done.credited)
    _announce(conn, done, "succeeded", now)
    return done


def _announce(conn: Connection, top_up: TopUp, outcome: str, now: datetime) -> None:
    """top_up.succeeded / top_up.failed (auto_top_up.* for an auto top-up), into the webhooks outbox
    in this transaction: the platform hears of it exactly when it is recorded."""
    data: dict[str, Any] = {
        "top_up_id": top_up.id, "amount": top_up.amount, "currency": top_up.currency,
        "account_id": account_key(top_up.account_name, top_up.asset), "asset": top_up.asset,
    }
    if outcome == "succeeded":
        data |= {"credited": top_up.credited, "grant_id": top_up.grant_id}
    else:
        data |= {"status": top_up.status, "reason": top_up.failure_message}
    prefix = "auto_top_up" if top_up.kind == AUTO else "top_up"
    notify.announce(conn, top_up.customer_id, f"{prefix}.{outcome}", data, now)


def _credit(top_up: TopUp, now: datetime) -> Adjustment:
    """The adjustment a succeeded top-up is: paid value, the top-up's id as its transaction_id."""
    same = top_up.asset == top_up.currency
    return Adjustment(
        transaction_id=top_up.id,
        asset=top_up.asset,
        amount=top_up.amount,
        reason="external_topup",
        account_name=top_up.account_name,
        description=top_up.description or f"Top-up {top_up.id}",
        metadata=top_up.metadata,
        expires_at=top_up.credit_expires_at or now + CREDIT_LIFETIME,
        currency=None if same else top_up.currency,
        exchange_rate=None if same else top_up.exchange_rate,
        effective_at=None if same or top_up.exchange_rate is not None else top_up.created_at,
    )


def settle_failed(conn: Connection, top_up_id: str, message: str, now: datetime, status: str = FAILED) -> TopUp:
    """Record a failure (or expiry); a top-up already succeeded stays succeeded."""
    found = _locked(conn, top_up_id)
    if found.status not in OPEN:
        return get(conn, scope_of(found), top_up_id)
    repo.set_fields(conn, top_up_id, status=status, failure_message=message[:500], updated_at=now)
    log.info("top_up_" + status, top_up_id=top_up_id, reason=message[:200])
    done = get(conn, scope_of(found), top_up_id)
    if found.kind != AUTO:  # an auto top-up's failure is announced where it is counted (payments/auto.py)
        _announce(conn, done, "failed", now)
    return done


def expire(conn: Connection, top_up_id: str, now: datetime) -> TopUp:
    return settle_failed(conn, top_up_id, "the payment link expired before it was paid", now, EXPIRED)


def _locked(conn: Connection, top_up_id: str) -> TopUp:
    """The top-up, re-read under its customer's lock: settlements of one top-up run one at a time."""
    first = repo.top_up_any_scope(conn, top_up_id)
    if first is None:
        raise NotFound(f"top-up {top_up_id} not found")
    wallet_repo.lock_customer(conn, first.customer_id)
    again = repo.top_up_any_scope(conn, top_up_id)
    assert again is not None
    return again


def _payment_method(payment_intent: dict[str, Any]) -> str | None:
    method = payment_intent.get("payment_method")
    if isinstance(method, dict):
        method = method.get("id")
    return str(method) if method else None


def settle_from_intent(
    conn: Connection, top_up_id: str, payment_intent: dict[str, Any], now: datetime, default_limit: Decimal | None
) -> TopUp | None:
    """Settle the top-up by what Stripe says of its PaymentIntent (reconciliation reads it afresh):
    succeeded credits, a final failure fails, a payment still in progress leaves it open (None)."""
    status = payment_intent.get("status")
    if status == "succeeded":
        return settle_succeeded(conn, top_up_id, payment_intent, now, default_limit)
    error = failure_message(payment_intent)
    if status == "canceled":
        return settle_failed(conn, top_up_id, error or "the payment was canceled", now)
    if status == "requires_payment_method" and error:
        return settle_failed(conn, top_up_id, error, now)
    return None


def failure_message(payment_intent: dict[str, Any]) -> str | None:
    """Stripe's own words for why a payment failed (for the customer and the platform)."""
    error = payment_intent.get("last_payment_error") or {}
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else None
