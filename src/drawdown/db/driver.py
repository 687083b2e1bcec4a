"""A group's hot reads on PostgreSQL, run on the driver's own cursor.

Each read a group of single events makes (its customers locked, their wallets, the rates' versions)
cost 0.3 to 0.5 ms of the writer's CPU through SQLAlchemy: an expanding ``IN`` rendered afresh for
every list length, an execution context, a result's metadata. That is a third of a single-event
group's CPU, and the writer's CPU is what single events wait for (docs/performance.md, round six).
Here the statement is compiled once for PostgreSQL, with ``= ANY(array)`` in place of the expanding
``IN`` (one text for every list length), and run on psycopg's cursor; only the columns whose type
needs it are converted (times to aware UTC, as ``db.types.UTCDateTime`` does).

SQLite keeps SQLAlchemy's path: the same statement with its expanding ``IN`` (``DriverSelect.core``).

A column of a type this does not know (a JSON document, whose numbers psycopg would parse as floats)
is refused when the module defining the statement is imported, never at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, Select, String, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.sqltypes import NullType

from drawdown.db.engine import driver_errors, fetch_planned_afresh
from drawdown.db.types import UTCDateTime

_PG = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
_AS_IS = (String, Text, Integer, BigInteger, NullType)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is UTC else value.astimezone(UTC)


class DriverSelect:
    """``core``: the statement for SQLAlchemy (SQLite); ``driver``: the same for PostgreSQL with its
    list parameters as arrays, compiled once. ``fetch`` runs whichever fits the connection, and answers
    tuples of the selected columns' values, as the same statement through SQLAlchemy would."""

    def __init__(self, core: Select[Any], driver: Select[Any]) -> None:
        self.core = core
        compiled = driver.compile(dialect=_PG)
        self.sql = str(compiled)
        self.fixed = dict(compiled.params)  # the values the statement carries itself (a state, a zero)
        self.convert = _converters(driver)

    def fetch(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if conn.dialect.name != "postgresql":
            return [tuple(row) for row in conn.execute(self.core, params)]
        # Planned for these values (``fetch_planned_afresh`` says why): the tables these reads probe
        # start empty on a new database.
        return self.converted(fetch_planned_afresh(conn, self.sql, self.fixed | params))

    def converted(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        """The driver's rows with the columns that need it converted (times to aware UTC)."""
        if not self.convert:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for i, convert in self.convert:
                values[i] = convert(values[i])
            out.append(tuple(values))
        return out


Read = tuple[DriverSelect | str, dict[str, Any] | tuple[Any, ...]]  # a select, or SQL in the driver's style


def fetch_together(conn: Connection, reads: list[Read]) -> list[list[tuple[Any, ...]]]:
    """The rows of each read, in order. On PostgreSQL all are sent at once in pipeline mode and their
    answers read at one sync: one round trip instead of one each (PostgreSQL runs them in the order
    sent, so a read after a ``FOR UPDATE`` sees what the lock waited for). Each is planned afresh, as
    ``fetch_planned_afresh`` explains. Elsewhere they run one after the other."""
    if conn.dialect.name != "postgresql":
        return [
            read.fetch(conn, params) if isinstance(read, DriverSelect)  # type: ignore[arg-type]
            else [tuple(row) for row in conn.exec_driver_sql(read, params).all()]
            for read, params in reads
        ]
    dbapi: Any = conn.connection.dbapi_connection
    cursors: list[Any] = []
    try:
        # The pipeline's exit sends the one Sync and reads every answer; the rows are fetched after it.
        # (An explicit sync inside the block cost a second, empty round trip: the exit always syncs.)
        with driver_errors(conn, "(pipeline of reads)", None), dbapi.pipeline():
            for read, params in reads:
                cursors.append(dbapi.cursor())
                if isinstance(read, DriverSelect):
                    cursors[-1].execute(read.sql, read.fixed | params, prepare=False)  # type: ignore[operator]
                else:
                    cursors[-1].execute(read, params, prepare=False)
        found = [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()
    pairs = zip(reads, found, strict=True)
    return [read.converted(rows) if isinstance(read, DriverSelect) else rows for (read, _), rows in pairs]


def _converters(stmt: Select[Any]) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(stmt.selected_columns):
        kind = column.type
        if isinstance(kind, UTCDateTime):
            found.append((i, _utc))
        elif not isinstance(kind, _AS_IS):
            raise TypeError(f"DriverSelect cannot read column {column.key!r} of type {kind!r} on the driver's cursor")
    return found

