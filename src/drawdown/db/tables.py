"""The schema: SQLAlchemy Core tables. Money columns are BIGINT nano-units (core.money.SCALE)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from drawdown.db.alert_tables import balance_alerts
from drawdown.db.hold_tables import hold_settlements, holds
from drawdown.db.meta import ID, metadata, scope_column
from drawdown.db.payment_tables import auto_top_ups, refunds, stripe_events, top_ups
from drawdown.db.portal_tables import portal_sessions, portal_settings
from drawdown.db.subject_tables import subject_rollups
from drawdown.db.types import JSONDoc, UTCDateTime
from drawdown.db.webhook_tables import webhook_attempts, webhook_deliveries, webhook_destinations, webhook_outbox

# The payments, portal, holds, webhooks, alerts and subject rollups' tables live in their own modules, on the
# same metadata.
__all__ = [
    "auto_top_ups",
    "balance_alerts",
    "hold_settlements",
    "holds",
    "metadata",
    "portal_sessions",
    "portal_settings",
    "refunds",
    "stripe_events",
    "subject_rollups",
    "top_ups",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_destinations",
    "webhook_outbox",
]

# A platform's own account (parent_scope_id NULL) or a connected account, created by a platform in
# one of its scopes (``POST /accounts``): the connected account lives in that environment only.
accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("external_id", String(200)),
    Column("metadata", JSONDoc),
    Column("parent_scope_id", Integer, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("parent_scope_id", "external_id", name="uq_accounts_parent_external_id"),
)

# One row per (account, environment): a platform account has a live and a test scope, a connected
# account the one environment it was created in.
scopes = Table(
    "scopes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("environment", String(8), nullable=False),
    UniqueConstraint("account_id", "environment", name="uq_scopes_account_environment"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("scope_id", Integer, ForeignKey("scopes.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    # The secret's first characters (``key_test_AbC…``): enough to recognise a key in a list.
    Column("hint", String(32), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

# Custom assets belong to one scope; the fiat currencies are copied into every scope when it is made.
assets = Table(
    "assets",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("precision", Integer, nullable=False),
    Column("label", String(200)),
    Column("symbol", String(16)),
    Column("is_fiat", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

asset_rates = Table(
    "asset_rates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    scope_column(),
    Column("asset_code", String(32), nullable=False),
    Column("source", String(32), nullable=False),
    Column("rate", BigInteger, nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_to", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_asset_rates_scope_asset", "scope_id", "asset_code"),
)

products = Table(
    "products",
    metadata,
    Column("id", ID, primary_key=True),
    scope_column(),
    Column("code", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("scope_id", "code", name="uq_products_scope_code"),
)

product_versions = Table(
    "product_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("product_id", ID, ForeignKey("products.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("prices", JSONDoc, nullable=False),
    Column("entitlements", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("product_id", "version", name="uq_product_versions_product_version"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", ID, primary_key=True),
    scope_column(),
    Column("external_id", String(200)),
    Column("name", String(200), nullable=False),
    Column("email", String(320), index=True),
    Column("metadata", JSONDoc),
    Column("external_accounts", JSONDoc),
    Column("created_at", UTCDateTime, nullable=False),
    # Bumped by every change to the customer's subscriptions: the event hot path caches what it
    # derives from them (prices, the next entitlement due) under (customer, revision), read with
    # the customer lock, so a cache in any process is never stale.
    Column("revision", Integer, nullable=False, server_default="0"),
    UniqueConstraint("scope_id", "external_id", name="uq_customers_scope_external_id"),
    Index("ix_customers_scope_created", "scope_id", "created_at"),
)

# Triggers move customers.revision on every write here except to next_due_at alone (migrations 0006 and
# 0007): a new column must join the trigger's watched list too (tests/usage/test_cache.py checks).
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("renews_at", UTCDateTime),
    Column("required_actions", JSONDoc),
    Column("return_url", Text),
    Column("failure_url", Text),
    Column("created_at", UTCDateTime, nullable=False),
    # When the billing job must next visit (billing.schedule): never later than anything falls due;
    # NULL while inactive or when nothing can fall due again.
    Column("next_due_at", UTCDateTime, index=True),
)

subscription_products = Table(
    "subscription_products",
    metadata,
    Column("subscription_id", ID, ForeignKey("subscriptions.id"), primary_key=True),
    Column("product_id", ID, ForeignKey("products.id"), primary_key=True),
    Column("version_id", ID, ForeignKey("product_versions.id"), nullable=False, index=True),
    # When this version took over (a version move): its recurring fixed fees start at the first
    # period beginning at or after it. NULL means from the subscription's start.
    Column("since", UTCDateTime),
)

# The versions each subscribed product has been on: a late event is priced with the version whose
# window [valid_from, valid_until) holds its occurred_at. The open row (valid_until NULL) is the version
# subscription_products points at; a version move closes it and opens the next.
subscription_product_versions = Table(
    "subscription_product_versions",
    metadata,
    Column("subscription_id", ID, ForeignKey("subscriptions.id"), primary_key=True),
    Column("product_id", ID, ForeignKey("products.id"), primary_key=True),
    Column("valid_from", UTCDateTime, primary_key=True),
    Column("version_id", ID, ForeignKey("product_versions.id"), nullable=False),
    Column("valid_until", UTCDateTime),
)

wallet_accounts = Table(
    "wallet_accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("debt", BigInteger, nullable=False),
    # Recurring usage fees accrued but not yet charged: they hold balance (pending_out).
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    # Maintained balances: remaining value of live and of pending grants (as of the last write).
    Column("live_total", BigInteger, nullable=False, server_default="0"),
    Column("pending_total", BigInteger, nullable=False, server_default="0"),
    # NULL: no limit (Credyt's default behaviour); otherwise the most debt the account may carry.
    Column("overdraft_limit", BigInteger),
    # The auto top-up threshold while auto top-up is on and not paused (auto_top_ups), else NULL: a debit
    # compares the account's available balance with it without another query.
    Column("auto_threshold", BigInteger),
    # Balance alerts' thresholds resolved to amounts, as JSON [[nano, percent or null], ...], while the
    # account has alerts (balance_alerts), else NULL: read with the account, like auto_threshold.
    Column("alert_levels", Text),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("customer_id", "name", "asset", name="uq_wallet_accounts_customer_name_asset"),
)

credit_grants = Table(
    "credit_grants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("wallet_accounts.id"), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("effective_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("source_type", String(32), nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # pending (not yet effective), live, or expired (remainder written off or rolled over).
    Column("state", String(16), nullable=False, server_default="live"),
    Column("expired_amount", BigInteger, nullable=False, server_default="0"),
    Column("expired_at", UTCDateTime),
    # Accounting per unit of the grant, in basis_currency: what a unit earns when consumed
    # (revenue basis) and what it cost the platform to give (cost basis).
    Column("revenue_basis", BigInteger),
    Column("cost_basis", BigInteger),
    Column("basis_currency", String(32)),
    Index("ix_credit_grants_account_state_expires", "account_id", "state", "expires_at"),
    Index("ix_credit_grants_state_effective", "state", "effective_at"),
    Index("ix_credit_grants_state_expires", "state", "expires_at"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    # The caller's transaction_id for adjustments and charges; the fee id for fees.
    Column("transaction_id", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("account_id", ID, ForeignKey("wallet_accounts.id"), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(32)),
    Column("description", Text),
    Column("metadata", JSONDoc),
    Column("request_hash", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("executed_at", UTCDateTime),
    UniqueConstraint("customer_id", "transaction_id", name="uq_transactions_customer_transaction"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("transaction_id", ID, ForeignKey("transactions.id"), nullable=False, index=True),
    # No index: no query looks entries up by account (the reports' `LIKE 'wallet:%'` cannot use one on
    # either backend, and would match half the rows); it cost a B-tree insert per entry (migration 0017).
    Column("account", String(120), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("grant_id", ID),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    scope_column(),
    Column("id", String(200), nullable=False),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("subject", String(500)),
    Column("description", Text),
    Column("data", JSONDoc),
    Column("costs", JSONDoc),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Profitability in the reporting currency (USD), fixed when the event is recorded.
    Column("revenue", BigInteger, nullable=False, server_default="0"),
    Column("cost", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("customer_id", "id", name="uq_events_customer_id"),
    Index("ix_events_customer_created", "customer_id", "created_at"),
    Index("ix_events_scope_id", "scope_id", "id"),
    Index("ix_events_scope_created", "scope_id", "created_at"),
)

fees = Table(
    "fees",
    metadata,
    Column("id", ID, primary_key=True),
    # Usage fees belong to an event; fixed fees to a subscription period only.
    Column("event_seq", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("events.seq"), index=True),
    Column("subscription_id", ID, ForeignKey("subscriptions.id"), index=True),
    Column("billing", String(16), nullable=False, server_default="real_time"),
    Column("period_start", UTCDateTime),
    Column("period_end", UTCDateTime),
    # The transaction (its transaction_id) that took this fee from the wallet: for a real-time fee, its
    # account's ``usage`` transaction of the commit, shared with the other fees of that commit (0018);
    # for recurring usage, the charge that collected it at period end (NULL while accrued); a fixed fee
    # is its own charge.
    Column("charge_id", ID),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("account_id", ID, ForeignKey("wallet_accounts.id"), nullable=False),
    Column("product_id", ID, nullable=False),
    Column("product_code", String(200), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("price_id", ID, nullable=False),
    Column("price_name", String(200), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("dimensions", JSONDoc),
    Column("usage_type", String(32), nullable=False),
    Column("volume_field", String(200)),
    Column("input_volume", BigInteger),
    Column("unit_price", BigInteger),
    Column("volume_rate", BigInteger),
    Column("package_size", BigInteger),
    Column("description", Text),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
# The fees a transaction took (a usage transaction's, a charge's): how a wallet movement is traced back
# to the fees that caused it. The charge id alone: it names one customer's transaction already, and
# with the customer in front the index took 210 bytes an event instead of about 100 (docs/performance.md).
Index("ix_fees_charge_id", fees.c.charge_id)
# Recurring usage accrued and not yet charged, by period end: what the billing job looks for. Partial,
# so that real-time fees (nearly all of them) cost the hot path no index write.
_RECURRING_UNCHARGED = text("billing = 'recurring' AND charge_id IS NULL")
Index(
    "ix_fees_recurring_uncharged", fees.c.period_end, fees.c.customer_id,
    sqlite_where=_RECURRING_UNCHARGED, postgresql_where=_RECURRING_UNCHARGED,
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("method", String(8), primary_key=True),
    Column("path", String(500), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text),
    Column("created_at", UTCDateTime, nullable=False),
)

tier_counters = Table(
    "tier_counters",
    metadata,
    Column("customer_id", ID, ForeignKey("customers.id"), primary_key=True),
    Column("price_id", ID, primary_key=True),
    Column("entry", Integer, primary_key=True),
    Column("period_start", UTCDateTime, primary_key=True),
    Column("quantity", BigInteger, nullable=False),
)

# One row per (subscription, price, period) charged: fixed fees at each period start and recurring
# usage at each period end. The primary key makes the scheduled jobs idempotent.
period_charges = Table(
    "period_charges",
    metadata,
    Column("subscription_id", ID, ForeignKey("subscriptions.id"), primary_key=True),
    Column("price_id", ID, primary_key=True),
    Column("period_start", UTCDateTime, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("customer_id", ID, nullable=False),
    Column("transaction_id", ID),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row per entitlement grant issued: (subscription, product, entitlement name, period start).
entitlement_grants = Table(
    "entitlement_grants",
    metadata,
    Column("subscription_id", ID, ForeignKey("subscriptions.id"), primary_key=True),
    Column("product_id", ID, primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("period_start", UTCDateTime, primary_key=True),
    Column("grant_id", ID, ForeignKey("credit_grants.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

vendors = Table(
    "vendors",
    metadata,
    Column("id", ID, primary_key=True),
    scope_column(),
    Column("external_id", String(200)),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("scope_id", "external_id", name="uq_vendors_scope_external_id"),
)

event_costs = Table(
    "event_costs",
    metadata,
    Column("event_seq", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("events.seq"), primary_key=True),
    Column("cost_id", String(200), primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("vendor_id", ID, ForeignKey("vendors.id"), nullable=False, index=True),
    Column("category", String(200)),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(32), nullable=False),
    Column("amount_usd", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
)

# Pre-aggregated profitability in USD, maintained in the same transaction as each event, by
# (kind, key, sub, period): kinds customer/product/vendor, each by UTC ``day`` (YYYY-MM-DD) and
# ``month`` (YYYY-MM); ``sub`` is the cost category for vendors, '' otherwise. Stats endpoints read
# only these, so their cost does not grow with the number of events.
rollups = Table(
    "rollups",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("sub", String(200), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("revenue", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    # Covers the range scans of stats queries (by kind and period, reading key and figures).
    Index("ix_rollups_scope_kind_period", "scope_id", "kind", "period", "key", "revenue", "cost"),
)

