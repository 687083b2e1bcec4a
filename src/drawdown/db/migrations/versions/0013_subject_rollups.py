"""Subject rollups: profitability per subject (a task or an outcome), maintained on write

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 13:05:00

A new table, backfilled from the stored events, their costs and their fees, so that an upgraded
database answers exactly for the subjects it already holds (the engine adds to it from now on).
"""

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC_DATETIME = drawdown.db.types.UTCDateTime(timezone=True)
ID = sa.String(length=64)
COLUMNS = (
    "scope_id, customer_id, kind, period, subject, key, sub, asset, revenue, cost, amount, events, subjects, first_at, "
    "last_at"
)
# The margin order exactly as db/subject_tables.py compiles it on each backend (a planner matches an
# expression index only to the same expression).
MARGIN = {
    "postgresql": "CASE WHEN (revenue = 0) THEN 0 ELSE ((revenue - cost) * 1.0) / CAST(revenue AS NUMERIC) END",
    "sqlite": "CASE WHEN (revenue = 0) THEN 0 ELSE ((revenue - cost) * 1.0) / (revenue + 0.0) END",
}


def upgrade() -> None:
    op.create_table(
        "subject_rollups",
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("sub", sa.String(200), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("subjects", sa.BigInteger(), nullable=False),
        sa.Column("first_at", UTC_DATETIME, nullable=True),
        sa.Column("last_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint(
            "scope_id", "customer_id", "kind", "period", "subject", "key", "sub", "asset", name="pk_subject_rollups"
        ),
        sqlite_with_rowid=False,
    )
    _backfill()  # before the indexes: one build each instead of a row at a time
    is_day, is_total = sa.text("kind = 'day'"), sa.text("kind = 'total'")
    op.create_index(
        "ix_subject_rollups_days", "subject_rollups",
        ["scope_id", "period", "customer_id", "subject", "revenue", "cost", "events", "first_at", "last_at"],
        sqlite_where=is_day, postgresql_where=is_day,
    )
    op.create_index(
        "ix_subject_rollups_by_revenue", "subject_rollups",
        ["scope_id", sa.text("revenue DESC"), "customer_id", "subject"],
        sqlite_where=is_total, postgresql_where=is_total,
    )
    op.create_index(
        "ix_subject_rollups_by_margin", "subject_rollups",
        ["scope_id", sa.text(f"({MARGIN[op.get_bind().dialect.name]})"), sa.text("revenue DESC"), "customer_id",
         "subject"],
        sqlite_where=is_total, postgresql_where=is_total,
    )


def _day() -> str:
    """The UTC day of ``e.occurred_at`` as text, on either backend (SQLite stores naive UTC text;
    PostgreSQL a timestamptz)."""
    if op.get_bind().dialect.name == "postgresql":
        return "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return "substr(e.occurred_at, 1, 10)"


def _backfill() -> None:
    named = "e.subject IS NOT NULL AND e.subject <> ''"
    figures = "SUM(e.revenue), SUM(e.cost), 0, COUNT(*)"
    times = "MIN(e.occurred_at), MAX(e.occurred_at) FROM events e"
    day = _day()
    op.execute(
        f"INSERT INTO subject_rollups ({COLUMNS}) SELECT e.scope_id, e.customer_id, 'day', {day}, e.subject, "
        f"'', '', '', {figures}, 0, {times} WHERE {named} GROUP BY e.scope_id, e.customer_id, e.subject, {day}"
    )
    op.execute(
        f"INSERT INTO subject_rollups ({COLUMNS}) SELECT e.scope_id, e.customer_id, 'total', '', e.subject, "
        f"'', '', '', {figures}, 0, {times} WHERE {named} GROUP BY e.scope_id, e.customer_id, e.subject"
    )
    # The scope's sum over its subjects (customer and subject ''), counting them.
    op.execute(
        f"INSERT INTO subject_rollups ({COLUMNS}) SELECT e.scope_id, '', 'total', '', '', '', '', '', {figures}, "
        f"COUNT(DISTINCT e.customer_id || '/' || e.subject), {times} WHERE {named} GROUP BY e.scope_id"
    )
    op.execute(
        f"INSERT INTO subject_rollups ({COLUMNS}) "
        "SELECT e.scope_id, e.customer_id, 'vendor', '', e.subject, c.vendor_id, COALESCE(c.category, ''), '', 0, "
        "SUM(c.amount_usd), 0, 0, 0, NULL, NULL FROM event_costs c JOIN events e ON e.seq = c.event_seq "
        f"WHERE {named} GROUP BY e.scope_id, e.customer_id, e.subject, c.vendor_id, COALESCE(c.category, '')"
    )
    op.execute(
        f"INSERT INTO subject_rollups ({COLUMNS}) "
        "SELECT e.scope_id, e.customer_id, 'fee', '', e.subject, f.product_id, f.price_id, f.asset, 0, 0, "
        "SUM(f.amount), COUNT(*), 0, NULL, NULL FROM fees f JOIN events e ON e.seq = f.event_seq "
        f"WHERE {named} GROUP BY e.scope_id, e.customer_id, e.subject, f.product_id, f.price_id, f.asset"
    )


def downgrade() -> None:
    for name in ("ix_subject_rollups_by_margin", "ix_subject_rollups_by_revenue", "ix_subject_rollups_days"):
        op.drop_index(name, table_name="subject_rollups")
    op.drop_table("subject_rollups")
