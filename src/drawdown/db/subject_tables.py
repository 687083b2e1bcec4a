"""The reports room's rollup of subjects (a task or an outcome: an agent run), maintained in the same
transaction as each event that names one (``usage/attribution.py``), so that a subject's figures are
exact the moment its event is acknowledged and no read scans events."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from drawdown.db.meta import ID, metadata
from drawdown.db.types import UTCDateTime

# One row per (scope, customer, subject, kind, key, sub, period, asset); amounts are scaled BIGINT (USD for
# revenue and cost, the fee's asset for amount). Kinds:
#   day / month    key '' sub '', period YYYY-MM-DD / YYYY-MM: revenue, cost, events, first_at, last_at
#   vendor         key vendor id, sub cost category ('' when none), period '': cost
#   fee            key product id, sub price id, period '': amount in ``asset``, events = fees counted
subject_rollups = Table(
    "subject_rollups",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("customer_id", ID, primary_key=True),
    Column("subject", String(500), primary_key=True),  # as long as events.subject allows
    Column("kind", String(8), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("sub", String(200), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("asset", String(32), primary_key=True),  # a fee row's asset ('' for the others)
    Column("revenue", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("first_at", UTCDateTime),
    Column("last_at", UTCDateTime),
    # The ranked lists across customers read one period range of day or month rows (the primary key
    # serves one customer's lists and one subject's stats).
    Index(
        "ix_subject_rollups_scope_kind_period",
        "scope_id", "kind", "period", "customer_id", "subject", "revenue", "cost", "events",
    ),
)
