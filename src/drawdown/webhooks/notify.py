"""``announce``: an outbox event about one customer, from rooms that know the customer but not its
scope (the ledger, the billing cycle, payments' settlement). The scope is read from the customer, in
the caller's transaction; every event's ``data`` names the customer and when the fact happened."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from drawdown.accounts import repository as scopes
from drawdown.core.scopes import Scope
from drawdown.db.tables import customers
from drawdown.webhooks.outbox import emit


def announce(
    conn: Connection, customer_id: str, topic: str, data: Mapping[str, Any], now: datetime, scope: Scope | None = None
) -> str:
    """An event about ``customer_id`` (its ``scope`` when the caller has it, else read from the customer)."""
    if scope is None:
        scope_id = conn.execute(select(customers.c.scope_id).where(customers.c.id == customer_id)).scalar_one()
        scope = scopes.scope_by_id(conn, scope_id)
        assert scope is not None  # a customer's scope row is never deleted
    body = {"customer_id": customer_id, **data, "occurred_at": data.get("occurred_at", now)}
    return emit(conn, scope, topic, body, customer_id=customer_id, now=now)
