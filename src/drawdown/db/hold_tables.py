"""The holds room's tables: value set aside on a wallet account (``holds``), and each fee settled
against a hold (``hold_settlements``). Money columns are BIGINT nano-units (core.money.SCALE)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from drawdown.db.meta import ID, metadata, scope_column
from drawdown.db.types import JSONDoc, UTCDateTime

# A hold on one wallet account, named by the caller's ``hold_id`` (its idempotency key, unique per
# customer: an event names a hold by it alone). Status: active -> released | expired. While active and
# before ``expires_at``, ``amount - settled`` is unavailable to anything but the fees settled against
# it; the account's ``held`` is the sum of that over its open holds (read, never stored, so expiry
# needs no write to take effect). ``released`` is what went back to ``available`` when it closed.
holds = Table(
    "holds",
    metadata,
    Column("id", ID, primary_key=True),
    scope_column(),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("account_id", ID, ForeignKey("wallet_accounts.id"), nullable=False),
    Column("hold_id", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("settled", BigInteger, nullable=False, server_default="0"),
    Column("released", BigInteger, nullable=False, server_default="0"),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("description", Text),
    Column("metadata", JSONDoc),
    # {event_type, data} when the amount was priced from an estimate; NULL when given.
    Column("estimate", JSONDoc),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("customer_id", "hold_id", name="uq_holds_customer_hold_id"),
    # The open holds of an account (its ``held``), and the active ones due to expire (the job).
    Index("ix_holds_account_status", "account_id", "status"),
    Index("ix_holds_status_expires", "status", "expires_at"),
)

# One fee of an event that named an open hold, in the hold's account: how much of it the hold paid
# (``from_hold``) and how much the wallet did. A fee is settled at most once (its id is the key).
hold_settlements = Table(
    "hold_settlements",
    metadata,
    Column("fee_id", ID, ForeignKey("fees.id"), primary_key=True),
    Column("hold_row_id", ID, ForeignKey("holds.id"), nullable=False, index=True),
    Column("event_id", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("from_hold", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
