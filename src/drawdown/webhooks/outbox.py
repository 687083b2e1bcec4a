"""The transactional outbox: the one way an event enters the webhooks room.

``emit`` is called by the room where a fact happens, on its own connection, inside the transaction
that makes the change: the event commits with the change or not at all, so a crash can neither lose
it nor announce a change that was rolled back. It costs one INSERT; destinations are looked up by the
delivery worker after the commit (``delivery.py``), never in the billing transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection

from drawdown import codec
from drawdown.core.ids import new_id
from drawdown.core.scopes import LIVE, Scope
from drawdown.db.webhook_tables import webhook_outbox

EVENT: Final = "evt"

TOPICS: Final[frozenset[str]] = frozenset(
    {
        "subscription.activated",
        "subscription.action_required",
        "top_up.succeeded",
        "top_up.failed",
        "auto_top_up.succeeded",
        "auto_top_up.failed",
        "balance.low",
        "balance.depleted",
        "balance.overdraft",
        "grant.expired",
        "entitlement.refreshed",
        "customer.created",
    }
)


def emit(
    conn: Connection,
    scope: Scope,
    topic: str,
    data: Mapping[str, Any],
    *,
    customer_id: str | None,
    now: datetime,
) -> str:
    """Write one event into the outbox in the caller's transaction; its id (``evt_…``) is returned.

    ``data`` is written as exact-decimal JSON (Decimals as JSON numbers without exponents, datetimes
    as UTC ISO-8601); ``customer_id`` orders deliveries (per destination and customer)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown webhook topic {topic!r}")
    return insert(conn, scope, topic, codec.dumps_text(dict(data)), customer_id=customer_id, now=now)


def insert(
    conn: Connection,
    scope: Scope,
    topic: str,
    data_json: str,
    *,
    customer_id: str | None,
    now: datetime,
    destination_id: str | None = None,
) -> str:
    """The INSERT itself, for ``emit`` and the room's test events (already-encoded ``data_json``)."""
    event_id = new_id(EVENT)
    conn.execute(
        webhook_outbox.insert().values(
            id=event_id,
            scope_id=scope.id,
            topic=topic,
            customer_id=customer_id,
            live_mode=scope.environment == LIVE,
            data=data_json,
            destination_id=destination_id,
            fanned_out=False,
            created_at=now,
        )
    )
    return event_id
