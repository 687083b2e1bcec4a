"""The webhooks room's tables: the outbox (every event, written in the transaction of the change that
causes it), the destinations a scope sends to, and one delivery per (event, destination) with its
attempts. docs/webhooks.md describes the flow."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text, text

from drawdown.db.meta import ID, metadata, scope_column
from drawdown.db.types import JSONDoc, UTCDateTime

# One event. ``seq`` orders events (and so deliveries per destination and customer); ``data`` is the
# event's exact-decimal JSON text, sent byte for byte. ``fanned_out`` turns true once the worker has
# made its deliveries (after the commit: emitting never looks destinations up). A test event names the
# one destination it is for (``destination_id``), or none (every matching destination of its scope).
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False, unique=True),
    scope_column(),
    Column("topic", String(64), nullable=False),
    Column("customer_id", ID),
    Column("live_mode", Boolean, nullable=False),
    Column("data", Text, nullable=False),
    Column("destination_id", ID),
    Column("fanned_out", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
)
_NOT_FANNED = text("fanned_out = false")
Index(
    "ix_webhook_outbox_pending", webhook_outbox.c.seq,
    sqlite_where=text("fanned_out = 0"), postgresql_where=_NOT_FANNED,
)

# Where a scope's events go. ``connect``: events of the scope's connected accounts instead of its own.
# The secret signs; after a rotation ``previous_secret`` signs too until ``previous_expires_at``.
# ``disabled_reason`` says why the worker turned a failing destination off (``enabled`` false).
webhook_destinations = Table(
    "webhook_destinations",
    metadata,
    Column("id", ID, primary_key=True),
    scope_column(),
    Column("url", Text, nullable=False),
    Column("topics", JSONDoc, nullable=False),
    Column("connect", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128)),
    Column("previous_expires_at", UTCDateTime),
    Column("failing_since", UTCDateTime),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("disabled_reason", Text),
    Column("disabled_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
    Index("ix_webhook_destinations_scope", "scope_id", "connect"),
)

# One event to one destination. Status: pending -> succeeded | failed (given up). ``next_attempt_at``
# is when it is due (a claimed one is pushed past its attempt's time bound, so a crash mid-delivery
# retries it). ``customer_id`` and ``event_seq`` order deliveries per destination and customer.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    scope_column(),
    Column("event_id", ID, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("destination_id", ID, nullable=False),
    Column("customer_id", ID),
    Column("topic", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("first_attempt_at", UTCDateTime),
    Column("last_status_code", Integer),
    Column("succeeded_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_webhook_deliveries_event_destination", "event_id", "destination_id", unique=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_order", "destination_id", "customer_id", "status", "event_seq"),
    Index("ix_webhook_deliveries_scope", "scope_id", "id"),
)

# Every attempt of a delivery: when, how long, what the receiver answered (code, first bytes) or why
# it could not be reached.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("delivery_id", BigInteger, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("response", Text),
)
