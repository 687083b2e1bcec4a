"""Triggers move customers.revision on every subscription write

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 08:00:00

The event hot path caches a customer's subscribed prices and next entitlement due under
``customers.revision``. Until now every code path that wrote a subscription had to remember to move
it; with these triggers the database moves it on every INSERT, UPDATE or DELETE of ``subscriptions``
and ``subscription_products``, so no writer can forget.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, event, the customer whose revision moves)
_SUBSCRIPTIONS = "{row}.customer_id"
_PRODUCTS = "(SELECT customer_id FROM subscriptions WHERE id = {row}.subscription_id)"
TRIGGERS = [
    ("subscriptions", "INSERT", _SUBSCRIPTIONS.format(row="NEW")),
    ("subscriptions", "UPDATE", _SUBSCRIPTIONS.format(row="NEW")),
    ("subscriptions", "DELETE", _SUBSCRIPTIONS.format(row="OLD")),
    ("subscription_products", "INSERT", _PRODUCTS.format(row="NEW")),
    ("subscription_products", "UPDATE", _PRODUCTS.format(row="NEW")),
    ("subscription_products", "DELETE", _PRODUCTS.format(row="OLD")),
]


def _name(table: str, event: str) -> str:
    return f"{table}_{event.lower()}_moves_revision"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, event, customer in TRIGGERS:
            row = "OLD" if event == "DELETE" else "NEW"
            op.execute(
                f"CREATE FUNCTION {_name(table, event)}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"UPDATE customers SET revision = revision + 1 WHERE id = {customer}; RETURN {row}; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {_name(table, event)}()"
            )
        return
    for table, event, customer in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} FOR EACH ROW BEGIN "
            f"UPDATE customers SET revision = revision + 1 WHERE id = {customer}; END"
        )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, event, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {_name(table, event)}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS {_name(table, event)}()")
