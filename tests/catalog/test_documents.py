"""A product version's documents are read once per process (``catalog.documents``): a second read of
the same versions sends no statement, an id no version has is left out, and what is kept is what the
version holds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from sqlalchemy import Engine, event, select

from drawdown.catalog import documents
from drawdown.db.engine import read
from drawdown.db.tables import product_versions, products
from tests.worlds import volume_world


def test_documents_are_read_once_per_version(engine: Engine) -> None:
    code, _ = volume_world(engine, datetime.now(UTC), D("0.5"), 1, D(1))
    with read(engine) as conn:
        version = conn.execute(
            select(product_versions.c.id).join(products).where(products.c.code == code)
        ).scalar_one()
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - before_cursor_execute: the SQL
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with read(engine) as conn:
            first = documents.of(conn, [version, "prv_none"])
            read_first = len(statements)
            again = documents.of(conn, [version])
            assert len(statements) == read_first  # kept: no statement the second time
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert read_first >= 1 and set(first) == {version} and again[version] is first[version]
    assert [p["name"] for p in first[version].prices] == ["u"] and first[version].entitlements == []
