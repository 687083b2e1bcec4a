"""PostgreSQL: a group's reads and the commit stage's writes down libpq pipelines driven here.

psycopg's pipeline runs its Python loop for every statement and every row of an ``executemany``: it
waits for the socket and flushes after each one, so a group of one single event cost about 23 packets
and as many polls, a third of the writer's time (round eight's profile). Here the rows the row buffer
(``db.rows``) sends are bound by psycopg's own adapters in C (``Transformer``), queued in libpq, and
flushed without waiting once a statement, so PostgreSQL starts on them while the writer plans the
next; every answer is read at one Sync when the block ends (``db.engine.pipelined``). A group's reads
(``read_together``, for ``db.driver.fetch_together``) go the same way, the transaction's ``BEGIN`` in
their round trip: on a batching writer's connection prepared, a preparation lasting
``READ_PLAN_SECONDS`` (below); elsewhere planned afresh, as psycopg would send them unprepared.

For the writes:

* **Many rows, few statements.** An INSERT's rows (plain, upsert or ``RETURNING``) go as statements
  of up to ``CHUNK`` rows each (``VALUES (…), (…)``): PostgreSQL binds, starts and ends one executor a
  statement, not a row. The texts for each number of rows are made here once and prepared once.
* **Every value is sent as text, of a type PostgreSQL infers** from where it goes (a column, an
  operand). psycopg would name an integer's type by its size (``int2`` to ``numeric``), so one
  statement would need a preparation for every mix of sizes among its rows.
* **Prepared once a connection where they are ours alone.** On the batching writer's connections
  (``db.engine.make_engine(writer=True)``) psycopg's automatic preparation is off, and each text is
  prepared once under a name of ours. Elsewhere it stays on (an API read costs PostgreSQL 68 instead
  of 175 µs prepared), and since psycopg deallocates all of a session's prepared statements at each
  rollback, ours would go with them: there each text is parsed once a pipeline, as the unnamed
  statement. A statement whose preparation failed (an aborted pipeline) is prepared again.

For the reads, on a batching writer's connection: **prepared, for seconds.** Planning them afresh was a
third of PostgreSQL's CPU for a small group (round nine's profile). But PostgreSQL caches a generic plan
after five runs, and one made while a table held a few rows scans it whole, long after the table has
grown, until it is next analyzed (the replay check's trap, round five). Planned again, a read sees the
table's size now (its pages), so each read's preparation is replaced once ``READ_PLAN_SECONDS`` old: a
wrong plan lasts that long at most.

Only the row buffer's writes may run inside the block: anything else on the connection would read
the pipeline's answers as its own. ``settle`` ends the pipeline early for a statement that must go
through SQLAlchemy (``db.rows``)."""

from __future__ import annotations

import itertools
import re
import time
from contextlib import suppress
from typing import Any
from weakref import WeakKeyDictionary

from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.generators import fetch_many, send

CHUNK = 16  # rows a multi-row INSERT takes at most: one text (and preparation) per count from 1 to CHUNK

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_PLACEHOLDER = re.compile(r"%%|%s")  # psycopg's positional parameter, and its escaped percent sign
_PARAMETER = re.compile(r"%%|%\((\w+)\)s|%s")  # the same, or a named one
_VALUES = re.compile(r"^INSERT INTO [^(]*\([^()]*\) VALUES \(")  # up to a plain INSERT's row of values
_names = itertools.count(1)
# By psycopg connection: statement text -> its prepared name. Gone with the connection.
_prepared: WeakKeyDictionary[Any, dict[bytes, bytes]] = WeakKeyDictionary()
# By psycopg connection: a read's text -> when it was last prepared (time.monotonic()).
_born: WeakKeyDictionary[Any, dict[bytes, float]] = WeakKeyDictionary()
# How long a read keeps one preparation: PostgreSQL may cache a generic plan for it, and one chosen while a
# table was nearly empty (a sequential scan) stays wrong as the table grows; a plan made again sees the table's
# size now (docs/performance.md, round ten).
READ_PLAN_SECONDS = 10.0


class Texts:
    """A statement in psycopg's ``%s`` style as PostgreSQL texts (``$1``, ``$2``…): the text for one row
    and, for a plain ``INSERT … VALUES (…)``, the text for each number of rows up to ``CHUNK``."""

    def __init__(self, sql: str) -> None:
        self.width = len(_PLACEHOLDER.findall(sql)) - sql.count("%%")
        self.one = _numbered(sql)
        self._many: dict[int, bytes] = {1: self.one}
        self.parts = _values(sql)
        self.formats = [PyFormat.TEXT] * self.width

    def rows(self, count: int) -> bytes:
        """The text writing ``count`` rows at once (a plain INSERT only)."""
        text = self._many.get(count)
        if text is None:
            assert self.parts is not None
            head, one, tail = self.parts
            text = self._many[count] = _numbered(head + ", ".join([f"({one})"] * count) + tail)
        return text


def _values(sql: str) -> tuple[str, str, str] | None:
    """(what comes before the row of values, the row's inside, what follows it) of ``INSERT INTO t (…)
    VALUES (…) …``, where the row holds every parameter (none in an ON CONFLICT clause, say); else None.
    SQLAlchemy casts each value (``%s::VARCHAR``, ``%s::NUMERIC(20, 6)``): the row ends at its own
    closing parenthesis."""
    start = _VALUES.match(sql)
    if start is None:
        return None
    depth, end = 1, start.end()
    while depth and end < len(sql):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        end += 1
    head, one, tail = sql[: start.end() - 1], sql[start.end() : end - 1], sql[end:]
    if depth or "%s" in head + tail:
        return None
    return head, one, tail


def _numbered(sql: str) -> bytes:
    number = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else f"${next(number)}", sql).encode()


class Pipeline:
    """Commands queued on one psycopg connection: writes (their answers only checked) and reads (their
    rows kept); every answer is read by ``finish``."""

    def __init__(self, dbapi: Any, copies: bool = False) -> None:
        self.dbapi = dbapi
        self.copies = copies  # whether a large plain INSERT in the block leaves it for COPY (db.rows)
        self.pgconn = dbapi.pgconn
        self.tx = Transformer(dbapi)
        # Named statements only where psycopg's automatic preparation is off (its rollbacks would drop them);
        # elsewhere each text is parsed once a pipeline, as the unnamed statement.
        self.known = _prepared.setdefault(dbapi, {}) if dbapi.prepare_threshold is None else None
        self.born = _born.setdefault(dbapi, {}) if self.known is not None else {}  # when each read was prepared
        self.unnamed: bytes | None = None  # the text the unnamed statement holds in this pipeline
        # Per command sent, in order: its text, and the name it prepares (a preparation) or True (a read).
        self.queued: list[tuple[bytes, bytes | bool | None]] = []
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

    def read(self, query: Query, params: dict[str, Any] | tuple[Any, ...]) -> None:
        """Queue a read; ``finish`` answers its rows. Where statements are ours to name, it is prepared
        for ``READ_PLAN_SECONDS`` at most, then prepared again; elsewhere it is planned for its values
        (unprepared, as psycopg's ``execute(prepare=False)`` sends it: ``db.engine.fetch_planned_afresh``
        says why)."""
        if not self.active:
            self._enter()
        values = tuple(params[name] for name in query.names) if isinstance(params, dict) else params
        if self.known is not None:
            name = self._named(query.text, READ_PLAN_SECONDS)
            self.pgconn.send_query_prepared(name, self.tx.dump_sequence(values, [PyFormat.TEXT] * len(values)))
        else:
            dumped = self.tx.dump_sequence(values, [PyFormat.AUTO] * len(values))
            types, formats = self.tx.types, self.tx.formats
            self.pgconn.send_query_params(query.text, dumped, param_types=types, param_formats=formats)
            self.unnamed = None  # a read is sent as the unnamed statement
        self.queued.append((query.text, True))

    def _enter(self) -> None:
        dbapi = self.dbapi
        begin = self.pgconn.transaction_status == pq.TransactionStatus.IDLE and not dbapi.autocommit
        if begin and (dbapi.isolation_level, dbapi.read_only, dbapi.deferrable) != (None, None, None):
            dbapi.cursor().execute("SELECT 1")  # a transaction of other settings: opened by psycopg (a round trip)
            begin = False
        self.pgconn.enter_pipeline_mode()
        self.active = True
        if begin:  # psycopg's own BEGIN for a connection of default settings, in the same round trip
            self.pgconn.send_query_params(b"BEGIN", None)
            self.queued.append((b"BEGIN", None))

    def _send(self, text: bytes, values: tuple[Any, ...], formats: list[PyFormat]) -> None:
        # No parameter types are given: PostgreSQL infers each from its place.
        if self.known is None:
            name = b""
            if self.unnamed != text:
                self.pgconn.send_prepare(name, text)
                self.queued.append((text, None))
                self.unnamed = text
        else:
            name = self._named(text, None)
        self.pgconn.send_query_prepared(name, self.tx.dump_sequence(values, formats))
        self.queued.append((text, None))

    def _named(self, text: bytes, lifetime: float | None) -> bytes:
        """The name ``text`` is prepared under on this connection, preparing it first if need be; one
        prepared more than ``lifetime`` seconds ago is deallocated and prepared again."""
        assert self.known is not None
        found = self.known.get(text)
        if found is not None and lifetime is not None and time.monotonic() - self.born.get(text, 0.0) >= lifetime:
            self.pgconn.send_query_params(b"DEALLOCATE " + found, None)
            self.queued.append((text, None))
            found = None
        if found is None:
            found = self.known[text] = f"dd_{next(_names)}".encode()
            self.pgconn.send_prepare(found, text)
            self.queued.append((text, found))
            if lifetime is not None:
                self.born[text] = time.monotonic()
        return found

    def finish(self) -> list[list[tuple[Any, ...]]]:
        """Send a Sync, read every answer and leave pipeline mode: the rows of each read, in order. The
        first error is raised (psycopg's class) after all are read, so the connection is ready for the
        caller's rollback."""
        if not self.active:
            return []
        self.active = False
        self.unnamed = None
        queued, self.queued = self.queued, []
        found: list[list[tuple[Any, ...]]] = []
        error: Exception | None = None
        try:
            pgconn, wait = self.pgconn, self.dbapi.wait
            pgconn.pipeline_sync()
            wait(send(pgconn))
            for text, what in queued:
                results = wait(fetch_many(pgconn))
                result = results[0] if results else None
                if result is not None and result.status in _OK:
                    if what is True:
                        self.tx.set_pgresult(result)
                        found.append(self.tx.load_rows(0, result.ntuples, tuple))
                    continue
                if isinstance(what, bytes) and self.known is not None:  # not prepared after all (skipped)
                    self.known.pop(text, None)
                if error is None and result is not None and result.status == pq.ExecStatus.FATAL_ERROR:
                    error = errors.error_from_result(result, encoding=self.dbapi.info.encoding)
            wait(fetch_many(pgconn))  # the Sync's own answer
        except BaseException:
            with suppress(Exception):  # the connection is lost or broken: the error in flight says so
                self.pgconn.exit_pipeline_mode()
            raise
        self.pgconn.exit_pipeline_mode()
        if error is not None:
            raise error
        return found


class Query:
    """A read in psycopg's style (``%s`` with a tuple, or ``%(name)s`` with a dict) as a PostgreSQL text
    with ``$n`` parameters, and the names in their order (a name used twice is one parameter)."""

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group() == "%%":
                return "%"
            name = match.group(1)
            if name is None:
                names.append(f"{len(names)}")
                return f"${len(names)}"
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.text = _PARAMETER.sub(number, sql).encode()
        self.names = names


_QUERIES: dict[str, Query] = {}


def query(sql: str) -> Query:
    """``sql`` as a ``Query``, made once."""
    found = _QUERIES.get(sql)
    if found is None:
        found = _QUERIES[sql] = Query(sql)
    return found


Rows = list[tuple[Any, ...]]


def read_together(dbapi: Any, reads: list[tuple[Query, dict[str, Any] | tuple[Any, ...]]]) -> list[Rows]:
    """The rows of each read, all sent in one pipeline and answered at one Sync (one round trip)."""
    pipe = Pipeline(dbapi)
    try:
        for sent, params in reads:
            pipe.read(sent, params)
    except BaseException:
        with suppress(Exception):  # a value psycopg could not adapt: what was queued is only drained
            pipe.finish()
        raise
    return pipe.finish()
