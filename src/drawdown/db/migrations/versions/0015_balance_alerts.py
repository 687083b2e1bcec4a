"""Balance alerts: thresholds per wallet account, mirrored on wallet_accounts.alert_levels

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 13:10:00

A new table and a NULL column (no existing account has alerts).
"""

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC_DATETIME = drawdown.db.types.UTCDateTime(timezone=True)
ID = sa.String(length=64)


def upgrade() -> None:
    with op.batch_alter_table("wallet_accounts") as b:
        b.add_column(sa.Column("alert_levels", sa.Text(), nullable=True))
    op.create_table(
        "balance_alerts",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("thresholds", sa.Text(), nullable=False),
        sa.Column("last_top_up", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["wallet_accounts.id"], name="fk_balance_alerts_account_id_wallet_accounts"
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_balance_alerts_customer_id_customers"),
        sa.PrimaryKeyConstraint("account_id", name="pk_balance_alerts"),
    )


def downgrade() -> None:
    op.drop_table("balance_alerts")
    with op.batch_alter_table("wallet_accounts") as b:
        b.drop_column("alert_levels")
