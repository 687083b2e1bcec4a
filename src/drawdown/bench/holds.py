"""Hold latency (``drawdown bench holds``, and a phase of ``bench ingest``): placing and releasing a
hold go through the same batching writer as events, so each is timed next to a single event, in one
server process, interleaved (event, place, release, event, …) so that all three meet the same load.
On a shared machine, compare the ratios within one run, not the milliseconds across runs."""

from __future__ import annotations

import random
import secrets
import statistics
import time
from typing import Any

import httpx

from drawdown.bench.events import make_events
from drawdown.bench.server import serve

ASSET = "CRED"  # the bench world's asset (``ingest.build_world``)


def hold_phase(url: str, ids: list[str], samples: int) -> dict[str, Any]:
    served = serve(url)
    timings: dict[str, list[float]] = {"event": [], "hold_create": [], "hold_release": []}
    rng = random.Random(5)
    run = secrets.token_hex(4)
    try:
        with httpx.Client(base_url=served.base, headers=served.headers, timeout=60) as c:
            for i, ev in enumerate(make_events(samples, rng)):
                customer = rng.choice(ids)
                doc = {"id": ev.id, "event_type": ev.event_type, "occurred_at": ev.occurred_at.isoformat(),
                       "data": ev.data}
                holds, hold_id = f"/customers/{customer}/wallet/default:{ASSET}/holds", f"bench-{run}-{i}"
                body = {"hold_id": hold_id, "amount": "1.5", "ttl_seconds": 600}
                _timed(timings["event"], c, "/events", {"customer_id": customer, "events": [doc]}, 204)
                _timed(timings["hold_create"], c, holds, body, 201)
                _timed(timings["hold_release"], c, f"{holds}/{hold_id}/release", None, 200)
    finally:
        served.stop()
    out: dict[str, Any] = {"samples": samples}
    for name, values in timings.items():
        out[f"{name}_ms"] = _percentiles(values)
    event_p99 = out["event_ms"]["p99"]
    out["hold_create_p99_over_event_p99"] = round(out["hold_create_ms"]["p99"] / event_p99, 2)
    out["hold_release_p99_over_event_p99"] = round(out["hold_release_ms"]["p99"] / event_p99, 2)
    return out


def _timed(into: list[float], c: httpx.Client, path: str, body: Any, expected: int) -> None:
    started = time.perf_counter()
    resp = c.post(path, json=body)
    into.append((time.perf_counter() - started) * 1000)
    assert resp.status_code == expected, resp.text


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 2)

    return {"p50": round(statistics.median(ordered), 2), "p99": pct(0.99), "p99.9": pct(0.999)}
