"""The reports room's rollup of subjects (a task or an outcome: an agent run), maintained in the same
transaction as each event that names one (``usage/attribution.py``), so that a subject's figures are
exact the moment its event is acknowledged and no read scans events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, case, literal_column, text
from sqlalchemy.sql.elements import ColumnElement

from drawdown.db.meta import ID, metadata
from drawdown.db.types import UTCDateTime

# One row per (scope, customer, kind, period, subject, key, sub, asset); amounts are scaled BIGINT (USD
# for revenue and cost, the fee's asset for amount). Kinds:
#   total    period '': revenue, cost, events, first_at, last_at of the subject's whole life, and
#            first_day, the UTC day of first_at: the day the subject started, which places it in periods
#   vendor   period '', key vendor id, sub cost category ('' when none): cost
#   fee      period '', key product id, sub price id, asset: amount, events = fees counted
#   started  customer '' and subject '', period YYYY-MM-DD: the sums over the subjects that started that
#            day (revenue, cost, events of their whole lives; ``subjects`` counts them): a period's
#            summary and count without reading its subjects
# A subject (a task or an outcome: an agent run) is a unit: a ranked list over a period lists the subjects
# that started in it, each with its whole life's figures, never a run cut at the period's edge. The row of
# customer '' and subject '' (total) holds the scope's sum over all its subjects and counts them
# (``subjects``: a subject's first event finds no total row of its own, read under its customer's lock).
# The key starts with the customer, so one customer's lists and one subject's stats are key ranges (on
# SQLite the table is clustered on it: WITHOUT ROWID).
subject_rollups = Table(
    "subject_rollups",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("customer_id", ID, primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("subject", String(500), primary_key=True),  # as long as events.subject allows
    Column("key", String(64), primary_key=True),
    Column("sub", String(200), primary_key=True),
    Column("asset", String(32), primary_key=True),  # a fee row's asset ('' for the others)
    Column("revenue", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("subjects", BigInteger, nullable=False),  # the scope's total row: how many subjects it has
    Column("first_at", UTCDateTime),
    Column("last_at", UTCDateTime),
    Column("first_day", String(10)),  # total rows of a subject: the UTC day of first_at
    sqlite_with_rowid=False,
)
s = subject_rollups.c

# Literals, not parameters, wherever a partial index is meant to serve: a planner can match
# ``kind = 'total'`` to an index's predicate, never ``kind = ?``.
IS_TOTAL = text("kind = 'total'")


def margin_order(revenue: ColumnElement[Any], cost: ColumnElement[Any]) -> ColumnElement[Any]:
    """The order of margins (net / revenue; 0 without revenue, as ``Figures.margin``): NUMERIC on
    PostgreSQL, REAL on SQLite; only the order is taken from it, margins shown are computed exactly."""
    zero: ColumnElement[Any] = literal_column("0")
    return case((revenue == zero, zero), else_=(revenue - cost) * literal_column("1.0") / revenue).self_group()


# Indexes on an expression, which Alembic cannot compare (db/migrations/env.py leaves them out).
EXPRESSION_INDEXES = ("ix_subject_rollups_by_margin", "ix_subject_rollups_started_by_margin")

# Ranked lists across customers over all time walk the total rows in rank order and stop at the page.
Index("ix_subject_rollups_by_revenue", s.scope_id, s.revenue.desc(), s.customer_id, s.subject,
      sqlite_where=IS_TOTAL, postgresql_where=IS_TOTAL)
Index(EXPRESSION_INDEXES[0], s.scope_id, margin_order(s.revenue, s.cost), s.revenue.desc(), s.customer_id,
      s.subject, sqlite_where=IS_TOTAL, postgresql_where=IS_TOTAL)
# Over a period, the same per day a subject started: each day's best, read only as far as the page
# (covering: cost too, for the margins), then merged (reports.subject_repository.best_started).
Index("ix_subject_rollups_started_by_revenue", s.scope_id, s.first_day, s.revenue.desc(), s.customer_id,
      s.subject, s.cost, sqlite_where=IS_TOTAL, postgresql_where=IS_TOTAL)
Index(EXPRESSION_INDEXES[1], s.scope_id, s.first_day, margin_order(s.revenue, s.cost), s.revenue.desc(),
      s.customer_id, s.subject, s.cost, sqlite_where=IS_TOTAL, postgresql_where=IS_TOTAL)
