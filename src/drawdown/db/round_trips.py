"""PostgreSQL: a transaction's BEGIN goes out with its first statement, and a writer's COMMIT with its
last writes.

psycopg opens a transaction by sending ``BEGIN`` and waiting for the answer before the first statement
(in pipeline mode too: it syncs right after it), and ends it with a ``COMMIT`` of its own. Those were
two of the four round trips of a group of single events, whose other two are its reads and its writes
(docs/performance.md, round eight). Here the driver's connection is in autocommit mode and the
transaction is opened by us:

* ``BEGIN`` is sent just before the transaction's first statement, queued with it: inside the group's
  pipeline of reads it costs no round trip of its own (``begin_pending``, called by SQLAlchemy's
  ``before_cursor_execute`` and by the code that runs reads on the driver's cursor);
* a writer that commits as soon as its last writes are done opts in with
  ``write(engine, commit_with_last_writes=True)``; the pipeline of its last writes then ends with
  ``COMMIT`` (``db.engine.pipelined(conn, last=True)``).

Why this is safe:

* psycopg still follows the server's transaction status: its ``commit()`` and ``rollback()`` send
  ``COMMIT`` or ``ROLLBACK`` only while a transaction is open. SQLAlchemy's commit after an early
  ``COMMIT`` therefore does nothing, and any failure rolls back as before.
* In a pipeline, a statement that fails makes PostgreSQL skip everything after it up to the sync,
  the ``COMMIT`` included; the transaction is left aborted, and the caller's rollback ends it.
* After an early ``COMMIT``, a statement would run outside any transaction: it is refused
  (``CommittedAlready``) until the transaction is over.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import InvalidRequestError

PENDING = "drawdown_begin_pending"  # in Connection.info: the transaction is open, BEGIN not yet sent
ENDED = "drawdown_committed_with_last_writes"  # in Connection.info: COMMIT sent with the last writes
OPT_IN = "drawdown_commit_with_last_writes"  # the execution option a writer sets to opt in


class CommittedAlready(InvalidRequestError):
    """A statement after the transaction was committed with its last writes: it would have run alone."""


def install(engine: Engine) -> None:
    """On a PostgreSQL engine: every transaction's BEGIN deferred to its first statement."""

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # the caller asked for no transaction at all
        dbapi: Any = conn.connection.dbapi_connection
        dbapi.autocommit = True  # psycopg then sends no BEGIN of its own; the connection is idle here
        info = conn.info
        info[PENDING] = True
        info.pop(ENDED, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _first(conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        begin_pending(conn, cursor.connection)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _over(conn: Connection) -> None:
        if conn.invalidated:  # a lost connection: its record, flags included, is thrown away with it
            return
        info = conn.info
        info.pop(PENDING, None)
        info.pop(ENDED, None)


def begin_pending(conn: Connection, dbapi: Any) -> None:
    """Before a statement of the transaction: ``BEGIN`` first if it has not been sent (queued with the
    statement in a pipeline); refused if the transaction was already committed with its last writes."""
    info = conn.info
    if PENDING in info:
        del info[PENDING]
        dbapi.execute("BEGIN", prepare=False)
    elif ENDED in info:
        raise CommittedAlready("this transaction was committed with its last writes; nothing may follow them")


def commit_with_last_writes(conn: Connection, dbapi: Any) -> None:
    """Inside the pipeline of the transaction's last writes: ``COMMIT`` queued after them, if the writer
    opted in and the transaction has begun."""
    if not conn.get_execution_options().get(OPT_IN):
        return
    info = conn.info
    if PENDING in info or ENDED in info:
        return
    dbapi.execute("COMMIT", prepare=False)
    info[ENDED] = True
