"""The HTTP phases of the benchmarks (``drawdown bench http``, and the ``http`` phases of ``bench
ingest``): one server process, measured with one load generator (``bench/load.py``), so that the ratios
compare the server with itself in the same run:

* single events: ``POST /events`` with one new event per request, 8 keep-alive clients;
* ``GET /health`` from the same generator and clients: what the server does with no work at all;
* batched: ``POST /events`` with ``per`` events of one customer per request (events/s);
* low load: one event at a time from one keep-alive client (p50 / p99 / p99.9);
* where the single events' CPU went: the event loop, the writer and a local PostgreSQL, per event
  (``bench/cpu.py``, with one worker).

Each load is measured ``rounds`` times, alternated, so that a burst of noise on a shared machine shows
as spread between rounds rather than as a false ratio.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from drawdown.bench.cpu import CpuSplit
from drawdown.bench.events import make_events
from drawdown.bench.load import generate
from drawdown.bench.server import serve
from drawdown.bench.world import build_world, fresh_database


def http_phase(
    url: str,
    ids: list[str],
    seconds: float,
    clients: int,
    latency_samples: int,
    workers: int = 1,
    per: int = 100,
    rounds: int = 1,
) -> dict[str, Any]:
    """Single events, ``GET /health`` and batched events from the same load generator against the same
    server, and the latency of one synchronous event at low load."""
    served = serve(url, workers)
    singles, healths, batches, cpu = [], [], [], []
    try:
        timings = low_load_latency(served.base, served.headers, ids, latency_samples)
        for _ in range(rounds):
            # One worker: its process is the event loop, its child the writer (several: each has both).
            split = CpuSplit(served.process.pid, url) if workers == 1 else None
            singles.append(generate(served.base, served.secret, ids, "/events", clients, seconds))
            if split is not None:  # wrk runs whole seconds
                cpu.append(split.per_request(singles[-1]["requests_per_s"] * max(1, round(seconds))))
            healths.append(generate(served.base, served.secret, ids, "/health", clients, seconds))
            if per > 1:
                batches.append(generate(served.base, served.secret, ids, "/events", clients, seconds, per))
    finally:
        served.stop()

    def pct(p: float) -> float:
        return round(timings[min(len(timings) - 1, int(len(timings) * p))], 2)

    ratios = [round(e["requests_per_s"] / h["requests_per_s"], 2) for e, h in zip(singles, healths, strict=True)]
    result: dict[str, Any] = {
        "events_per_s": _median(singles),
        "health_per_s": _median(healths),
        "events_over_health": round(statistics.median(ratios), 2),
        "events_over_health_rounds": ratios,
        "load": {"events": singles[-1], "health": healths[-1]},
        "clients": clients,
        "workers": workers,
        "errors": sum(r["errors"] for r in singles + healths + batches),
        "latency_ms": {"p50": round(statistics.median(timings), 2), "p99": pct(0.99), "p99.9": pct(0.999)},
    }
    if cpu:  # milliseconds of CPU per single event, by part, the median over the rounds
        parts = cpu[0]
        result["cpu_ms_per_event"] = {p: round(statistics.median(c[p] for c in cpu if p in c), 2) for p in parts}
    if batches:
        result["batched"] = {
            "events_per_request": per,
            "events_per_s": round(statistics.median(b["requests_per_s"] for b in batches) * per),
            "events_per_s_rounds": [round(b["requests_per_s"] * per) for b in batches],
            "load": batches[-1],
        }
    return result


def _median(loads: list[dict[str, Any]]) -> int:
    return round(statistics.median(float(r["requests_per_s"]) for r in loads))


def low_load_latency(base: str, headers: dict[str, str], ids: list[str], samples: int) -> list[float]:
    """Milliseconds per single event, one at a time from one keep-alive client, sorted."""
    rng = random.Random(3)
    timings = []
    with httpx.Client(base_url=base, headers=headers) as c:
        for ev in make_events(samples, rng):
            doc = {"id": ev.id, "event_type": ev.event_type, "occurred_at": ev.occurred_at.isoformat(), "data": ev.data}
            t = time.perf_counter()
            resp = c.post("/events", json={"customer_id": rng.choice(ids), "events": [doc]})
            timings.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 204, resp.text
    return sorted(timings)


def run(backend: str, seconds: float, rounds: int, samples: int, workers: int, per: int) -> dict[str, Any]:
    """The HTTP phases alone, on a fresh world of 100 customers (``drawdown bench http``)."""
    from drawdown.db.migrate import upgrade

    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    url = fresh_database(backend, out, 100)
    upgrade(url)
    result = http_phase(url, build_world(url, 100), seconds, 8, samples, workers, per, rounds)
    result |= {"backend": backend, "cores": os.cpu_count(), "at": datetime.now(UTC).isoformat()}
    (out / f"http-{backend}.json").write_text(json.dumps(result, indent=2))
    return result


def rows(h: dict[str, Any], label: str = "HTTP") -> list[tuple[str, str]]:
    """The table rows of one ``http_phase`` result."""
    load = h["load"]["events"]
    found = [
        (f"{label}, {h['clients']} clients ({load['tool']}), {h['workers']} worker(s): single events/s, /health/s",
         f"{h['events_per_s']} / {h['health_per_s']}"),
        (f"{label}: single event / /health (each round)",
         f"{h['events_over_health']} ({', '.join(map(str, h['events_over_health_rounds']))})"),
    ]
    if "latency_under_load_ms" in load:  # wrk measures it; the Python clients do not
        found.append((f"{label}: single events under that load p50 / p99 / p99.9 (ms)",
                      " / ".join(str(v) for v in load["latency_under_load_ms"].values())))
    if "cpu_ms_per_event" in h:
        split = h["cpu_ms_per_event"]
        found.append((f"{label}: CPU per single event under that load, {' / '.join(split)} (ms)",
                      " / ".join(str(v) for v in split.values())))
    found.append((f"{label}: single event at low load p50 / p99 / p99.9 (ms)",
                  " / ".join(str(v) for v in h["latency_ms"].values())))
    if "batched" in h:
        b = h["batched"]
        found.append((f"{label}: {b['events_per_request']} events a request, events/s (each round)",
                      f"{b['events_per_s']} ({', '.join(map(str, b['events_per_s_rounds']))})"))
        if "latency_under_load_ms" in b["load"]:
            found.append((f"{label}: batched requests p50 / p99 / p99.9 (ms)",
                          " / ".join(str(v) for v in b["load"]["latency_under_load_ms"].values())))
    return found
