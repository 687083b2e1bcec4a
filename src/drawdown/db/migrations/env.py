"""Alembic environment: one migration chain for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from drawdown.db.engine import make_engine
from drawdown.db.subject_tables import EXPRESSION_INDEXES
from drawdown.db.tables import metadata
from drawdown.settings import Settings

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run_with(conn)
    engine.dispose()


def _run_with(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        _run_sqlite(connection)
        return
    _configure_and_run(connection)


def _run_sqlite(connection: Connection) -> None:
    """SQLite rebuilds a table to change it (batch mode), which its own procedure says to do with
    foreign keys off (a dropped parent would cascade or fail) and with the legacy rename (so triggers
    naming a table mid-rebuild are not re-parsed). Both pragmas only act outside a transaction, hence
    the raw connection; the keys are checked once the chain has run."""
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("PRAGMA legacy_alter_table=ON")
    try:
        _configure_and_run(connection)
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        raw.execute("PRAGMA legacy_alter_table=OFF")
        raw.execute("PRAGMA foreign_keys=ON")


def _compared(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Everything but expression indexes: PostgreSQL reflects their expression in its own normal form
    and SQLite not at all, so a comparison would always differ (their migration writes the declared one)."""
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        user_module_prefix="drawdown.db.types.",
        include_object=_compared,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
