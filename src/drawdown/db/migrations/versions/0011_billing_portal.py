"""Billing portal: portal sessions and each scope's branding

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 11:20:00

New tables only.
"""

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC_DATETIME = drawdown.db.types.UTCDateTime(timezone=True)
ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("link_hash", sa.String(64), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("failure_url", sa.Text(), nullable=False),
        sa.Column("link_expires_at", UTC_DATETIME, nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.Column("session_hash", sa.String(64), nullable=True),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_portal_sessions_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portal_sessions"),
    )
    op.create_index("ix_portal_sessions_customer_id", "portal_sessions", ["customer_id"])
    op.create_table(
        "portal_settings",
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=True),
        sa.Column("logo_url", sa.Text(), nullable=True),
        sa.Column("primary_color", sa.String(7), nullable=True),
        sa.Column("support_url", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("scope_id", name="pk_portal_settings"),
    )


def downgrade() -> None:
    op.drop_table("portal_settings")
    op.drop_index("ix_portal_sessions_customer_id", table_name="portal_sessions")
    op.drop_table("portal_sessions")
