"""SQLite: the write-ahead log checkpointed beside the batching writer, not inside its commits.

In WAL mode a commit appends pages to the log, and SQLite's own rule (``wal_autocheckpoint``, 1,000
pages) makes the commit that passes the mark copy the log back into the database file and sync it,
before that commit returns. A single event's commit writes about 30 pages, so one in about 35 paid for
a checkpoint, and that one was a single event's p99: in process, a group of one took p50 1.26 ms and p99
3.19 to 3.64 ms so, 1.96 to 2.21 ms with no checkpoints at all, and 2.58 to 2.61 ms with this thread
(docs/performance.md, round ten).

So a batching writer's engine (``db.engine.make_engine(writer=True)``) leaves checkpoints to a thread
of its own, on a connection of its own: every ``INTERVAL`` seconds it asks for a PASSIVE checkpoint,
which copies what no reader still needs and never waits for readers or the writer; SQLite releases the
GIL while it works, and the copying and syncing run on the other core. The writer's next transaction
starts the log again from its beginning once everything in it has been copied. Should the thread fall
behind or stop, the writer's connections still checkpoint themselves at ``BACKSTOP_PAGES``.

Durability does not change: a commit is durable once its pages are in the log (and synced, under
``synchronous=FULL``); a checkpoint only moves them, and a crash during one is recovered by SQLite.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

INTERVAL = 0.05  # seconds between checkpoints: under load, a few MB of log at most in between
BACKSTOP_PAGES = 20_000  # the writer's own wal_autocheckpoint (about 80 MB of log), in case this thread lags
FAILURES_LOGGED = 100  # failed checkpoints in a row before a warning (5 s of them)

log = structlog.get_logger()


class Checkpointer:
    """A daemon thread checkpointing the SQLite database at ``path`` until ``stop``."""

    def __init__(self, path: Path, interval: float = INTERVAL) -> None:
        self.path, self.interval = path, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        failures = 0
        try:
            while not self.stopped.wait(self.interval):
                try:
                    if conn is None:  # read-write, never create: the file is the writer's to make
                        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=1,
                                               isolation_level=None, check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    failures = 0
                except sqlite3.Error as exc:  # not there yet, or busy: tried again; the writer's backstop remains
                    failures += 1
                    if failures == FAILURES_LOGGED:
                        log.warning("sqlite_checkpoints_failing", path=str(self.path), error=str(exc))
        finally:
            if conn is not None:
                conn.close()
