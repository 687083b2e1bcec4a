"""Bytes stored by table, indexes included (``drawdown bench ingest``), so that the storage an event
costs is measured rather than guessed: the difference before and after a phase, per event.

SQLite: the ``dbstat`` virtual table, each table's and index's pages by the table they belong to;
when the library was built without it, the whole file (page_count × page_size) under ``*``.
PostgreSQL: ``pg_total_relation_size`` of each table (heap, indexes and TOAST, dead rows included
until a vacuum reclaims them: what the disk holds).
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from drawdown.db.engine import make_engine, read

_SQLITE_DBSTAT = text(
    "SELECT m.tbl_name AS tbl, sum(s.pgsize) AS bytes FROM dbstat AS s "
    "JOIN sqlite_master AS m ON m.name = s.name GROUP BY m.tbl_name"
)
_POSTGRES = text(
    "SELECT c.relname AS tbl, pg_total_relation_size(c.oid) AS bytes FROM pg_class AS c "
    "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = current_schema()"
)


def stored_bytes(url: str) -> dict[str, int]:
    """Bytes by table, its indexes included; ``*`` is the whole database where tables cannot be told apart."""
    engine = make_engine(url)
    try:
        with read(engine) as conn:
            return _sqlite(conn) if conn.dialect.name == "sqlite" else _rows(conn, _POSTGRES)
    finally:
        engine.dispose()


def _sqlite(conn: Connection) -> dict[str, int]:
    try:
        return _rows(conn, _SQLITE_DBSTAT)
    except OperationalError:  # no dbstat in this SQLite build
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        return {"*": pages * conn.exec_driver_sql("PRAGMA page_size").scalar_one()}


def _rows(conn: Connection, query: object) -> dict[str, int]:
    return {row.tbl: int(row.bytes) for row in conn.execute(query)}  # type: ignore[call-overload]


def per_event(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    """Bytes per event by table that grew, and their ``total``."""
    grown = {t: after[t] - before.get(t, 0) for t in sorted(after) if after[t] > before.get(t, 0)}
    result = {t: round(b / n, 1) for t, b in grown.items()}
    result["total"] = round(sum(grown.values()) / n, 1)
    return result
