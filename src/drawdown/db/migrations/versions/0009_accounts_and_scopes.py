"""Accounts, environments and scopes: every object belongs to one (account, environment)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:00:00

Creates ``accounts`` and ``scopes`` with the default account (``core.scopes.DEFAULT_ACCOUNT``) and its
two scopes: live (1) and test (2). Every existing row, and every existing key, goes to the default
account's live environment. The fiat currencies are copied into the test scope.

Scoped tables get ``scope_id``, without a default once backfilled, so an insert that forgets its scope
fails. Uniques that were global become unique per scope (product codes, customer and vendor
external ids, custom asset codes, idempotency keys); rollups are kept per scope.

On SQLite the tables are rebuilt (batch mode) with foreign keys off, as SQLite's own procedure for
schema changes requires (``migrations/env.py``).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import drawdown.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DEFAULT_ACCOUNT = "acc_00000000000000000000000000"
DEFAULT_ORG = "org_00000000000000000000000000"
UTC_DATETIME = drawdown.db.types.UTCDateTime(timezone=True)


def _scope_column() -> sa.Column[int]:
    # Backfilled to the default live scope, then the default is dropped (below).
    return sa.Column("scope_id", sa.Integer(), nullable=False, server_default="1")


def _drop_default(batch_op) -> None:  # type: ignore[no-untyped-def]
    batch_op.alter_column("scope_id", existing_type=sa.Integer(), existing_nullable=False, server_default=None)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _accounts()

    with op.batch_alter_table("api_keys") as b:
        b.add_column(_scope_column())
        b.add_column(sa.Column("hint", sa.String(32), nullable=False, server_default=""))
        b.add_column(sa.Column("last_used_at", UTC_DATETIME, nullable=True))
        b.add_column(sa.Column("revoked_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("api_keys") as b:
        _drop_default(b)
        b.create_index("ix_api_keys_scope_id", ["scope_id"])
        b.create_foreign_key("fk_api_keys_scope_id_scopes", "scopes", ["scope_id"], ["id"])

    # The asset code stops being a key on its own: the foreign keys naming it go first.
    with op.batch_alter_table("wallet_accounts") as b:
        b.drop_constraint("fk_wallet_accounts_asset_assets", type_="foreignkey")
    with op.batch_alter_table("asset_rates") as b:
        b.drop_constraint("fk_asset_rates_asset_code_assets", type_="foreignkey")
        b.drop_index("ix_asset_rates_asset_code")
        b.add_column(_scope_column())
    with op.batch_alter_table("asset_rates") as b:
        _drop_default(b)
        b.create_index("ix_asset_rates_scope_asset", ["scope_id", "asset_code"])

    _rekey("assets", "pk_assets", ["scope_id", "code"])
    _rekey("idempotency_keys", "pk_idempotency_keys", ["scope_id", "key", "method", "path"])
    _rekey("rollups", "pk_rollups", ["scope_id", "kind", "key", "sub", "period"], drop_index="ix_rollups_kind_period",
           index=("ix_rollups_scope_kind_period", ["scope_id", "kind", "period", "key", "revenue", "cost"]))

    _unique_per_scope("products", "uq_products_code", "uq_products_scope_code", "code")
    _unique_per_scope("customers", "uq_customers_external_id", "uq_customers_scope_external_id", "external_id",
                      index=("ix_customers_scope_created", ["scope_id", "created_at"]))
    _unique_per_scope("vendors", "uq_vendors_external_id", "uq_vendors_scope_external_id", "external_id")

    with op.batch_alter_table("events") as b:
        b.drop_index("ix_events_id")
        b.add_column(_scope_column())
    with op.batch_alter_table("events") as b:
        _drop_default(b)
        b.create_index("ix_events_scope_id", ["scope_id", "id"])
        b.create_index("ix_events_scope_created", ["scope_id", "created_at"])

    # Fiat currencies exist in every scope: the test scope gets its copy.
    op.execute(
        "INSERT INTO assets (scope_id, code, name, precision, label, symbol, is_fiat, created_at) "
        "SELECT 2, code, name, precision, label, symbol, is_fiat, created_at FROM assets "
        "WHERE scope_id = 1 AND is_fiat = " + ("true" if postgresql else "1")
    )


def _accounts() -> None:
    accounts = op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("metadata", drawdown.db.types.JSONDoc(), nullable=True),
        sa.Column("parent_scope_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("parent_scope_id", "external_id", name="uq_accounts_parent_external_id"),
    )
    op.create_index("ix_accounts_parent_scope_id", "accounts", ["parent_scope_id"])
    scopes = op.create_table(
        "scopes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_scopes_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_scopes"),
        sa.UniqueConstraint("account_id", "environment", name="uq_scopes_account_environment"),
    )
    created = datetime(2026, 1, 1, tzinfo=UTC)
    op.bulk_insert(accounts, [{"id": DEFAULT_ACCOUNT, "org_id": DEFAULT_ORG, "name": "Default",
                               "external_id": None, "metadata": None, "parent_scope_id": None,
                               "created_at": created}])
    op.bulk_insert(scopes, [{"id": 1, "account_id": DEFAULT_ACCOUNT, "environment": "live"},
                            {"id": 2, "account_id": DEFAULT_ACCOUNT, "environment": "test"}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('scopes', 'id'), 2)")


def _rekey(table: str, pk: str, columns: list[str], drop_index: str | None = None,
           index: tuple[str, list[str]] | None = None) -> None:
    with op.batch_alter_table(table) as b:
        if drop_index:
            b.drop_index(drop_index)
        b.drop_constraint(pk, type_="primary")
        b.add_column(_scope_column())
    with op.batch_alter_table(table) as b:
        _drop_default(b)
        b.create_primary_key(pk, columns)
        if index:
            b.create_index(*index)


def _unique_per_scope(table: str, old: str, new: str, column: str,
                      index: tuple[str, list[str]] | None = None) -> None:
    with op.batch_alter_table(table) as b:
        b.drop_constraint(old, type_="unique")
        b.add_column(_scope_column())
    with op.batch_alter_table(table) as b:
        _drop_default(b)
        b.create_unique_constraint(new, ["scope_id", column])
        if index:
            b.create_index(*index)


def downgrade() -> None:
    raise NotImplementedError("0009 is not reversible: scoped rows cannot be merged back into one space")
