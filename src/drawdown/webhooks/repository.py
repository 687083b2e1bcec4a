"""The webhooks room's SQL: destinations, and the delivery log read back. Every statement on a
destination or a delivery names its scope; the worker's statements (``queue.py``) work across scopes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, insert, select, update

from drawdown.db.tables import accounts, scopes
from drawdown.db.webhook_tables import webhook_attempts, webhook_deliveries, webhook_destinations, webhook_outbox
from drawdown.webhooks.models import PENDING, SUCCEEDED, Attempt, Destination, LogQuery

_w = webhook_destinations.c
_d = webhook_deliveries.c
_o = webhook_outbox.c
_a = webhook_attempts.c


def as_destination(r: Any) -> Destination:
    return Destination(
        r.id, r.url, list(r.topics), r.connect, r.enabled, r.secret, r.created_at, r.updated_at,
        r.disabled_reason, r.disabled_at, r.previous_expires_at, r.consecutive_failures,
    )


def insert_destination(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(webhook_destinations).values(**values))


def destination_row(conn: Connection, scope_id: int, destination_id: str, lock: bool = False) -> Any:
    query = select(webhook_destinations).where(
        _w.scope_id == scope_id, _w.id == destination_id, _w.deleted_at.is_(None)
    )
    return conn.execute(query.with_for_update() if lock else query).first()


def destination_rows(conn: Connection, scope_id: int, enabled: bool | None, connect: bool | None) -> list[Any]:
    query = select(webhook_destinations).where(_w.scope_id == scope_id, _w.deleted_at.is_(None))
    if enabled is not None:
        query = query.where(_w.enabled.is_(enabled))
    if connect is not None:
        query = query.where(_w.connect.is_(connect))
    return list(conn.execute(query.order_by(_w.created_at, _w.id)))


def update_destination(conn: Connection, scope_id: int, destination_id: str, values: dict[str, Any]) -> None:
    conn.execute(
        update(webhook_destinations).where(_w.scope_id == scope_id, _w.id == destination_id).values(**values)
    )


def resume_pending(conn: Connection, scope_id: int, destination_id: str, now: datetime) -> None:
    """A destination enabled again: its waiting deliveries are due now, with a fresh retry window."""
    conn.execute(
        update(webhook_deliveries)
        .where(_d.scope_id == scope_id, _d.destination_id == destination_id, _d.status == PENDING)
        .values(next_attempt_at=now, first_attempt_at=None)
    )


def delivery_rows(conn: Connection, scope_id: int, event_id: str, destination_id: str | None) -> list[Any]:
    query = select(webhook_deliveries).where(_d.scope_id == scope_id, _d.event_id == event_id)
    if destination_id is not None:
        query = query.where(_d.destination_id == destination_id)
    return list(conn.execute(query))


def redeliver(conn: Connection, scope_id: int, delivery_ids: list[int], now: datetime) -> None:
    conn.execute(
        update(webhook_deliveries)
        .where(_d.scope_id == scope_id, _d.id.in_(delivery_ids))
        .values(status=PENDING, next_attempt_at=now, first_attempt_at=None, succeeded_at=None, failed_at=None)
    )


def _filtered(scope_id: int, q: LogQuery) -> Any:
    query = (
        select(
            _d.id, _d.event_id, _d.destination_id, _d.topic, _d.status, _d.next_attempt_at, _d.succeeded_at,
            _d.failed_at, _o.created_at, _o.data,
        )
        .join(webhook_outbox, _o.id == _d.event_id)
        .where(_d.scope_id == scope_id)
    )
    if q.destination_ids:
        query = query.where(_d.destination_id.in_(q.destination_ids))
    if q.status == "Success":
        query = query.where(_d.status == SUCCEEDED)
    elif q.status == "Failed":
        query = query.where(_d.status != SUCCEEDED, _d.failed_at.is_not(None))
    elif q.status == "Pending":
        query = query.where(_d.status == PENDING)
    if q.time_gte is not None:
        query = query.where(_o.created_at >= q.time_gte)
    if q.time_lte is not None:
        query = query.where(_o.created_at <= q.time_lte)
    return query


def log_rows(conn: Connection, scope_id: int, q: LogQuery) -> tuple[list[Any], bool, bool]:
    """A page of deliveries, newest first, and whether there are newer and older ones beyond it."""
    base = _filtered(scope_id, q)
    if q.before is not None:  # the page before (newer): read upwards, then turn it round
        rows = list(conn.execute(base.where(_d.id > q.before).order_by(_d.id).limit(q.limit + 1)))
        rows = rows[: q.limit][::-1]
    else:
        query = base if q.after is None else base.where(_d.id < q.after)
        rows = list(conn.execute(query.order_by(_d.id.desc()).limit(q.limit + 1)))[: q.limit]
    if not rows:
        return rows, False, False
    newer = conn.execute(select(exists(base.where(_d.id > rows[0].id)))).scalar_one()
    older = conn.execute(select(exists(base.where(_d.id < rows[-1].id)))).scalar_one()
    return rows, bool(newer), bool(older)


def attempts_of(conn: Connection, delivery_ids: list[int]) -> dict[int, list[Attempt]]:
    found: dict[int, list[Attempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    rows = conn.execute(
        select(webhook_attempts).where(_a.delivery_id.in_(delivery_ids)).order_by(_a.delivery_id, _a.attempt, _a.id)
    )
    for r in rows:
        found[r.delivery_id].append(Attempt(r.attempt, r.started_at, r.duration_ms, r.status_code, r.error))
    return found


def connected_scope(conn: Connection, scope_id: int, account_id: str, environment: str) -> int | None:
    """The scope of a connected account of the platform scope ``scope_id``, or None (not its own)."""
    row = conn.execute(
        select(scopes.c.id)
        .join(accounts, accounts.c.id == scopes.c.account_id)
        .where(
            accounts.c.id == account_id, accounts.c.parent_scope_id == scope_id, scopes.c.environment == environment
        )
    ).first()
    return None if row is None else int(row.id)

