"""The delivery worker's SQL, across scopes: events not yet fanned out, destinations they go to,
deliveries due, claims, and what an attempt changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, false, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from drawdown.db.tables import accounts, scopes
from drawdown.db.webhook_tables import webhook_attempts, webhook_deliveries, webhook_destinations, webhook_outbox
from drawdown.webhooks.models import PENDING

_w = webhook_destinations.c
_d = webhook_deliveries.c
_o = webhook_outbox.c


def unfanned(conn: Connection, limit: int) -> list[Any]:
    """The oldest events without deliveries yet (locked, skipping those another worker holds)."""
    query = (
        select(_o.seq, _o.id, _o.scope_id, _o.topic, _o.customer_id, _o.destination_id, _o.created_at)
        .where(_o.fanned_out == false())  # "= false", as the partial index says
        .order_by(_o.seq)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def any_unfanned(conn: Connection) -> bool:
    """Cheap (the partial index), and a read: an idle worker never takes SQLite's write lock."""
    return conn.execute(select(_o.seq).where(_o.fanned_out == false()).limit(1)).first() is not None


def parent_scopes(conn: Connection, scope_ids: set[int]) -> dict[int, int]:
    """For scopes of connected accounts: the platform scope that created each (connect destinations)."""
    rows = conn.execute(
        select(scopes.c.id, accounts.c.parent_scope_id)
        .join(accounts, accounts.c.id == scopes.c.account_id)
        .where(scopes.c.id.in_(scope_ids), accounts.c.parent_scope_id.is_not(None))
    )
    return {r.id: r.parent_scope_id for r in rows}


def live_destinations(conn: Connection, scope_ids: set[int]) -> list[Any]:
    return list(
        conn.execute(
            select(_w.id, _w.scope_id, _w.topics, _w.connect).where(
                _w.scope_id.in_(scope_ids), _w.enabled.is_(True), _w.deleted_at.is_(None)
            )
        )
    )


def existing_deliveries(conn: Connection, event_ids: list[str]) -> set[tuple[str, str]]:
    rows = conn.execute(select(_d.event_id, _d.destination_id).where(_d.event_id.in_(event_ids)))
    return {(r.event_id, r.destination_id) for r in rows}


def add_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(webhook_deliveries), rows)


def mark_fanned(conn: Connection, seqs: list[int]) -> None:
    conn.execute(update(webhook_outbox).where(_o.seq.in_(seqs)).values(fanned_out=True))


def due(conn: Connection, now: datetime, limit: int, skip: set[int]) -> list[Any]:
    """Deliveries due now, each the first one waiting for its (destination, customer), oldest first."""
    earlier = aliased(webhook_deliveries)
    blocked = exists(
        select(earlier.c.id).where(
            earlier.c.destination_id == _d.destination_id,
            earlier.c.customer_id == _d.customer_id,
            earlier.c.status == PENDING,
            earlier.c.event_seq < _d.event_seq,
        )
    )
    query = (
        select(
            _d.id, _d.attempts, _d.next_attempt_at, _d.first_attempt_at, _d.destination_id, _d.event_id,
            _d.customer_id,
            _w.url, _w.secret, _w.previous_secret, _w.previous_expires_at, _w.connect, _w.scope_id,
            _o.topic, _o.live_mode, _o.data, _o.created_at, _o.scope_id.label("event_scope_id"),
            scopes.c.account_id.label("event_account_id"),
        )
        .join(webhook_destinations, _w.id == _d.destination_id)
        .join(webhook_outbox, _o.id == _d.event_id)
        .join(scopes, scopes.c.id == _o.scope_id)
        .where(
            _d.status == PENDING, _d.next_attempt_at <= now, _w.enabled.is_(True), _w.deleted_at.is_(None),
            or_(_d.customer_id.is_(None), ~blocked),
        )
        .order_by(_d.next_attempt_at, _d.id)
        .limit(limit + len(skip))
    )
    return [r for r in conn.execute(query) if r.id not in skip][:limit]


def claim(conn: Connection, delivery_id: int, attempts: int, now: datetime, lease_until: datetime) -> bool:
    """Take a delivery for one attempt: its attempt count moves and it is not due again before the lease
    ends (a crash mid-delivery makes it due then). False: another worker took it first."""
    done = conn.execute(
        update(webhook_deliveries)
        .where(_d.id == delivery_id, _d.status == PENDING, _d.attempts == attempts)
        .values(
            attempts=attempts + 1, next_attempt_at=lease_until,
            first_attempt_at=func.coalesce(_d.first_attempt_at, now),
        )
    )
    return done.rowcount == 1


def record_attempt(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(webhook_attempts).values(**values))


def finish(conn: Connection, delivery_id: int, attempts: int, values: dict[str, Any]) -> bool:
    """Write an attempt's outcome on its delivery, unless it moved meanwhile (redelivered, re-claimed)."""
    done = conn.execute(
        update(webhook_deliveries)
        .where(_d.id == delivery_id, _d.status == PENDING, _d.attempts == attempts)
        .values(**values)
    )
    return done.rowcount == 1


def destination_health(conn: Connection, destination_id: str) -> Any:
    return conn.execute(
        select(_w.id, _w.scope_id, _w.url, _w.enabled, _w.failing_since, _w.consecutive_failures)
        .where(_w.id == destination_id)
        .with_for_update()
    ).first()


def set_health(conn: Connection, destination_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(webhook_destinations).where(_w.id == destination_id).values(**values))
