"""SQLite: a batching writer's engine leaves the log's checkpoints to a thread beside it
(``db.checkpoints``). Its own commits checkpoint only past the backstop, yet the log is copied back and
starts again from its beginning; the thread ends when the engine is disposed of, and never creates a
database file that is not there."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine

from drawdown.db.checkpoints import BACKSTOP_PAGES, INTERVAL
from drawdown.db.engine import CHECKPOINTERS, make_engine, write


def test_the_writers_commits_leave_checkpoints_to_the_thread_and_the_log_starts_again(tmp_path: Path) -> None:
    """Twelve writes of 1 MB, apart: the thread copies each back before the next, which then starts the log
    again from its beginning, so the log's file stays near one write's size. Unchecked it would hold
    all twelve (the writer's own commits checkpoint only past the backstop, 80 MB)."""
    path = tmp_path / "writer.db"
    engine: Engine = make_engine(f"sqlite:///{path}", writer=True)
    try:
        with write(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == BACKSTOP_PAGES
        for _ in range(12):
            with write(engine) as conn:
                conn.exec_driver_sql("INSERT INTO blobs (body) VALUES (randomblob(1000000))")
            time.sleep(INTERVAL * 4)
        assert Path(f"{path}-wal").stat().st_size < 4_000_000
        with write(engine) as conn:  # and nothing was lost on the way
            assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 12
    finally:
        engine.dispose()


def test_the_thread_ends_with_the_engine_and_never_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "not-yet.db"
    engine = make_engine(f"sqlite:///{path}", writer=True)
    thread = CHECKPOINTERS[engine].thread
    assert thread.is_alive()
    time.sleep(INTERVAL * 4)  # it tries, and must not make the file: that is the writer's first connection
    assert not path.exists()
    engine.dispose()
    thread.join(timeout=5)
    assert not thread.is_alive() and not path.exists()


def test_other_engines_checkpoint_their_own_commits(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    try:
        with write(engine) as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000  # SQLite's own
    finally:
        engine.dispose()
