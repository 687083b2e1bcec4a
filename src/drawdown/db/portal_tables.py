"""The billing portal's tables: the sessions a customer opens from a 10-minute link, and each scope's
branding (the portal and the payment pages use it). Tokens are never stored, only their SHA-256."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text

from drawdown.db.meta import ID, metadata, scope_column
from drawdown.db.types import UTCDateTime

# One customer's portal, opened from a link (single use, ``link_expires_at``) into a session cookie
# that lives while it is used (``last_seen_at`` slides; 10 idle minutes end it).
portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("id", ID, primary_key=True),
    scope_column(),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False, index=True),
    Column("link_hash", String(64), nullable=False),
    Column("return_url", Text, nullable=False),
    Column("failure_url", Text, nullable=False),
    Column("link_expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("session_hash", String(64)),
    Column("last_seen_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

# A scope's look on the portal and the payment pages; no row: the operator's defaults (settings).
portal_settings = Table(
    "portal_settings",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("display_name", String(100)),
    Column("logo_url", Text),
    Column("primary_color", String(7)),
    Column("support_url", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)
