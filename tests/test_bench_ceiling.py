"""``drawdown bench ingest``'s honest ceiling writes, with the raw driver, the rows the engine writes for
the same events (counted from both sides' statements, and in the tables themselves), on both backends;
the bytes they take are measured; the load generator works with and without wrk."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from drawdown.bench import load
from drawdown.bench.ceiling import ceiling
from drawdown.bench.ingest import engine_rate
from drawdown.bench.server import serve
from drawdown.bench.storage import per_event as bytes_per_event
from drawdown.bench.storage import stored_bytes
from drawdown.bench.versus import small_groups
from drawdown.bench.world import build_world
from drawdown.bench.writes import check_same_rows, counting_writes, per_event
from drawdown.db.engine import make_engine, read
from drawdown.db.migrate import upgrade
from drawdown.db.tables import events, ledger_entries
from tests.conftest import BACKENDS, postgres_database


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own: the bench world creates its asset and product in the default scope."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'bench.db'}"
        return
    with postgres_database("drawdown_bench") as url:
        yield url


def _stored(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with read(engine) as conn:
        counted = conn.execute(select(func.count()).select_from(events)).scalar_one(), conn.execute(
            select(func.count()).select_from(ledger_entries)
        ).scalar_one()
    engine.dispose()
    return counted


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("per_txn", [100, 300], ids=["pipelined", "copied"])  # 300: COPY on PostgreSQL
def test_the_ceiling_writes_the_rows_the_engine_writes(backend: str, per_txn: int, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        upgrade(url)
        ids = build_world(url, 5)
        n, k = 300, 300 // per_txn
        bytes_before, rows_before = stored_bytes(url), _stored(url)
        rate, ceiling_rows = ceiling(url, ids, n, random.Random(1), per_txn=per_txn)
        bytes_after, rows_after = stored_bytes(url), _stored(url)
        with counting_writes() as engine_rows:
            engine_rate(url, ids, n, random.Random(2), per_txn=per_txn)

        assert rate > 0
        check_same_rows(per_event(engine_rows, n), per_event(ceiling_rows, n))
        for table, rows in (("events", n), ("fees", 2 * n)):
            assert engine_rows[table] == ceiling_rows[table] == rows
        # 5 customers, per_txn events a transaction: each is touched in each of the k transactions, and
        # its fees there are booked in one usage transaction
        assert engine_rows["transactions"] == ceiling_rows["transactions"] == 5 * k
        assert engine_rows["credit_grants"] == ceiling_rows["credit_grants"] == 5 * k
        assert engine_rows["rollups"] == ceiling_rows["rollups"] == k * (5 + 1) * 2
        # What the statements said they wrote is what the tables hold.
        assert rows_after[0] - rows_before[0] == n
        assert rows_after[1] - rows_before[1] == ceiling_rows["ledger_entries"]
        stored = bytes_per_event(bytes_before, bytes_after, n)
        assert stored["total"] > 0 and (stored.get("events", 0) > 0 or "*" in stored)


@pytest.mark.parametrize("wrk", [True, False], ids=["wrk", "python"])
def test_the_load_generator_sends_events_and_health(wrk: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if wrk and not shutil.which("wrk"):
        pytest.skip("wrk is not installed (apt-get install wrk)")
    if not wrk:
        monkeypatch.setattr(load.shutil, "which", lambda name: None)
    url = f"sqlite:///{tmp_path / 'load.db'}"
    upgrade(url)
    ids = build_world(url, 3)
    served = serve(url)
    try:
        for path in ("/events", "/health"):
            result = load.generate(served.base, served.secret, ids, path, 2, 1)
            assert result["requests_per_s"] > 0 and result["errors"] == 0, result
    finally:
        served.stop()
    assert _stored(url)[0] > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_groups_are_billed_and_timed_per_size(backend: str, tmp_path: Path) -> None:
    runs = small_groups(backend, 3, tmp_path / "groups")  # each group's batches are billed or it fails
    assert [r["size"] for r in runs] == [1, 4, 8]
    assert all(r["wall_ms"] > 0 and r["cpu_ms"] > 0 for r in runs)
    # PostgreSQL runs here (CI's and a developer's machine): its backend's CPU is counted (in clock ticks of
    # 10 ms, so over all sizes); SQLite has none
    spent = sum(r["database_cpu_ms"] for r in runs)
    assert spent > 0 if backend == "postgresql" else spent == 0
    assert not (tmp_path / "groups").exists() or not any((tmp_path / "groups").iterdir())  # its world is gone
