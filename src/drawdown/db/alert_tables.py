"""Balance alerts (``PUT /customers/{id}/wallet/{account}/alerts``): the thresholds a platform set on a
wallet account, and the last top-up that percentage thresholds are measured against. The debit path
reads none of this: ``wallet_accounts.alert_levels`` mirrors the thresholds resolved to amounts."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Table, Text

from drawdown.db.meta import ID, metadata
from drawdown.db.types import UTCDateTime

balance_alerts = Table(
    "balance_alerts",
    metadata,
    Column("account_id", ID, ForeignKey("wallet_accounts.id"), primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    # [{"amount": "5"} | {"percent": "20"}, ...] as the platform sent them (exact decimals as text)
    Column("thresholds", Text, nullable=False),
    # Units of the account's asset the last successful top-up added (nano); NULL before the first.
    Column("last_top_up", BigInteger),
    Column("updated_at", UTCDateTime, nullable=False),
)
