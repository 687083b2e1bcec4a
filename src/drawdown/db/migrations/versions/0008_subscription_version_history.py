"""The versions a subscription's products were on, and when: late events are priced with the version in force

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 08:10:00
"""

from alembic import op  # noqa: F401 - filled in by the change that needs it

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
