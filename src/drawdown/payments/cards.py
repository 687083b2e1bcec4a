"""Saved cards: the customer's Stripe customer, made on first need.

(Minimal version written for the payment pages; the cards part of issue 12 owns and extends it.)
Stripe is called outside any transaction: read, commit, call Stripe, then record the answer in a new
transaction, under the customer's lock, re-reading first so two first payments at once keep one id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from drawdown.core.errors import NotFound
from drawdown.core.scopes import Scope
from drawdown.customers import repository as customers_repo
from drawdown.db.engine import read, write
from drawdown.payments.gateway import Gateway
from drawdown.wallets.repository import lock_customer

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


def stripe_customer(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str) -> str:
    """The customer's Stripe customer id (``cus_…``), created and recorded in external_accounts if missing."""
    with read(engine) as conn:
        row = _customer_row(conn, scope, customer_id)
    found = _recorded(row)
    if found:
        return found
    created = gateway.create_customer(
        row.email, row.name, {"drawdown_customer_id": customer_id, "drawdown_scope_id": str(scope.id)}
    )
    with write(engine) as conn:
        lock_customer(conn, customer_id)
        row = _customer_row(conn, scope, customer_id)
        found = _recorded(row)
        if found:  # another first payment got there before us; its Stripe customer is the one kept
            return found
        accounts = [*(row.external_accounts or ()), {"provider": STRIPE, "provider_id": created}]
        values: dict[str, Any] = {"external_accounts": accounts}
        customers_repo.update_customer(conn, scope.id, customer_id, values)
    return created
