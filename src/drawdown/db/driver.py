"""A group's hot reads, run on the driver's own cursor on both backends.

Each read a group of single events makes (its customers locked, their wallets, the rates' versions)
cost 0.3 to 0.5 ms of the writer's CPU through SQLAlchemy: an expanding ``IN`` rendered afresh for
every list length, an execution context, a result's metadata. That is a third of a single-event
group's CPU, and the writer's CPU is what single events wait for (docs/performance.md, rounds six and
seven). Here the statement is compiled once per backend, one text for every list length:

* PostgreSQL: ``= ANY(array)`` in place of the expanding ``IN``, run on psycopg's cursor; only the
  columns whose type needs it are converted (times to aware UTC, as ``db.types.UTCDateTime`` does).
* SQLite: the expanding ``IN`` becomes ``IN (SELECT value FROM json_each(?))`` with the list as one JSON
  array, run on sqlite3's cursor; parameters and columns go through the very processors SQLAlchemy
  would apply (times are stored as text there), so the rows are the same as through SQLAlchemy.

A column of a type this does not know (a JSON document, whose numbers psycopg would parse as floats)
is refused when the module defining the statement is imported, never at run time; so is a list
parameter whose values would need converting on SQLite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, Select, String, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.sqltypes import NullType

from drawdown.db.engine import driver_errors, fetch_planned_afresh, on_cursor
from drawdown.db.pgwire import query, read_together
from drawdown.db.types import UTCDateTime

_PG = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
_SQLITE = sqlite.pysqlite.dialect()
_EXPANDING = re.compile(r"\(__\[POSTCOMPILE_(\w+)\]\)")  # an expanding IN's list, as SQLAlchemy compiles it
_AS_IS = (String, Text, Integer, BigInteger, NullType)


def _sqlite_utc(value: str | None) -> datetime | None:
    """A time as SQLite holds it (the naive UTC text SQLAlchemy writes, ``2026-11-27 04:59:21.164452``) as
    an aware UTC datetime, as SQLAlchemy's processor answers it: parsed in C with its offset, 0.5 µs
    against 1.7 (its regular expression, then ``replace(tzinfo=...)``), five times a row of wallets."""
    return None if value is None else datetime.fromisoformat(value + "+00:00")


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
        self.query = query(self.sql)
        self.fixed = dict(compiled.params)  # the values the statement carries itself (a state, a zero)
        self.convert = _converters(driver)
        self.lite = SqliteSelect(core)

    def fetch(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if conn.dialect.name != "postgresql":
            return self.lite.fetch(conn, params)
        # Planned for these values (``fetch_planned_afresh`` says why): the tables these reads probe
        # start empty on a new database.
        return self.converted(fetch_planned_afresh(conn, self.sql, self.fixed | params))

    def converted(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        """The driver's rows with the columns that need it converted (times to aware UTC)."""
        return _converted(rows, self.convert)


class SqliteSelect:
    """``core`` compiled once for SQLite, each expanding ``IN`` as ``IN (SELECT value FROM json_each(?))``
    (SQLite probes the column's index with each value, as for a list of parameters), and run on
    sqlite3's cursor. Parameters are bound, and columns read, through SQLAlchemy's own processors for
    SQLite, in the compiled statement's order of parameters; times are parsed in C (``_sqlite_utc``)."""

    def __init__(self, core: Select[Any]) -> None:
        compiled = core.compile(dialect=_SQLITE)
        self.sql = _EXPANDING.sub("(SELECT value FROM json_each(?))", str(compiled))
        self.fixed = dict(compiled.params)
        self.order: list[tuple[str, bool, Callable[[Any], Any] | None]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            process = bind.type._cached_bind_processor(_SQLITE)
            if bind.expanding and process is not None:
                raise TypeError(f"SqliteSelect cannot send the list {name!r} of {bind.type!r} as JSON")
            self.order.append((name, bind.expanding, process))
        self.convert: list[tuple[int, Callable[[Any], Any]]] = [
            (i, _sqlite_utc if isinstance(column.type, UTCDateTime) else process)
            for i, column in enumerate(core.selected_columns)
            if (process := column.type._cached_result_processor(_SQLITE, None)) is not None
        ]

    def fetch(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        values = self.fixed | params
        bound = tuple(
            json.dumps(list(values[name])) if expanding else process(values[name]) if process else values[name]
            for name, expanding, process in self.order
        )
        return _converted(on_cursor(conn, self.sql, bound), self.convert)


Read = tuple[DriverSelect | str, dict[str, Any] | tuple[Any, ...]]  # a select, or SQL in the driver's style


def fetch_together(conn: Connection, reads: list[Read]) -> list[list[tuple[Any, ...]]]:
    """The rows of each read, in order. On PostgreSQL all are sent down one libpq pipeline (``db.pgwire``;
    with the transaction's BEGIN when they open it) and their answers read at one Sync: one round trip
    instead of one each (PostgreSQL runs them in the order sent, so a read after a ``FOR UPDATE`` sees
    what the lock waited for). psycopg's own pipeline cost a poll and a flush a statement, in Python.
    Each is planned afresh, as ``fetch_planned_afresh`` explains, or on a batching writer's connection
    from a preparation at most ``db.pgwire.READ_PLAN_SECONDS`` old. On SQLite they run one after the
    other, on sqlite3's cursor."""
    if conn.dialect.name != "postgresql":
        return [
            read.fetch(conn, params) if isinstance(read, DriverSelect)  # type: ignore[arg-type]
            else on_cursor(conn, read, params)
            for read, params in reads
        ]
    queued = [(read.query, read.fixed | params) if isinstance(read, DriverSelect) else (query(read), params)  # type: ignore[operator]
              for read, params in reads]  # fmt: skip
    with driver_errors(conn, "(pipeline of reads)", None):
        found = read_together(conn.connection.dbapi_connection, queued)
    pairs = zip(reads, found, strict=True)
    return [read.converted(rows) if isinstance(read, DriverSelect) else rows for (read, _), rows in pairs]


def _converted(rows: list[Any], convert: list[tuple[int, Callable[[Any], Any]]]) -> list[tuple[Any, ...]]:
    """``rows`` with each column ``convert`` names passed through its converter."""
    if not convert:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i, process in convert:
            values[i] = process(values[i])
        out.append(tuple(values))
    return out


def _converters(stmt: Select[Any]) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(stmt.selected_columns):
        kind = column.type
        if isinstance(kind, UTCDateTime):
            found.append((i, _utc))
        elif not isinstance(kind, _AS_IS):
            raise TypeError(f"DriverSelect cannot read column {column.key!r} of type {kind!r} on the driver's cursor")
    return found

