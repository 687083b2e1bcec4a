"""Real-time fees are booked in one usage transaction per account and commit

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 19:50:00

From this revision, the engine books a commit's real-time fees of one account in one ``usage``
transaction (``wallets.ledger.Ledger.spend``), and each fee names it in ``charge_id``, the column that
already named the charge collecting a recurring fee. Fees booked before kept their own ``fee``
transaction, whose transaction_id is the fee's id: they are given that as their ``charge_id``, so that
every fee names the transaction that took it, whenever it was booked. An index on charge_id finds
the fees a transaction took.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE fees SET charge_id = id WHERE billing = 'real_time' AND charge_id IS NULL"))
    op.create_index("ix_fees_charge_id", "fees", ["charge_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_fees_charge_id", table_name="fees")
    # Fees booked before 0018 are given back their empty charge_id. Those booked since share a usage
    # transaction, which stays as it is: the ledger balances either way, and an older engine reads a
    # usage transaction as one more transaction of the customer's.
    op.execute(sa.text("UPDATE fees SET charge_id = NULL WHERE billing = 'real_time' AND charge_id = id"))
