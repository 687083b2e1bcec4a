"""Ledger entries lose their index on ``account``

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 16:10:00

No query looks ledger entries up by account: the consumption report filters ``account LIKE
'wallet:%'``, which neither SQLite (case-insensitive LIKE) nor PostgreSQL (a non-C collation) can
answer from a B-tree, and which would match about half the rows anyway. Every entry paid an insert
into it: 3.67 entries per usage event on the ingestion bench. Dropping it raised the bench's honest
ceiling on SQLite by 4-12% (docs/performance.md, "A leaner write model").
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_ledger_entries_account", table_name="ledger_entries")


def downgrade() -> None:
    op.create_index("ix_ledger_entries_account", "ledger_entries", ["account"], unique=False)
