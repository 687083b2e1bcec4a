"""The versions a subscription's products were on, and when: late events are priced with the version in force

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 08:10:00

``subscription_product_versions`` holds one row per version a subscribed product has been on, with the
window ``[valid_from, valid_until)`` it was in force. The event hot path caches what it reads from it
under ``customers.revision``, so writes to it move the revision by trigger (the pattern of 0006).

Backfill: one open row per ``subscription_products`` row, valid from the subscription's start. Its
``since`` is not used: the version before a move was never recorded, and a window starting at ``since``
would leave the late events before it with no price at all; from the start they keep being priced as
they were before this migration.
"""

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TABLE = "subscription_product_versions"
_CUSTOMER = "(SELECT customer_id FROM subscriptions WHERE id = {row}.subscription_id)"
TRIGGERS = [(event, _CUSTOMER.format(row="OLD" if event == "DELETE" else "NEW"))
            for event in ("INSERT", "UPDATE", "DELETE")]


def _name(event: str) -> str:
    return f"{TABLE}_{event.lower()}_moves_revision"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", drawdown.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("valid_until", drawdown.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f(f"fk_{TABLE}_product_id_products")),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"],
                                name=op.f(f"fk_{TABLE}_subscription_id_subscriptions")),
        sa.ForeignKeyConstraint(["version_id"], ["product_versions.id"],
                                name=op.f(f"fk_{TABLE}_version_id_product_versions")),
        sa.PrimaryKeyConstraint("subscription_id", "product_id", "valid_from", name=op.f(f"pk_{TABLE}")),
    )
    # Before the triggers: the backfill changes nothing a cache holds, so it need not move revisions.
    op.execute(
        f"INSERT INTO {TABLE} (subscription_id, product_id, valid_from, version_id, valid_until) "
        "SELECT sp.subscription_id, sp.product_id, s.started_at, sp.version_id, NULL "
        "FROM subscription_products sp JOIN subscriptions s ON s.id = sp.subscription_id"
    )
    _create_triggers(op.get_bind().dialect.name == "postgresql")


def _create_triggers(postgresql: bool) -> None:
    for event, customer in TRIGGERS:
        move = f"UPDATE customers SET revision = revision + 1 WHERE id = {customer};"
        if not postgresql:
            op.execute(f"CREATE TRIGGER {_name(event)} AFTER {event} ON {TABLE} FOR EACH ROW BEGIN {move} END")
            continue
        row = "OLD" if event == "DELETE" else "NEW"
        op.execute(
            f"CREATE FUNCTION {_name(event)}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{move} RETURN {row}; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {_name(event)} AFTER {event} ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {_name(event)}()"
        )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for event, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {_name(event)}" + (f" ON {TABLE}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS {_name(event)}()")
    op.drop_table(TABLE)
