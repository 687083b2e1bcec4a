"""Payments: top-ups, Stripe events handled, refunds, auto top-up settings

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 10:30:00

New tables only, plus ``wallet_accounts.auto_threshold`` (NULL for every existing account: no auto
top-up is on until a customer turns one on).
"""

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_DATETIME = drawdown.db.types.UTCDateTime(timezone=True)
ID = sa.String(length=64)
AUTO_IN_FLIGHT = sa.text("kind = 'auto' AND status IN ('initiated', 'pending')")


def upgrade() -> None:
    with op.batch_alter_table("wallet_accounts") as b:
        b.add_column(sa.Column("auto_threshold", sa.BigInteger(), nullable=True))
    op.create_table(
        "top_ups",
        sa.Column("id", ID, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(32), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("account_name", sa.String(100), nullable=False),
        sa.Column("exchange_rate", sa.BigInteger(), nullable=True),
        sa.Column("credit_expires_at", UTC_DATETIME, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", drawdown.db.types.JSONDoc(), nullable=True),
        sa.Column("return_url", sa.Text(), nullable=True),
        sa.Column("failure_url", sa.Text(), nullable=True),
        sa.Column("subscription_id", ID, nullable=True),
        sa.Column("page_token", sa.String(64), nullable=False),
        sa.Column("payment_intent", sa.String(255), nullable=True),
        sa.Column("payment_method", sa.String(255), nullable=True),
        sa.Column("save_card", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("credited", sa.BigInteger(), nullable=True),
        sa.Column("grant_id", ID, nullable=True),
        sa.Column("refunded", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("settled_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_top_ups_customer_id_customers"),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["subscriptions.id"], name="fk_top_ups_subscription_id_subscriptions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_top_ups"),
        sa.UniqueConstraint("page_token", name="uq_top_ups_page_token"),
        sa.UniqueConstraint("payment_intent", name="uq_top_ups_payment_intent"),
    )
    op.create_index("ix_top_ups_customer_id", "top_ups", ["customer_id"])
    op.create_index("ix_top_ups_status_updated", "top_ups", ["status", "updated_at"])
    op.create_index(
        "uq_top_ups_auto_in_flight", "top_ups", ["customer_id", "account_name", "asset"], unique=True,
        sqlite_where=AUTO_IN_FLIGHT, postgresql_where=AUTO_IN_FLIGHT,
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stripe_events"),
    )
    op.create_table(
        "refunds",
        sa.Column("id", ID, nullable=False),
        sa.Column("top_up_id", ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stripe_refund", sa.String(255), nullable=True),
        sa.Column("transaction_id", sa.String(200), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("settled_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["top_up_id"], ["top_ups.id"], name="fk_refunds_top_up_id_top_ups"),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
    )
    op.create_index("ix_refunds_top_up_id", "refunds", ["top_up_id"])
    op.create_table(
        "auto_top_ups",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_method", sa.String(255), nullable=True),
        sa.Column("monthly_limit", sa.BigInteger(), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paused_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["wallet_accounts.id"], name="fk_auto_top_ups_account_id_wallet_accounts"
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_auto_top_ups_customer_id_customers"),
        sa.PrimaryKeyConstraint("account_id", name="pk_auto_top_ups"),
    )
    op.create_index("ix_auto_top_ups_customer_id", "auto_top_ups", ["customer_id"])


def downgrade() -> None:
    op.drop_table("auto_top_ups")
    op.drop_table("refunds")
    op.drop_table("stripe_events")
    op.drop_index("uq_top_ups_auto_in_flight", table_name="top_ups")
    op.drop_table("top_ups")
    with op.batch_alter_table("wallet_accounts") as b:
        b.drop_column("auto_threshold")
