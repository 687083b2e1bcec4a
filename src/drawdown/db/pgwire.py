"""PostgreSQL: the commit stage's writes down one libpq pipeline, each statement prepared once a connection.

psycopg's ``executemany`` in pipeline mode runs its Python loop for every row: it waits for the socket
and flushes after each one, so a group of one single event cost about 23 packets and as many polls, a
third of the writer's time (round eight's profile). Here the rows the row buffer (``db.rows``) sends are
bound by psycopg's own adapters in C (``Transformer``), queued in libpq, and flushed without waiting
once a statement, so PostgreSQL starts on them while the writer plans the next; every answer is read
at one Sync when the block ends (``db.engine.pipelined``).

* **Many rows, few statements.** An INSERT's rows (plain, upsert or ``RETURNING``) go as statements
  of up to ``CHUNK`` rows each (``VALUES (…), (…)``): PostgreSQL binds, starts and ends one executor a
  statement, not a row. The texts for each number of rows are made here once and prepared once.
* **Every value is sent as text, of a type PostgreSQL infers** from where it goes (a column, an
  operand). psycopg would name an integer's type by its size (``int2`` to ``numeric``), so one
  statement would need a preparation for every mix of sizes among its rows.
* **Prepared statements are ours alone.** psycopg's automatic preparation is off on our connections
  (``db.engine.make_engine``): on every rollback it deallocates all of a session's prepared statements,
  these with them. A statement whose preparation failed (an aborted pipeline) is prepared again.

Only the row buffer's writes may run inside the block: anything else on the connection would read
the pipeline's answers as its own. ``settle`` ends the pipeline early for a statement that must go
through SQLAlchemy (``db.rows``)."""

from __future__ import annotations

import itertools
import re
from contextlib import suppress
from typing import Any
from weakref import WeakKeyDictionary

from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.generators import fetch_many, send

CHUNK = 16  # rows a multi-row INSERT takes at most: one text (and preparation) per count from 1 to CHUNK

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_PLACEHOLDER = re.compile(r"%%|%s")  # psycopg's positional parameter, and its escaped percent sign
_VALUES = re.compile(r"^(?P<head>INSERT INTO .*? VALUES )\((?P<one>%s(?:, %s)*)\)(?P<tail>.*)$", re.DOTALL)
_names = itertools.count(1)
# By psycopg connection: statement text -> its prepared name. Gone with the connection.
_prepared: WeakKeyDictionary[Any, dict[bytes, bytes]] = WeakKeyDictionary()


class Texts:
    """A statement in psycopg's ``%s`` style as PostgreSQL texts (``$1``, ``$2``…): the text for one row
    and, for a plain ``INSERT … VALUES (…)``, the text for each number of rows up to ``CHUNK``."""

    def __init__(self, sql: str) -> None:
        self.width = len(_PLACEHOLDER.findall(sql)) - sql.count("%%")
        self.one = _numbered(sql)
        self._many: dict[int, bytes] = {1: self.one}
        match = _VALUES.match(sql)
        # Only where the one row's values are all the parameters (none in an ON CONFLICT clause, say).
        many = match is not None and "%s" not in match["head"] + match["tail"]
        self.parts = (match["head"], match["one"], match["tail"]) if many and match else None
        self.formats = [PyFormat.TEXT] * self.width

    def rows(self, count: int) -> bytes:
        """The text writing ``count`` rows at once (a plain INSERT only)."""
        text = self._many.get(count)
        if text is None:
            assert self.parts is not None
            head, one, tail = self.parts
            text = self._many[count] = _numbered(head + ", ".join([f"({one})"] * count) + tail)
        return text


def _numbered(sql: str) -> bytes:
    number = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else f"${next(number)}", sql).encode()


class Pipeline:
    """Writes queued on one psycopg connection, their answers read by ``finish``."""

    def __init__(self, dbapi: Any) -> None:
        self.dbapi = dbapi
        self.pgconn = dbapi.pgconn
        self.tx = Transformer(dbapi)
        self.known = _prepared.setdefault(dbapi, {})
        self.queued: list[tuple[bytes, bytes | None]] = []  # per command sent: its text, and the name it prepares
        self.active = False

    def write(self, texts: Texts, rows: list[tuple[Any, ...]]) -> None:
        """Queue ``rows`` (each of ``texts.width`` values) and hand libpq's buffer to the socket."""
        if not self.active:
            self._enter()
        if texts.parts is None or len(rows) == 1:
            for row in rows:
                self._send(texts.one, row, texts.formats)
        else:
            for start in range(0, len(rows), CHUNK):
                part = rows[start : start + CHUNK]
                values = tuple(itertools.chain.from_iterable(part))
                self._send(texts.rows(len(part)), values, texts.formats * len(part))
        self.pgconn.flush()  # without waiting: what the socket takes now, PostgreSQL starts on

    def _enter(self) -> None:
        if self.pgconn.transaction_status == pq.TransactionStatus.IDLE and not self.dbapi.autocommit:
            # Open the transaction as psycopg would (BEGIN with the connection's settings). The commit stage
            # always finds it open (its reads opened it); this is for a block that starts one.
            self.dbapi.cursor().execute("SELECT 1")
        self.pgconn.enter_pipeline_mode()
        self.active = True

    def _send(self, text: bytes, values: tuple[Any, ...], formats: list[PyFormat]) -> None:
        name = self.known.get(text)
        if name is None:
            name = self.known[text] = f"dd_{next(_names)}".encode()
            self.pgconn.send_prepare(name, text)  # no parameter types: PostgreSQL infers each from its place
            self.queued.append((text, name))
        self.pgconn.send_query_prepared(name, self.tx.dump_sequence(values, formats))
        self.queued.append((text, None))

    def finish(self) -> None:
        """Send a Sync, read every answer and leave pipeline mode; the first error is raised (psycopg's
        class), after all are read, so the connection is ready for the caller's rollback."""
        if not self.active:
            return
        self.active = False
        queued, self.queued = self.queued, []
        error: Exception | None = None
        try:
            self.pgconn.pipeline_sync()
            self.dbapi.wait(send(self.pgconn))
            for text, prepares in queued:
                results = self.dbapi.wait(fetch_many(self.pgconn))
                if results and results[0].status in _OK:
                    continue
                if prepares is not None:  # not prepared after all (a statement before it failed)
                    self.known.pop(text, None)
                if error is None and results and results[0].status == pq.ExecStatus.FATAL_ERROR:
                    error = errors.error_from_result(results[0], encoding=self.dbapi.info.encoding)
            self.dbapi.wait(fetch_many(self.pgconn))  # the Sync's own answer
        except BaseException:
            with suppress(Exception):  # the connection is lost or broken: the error in flight says so
                self.pgconn.exit_pipeline_mode()
            raise
        self.pgconn.exit_pipeline_mode()
        if error is not None:
            raise error
