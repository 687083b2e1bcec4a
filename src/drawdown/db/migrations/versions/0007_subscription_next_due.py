"""Subscriptions know when they are next due; the job visits only what is due

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 08:10:00

``subscriptions.next_due_at`` (indexed) is when the billing job must next visit a subscription
(``billing.schedule``). Grants due to go live or expire, and recurring usage of ended periods, are found
by index range scans too: (state, expires_at) on credit_grants beside 0003's (state, effective_at), and
a partial index on fees holding only recurring usage not yet charged.

The backfill sets next_due_at to the subscription's start for every billed one: never later than
anything it owes (nothing falls due before the start), so the first job run visits each started
subscription and writes its true next due moment.

The 0006 trigger on UPDATE of subscriptions is recreated to fire only when a column other than
next_due_at is written: the job writing when a subscription is next due changes nothing the event hot
path caches, so it must not move ``customers.revision``.
"""

import sqlalchemy as sa
from alembic import op

from drawdown.db.types import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_TRIGGER = "subscriptions_update_moves_revision"  # 0006's name for it (and for its PostgreSQL function)
# Every column of subscriptions but next_due_at: a column added later moves the revision only once listed.
_WATCHED = "id, customer_id, status, started_at, renews_at, required_actions, return_url, failure_url, created_at"
_RECURRING_UNCHARGED = sa.text("billing = 'recurring' AND charge_id IS NULL")


def _update_trigger(columns: str | None) -> None:
    """(Re)create 0006's UPDATE trigger, on the given columns only (None: on any column, as 0006 did)."""
    event = f"UPDATE OF {columns}" if columns else "UPDATE"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TRIGGER} ON subscriptions")
        op.execute(
            f"CREATE TRIGGER {_TRIGGER} AFTER {event} ON subscriptions FOR EACH ROW EXECUTE FUNCTION {_TRIGGER}()"
        )
        return
    op.execute(f"DROP TRIGGER IF EXISTS {_TRIGGER}")
    op.execute(
        f"CREATE TRIGGER {_TRIGGER} AFTER {event} ON subscriptions FOR EACH ROW BEGIN "
        "UPDATE customers SET revision = revision + 1 WHERE id = NEW.customer_id; END"
    )


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_subscriptions_next_due_at", ["next_due_at"], unique=False)
    with op.batch_alter_table("credit_grants", schema=None) as batch_op:
        batch_op.create_index("ix_credit_grants_state_expires", ["state", "expires_at"], unique=False)
    op.create_index(
        "ix_fees_recurring_uncharged", "fees", ["period_end", "customer_id"], unique=False,
        sqlite_where=_RECURRING_UNCHARGED, postgresql_where=_RECURRING_UNCHARGED,
    )
    _update_trigger(_WATCHED)
    op.execute("UPDATE subscriptions SET next_due_at = started_at WHERE status IN ('active', 'action_required')")


def downgrade() -> None:
    _update_trigger(None)
    op.drop_index("ix_fees_recurring_uncharged", table_name="fees")
    with op.batch_alter_table("credit_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_grants_state_expires")
    op.drop_index("ix_subscriptions_next_due_at", table_name="subscriptions")
    # Not batch on SQLite: copying the table would drop its 0006 triggers. SQLite (3.35+) drops the
    # column in place once its index is gone.
    op.execute("ALTER TABLE subscriptions DROP COLUMN next_due_at")
