"""The payments room's tables: top-ups (paid by card, by page or off-session), Stripe events handled,
refunds, and auto top-up settings. Money columns are BIGINT nano-units (core.money.SCALE)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, text

from drawdown.db.meta import ID, metadata, scope_column
from drawdown.db.types import JSONDoc, UTCDateTime

# A payment that fills a wallet account: a top-up through the API (kind ``api``), an automatic one
# charged off-session (``auto``), or the payment that reactivates a subscription (``subscription``).
# Status: initiated -> pending -> succeeded | failed | expired. Settled once: the credit is an
# adjustment whose transaction_id is the top-up's id, made in the transaction that marks it succeeded.
top_ups = Table(
    "top_ups",
    metadata,
    Column("id", ID, primary_key=True),
    scope_column(),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    # Money asked, in nano-units of ``currency`` (a fiat currency of the scope).
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(32), nullable=False),
    # Where the credit goes, and at what price (``currency`` per unit of ``asset``); NULL: the rate in force.
    Column("asset", String(32), nullable=False),
    Column("account_name", String(100), nullable=False),
    Column("exchange_rate", BigInteger),
    Column("credit_expires_at", UTCDateTime),
    Column("description", Text),
    Column("metadata", JSONDoc),
    Column("return_url", Text),
    Column("failure_url", Text),
    Column("subscription_id", ID, ForeignKey("subscriptions.id")),
    # The payment page's address (unguessable), and Stripe's side of the payment.
    Column("page_token", String(64), nullable=False, unique=True),
    Column("payment_intent", String(255), unique=True),
    Column("payment_method", String(255)),
    Column("save_card", Boolean, nullable=False, server_default="0"),
    Column("failure_message", Text),
    # What the credit was, once settled: units of ``asset`` (nano) and the grant holding them.
    Column("credited", BigInteger),
    Column("grant_id", ID),
    Column("refunded", BigInteger, nullable=False, server_default="0"),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime),
    # Reconciliation and the auto top-up worker look for payments by status and age.
    Index("ix_top_ups_status_updated", "status", "updated_at"),
)
# At most one automatic top-up in flight per wallet account: a second one cannot even be recorded.
_AUTO_IN_FLIGHT = text("kind = 'auto' AND status IN ('initiated', 'pending')")
Index(
    "uq_top_ups_auto_in_flight", top_ups.c.customer_id, top_ups.c.account_name, top_ups.c.asset, unique=True,
    sqlite_where=_AUTO_IN_FLIGHT, postgresql_where=_AUTO_IN_FLIGHT,
)

# Stripe webhook deliveries already handled (Stripe may deliver one event several times).
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# Money given back for a top-up, and the units taken out of its grant for it.
refunds = Table(
    "refunds",
    metadata,
    Column("id", ID, primary_key=True),
    Column("top_up_id", ID, ForeignKey("top_ups.id"), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("stripe_refund", String(255)),
    Column("transaction_id", String(200)),
    Column("failure_message", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime),
)

# A wallet account's auto top-up: when a debit takes ``available`` below ``threshold``, buy ``amount``
# (units of the account's asset) with the saved card, at most ``monthly_limit`` units per calendar month.
auto_top_ups = Table(
    "auto_top_ups",
    metadata,
    Column("account_id", ID, ForeignKey("wallet_accounts.id"), primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False, index=True),
    Column("enabled", Boolean, nullable=False),
    Column("threshold", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("payment_method", String(255)),
    Column("monthly_limit", BigInteger),
    # Consecutive failed charges; at 3 the setting pauses until the card changes or it is re-enabled.
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("paused_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
