"""The row buffer: rows gathered over a unit of work and written with one executemany per statement.

The hot path bills a whole group of customers in one transaction; writing each customer's rows as
they come would cost a statement round trip per row kind per customer. Rows are gathered here and
written at the end, statement by statement, in rank order so that foreign keys always point at rows
already written (accounts, then grants, then what refers to grants, then transactions and their
entries).

A plain INSERT of whole rows is a ``Bulk``: SQLAlchemy compiles it once per set of columns, and each
row is then bound here, column by column through the same bind processors SQLAlchemy would use, and
handed to the driver's executemany. Binding rows through ``Connection.execute`` cost a quarter of
the engine's time on the ingestion bench (``construct_params`` and its per-row dictionaries); the
values reaching the driver are the same. An upsert of whole rows (the rollups) is a ``Bulk`` of its
statement, and an UPDATE by key (a grant's remainder, an account's totals) a ``Prepared``: through
``Connection.execute`` they cost a group of single events 0.8 ms in all on SQLite (A/B in one process).
Both are sent with the driver's own executemany (``send``), not through SQLAlchemy's connection; inside
``db.engine.pipelined`` on PostgreSQL they are queued on its pipeline instead (``db.pgwire``), and
outside one a plain INSERT of ``COPY_FROM`` rows or more is a COPY (``_copy``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, Update, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from drawdown.db.engine import PIPELINE, driver_errors, settle
from drawdown.db.pgwire import Texts
from drawdown.db.types import UTCDateTime

ACCOUNTS, GRANTS, GRANT_DEPENDENTS, GRANT_CHANGES, ACCOUNT_CHANGES, EXPIRIES, TRANSACTIONS, ENTRIES, LAST = range(9)

# Rows from which a plain INSERT is a COPY on PostgreSQL: outside a pipeline, or in one that allows it.
COPY_FROM = 32
_TEXTS: dict[str, Texts] = {}  # PostgreSQL: an executemany's SQL as the texts of db.pgwire
_NAMED = re.compile(r"%\((\w+)\)s")  # a pyformat parameter, as SQLAlchemy compiles it for psycopg

# (bind name, row key, bind processor or None), in the order of the compiled statement's parameters.
_Binding = list[tuple[str, str, Callable[[Any], Any] | None]]


class Bulk:
    """``INSERT INTO table`` of whole rows (dicts keyed by column), bound without SQLAlchemy's per-row work;
    or ``statement``, an INSERT into that table of the same shape (an upsert: ``ON CONFLICT … DO UPDATE``)."""

    def __init__(self, table: Table, statement: Insert | None = None) -> None:
        self.table = table
        self.statement = insert(table) if statement is None else statement
        # By dialect and row keys: the SQL and how to bind a row; None when SQLAlchemy must do it
        # (a column left out that has a Python-side default, or a key that is no column).
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[str, _Binding] | None] = {}
        self.plain = statement is None  # a plain INSERT of whole rows (not an upsert): COPY can write it
        self._copies: dict[tuple[str, ...], str] = {}  # row keys -> COPY … FROM STDIN (PostgreSQL)

    def execute(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        keys = tuple(rows[0])
        plan_key = (dialect.name, keys)
        if plan_key not in self._plans:
            self._plans[plan_key] = self._plan(dialect, keys)
        plan = self._plans[plan_key]
        params = None if plan is None else _bind(plan[1], rows, len(keys))
        pipe = conn.info.get(PIPELINE)
        if plan is None or params is None:
            settle(conn)
            conn.execute(self.statement, rows)
        elif self.plain and len(params) >= COPY_FROM and dialect.name == "postgresql" and (pipe is None or pipe.copies):
            settle(conn)  # COPY cannot run in a pipeline: what the block sent before is answered first
            _copy(conn, self._copy_sql(dialect, keys, plan[1]), plan[0], params)
        else:
            send(conn, plan[0], params)

    def _copy_sql(self, dialect: Dialect, keys: tuple[str, ...], binding: _Binding) -> str:
        sql = self._copies.get(keys)
        if sql is None:
            names = ", ".join(dialect.identifier_preparer.quote(self.table.c[name].name) for name, _, _ in binding)
            sql = f"COPY {dialect.identifier_preparer.format_table(self.table)} ({names}) FROM STDIN"
            self._copies[keys] = sql
        return sql

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, _Binding] | None:
        columns = self.table.c
        if any(k not in columns for k in keys):
            return None
        if any(c.default is not None for c in columns if c.key not in keys):
            return None
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
        sql, names = _positional(compiled.string, compiled.positiontup, dialect)
        if len(names) != len(keys) or set(names) != set(keys):
            return None
        # Binding names are the column keys in a plain INSERT; the processors are SQLAlchemy's own.
        binding: _Binding = []
        for name in names:
            process: Callable[[Any], Any] | None = columns[name].type._cached_bind_processor(dialect)
            if process is not None and isinstance(columns[name].type, UTCDateTime):
                process = _last_one(process)
            binding.append((name, name, process))
        return sql, binding


def _positional(sql: str, positiontup: Any, dialect: Dialect) -> tuple[str, list[str]]:
    """The compiled SQL with positional parameters, and their names in order. Named parameters are made
    positional: psycopg reorders every row's dict into a list otherwise (about 2% of the engine's time
    on PostgreSQL)."""
    if dialect.positional:
        return sql, list(positiontup or ())
    return _NAMED.sub("%s", sql), _NAMED.findall(sql)


def _last_one(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its last value: a group's rows share one ``created_at`` (the same object),
    and formatting it for every row was a tenth of the engine's time on SQLite. Only for datetimes,
    which are immutable, so the same object always binds the same way."""
    last: list[tuple[Any, Any]] = [(None, None)]

    def bound(value: Any) -> Any:
        seen = last[0]  # one tuple, read and replaced whole: safe across writer threads
        if value is seen[0] and value is not None:
            return seen[1]
        out = process(value)
        last[0] = (value, out)
        return out

    return bound


def _bind(binding: _Binding, rows: list[dict[str, Any]], width: int) -> list[tuple[Any, ...]] | None:
    """Each row's parameters; None if a row's keys differ from the first row's (SQLAlchemy then binds).

    The values are taken in one C call per row (``itemgetter``) and only the few columns with a bind
    processor (times, JSON) are processed after: 0.56 instead of 1.15 µs for a 24-column row, 2.5% of
    the engine's CPU per event (A/B in one process; py-spy had shown the old loop as 7%)."""
    take = itemgetter(*(key for _, key, _ in binding))
    processed = [(i, p) for i, (_, _, p) in enumerate(binding) if p is not None]
    single = len(binding) == 1
    out: list[tuple[Any, ...]] = []
    try:
        for row in rows:
            if len(row) != width:
                return None
            values = (take(row),) if single else take(row)
            if processed:
                changed = list(values)
                for i, process in processed:
                    changed[i] = process(changed[i])
                values = tuple(changed)
            out.append(values)
    except KeyError:
        return None
    return out


class Prepared:
    """A Core UPDATE whose rows name its bind parameters (``b_id``, …), compiled once per dialect and bound
    like a ``Bulk``'s rows; the values the statement sets itself (``remaining=0``) are bound with them.
    ``Connection.execute`` cost 39 µs a call and a dictionary of parameters per row (``construct_params``)
    to send the same SQL that ``exec_driver_sql``, which still fires SQLAlchemy's events, sends for 16."""

    def __init__(self, statement: Update) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[str, _Binding, dict[str, Any]] | None] = {}

    def execute(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        keys = tuple(rows[0])
        plan_key = (conn.dialect.name, keys)
        if plan_key not in self._plans:
            self._plans[plan_key] = self._plan(conn.dialect, keys)
        plan = self._plans[plan_key]
        params = None
        if plan is not None:
            sql, binding, fixed = plan
            params = _bind(binding, [fixed | row for row in rows] if fixed else rows, len(keys) + len(fixed))
        if plan is None or params is None:
            settle(conn)
            conn.execute(self.statement, rows)
        else:
            send(conn, sql, params)

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, _Binding, dict[str, Any]] | None:
        compiled = self.statement.compile(dialect=dialect)
        sql, names = _positional(compiled.string, compiled.positiontup, dialect)
        # A parameter no row names is one the statement carries itself: its value is in ``compiled.params``.
        fixed = {name: compiled.params[name] for name in names if name not in keys}
        if any(value is None for value in fixed.values()) or set(keys) - set(names):
            return None
        binding: _Binding = [
            (name, name, compiled.binds[name].type._cached_bind_processor(dialect)) for name in names
        ]
        return sql, binding, fixed


# Told of every write sent by ``send`` or ``_copy`` (its SQL and rows, once sent): the bench counts rows written per
# table (``bench/writes.py``), a test reads the rollups' rows in the order sent. Empty in a server.
WATCHERS: list[Callable[[str, list[tuple[Any, ...]]], None]] = []


def _copy(conn: Connection, copy_sql: str, insert_sql: str, params: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows written with ``COPY … FROM STDIN``, each formatted by psycopg in C. An
    executemany is one Bind and Execute a row, each passing through psycopg's pipeline in Python: 5,000
    fee-like rows took 57 to 64 ms of the writer's CPU that way, 9 to 18 ms by COPY (round eight). The
    values are the ones the INSERT would have bound; triggers and foreign keys apply alike. The watchers
    are told of it as of the INSERT it stands for."""
    dbapi: Any = conn.connection.dbapi_connection
    with driver_errors(conn, copy_sql, None):
        with dbapi.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in params:
                copy.write_row(row)
    for watch in WATCHERS:
        watch(insert_sql, params)


def send(conn: Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    """``params`` bound to ``sql``: inside ``pipelined`` on PostgreSQL, queued on its pipeline
    (``db.pgwire``); otherwise with the driver's own executemany. ``exec_driver_sql`` sent the same for
    13 µs more a statement (its execution context, events and result), 7 or 8 statements a group: 4 to
    11% of a small group's CPU (round eight). A driver error is raised as SQLAlchemy's."""
    pipe = conn.info.get(PIPELINE)
    if pipe is not None:
        texts = _TEXTS.get(sql)
        if texts is None:
            texts = _TEXTS[sql] = Texts(sql)
        pipe.write(texts, params)
    else:
        dbapi: Any = conn.connection.dbapi_connection
        with driver_errors(conn, sql, params):
            dbapi.cursor().executemany(sql, params)
    for watch in WATCHERS:
        watch(sql, params)


class RowBuffer:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, Any], list[dict[str, Any]]] = {}

    def add(self, rank: int, statement: Any, row: dict[str, Any]) -> None:
        self.rows.setdefault((rank, statement), []).append(row)

    def extend(self, rank: int, statement: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.rows.setdefault((rank, statement), []).extend(rows)

    def execute(self, conn: Connection) -> None:
        for (_, statement), rows in sorted(self.rows.items(), key=lambda item: item[0][0]):
            if isinstance(statement, (Bulk, Prepared)):
                statement.execute(conn, rows)
            else:
                settle(conn)
                conn.execute(statement, rows)
        self.rows.clear()
