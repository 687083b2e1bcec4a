"""Subscriptions know when they are next due; the job visits only what is due

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 08:10:00
"""

from alembic import op  # noqa: F401 - filled in by the change that needs it

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
