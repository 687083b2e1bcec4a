"""Stripe's webhooks in: a PaymentIntent succeeded or failed, said by Stripe itself.

The caller has verified the signature (``Gateway.event``). Each event is handled in one transaction
that also records its id in ``stripe_events``: a repeated delivery finds the id and changes nothing,
two deliveries at once serialise on the id's primary key and the customer lock. Order does not matter:
``settle_succeeded`` credits a top-up even after a failure (the money was taken), ``settle_failed``
never touches one that succeeded.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Connection

from drawdown.payments import repository as repo
from drawdown.payments import subscriptions, topups
from drawdown.payments.models import TopUp

log = structlog.get_logger()

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
HANDLED = (SUCCEEDED, FAILED)


def handle(
    conn: Connection, event: dict[str, Any], now: datetime, default_limit: Decimal | None, public_url: str
) -> str:
    """Act on one verified event inside the caller's transaction; answers what happened (for the log)."""
    kind = str(event.get("type", ""))
    if kind not in HANDLED:
        return "ignored"
    intent = (event.get("data") or {}).get("object") or {}
    top_up = _top_up_of(conn, intent)
    if not repo.first_time(conn, str(event["id"]), kind, now):
        return "repeated"
    if top_up is None:
        # Another system's payment on the same Stripe account, or one a page has not recorded yet
        # and did not name: acknowledged, and reconciliation finds it once it is recorded.
        return "unknown"
    if kind == SUCCEEDED:
        settled = topups.settle_succeeded(conn, top_up.id, intent, now, default_limit)
        subscriptions.follow(conn, settled, now, default_limit, public_url)
        return "succeeded"
    topups.settle_failed(conn, top_up.id, topups.failure_message(intent) or "the payment failed", now)
    return "failed"


def _top_up_of(conn: Connection, intent: dict[str, Any]) -> TopUp | None:
    """By the PaymentIntent the page recorded, else by the top-up id it carries in its metadata (the
    webhook may arrive before the page has written the intent down)."""
    found = topups.by_payment_intent(conn, str(intent.get("id", ""))) if intent.get("id") else None
    if found is not None:
        return found
    named = (intent.get("metadata") or {}).get("top_up_id")
    return repo.top_up_any_scope(conn, str(named)) if named else None
