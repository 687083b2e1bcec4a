"""Engines and transactions.

SQLite: WAL, a busy timeout, and every write transaction opened with ``BEGIN IMMEDIATE`` so a
read-modify-write can never interleave with another writer (pysqlite's default loses updates).
``synchronous=FULL`` by default: a commit answered is on disk even after a power loss (NORMAL, an
opt-in, may lose the last commits then). The database's directory is never created here: a typo in
the path must not start a server on a new, empty ledger (only ``drawdown migrate`` creates it).
PostgreSQL: READ COMMITTED; writers lock the customer row first (``FOR UPDATE``), so every wallet
write of one customer is serialised and writes of different customers run in parallel.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError

from drawdown.codec import dumps_text, loads
from drawdown.db.checkpoints import BACKSTOP_PAGES, Checkpointer
from drawdown.db.pgwire import Pipeline
from drawdown.settings import normalise_url

_JSON = {"json_serializer": dumps_text, "json_deserializer": loads}

IMMEDIATE = "drawdown_immediate"
PIPELINE = "drawdown_pipeline"  # conn.info: the open ``pipelined`` block's pipeline
SYNCHRONOUS = ("full", "normal")


class StartupProblem(Exception):
    """A database that cannot be used as configured; the message says why and what to do, in one line."""


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; None for PostgreSQL and in-memory databases."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise StartupProblem(
            f"DRAWDOWN_DATABASE_URL is not a database URL ({exc}); use sqlite:///path or postgresql://user@host/db"
        ) from exc
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = database[len("file:") :]
    return None if database in ("", ":memory:") else Path(database)


def check_sqlite_path(url: str, create_directory: bool = False) -> None:
    """Refuse a SQLite path whose directory is missing (unless asked to create it) or is a file."""
    path = sqlite_path(url)
    if path is None:
        return
    parent = path.parent
    for above in (parent, *parent.parents):
        if above.exists() and not above.is_dir():
            raise StartupProblem(
                f"cannot open the SQLite database {path}: {above} is a file, not a directory; fix DRAWDOWN_DATABASE_URL"
            )
        if above.exists():
            break
    if not parent.exists():
        if not create_directory:
            raise StartupProblem(
                f"the directory of the SQLite database {path} does not exist; fix "
                "DRAWDOWN_DATABASE_URL, or run `drawdown migrate` to create a new database there"
            )
        parent.mkdir(parents=True, exist_ok=True)


def check_sqlite_writable(url: str) -> None:
    """Refuse a SQLite file or directory this process cannot write (WAL needs both)."""
    path = sqlite_path(url)
    if path is None:
        return
    for target, what in ((path, "file"), (path.parent, "directory")):
        if target.exists() and not os.access(target, os.W_OK):
            raise StartupProblem(
                f"the SQLite database {what} {target} is read-only for this user; make it "
                "writable (chown/chmod) or point DRAWDOWN_DATABASE_URL at a writable copy"
            )


def is_read_only(exc: BaseException) -> bool:
    """A write refused because the database is read-only (not busy: retrying will not help)."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
        return True
    if getattr(orig, "sqlstate", None) == "25006":  # PostgreSQL read_only_sql_transaction (standby, read-only)
        return True
    return "readonly database" in str(orig) or "read-only transaction" in str(orig)


def check_writable(engine: Engine) -> None:
    """Write nothing, but as a write: the one probe that sees every way a database can be read-only."""
    try:
        with write(engine) as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
    except DBAPIError as exc:
        if is_read_only(exc):
            raise StartupProblem(
                f"the database is read-only ({str(exc.orig).strip()}); make it writable, or "
                "point DRAWDOWN_DATABASE_URL at the primary"
            ) from exc
        raise


def make_engine(url: str, synchronous: str = "full", writer: bool = False) -> Engine:
    """``writer``: an engine for the batching writer. On PostgreSQL its connections keep no prepared
    statements of psycopg's own, so that the commit stage's stay prepared across rollbacks (``db.pgwire``).
    On SQLite its commits leave the log's checkpoints to a thread beside them (``db.checkpoints``).
    """
    url = normalise_url(url)
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
    if url.startswith("sqlite"):
        check_sqlite_path(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8, **_JSON)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:  # the DB-API connection is pysqlite's
            # Take transaction control away from pysqlite; we issue BEGIN ourselves.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # A page cache of up to 64 MiB per connection instead of SQLite's 2 MiB: the hot path inserts
            # into indexes at scattered places (an event's customer and id), and re-reading those pages
            # from the OS cost the engine 8-15% and the raw ceiling 5-19% (docs/performance.md). It fills
            # only as pages are read, so an idle connection stays small.
            cur.execute("PRAGMA cache_size=-65536")
            if writer:  # its checkpoints run beside it (db/checkpoints.py); this only if they fall behind
                cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get(IMMEDIATE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        if writer:
            _checkpoint_beside(engine)
        return engine
    # A writer's: psycopg's automatic preparation off. It deallocates every prepared statement of the session
    # at each rollback, those the commit stage prepares itself (db/pgwire.py) with them.
    own = {"connect_args": {"prepare_threshold": None}} if writer else {}
    engine = create_engine(url, pool_size=10, max_overflow=10, **own, **_JSON)
    _ping_when_idle(engine)
    return engine


def _checkpoint_beside(engine: Engine) -> None:
    """A SQLite file's checkpoints in a thread beside the writer (``db.checkpoints``), stopped when the
    engine is disposed of or collected."""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:  # in memory: no log
        return
    checkpointer = CHECKPOINTERS[engine] = Checkpointer(path)
    event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
    weakref.finalize(engine, checkpointer.stop)


CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()  # by writer engine


IDLE_BEFORE_PING = 2.0  # seconds a pooled PostgreSQL connection may rest before it is checked on checkout


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, only for a connection that has rested: the batching writer checks a connection
    out for every group, and a ping each time was one round trip in 17 of a single-event group (6% of the
    writer's time). A connection used moments ago is alive, or its failure fails the group like any other
    error; one that rested (the server may have restarted meanwhile) is pinged and replaced if dead."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _rested(_dbapi_conn: Any, record: Any) -> None:  # a new connection is alive: no ping on its first use
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in", 0.0) < IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # SQLAlchemy's own ping, outside any transaction
        except Exception as exc:  # any failure: the pool throws this one away and connects anew
            raise DisconnectionError(str(exc)) from exc


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        with conn.begin():
            yield conn


def is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


@contextmanager
def pipelined(conn: Connection, copies: bool = False) -> Iterator[None]:
    """PostgreSQL: the row buffer's writes in the block (``db.rows``) go out without waiting for each
    one's answer, down one libpq pipeline (``db.pgwire``), and all the answers are read at its end: one
    round trip instead of one per statement. Elsewhere the block simply runs.

    Only the row buffer's writes may run in the block: a statement through SQLAlchemy must ``settle``
    first (``db.rows`` does). An error surfaces at the end, as SQLAlchemy's own exception class (the
    API answers it like any database error), and a lost connection is thrown away as SQLAlchemy
    would. ``copies``: a large group's block, whose big plain INSERTs leave the pipeline for a COPY
    each (``db.rows.Bulk``)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    pipe = conn.info[PIPELINE] = Pipeline(conn.connection.dbapi_connection, copies)
    try:
        yield
    except BaseException:
        with suppress(Exception):  # the block's own error is the one to tell; the answers are only drained
            pipe.finish()
        raise
    finally:
        del conn.info[PIPELINE]
    with driver_errors(conn, "(pipeline)", None):
        pipe.finish()


def settle(conn: Connection) -> None:
    """Inside ``pipelined``: read what the block has sent so far, so that a statement through SQLAlchemy
    can run next (the block goes on; its next write opens a new pipeline)."""
    pipe = conn.info.get(PIPELINE)
    if pipe is not None:
        with driver_errors(conn, "(pipeline)", None):
            pipe.finish()


def fetch_planned_afresh(conn: Connection, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> list[Any]:
    """The rows of ``sql`` (in the driver's parameter style). On PostgreSQL it is planned for these
    values every time, never from a prepared statement's cached generic plan: a prepared statement
    (psycopg prepares one after a few runs, except on a writer's engine) may keep a generic plan chosen
    while a table was still empty (a hash join over a sequential scan) long after an index probe has
    become the only sane plan, until the table is next analyzed. On a new database that is the first
    minute of traffic, in which the replay check slowed down with every event stored
    (docs/performance.md, round five). Planning costs about 80 µs a statement. Elsewhere: a plain
    execution."""
    if conn.dialect.name != "postgresql":
        return on_cursor(conn, sql, params)
    return on_cursor(conn, sql, params, prepare=False)  # psycopg's execute takes ``prepare``


def on_cursor(conn: Connection, sql: str, params: tuple[Any, ...] | dict[str, Any], **options: Any) -> list[Any]:
    """The rows of ``sql`` (in the driver's parameter style) on the driver's own cursor, without
    SQLAlchemy's execution context (on SQLite, that context was most of what a group's read cost the
    writer); ``options`` go to the driver's ``execute``. A driver error is raised as SQLAlchemy's."""
    dbapi: Any = conn.connection.dbapi_connection
    with driver_errors(conn, sql, params):
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, params, **options)
            return list(cursor.fetchall())
        finally:
            cursor.close()


@contextmanager
def driver_errors(conn: Connection, statement: str, params: Any) -> Iterator[None]:
    """A driver error raised as SQLAlchemy's own exception class (the API answers it like any other
    database error), its connection thrown away if lost, as SQLAlchemy does for what it executes."""
    dbapi = conn.connection.dbapi_connection
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, dbapi, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            statement, params, exc, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost
        ) from exc
