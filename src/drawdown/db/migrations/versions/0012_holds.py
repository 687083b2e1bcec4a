"""Holds: value set aside on a wallet account, and the fees settled against it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 13:00:00

New tables only (nothing existing changes, so SQLite needs no batch mode).
"""

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UTC_DATETIME = drawdown.db.types.UTCDateTime(timezone=True)
ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", ID, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("hold_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("settled", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("released", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", drawdown.db.types.JSONDoc(), nullable=True),
        sa.Column("estimate", drawdown.db.types.JSONDoc(), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_holds_customer_id_customers"),
        sa.ForeignKeyConstraint(["account_id"], ["wallet_accounts.id"], name="fk_holds_account_id_wallet_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
        sa.UniqueConstraint("customer_id", "hold_id", name="uq_holds_customer_hold_id"),
    )
    op.create_index("ix_holds_account_status", "holds", ["account_id", "status"])
    op.create_index("ix_holds_status_expires", "holds", ["status", "expires_at"])
    op.create_table(
        "hold_settlements",
        sa.Column("fee_id", ID, nullable=False),
        sa.Column("hold_row_id", ID, nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("from_hold", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["fee_id"], ["fees.id"], name="fk_hold_settlements_fee_id_fees"),
        sa.ForeignKeyConstraint(["hold_row_id"], ["holds.id"], name="fk_hold_settlements_hold_row_id_holds"),
        sa.PrimaryKeyConstraint("fee_id", name="pk_hold_settlements"),
    )
    op.create_index("ix_hold_settlements_hold_row_id", "hold_settlements", ["hold_row_id"])


def downgrade() -> None:
    op.drop_index("ix_hold_settlements_hold_row_id", table_name="hold_settlements")
    op.drop_table("hold_settlements")
    op.drop_index("ix_holds_status_expires", table_name="holds")
    op.drop_index("ix_holds_account_status", table_name="holds")
    op.drop_table("holds")
