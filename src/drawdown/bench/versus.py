"""Engine against the honest ceiling, alone and repeated: the loop for working on the write path.

``drawdown bench ingest`` measures everything once (naive, three worlds, HTTP, holds) and takes many
minutes; on a shared machine one run says little. This builds one world, then alternates the ceiling
(``bench/ceiling.py``) and the engine phase (``bench/ingest.py:engine_rate``) ``repeat`` times, so that
each engine figure has a ceiling measured seconds before it, and reports the engine's CPU time per event
too: it moves with the Python cost of an event and much less than wall time with the machine's load.

    uv run python -m drawdown.bench.versus --backend sqlite --events 10000 --repeat 3 --customers 100

Comparing two commits: run it from two worktrees, one after the other, and read the ratios.

``--small-groups`` measures instead what a server's writer does under a few clients: groups of 1, 4 and 8
single-event batches (each its own customer), the wall and CPU time of each group's transaction (and the
CPU of its PostgreSQL backend, when PostgreSQL runs on this machine). There
the fixed cost of a group (its statements and round trips) counts, not the cost of an event:

    uv run python -m drawdown.bench.versus --backend postgresql --small-groups 300
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine

from drawdown.bench.ceiling import ceiling
from drawdown.bench.cpu import database_seconds
from drawdown.bench.events import make_events
from drawdown.bench.ingest import engine_rate
from drawdown.bench.world import SCOPE, build_world, fresh_database
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import upgrade
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch


def versus(backend: str, events: int, repeat: int, customers: int, out: Path) -> list[dict[str, Any]]:
    url = _world(backend, out, customers)
    try:
        return _runs(url, events, repeat, customers)
    finally:
        _drop(backend, url)


def _runs(url: str, events: int, repeat: int, customers: int) -> list[dict[str, Any]]:
    upgrade(url)
    ids = build_world(url, customers)
    rng = random.Random(1)
    engine_rate(url, ids, min(events, 2000), rng)  # caches and prepared statements warm, as in a server
    runs = []
    for _ in range(repeat):
        ceiling_rate = ceiling(url, ids, events, rng)[0]
        cpu = time.process_time()
        rate = engine_rate(url, ids, events, rng)[0]
        cpu_us = (time.process_time() - cpu) / events * 1e6
        runs.append({"ceiling": round(ceiling_rate), "engine": round(rate), "ratio": round(rate / ceiling_rate, 2),
                     "engine_cpu_us_per_event": round(cpu_us)})
    return runs


SIZES = (1, 4, 8)


def small_groups(backend: str, groups: int, out: Path) -> list[dict[str, Any]]:
    """Per group size: the wall and CPU milliseconds of one group of single-event batches."""
    url = _world(backend, out, max(SIZES))
    try:
        upgrade(url)
        ids = build_world(url, max(SIZES))
        engine, cache, rng = make_engine(url, writer=True), HotCache(), random.Random(1)
        for _ in range(20):  # caches and prepared statements warm, as in a server
            _group(engine, cache, ids, max(SIZES), rng)
        runs = []
        for size in SIZES:
            wall, cpu, db = time.perf_counter(), time.process_time(), database_seconds(url)
            for _ in range(groups):
                _group(engine, cache, ids, size, rng)
            runs.append({"size": size, "wall_ms": round((time.perf_counter() - wall) / groups * 1e3, 2),
                         "cpu_ms": round((time.process_time() - cpu) / groups * 1e3, 2),
                         "database_cpu_ms": round((database_seconds(url) - db) / groups * 1e3, 2)})
        engine.dispose()
        return runs
    finally:
        _drop(backend, url)


def _group(engine: Engine, cache: HotCache, ids: list[str], size: int, rng: random.Random) -> None:
    events = make_events(size, rng)
    batches = [UsageBatch(SCOPE, ids[i], None, [event]).take_digests() for i, event in enumerate(events)]
    with write(engine) as conn:
        for answer in pipeline.bill(conn, batches, datetime.now(UTC), None, cache):
            assert not isinstance(answer, Exception), answer


def _world(backend: str, out: Path, customers: int) -> str:
    """A database of its own (``bench ingest`` reuses fixed names that another run may be using)."""
    if backend == "sqlite":
        out.mkdir(parents=True, exist_ok=True)
        return fresh_database(backend, out, customers)
    name = f"drawdown_versus_{customers}_{os.getpid()}"
    with psycopg.connect(_admin_url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return _admin_url().rsplit("/", 1)[0] + f"/{name}"


def _drop(backend: str, url: str) -> None:
    if backend == "sqlite":
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)  # this run's own directory
        return
    with psycopg.connect(_admin_url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _admin_url() -> str:  # read when used, like bench/ingest.py
    return os.environ.get("DRAWDOWN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--small-groups", type=int, default=0, help="groups of each size to time instead")
    a = parser.parse_args()
    if a.small_groups:
        for r in small_groups(a.backend, a.small_groups, Path("var/bench") / f"groups-{os.getpid()}"):
            print(f"{a.backend}, groups of {r['size']} single events: {r['wall_ms']} ms wall, {r['cpu_ms']} ms CPU, "
                  f"{r['database_cpu_ms']} ms PostgreSQL's CPU per group", flush=True)
        return
    runs = versus(a.backend, a.events, a.repeat, a.customers, Path("var/bench") / f"versus-{os.getpid()}")
    for k, r in enumerate(runs):
        print(f"{a.backend}, {a.customers} customers, run {k}: ceiling {r['ceiling']:,} events/s, "
              f"engine {r['engine']:,} events/s, engine/ceiling {r['ratio']}, "
              f"engine CPU {r['engine_cpu_us_per_event']} us/event", flush=True)


if __name__ == "__main__":
    main()
