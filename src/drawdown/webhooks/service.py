"""The webhooks room's use cases: destinations (create, list, get, update, delete, rotate the secret),
test events, the delivery log and redelivery. Deliveries themselves are the worker's (delivery.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from drawdown import codec
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.ids import new_id
from drawdown.core.scopes import Scope
from drawdown.webhooks import outbox, signing, urls
from drawdown.webhooks import repository as repo
from drawdown.webhooks.models import (
    LOG_STATUSES,
    PENDING,
    Destination,
    DestinationChanges,
    LogItem,
    LogPage,
    LogQuery,
    NewDestination,
)

DESTINATION = "wh"
ALL = "*"
MAX_TOPICS = 50
MAX_TEST_PAYLOAD_BYTES = 64 * 1024
PREVIOUS_SECRET_VALID = timedelta(hours=24)


def _not_found(destination_id: str) -> NotFound:
    return NotFound(f"webhook destination {destination_id!r} not found")


def _topics(topics: list[str], field: str = "topics") -> list[str]:
    if not topics:
        raise Invalid.field(field, f"must name at least one topic, or {ALL!r} for all")
    if len(topics) > MAX_TOPICS:
        raise Invalid.field(field, f"must name at most {MAX_TOPICS} topics")
    errors: dict[str, list[str]] = {}
    for i, topic in enumerate(topics):
        if topic != ALL and topic not in outbox.TOPICS:
            errors[f"{field}[{i}]"] = [f"{topic!r} is not a topic (one of {', '.join(sorted(outbox.TOPICS))}, or '*')"]
    if errors:
        raise Invalid(errors)
    return [ALL] if ALL in topics else sorted(set(topics), key=topics.index)


def _url(url: str) -> str:
    fault = urls.url_fault(url)
    if fault:
        raise Invalid.field("url", fault)
    return url


def check_address(url: str | None, allow_private: bool) -> None:
    """Refuse a URL whose host is private, loopback or link-local (or does not resolve), unless allowed.
    Called before the transaction that saves it: a name lookup may take a while, and holds no lock."""
    if url is None:
        return
    fault = urls.check(url, allow_private)
    if fault:
        raise Invalid.field("url", fault)


def _found(conn: Connection, scope: Scope, destination_id: str, lock: bool = False) -> Any:
    row = repo.destination_row(conn, scope.id, destination_id, lock)
    if row is None:
        raise _not_found(destination_id)
    return row


def create(conn: Connection, scope: Scope, command: NewDestination, now: datetime) -> Destination:
    """A destination, enabled, with a new secret. Its URL's address is checked first (``check_address``)."""
    topics = _topics(command.topics)
    url = _url(command.url)
    values = {
        "id": new_id(DESTINATION), "scope_id": scope.id, "url": url, "topics": topics, "connect": command.connect,
        "enabled": True, "secret": signing.new_secret(), "consecutive_failures": 0, "created_at": now,
        "updated_at": now,
    }
    repo.insert_destination(conn, values)
    return repo.as_destination(_found(conn, scope, str(values["id"])))


def list_destinations(
    conn: Connection, scope: Scope, enabled: bool | None = None, connect: bool | None = None
) -> list[Destination]:
    return [repo.as_destination(r) for r in repo.destination_rows(conn, scope.id, enabled, connect)]


def get(conn: Connection, scope: Scope, destination_id: str) -> Destination:
    return repo.as_destination(_found(conn, scope, destination_id))


def update(
    conn: Connection, scope: Scope, destination_id: str, changes: DestinationChanges, now: datetime
) -> Destination:
    row = _found(conn, scope, destination_id, lock=True)
    values: dict[str, Any] = {"updated_at": now}
    if changes.url is not None:
        values["url"] = _url(changes.url)
    if changes.topics is not None:
        values["topics"] = _topics(changes.topics)
    if changes.enabled is not None:
        values["enabled"] = changes.enabled
        if changes.enabled and not row.enabled:  # enabled again: a fresh start, the waiting ones due now
            values.update(disabled_reason=None, disabled_at=None, consecutive_failures=0, failing_since=None)
            repo.resume_pending(conn, scope.id, destination_id, now)
    repo.update_destination(conn, scope.id, destination_id, values)
    return get(conn, scope, destination_id)


def delete(conn: Connection, scope: Scope, destination_id: str, now: datetime) -> None:
    """Gone from lists and from delivery; its past deliveries stay in the log."""
    _found(conn, scope, destination_id, lock=True)
    repo.update_destination(conn, scope.id, destination_id, {"deleted_at": now, "enabled": False, "updated_at": now})


def rotate_secret(conn: Connection, scope: Scope, destination_id: str, now: datetime) -> Destination:
    """A new secret signs from now on; the current one keeps signing beside it for 24 hours."""
    row = _found(conn, scope, destination_id, lock=True)
    repo.update_destination(conn, scope.id, destination_id, {
        "secret": signing.new_secret(), "previous_secret": row.secret,
        "previous_expires_at": now + PREVIOUS_SECRET_VALID, "updated_at": now,
    })
    return get(conn, scope, destination_id)


def test_event(
    conn: Connection, scope: Scope, topic: str, payload: Any, now: datetime, *,
    destination_id: str | None = None, connected_account_id: str | None = None,
) -> str:
    """A synthetic event of ``topic`` with ``payload`` as data, for one destination or all of the scope
    (or, naming a connected account of the scope, as if from it: for the ``connect`` destinations)."""
    if destination_id is not None:
        _found(conn, scope, destination_id)
    source = scope
    if connected_account_id is not None:
        child = repo.connected_scope(conn, scope.id, connected_account_id, scope.environment)
        if child is None:
            raise NotFound(f"connected account {connected_account_id!r} not found")
        source = Scope(child, connected_account_id, scope.environment)
    if topic not in outbox.TOPICS:
        raise Invalid.field("topic", f"{topic!r} is not a topic (one of {', '.join(sorted(outbox.TOPICS))})")
    data = codec.dumps_text({} if payload is None else payload)
    if len(data.encode()) > MAX_TEST_PAYLOAD_BYTES:
        raise Invalid.field("body", f"the test payload is {len(data.encode())} bytes; at most "
                                    f"{MAX_TEST_PAYLOAD_BYTES} are sent")
    return outbox.insert(conn, source, topic, data, customer_id=None, now=now, destination_id=destination_id)


def delivery_log(conn: Connection, scope: Scope, query: LogQuery) -> LogPage:
    if query.status is not None and query.status not in LOG_STATUSES:
        raise Invalid.field("status", f"must be one of {', '.join(LOG_STATUSES)}")
    rows, newer, older = repo.log_rows(conn, scope.id, query)
    attempts = repo.attempts_of(conn, [r.id for r in rows])
    items = [
        LogItem(
            r.event_id, r.destination_id, r.topic, r.created_at, r.status, r.succeeded_at, r.failed_at,
            r.next_attempt_at if r.status == PENDING else None, codec.loads(r.data), attempts[r.id], r.id,
        )
        for r in rows
    ]
    return LogPage(
        items, items[-1].position if items and older else None, items[0].position if items and newer else None
    )


def redeliver(conn: Connection, scope: Scope, event_id: str, destination_id: str | None, now: datetime) -> int:
    """Send an event again (to one destination, or every one it went to), due now, whatever its state."""
    rows = repo.delivery_rows(conn, scope.id, event_id, destination_id)
    if not rows:
        raise NotFound(f"webhook event {event_id!r} not found" + (
            f" for destination {destination_id!r}" if destination_id else ""))
    repo.redeliver(conn, scope.id, [r.id for r in rows], now)
    return len(rows)
