"""Run the Alembic chain programmatically (used by the CLI, the server and the tests).

Servers started together on a fresh database must not race each other through the chain (two would
both see no ``alembic_version`` and both create it). The upgrade is serialised: on PostgreSQL by a
session advisory lock on a fixed key, held on its own connection for the whole upgrade; on SQLite by
an exclusive ``flock`` on a file beside the database (``<db>.migrate-lock``, left in place: removing a
lock file lets a late process lock an unlinked inode). Whoever waits finds the chain at head and does nothing.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from drawdown.db.engine import check_sqlite_path, sqlite_path
from drawdown.settings import normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_lock key: any fixed bigint, the same in every process ("drawdown" in ASCII).
ADVISORY_KEY = 0x6472617764_6F776E


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Held while the chain runs; released on exit, or by the OS/server if the process dies."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is None:  # in memory: nobody else can see it
            yield
            return
        with open(f"{path}.migrate-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({ADVISORY_KEY})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({ADVISORY_KEY})")
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head", create_directory: bool = False) -> None:
    """Bring the schema to ``revision``; ``create_directory`` makes a missing SQLite directory (``migrate``)."""
    check_sqlite_path(url, create_directory=create_directory)
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)
