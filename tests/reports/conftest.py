"""The reports tests' connection: one transaction per test, rolled back after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine

from drawdown.db.engine import IMMEDIATE


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as c:
        # Opened as a write (BEGIN IMMEDIATE on SQLite), as db.engine.write opens it: a deferred transaction
        # that starts writing while a server's worker writes gets "database is locked" at once, not a wait.
        c = c.execution_options(**{IMMEDIATE: True})
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()
