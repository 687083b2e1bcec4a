"""Migration 0009 in place: a database from before accounts keeps every row, now in the default
account's live environment, on both backends; the schema it leaves is the one tables.py declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import make_engine, read, write
from drawdown.db.migrate import upgrade
from drawdown.db.subject_tables import EXPRESSION_INDEXES
from drawdown.db.tables import metadata
from drawdown.settings import normalise_url

T = "2026-03-01 00:00:00+00:00"
BEFORE = [
    "INSERT INTO api_keys (id, name, secret_hash, created_at) VALUES ('key_old', 'old', :hash, :t)",
    "INSERT INTO assets (code, name, precision, is_fiat, created_at) VALUES ('GEMS', 'Gems', 2, :false, :t)",
    "INSERT INTO asset_rates (asset_code, source, rate, valid_from, created_at) VALUES ('GEMS', 'USD', 10, :t, :t)",
    "INSERT INTO products (id, code, name, created_at) VALUES ('prp_old', 'chat', 'Chat', :t)",
    "INSERT INTO product_versions (id, product_id, version, status, is_default, prices, entitlements, created_at) "
    "VALUES ('prv_old', 'prp_old', 1, 'published', :true, '[]', '[]', :t)",
    "INSERT INTO customers (id, external_id, name, created_at) VALUES ('cust_old', 'ext-1', 'Old', :t)",
    "INSERT INTO wallet_accounts (id, customer_id, name, asset, debt, created_at) "
    "VALUES ('wal_old', 'cust_old', 'default', 'GEMS', 0, :t)",
    "INSERT INTO subscriptions (id, customer_id, status, started_at, created_at) "
    "VALUES ('sub_old', 'cust_old', 'active', :t, :t)",
    "INSERT INTO events (id, customer_id, event_type, occurred_at, request_hash, created_at) "
    "VALUES ('evt-1', 'cust_old', 'chat', :t, 'h', :t)",
    "INSERT INTO vendors (id, external_id, name, created_at) VALUES ('vnd_old', 'openai', 'OpenAI', :t)",
    "INSERT INTO rollups (kind, key, sub, period, revenue, cost) VALUES ('customer', 'cust_old', '', '2026-03', 5, 1)",
    "INSERT INTO idempotency_keys (key, method, path, request_hash, status, body, created_at) "
    "VALUES ('idem', 'POST', '/customers', 'h', 201, '{}', :t)",
]
SCOPED = ["assets", "asset_rates", "products", "customers", "events", "vendors", "rollups", "idempotency_keys",
          "api_keys"]


def test_existing_rows_move_to_the_default_live_scope(fresh_url: str) -> None:
    secret = "key_from_before_accounts_" + "x" * 16
    upgrade(fresh_url, "0008")
    engine = create_engine(normalise_url(fresh_url))
    flags = {"true": True, "false": False, "t": T, "hash": api_keys.hash_secret(secret)}
    with engine.begin() as conn:
        for statement in BEFORE:
            conn.execute(text(statement), {k: v for k, v in flags.items() if f":{k}" in statement})
    engine.dispose()

    upgrade(fresh_url)

    engine = make_engine(fresh_url)
    with read(engine) as conn:
        for table in SCOPED:
            scopes = conn.execute(text(f"SELECT DISTINCT scope_id FROM {table} WHERE scope_id <> 2")).scalars().all()
            assert scopes == [1], table
        fiat = conn.execute(text("SELECT scope_id, count(*) FROM assets WHERE is_fiat GROUP BY scope_id")).all()
        assert dict(fiat)[1] == dict(fiat)[2] > 10  # the test environment has the currencies too
        assert conn.execute(text("SELECT count(*) FROM assets WHERE code = 'GEMS'")).scalar_one() == 1
        key = api_keys.verify(conn, secret)
        assert key is not None and key.scope == DEFAULT_LIVE  # the old key keeps working, in live
    # The revision triggers survived the table rebuilds, and a scope must now be named.
    revision = text("SELECT revision FROM customers WHERE id = 'cust_old'")
    with write(engine) as conn:
        before = conn.execute(revision).scalar_one()
        conn.execute(text("UPDATE subscriptions SET status = 'inactive' WHERE id = 'sub_old'"))
        assert conn.execute(revision).scalar_one() == before + 1
    with pytest.raises(Exception, match="(?i)null|not-null"), write(engine) as conn:
        conn.execute(text("INSERT INTO customers (id, name, created_at) VALUES ('cust_x', 'x', :t)"), {"t": T})
    engine.dispose()


def test_the_migrated_schema_is_the_declared_one(fresh_url: str) -> None:
    upgrade(fresh_url)
    engine = create_engine(normalise_url(fresh_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = [d for d in compare_metadata(context, metadata) if not _benign(d)]
    engine.dispose()
    assert differences == []


def _benign(diff: object) -> bool:
    # Server defaults and SQLite's reflection of partial indexes are not compared; nor is an expression
    # index, which PostgreSQL reflects in its own normal form (the migration writes the declared one).
    if isinstance(diff, tuple) and diff[0] in ("add_index", "remove_index"):
        return bool(diff[1].name in EXPRESSION_INDEXES)
    return isinstance(diff, list) and all(d[0] == "modify_default" for d in diff)
