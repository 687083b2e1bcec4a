"""Webhooks out: the outbox, destinations, deliveries and their attempts

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 13:00:00

New tables only.
"""

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UTC_DATETIME = drawdown.db.types.UTCDateTime(timezone=True)
ID = sa.String(length=64)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("seq", BIGID, autoincrement=True, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("live_mode", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("destination_id", ID, nullable=True),
        sa.Column("fanned_out", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_webhook_outbox"),
        sa.UniqueConstraint("id", name="uq_webhook_outbox_id"),
    )
    op.create_index(
        "ix_webhook_outbox_pending", "webhook_outbox", ["seq"],
        sqlite_where=sa.text("fanned_out = 0"), postgresql_where=sa.text("fanned_out = false"),
    )
    op.create_table(
        "webhook_destinations",
        sa.Column("id", ID, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("topics", drawdown.db.types.JSONDoc(), nullable=False),
        sa.Column("connect", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("previous_secret", sa.String(128), nullable=True),
        sa.Column("previous_expires_at", UTC_DATETIME, nullable=True),
        sa.Column("failing_since", UTC_DATETIME, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("deleted_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_destinations"),
    )
    op.create_index("ix_webhook_destinations_scope", "webhook_destinations", ["scope_id", "connect"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("destination_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("first_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("succeeded_at", UTC_DATETIME, nullable=True),
        sa.Column("failed_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "uq_webhook_deliveries_event_destination", "webhook_deliveries", ["event_id", "destination_id"], unique=True
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index(
        "ix_webhook_deliveries_order", "webhook_deliveries", ["destination_id", "customer_id", "status", "event_seq"]
    )
    op.create_index("ix_webhook_deliveries_scope", "webhook_deliveries", ["scope_id", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_attempts_delivery_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    for name in (
        "ix_webhook_deliveries_scope", "ix_webhook_deliveries_order", "ix_webhook_deliveries_due",
        "uq_webhook_deliveries_event_destination",
    ):
        op.drop_index(name, table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_destinations_scope", table_name="webhook_destinations")
    op.drop_table("webhook_destinations")
    op.drop_index("ix_webhook_outbox_pending", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
