"""The load generator of the HTTP phases: single events (``POST /events``) or ``GET /health`` from
keep-alive clients for a fixed time, both through the same tool so that their ratio compares the
server with itself.

``wrk`` (Debian's package) when installed: compiled, two threads, it does not cap the server on two
cores. Otherwise one Python process per client, each with its own keep-alive httpx client: Python
threads in one process share a GIL and capped near 3k requests/s, below the server's /health.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from drawdown.bench.events import MODELS, make_events

# wrk: every request fresh events (an id seen before would be answered from the idempotency path),
# ``per`` of them for one customer.
_LUA = """
local ids = {customers}
local models = {models}
local per = {per}
local counter = 0
local tid = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) tid = wrk.thread:get("tid"); math.randomseed(tid * 7919) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-CREDYT-API-KEY"] = "{secret}"
function request()
  local events = {{}}
  for i = 1, per do
    counter = counter + 1
    events[i] = string.format(
      '{{"id":"ev-{run}-%d-%d","event_type":"completion","occurred_at":"{at}",' ..
      '"data":{{"model":"%s","tokens":%d,"images":%d}}}}',
      tid, counter, models[math.random(#models)], math.random(100, 4999), math.random(0, 2))
  end
  local body = string.format('{{"customer_id":"%s","events":[%s]}}', ids[math.random(#ids)], table.concat(events, ","))
  return wrk.format(nil, "/events", nil, body)
end
function done(summary, latency, requests)
  io.write(string.format("PCT %d %d %d\\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""
_HEALTH_LUA = """
function done(summary, latency, requests)
  io.write(string.format("PCT %d %d %d\\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""


def generate(
    base: str, secret: str, ids: list[str], path: str, clients: int, seconds: float, per: int = 1
) -> dict[str, Any]:
    """Requests per second (and errors, latency under load when the tool gives it) for ``path``,
    ``/events`` (``per`` new events of one customer per request) or ``/health``."""
    if shutil.which("wrk"):
        return _wrk(base, secret, ids, path, clients, seconds, per)
    return _processes(base, secret, ids, path, clients, seconds, per)


def _wrk(base: str, secret: str, ids: list[str], path: str, clients: int, seconds: float, per: int) -> dict[str, Any]:
    script = _HEALTH_LUA if path == "/health" else _LUA.format(
        customers="{" + ", ".join(json.dumps(i) for i in ids) + "}",
        models="{" + ", ".join(json.dumps(m) for m in MODELS) + "}",
        secret=secret, run=secrets.token_hex(4), at=datetime.now(UTC).isoformat(), per=per,
    )
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "load.lua"
        lua.write_text(script)
        out = subprocess.run(
            ["wrk", "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
             "--timeout", "30s", "-s", str(lua), base + path],
            capture_output=True, text=True, check=True,
        ).stdout
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(int(v) for v in sockets.groups()) if sockets else 0
    p50, p99, p999 = (int(v) / 1000 for v in _found(r"PCT (\d+) (\d+) (\d+)", out).groups())  # wrk gives µs
    return {
        "tool": "wrk", "clients": clients,
        "requests_per_s": round(float(_found(r"Requests/sec:\s*([\d.]+)", out)[1]), 1),  # batched: a few dozen
        "errors": errors + (int(non_2xx[1]) if non_2xx else 0),
        "latency_under_load_ms": {"p50": p50, "p99": p99, "p99.9": p999},
    }


def _found(pattern: str, out: str) -> re.Match[str]:
    match = re.search(pattern, out)
    assert match, f"wrk said something else: {out}"
    return match


def _processes(
    base: str, secret: str, ids: list[str], path: str, clients: int, seconds: float, per: int
) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        done = pool.starmap(_client, [(base, secret, ids, path, seconds, seed, per) for seed in range(clients)])
    return {
        "tool": f"{clients} Python processes", "clients": clients,
        "requests_per_s": round(sum(n for n, _ in done) / seconds, 1), "errors": sum(e for _, e in done),
    }


def _client(
    base: str, secret: str, ids: list[str], path: str, seconds: float, seed: int, per: int
) -> tuple[int, int]:
    """One keep-alive client, requests back to back until the time is up: (requests, errors)."""
    rng = random.Random(seed)
    sent = errors = 0
    with httpx.Client(base_url=base, headers={"X-CREDYT-API-KEY": secret}, timeout=60) as c:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if path == "/health":
                resp = c.get(path)
            else:
                docs = [{"id": ev.id, "event_type": ev.event_type, "occurred_at": ev.occurred_at.isoformat(),
                         "data": ev.data} for ev in make_events(per, rng)]
                resp = c.post(path, json={"customer_id": rng.choice(ids), "events": docs})
            sent += 1
            errors += resp.status_code >= 300
    return sent, errors
