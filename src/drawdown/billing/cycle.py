"""Period billing for one customer, under its lock: fixed fees due at period starts and recurring
usage charged at period ends (docs/pricing.md). ``billing.job`` runs it for every customer with
something due; a new subscription runs ``collect_fixed`` at once, which then writes when the
subscription is next due (``billing.schedule``).

Every charge writes a ``period_charges`` row keyed by (subscription, price, period start): a period
is charged once however often, or however late, this runs.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Connection, Row

from drawdown.billing import repository as repo
from drawdown.billing import schedule
from drawdown.billing.models import ACTION_REQUIRED, ACTIVE, FixedCollected
from drawdown.core import catalog as price_rules
from drawdown.core.ids import FEE, TRANSACTION, new_id
from drawdown.core.ledger import REVENUE
from drawdown.core.money import from_scaled, to_scaled
from drawdown.wallets.accounts import DEFAULT_ACCOUNT
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.repository import ensure_account
from drawdown.webhooks import notify

log = structlog.get_logger()


def close_usage(conn: Connection, customer_id: str, now: datetime) -> int:
    """Charge the customer's recurring usage of every ended period; returns the charges made.

    Usage fees were reserved as they accrued; the charge debits and releases that reservation.
    """
    groups = repo.usage_due(conn, customer_id, now)
    if not groups:
        return 0
    ledger = Ledger(conn, customer_id, now)
    for g in groups:
        total = from_scaled(int(g.total))
        charge_id = new_id("chg")
        description = f"{g.price_name} (period usage)"
        txn = {"id": new_id(TRANSACTION), "transaction_id": charge_id, "type": "fee", "description": description}
        ledger.debit(g.account_id, total, REVENUE, txn, release=total)
        repo.insert_period_charge(
            conn, subscription_id=g.subscription_id, price_id=g.price_id, period_start=g.period_start, kind="usage",
            customer_id=customer_id, transaction_id=charge_id, amount=int(g.total), now=now,
        )
        repo.mark_usage_charged(conn, customer_id, g.subscription_id, g.price_id, g.period_start, charge_id)
    ledger.flush()
    return len(groups)


def _fixed_prices(conn: Connection, sub_id: str) -> list[tuple[Row[Any], price_rules.FixedPrice]]:
    rows = repo.subscribed_versions(conn, sub_id)
    return [(r, price_rules.fixed_price(doc)) for r in rows for doc in r.prices if doc.get("type") == "fixed"]


def collect_fixed(
    conn: Connection, sub_id: str, now: datetime, overdraft_limit: Decimal | None, public_url: str
) -> FixedCollected:
    """Charge every fixed fee of the subscription that is due and not yet charged (customer locked).

    Fees are charged in order and the first that does not fit stops the run: the subscription then
    needs a payment (``action_required``) until a run collects everything due.
    """
    sub = repo.subscription(conn, sub_id)
    charged = repo.charged_periods(conn, sub_id)
    ledger = Ledger(conn, sub.customer_id, now)
    count, blocked = 0, False
    for product, fixed in _fixed_prices(conn, sub_id):
        for start, end in price_rules.due_periods(fixed, sub.started_at, now, product.since):
            if (fixed.id, start) in charged:
                continue
            account_id = ensure_account(conn, sub.customer_id, DEFAULT_ACCOUNT, fixed.asset, now, overdraft_limit)
            if ledger.shortfall(account_id, fixed.amount) is not None:
                blocked = True
                break
            fee_id = new_id(FEE)
            txn = {"id": new_id(TRANSACTION), "transaction_id": fee_id, "type": "fee", "description": fixed.name}
            ledger.debit(account_id, fixed.amount, REVENUE, txn)
            repo.insert_fixed_fee(conn, fee_id, sub, account_id, product, fixed, (start, end), now)
            repo.insert_period_charge(
                conn, subscription_id=sub_id, price_id=fixed.id, period_start=start, kind="fixed",
                customer_id=sub.customer_id, transaction_id=fee_id, amount=to_scaled(fixed.amount), now=now,
            )
            count += 1
        if blocked:
            break
    ledger.flush()
    moved = _follow_status(conn, sub, blocked, public_url, now)
    schedule.write_next_due(conn, sub_id, now)  # after the status: a blocked fee keeps it due now
    return FixedCollected(count, blocked, *moved)


def fixed_due(conn: Connection, sub_id: str, now: datetime) -> list[tuple[str, str, Decimal]]:
    """The fixed fees due and not yet charged, as (name, asset, amount): what a blocked subscription
    waits for (the payment page shows them and asks for what the wallet lacks)."""
    sub = repo.subscription(conn, sub_id)
    charged = repo.charged_periods(conn, sub_id)
    return [
        (fixed.name, fixed.asset, fixed.amount)
        for product, fixed in _fixed_prices(conn, sub_id)
        for start, _ in price_rules.due_periods(fixed, sub.started_at, now, product.since)
        if (fixed.id, start) not in charged
    ]


def _follow_status(
    conn: Connection, sub: Row[Any], blocked: bool, public_url: str, now: datetime
) -> tuple[bool, bool]:
    """Move the subscription to action_required or back to active; (blocked now, reactivated now).
    Either move is announced to the platform (webhooks outbox, this transaction)."""
    facts = {"subscription_id": sub.id}
    if blocked and sub.status != ACTION_REQUIRED:
        url = f"{public_url.rstrip('/')}/portal/subscriptions/{sub.id}/payment"
        repo.set_status(conn, sub.id, ACTION_REQUIRED, [{"type": "payment", "redirect_url": url}])
        log.info("subscription_action_required", subscription_id=sub.id)
        notify.announce(conn, sub.customer_id, "subscription.action_required",
                        {**facts, "required_actions": [{"type": "payment", "redirect_url": url}]}, now)
        return True, False
    if not blocked and sub.status == ACTION_REQUIRED:
        repo.set_status(conn, sub.id, ACTIVE, None)
        log.info("subscription_reactivated", subscription_id=sub.id)
        notify.announce(conn, sub.customer_id, "subscription.activated", facts, now)
        return False, True
    return False, False
