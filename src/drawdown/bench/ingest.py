"""Ingestion benchmark (``drawdown bench ingest``): how many usage events per second are priced,
debited and committed, against the physical ceiling of the same database on this machine.

* ceiling — the rows the engine writes for an event, written with the raw driver from prebuilt tuples
  (``bench/ceiling.py``), 1,000 events per transaction: the limit for us. The rows each writes per event,
  counted from the statements (``bench/writes.py``), must agree, or the run fails; the bytes each left
  per event are measured too (``bench/storage.py``);
* naive — one transaction per event through the engine;
* engine — the engine with many events per transaction (1, 100 and 10,000 customers);
* http — single events (``POST /events``) and ``GET /health`` from the same load generator against the
  same server process (``bench/load.py``), and the latency of one synchronous event at low load;
* holds — placing and releasing a hold, timed next to a single event (``bench/holds.py``);
* memory — peak RSS of the engine path at 100,000 events and at the end of the run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import resource
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from drawdown.bench.ceiling import ceiling
from drawdown.bench.events import make_events
from drawdown.bench.holds import hold_phase
from drawdown.bench.http import http_phase
from drawdown.bench.storage import per_event as bytes_per_event
from drawdown.bench.storage import stored_bytes
from drawdown.bench.world import SCOPE, build_world, fresh_database
from drawdown.bench.writes import check_same_rows, counting_writes
from drawdown.bench.writes import per_event as rows_per_event
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import upgrade
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent


def naive(url: str, ids: list[str], n: int, rng: random.Random) -> float:
    engine = make_engine(url)
    evs = make_events(n, rng)
    cache = HotCache()
    start = time.perf_counter()
    for ev in evs:
        with write(engine) as conn:
            batch = UsageBatch(SCOPE, rng.choice(ids), None, [ev])
            answer = pipeline.bill(conn, [batch], datetime.now(UTC), None, cache)[0]
            assert not isinstance(answer, Exception), answer
    rate = n / (time.perf_counter() - start)
    engine.dispose()
    return rate


def engine_rate(
    url: str, ids: list[str], n: int, rng: random.Random, per_txn: int = 1000, rss_at: int | None = None
) -> tuple[float, dict[str, int]]:
    """Events grouped many per transaction (one request per customer), billed as the batching writer does.

    Only billing is timed, from the write transaction's start to its commit: the events arrive made and
    grouped, as the HTTP layer hands them over, just as the ceiling's rows are built before its clock
    (making them with ``make_events`` was 4% of the time measured before 2026-11-26, evening). The engine is
    a writer's, as the server's batching writer has (``make_engine(writer=True)``)."""
    engine = make_engine(url, writer=True)
    rss: dict[str, int] = {}
    cache = HotCache()
    elapsed, done = 0.0, 0
    while done < n:
        evs = make_events(min(per_txn, n - done), rng)
        groups: dict[str, list[UsageEvent]] = {}
        for ev in evs:
            groups.setdefault(rng.choice(ids), []).append(ev)
        # Digests taken before the clock, as the server takes them on the request's side (UsageBatch.take_digests).
        batches = [UsageBatch(SCOPE, cid, None, batch).take_digests() for cid, batch in groups.items()]
        start = time.perf_counter()
        with write(engine) as conn:
            for result in pipeline.bill(conn, batches, datetime.now(UTC), None, cache):
                assert not isinstance(result, Exception), result
        elapsed += time.perf_counter() - start
        done += len(evs)
        if rss_at is not None and done >= rss_at and "at_first" not in rss:
            rss["at_first"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss["at_end"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rate = n / elapsed
    engine.dispose()
    return rate, rss


PHASES = (
    "ceiling",
    "naive",
    "engine, 1 customer",
    "engine, 100 customers",
    "engine, 10,000 customers",
    "http",
    "http, 2 workers",
    "http, holds",
    "memory",
)


def run(
    backend: str,
    n: int,
    out: Path,
    memory_events: int,
    step: Callable[[str], None] = lambda name: None,
    http_seconds: float = 5,
) -> dict[str, Any]:
    """Every measure, in order; ``step(name)`` is called as each phase begins (progress)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    result: dict[str, Any] = {
        "backend": backend,
        "cores": os.cpu_count(),
        "events": n,
        "at": datetime.now(UTC).isoformat(),
    }
    worlds = {}
    for customers_n in (1, 100, 10_000):
        url = fresh_database(backend, out, customers_n)
        upgrade(url)
        worlds[customers_n] = (url, build_world(url, customers_n))
    url100, ids100 = worlds[100]
    step(PHASES[0])
    ceiling_rate, ceiling_rows, ceiling_bytes = _measured(url100, n, lambda: ceiling(url100, ids100, n, rng))
    result["ceiling_events_per_s"] = round(ceiling_rate)
    step(PHASES[1])
    result["naive_events_per_s"] = round(naive(url100, ids100, max(n // 10, 200), rng))
    result["engine_events_per_s"] = {}
    for phase, (customers_n, (url, ids)) in zip(PHASES[2:5], worlds.items(), strict=True):
        step(phase)
        rate, engine_rows, engine_bytes = _measured(url, n, partial(_counted, engine_rate, url, ids, n, rng))
        result["engine_events_per_s"][str(customers_n)] = round(rate)
        if customers_n == 100:  # the ceiling's world: the same customers, the same rows
            result["rows_per_event"] = {"engine": engine_rows, "ceiling": ceiling_rows}
            result["bytes_per_event"] = {"engine": engine_bytes, "ceiling": ceiling_bytes}
            check_same_rows(engine_rows, ceiling_rows)
    result["engine_over_ceiling"] = round(result["engine_events_per_s"]["100"] / ceiling_rate, 2)
    step(PHASES[5])
    samples = min(n, 2000)
    result["http"] = http_phase(url100, ids100, http_seconds, clients=8, latency_samples=samples)
    step(PHASES[6])
    result["http_2_workers"] = http_phase(url100, ids100, http_seconds, clients=8, latency_samples=samples, workers=2)
    step(PHASES[7])
    result["holds"] = hold_phase(url100, ids100, samples)
    if memory_events:
        step(PHASES[8])
        result["memory"] = _memory(url100, ids100, memory_events)
    (out / f"ingest-{backend}.json").write_text(json.dumps(result, indent=2))
    return result


def _counted(phase: Callable[..., tuple[float, Any]], *args: Any) -> tuple[float, Counter[str]]:
    """An engine phase's rate and the rows its statements wrote, by table."""
    with counting_writes() as counts:
        rate, _ = phase(*args)
    return rate, Counter(counts)


def _measured(
    url: str, n: int, phase: Callable[[], tuple[float, Counter[str]]]
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Rate, rows written per event by table, and bytes stored per event by table (indexes included)."""
    before = stored_bytes(url)
    rate, counts = phase()
    return rate, rows_per_event(counts, n), bytes_per_event(before, stored_bytes(url), n)


def _memory(url: str, ids: list[str], n: int) -> dict[str, Any]:
    """Peak RSS over n events, in a fresh process: this one's already holds the worlds built above;
    and the bytes each of those events left in the database."""
    before = stored_bytes(url)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        rate, rss = pool.apply(_memory_run, (url, ids, n))
    return {
        "events": n,
        "events_per_s": round(rate),
        "peak_rss_kb_at_100k": rss.get("at_first"),
        "peak_rss_kb_at_end": rss["at_end"],
        "bytes_per_event": bytes_per_event(before, stored_bytes(url), n),
    }


def _memory_run(url: str, ids: list[str], n: int) -> tuple[float, dict[str, int]]:
    return engine_rate(url, ids, n, random.Random(7), rss_at=min(100_000, n))
