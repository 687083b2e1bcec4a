"""Benchmark of the profitability endpoints over a large history (``drawdown bench stats``).

Builds a fresh database with N usage events (bulk-inserted rows with revenue and cost, as the engine
records them) in agent runs of 12 steps (a subject each, a minute apart, two vendors) for C customers
over D days, with the rollups and subject rollups those events produce, then serves the API and times
each stats endpoint. Results go to ``var/bench/stats-<backend>.json``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress
from sqlalchemy import insert, text

from drawdown.bench.server import serve
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import upgrade
from drawdown.db.tables import customers, events, products, rollups, vendors
from drawdown.usage.rollup import Rollup
from drawdown.usage.subject_rollup import SubjectRollup

START = datetime(2026, 1, 1, tzinfo=UTC)
CATEGORIES = ("inference", "compute", "storage")
SCOPE = DEFAULT_LIVE.id  # the scope of the bootstrap key the timed requests use
RUN = 12  # events per subject (an agent run of 12 steps)


def fresh_database(backend: str, root: Path) -> str:
    if backend == "sqlite":
        path = root / "stats-bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    admin_url = os.environ.get("DRAWDOWN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "drawdown_stats_bench" WITH (FORCE)')
        admin.execute('CREATE DATABASE "drawdown_stats_bench"')
    return admin_url.rsplit("/", 1)[0] + "/drawdown_stats_bench"


def populate(url: str, n_events: int, n_customers: int, days: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    engine = make_engine(url)
    now = datetime.now(UTC)
    customer_ids = [f"cust_bench{i:021d}" for i in range(n_customers)]
    product_ids = [f"prp_bench{i:022d}" for i in range(5)]
    vendor_ids = [f"vnd_bench{i:022d}" for i in range(4)]
    with write(engine) as conn:
        conn.execute(
            insert(customers),
            [{"id": c, "scope_id": SCOPE, "name": f"Customer {i}", "created_at": now}
             for i, c in enumerate(customer_ids)],
        )
        conn.execute(insert(products),
                     [{"id": p, "scope_id": SCOPE, "code": p, "name": p, "created_at": now} for p in product_ids])
        conn.execute(insert(vendors), [{"id": v, "scope_id": SCOPE, "name": v, "created_at": now} for v in vendor_ids])
    rollup = Rollup()
    chunk = RUN * 4_168  # whole runs of RUN events per chunk: a run's subject rows are complete when inserted
    started = time.perf_counter()
    subjects: list[tuple[str, str]] = []
    with Progress() as progress:
        task = progress.add_task(f"{n_events:,} events", total=n_events)
        for base in range(0, n_events, chunk):
            rows, runs = [], SubjectRollup()
            for k in range(base, min(base + chunk, n_events)):
                if k % RUN == 0:  # a new agent run: one customer, its steps a minute apart, two vendors
                    customer = customer_ids[rng.randrange(n_customers)]
                    begun = START + timedelta(seconds=rng.randrange(days * 86400))
                    subject = f"run-{k // RUN}"
                    subjects.append((customer, subject))
                at = begun + timedelta(minutes=k % RUN)
                revenue = rng.randrange(0, 50_000_000)  # up to 0.05 USD, in nano-units
                cost = rng.randrange(0, 30_000_000)
                rows.append({"scope_id": SCOPE, "id": f"e{k}", "customer_id": customer, "event_type": "call",
                             "occurred_at": at, "request_hash": "-", "created_at": at, "revenue": revenue,
                             "cost": cost, "subject": subject})
                product, vendor = product_ids[(k // RUN) % 5], vendor_ids[(k // RUN + k % 2) % 4]
                category = CATEGORIES[k % 3]
                rollup.add(at, SCOPE, customer, product, "", "", Decimal(revenue).scaleb(-9), Decimal(0))
                rollup.add(at, SCOPE, customer, product, vendor, category, Decimal(0), Decimal(cost).scaleb(-9))
                runs.add_event(SCOPE, customer, subject, at, revenue, cost,
                               [{"vendor_id": vendor, "category": category, "amount_usd": cost}],
                               [(product, f"prc_{product}", "CREDITS", 10_000_000_000)])
            with write(engine) as conn:
                conn.execute(insert(events), rows)
                runs.flush(conn, {SCOPE: DEFAULT_LIVE})
            progress.advance(task, len(rows))
    events_seconds = time.perf_counter() - started
    totals = rollup.rows(SCOPE)
    keys = sorted(totals)
    with write(engine) as conn:
        for i in range(0, len(keys), chunk):
            conn.execute(insert(rollups), [
                {"scope_id": SCOPE, "kind": k[0], "key": k[1], "sub": k[2], "period": k[3],
                 "revenue": int(totals[k][0].scaleb(9)), "cost": int(totals[k][1].scaleb(9))}
                for k in keys[i:i + chunk]
            ])
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return {"events": n_events, "customers": n_customers, "days": days, "rollup_rows": len(keys),
            "insert_seconds": round(events_seconds, 1), "customer_ids": customer_ids, "vendor_ids": vendor_ids,
            "product_ids": product_ids, "subjects": subjects}


def _subject(pair: tuple[str, str]) -> tuple[str, dict[str, str]]:
    return f"/customers/{pair[0]}/subjects/{pair[1]}/stats", {}


def measure(url: str, world: dict[str, Any], requests: int = 200, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    served = serve(url)
    base, secret = served.base, served.secret
    days = world["days"]

    def month() -> dict[str, str]:
        first = START + timedelta(days=rng.randrange(max(days - 30, 1)))
        return {"period_from": first.date().isoformat(), "period_to": (first + timedelta(days=29)).date().isoformat()}

    endpoints: dict[str, Callable[[], tuple[str, dict[str, str]]]] = {
        "GET /customers/{id}/stats": lambda: (f"/customers/{rng.choice(world['customer_ids'])}/stats", {}),
        "GET /customers/stats (30 days, page of 20)": lambda: ("/customers/stats", month()),
        "GET /customers/stats (whole history)": lambda: ("/customers/stats", {}),
        "GET /vendors/{id}/stats (30 days)": lambda: (f"/vendors/{rng.choice(world['vendor_ids'])}/stats", month()),
        "GET /products/{id}/stats (30 days)": lambda: (f"/products/{rng.choice(world['product_ids'])}/stats", month()),
        "GET /customers/{id}/subjects/{subject}/stats": lambda: _subject(rng.choice(world["subjects"])),
        "GET /customers/{id}/subjects (30 days, by margin)": lambda: (
            f"/customers/{rng.choice(world['customer_ids'])}/subjects", {**month(), "order": "margin"}),
        "GET /customers/{id}/subjects (whole history)": lambda: (
            f"/customers/{rng.choice(world['customer_ids'])}/subjects", {}),
        "GET /subjects/stats (30 days, by margin)": lambda: ("/subjects/stats", {**month(), "order": "margin"}),
        "GET /subjects/stats (whole history)": lambda: ("/subjects/stats", {}),
    }
    results = {}
    try:
        with httpx.Client(base_url=base, headers={"X-CREDYT-API-KEY": secret}, timeout=60) as client:
            for name, make in endpoints.items():
                timings = []
                for _ in range(requests):
                    path, params = make()
                    t = time.perf_counter()
                    resp = client.get(path, params=params)
                    timings.append((time.perf_counter() - t) * 1000)
                    if resp.status_code != 200:
                        raise RuntimeError(f"{name}: {resp.status_code} {resp.text[:200]}")
                timings.sort()
                results[name] = {"p50_ms": round(statistics.median(timings), 2),
                                 "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
                                 "max_ms": round(timings[-1], 2)}
    finally:
        served.stop()
    return results


def run(backend: str, n_events: int, n_customers: int, days: int, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    url = fresh_database(backend, out)
    upgrade(url)
    world = populate(url, n_events, n_customers, days)
    timings = measure(url, world)
    report = {
        "backend": backend, "cores": os.cpu_count(), "events": n_events, "customers": n_customers, "days": days,
        "rollup_rows": world["rollup_rows"], "insert_seconds": world["insert_seconds"], "endpoints": timings,
        "at": datetime.now(UTC).isoformat(),
    }
    (out / f"stats-{backend}.json").write_text(json.dumps(report, indent=2))
    return report
