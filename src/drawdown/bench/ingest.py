"""Ingestion benchmark (``drawdown bench ingest``): how many usage events per second are priced,
debited and committed, against the physical ceiling of the same database on this machine.

* ceiling — the same rows the engine writes for an event (event, fees, transactions, ledger entries,
  grant and account updates, rollups), with the same statements and 1,000 events per transaction, and
  no pricing or reads at all: the limit for us;
* naive — one transaction per event through the engine;
* engine — the engine with many events per transaction (1, 100 and 10,000 customers);
* http — ``POST /events`` from concurrent clients against a server process, and the latency of one
  synchronous event at low load;
* holds — placing and releasing a hold, timed next to a single event (``bench/holds.py``);
* memory — peak RSS of the engine path at 100,000 events and at the end of the run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import resource
import secrets
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, insert, select, tuple_, update

from drawdown.bench.events import make_events
from drawdown.bench.holds import hold_phase
from drawdown.bench.server import serve
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.core.ids import new_id
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import upgrade
from drawdown.db.tables import (
    credit_grants,
    events,
    fees,
    ledger_entries,
    products,
    subscriptions,
    transactions,
    wallet_accounts,
)
from drawdown.reports.repository import rollup_upsert
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment

SCOPE = DEFAULT_LIVE  # the scope of the bootstrap key the HTTP phases use
PRODUCT = NewProduct(
    name="Bench",
    code="bench",
    publish=True,
    prices=[
        {
            "name": "Tokens",
            "type": "usage_based",
            "billing_model": {"type": "real_time"},
            "usage_calculation": {
                "event_type": "completion",
                "usage_type": "volume",
                "volume_field": "tokens",
                "billable_dimensions": ["model"],
            },
            "pricing": [
                {
                    "asset": "CRED",
                    "values": [
                        {"dimensions": {"model": m}, "values": [{"volume_rate": Decimal(r)}]}
                        for m, r in (
                            ("large", "0.00003"),
                            ("small", "0.000001"),
                            ("vision", "0.00002"),
                            ("*", "0.00001"),
                        )
                    ],
                }
            ],
        },
        {
            "name": "Requests",
            "type": "usage_based",
            "billing_model": {"type": "real_time"},
            "usage_calculation": {"event_type": "completion", "usage_type": "volume", "volume_field": "images"},
            "pricing": [{"asset": "CRED", "values": [{"volume_rate": Decimal("0.5"), "package_size": 10}]}],
        },
    ],
)


def build_world(url: str, n_customers: int) -> list[str]:
    engine = make_engine(url)
    now = datetime.now(UTC)
    ids = []
    with write(engine) as conn:
        usd = (StartingRate("USD", Decimal("0.01")),)
        catalog.create_asset(conn, SCOPE, NewAsset(code="CRED", name="Credits", rates=usd), now)
        catalog.create_product(conn, SCOPE, PRODUCT, now)
        for i in range(n_customers):
            command = NewCustomer(name=f"c{i}", subscriptions=(NewSubscription((ProductRef(code="bench"),)),))
            cid = customers.create_customer(conn, SCOPE, command, now, None).id
            for k, (reason, amount, expires) in enumerate(
                (
                    ("gift", "100000", None),
                    ("external_topup", "1000000", None),
                    ("gift", "50000", now + timedelta(days=30)),
                )
            ):
                seed = Adjustment(f"seed-{k}", "CRED", Decimal(amount), reason, expires_at=expires)
                wallets.adjust(conn, SCOPE, cid, seed, now, None)
            ids.append(cid)
    engine.dispose()
    return ids


def ceiling(url: str, ids: list[str], n: int, rng: random.Random, batch: int = 1000) -> float:
    """The rows the engine writes for n events, written the way the engine writes them (one
    executemany per statement, 1,000 events per transaction, customers picked the same way), with no
    pricing and no reads: the database's ceiling for our writes.

    Per event the engine writes, in this world, 1 event, 2 fees, 2 transactions and 3.67 ledger
    entries (measured: 73,446 entries for 40,000 fee transactions); per customer per transaction, a
    grant update, an account update and the customer and product rollups of the day and month.
    """
    engine = make_engine(url)
    now = datetime.now(UTC)
    day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
    with write(engine) as conn:
        account = {a.customer_id: a.id for a in conn.execute(select(wallet_accounts))}
        grant = {g.account_id: g.id for g in conn.execute(select(credit_grants).order_by(credit_grants.c.id))}
        sub = {r.customer_id: r.id for r in conn.execute(select(subscriptions))}
        product = conn.execute(select(products.c.id)).scalar_one()
    g, a = credit_grants.c, wallet_accounts.c
    grant_update = (
        update(credit_grants)
        .where(g.id == bindparam("b_id"))
        .values(remaining=g.remaining - bindparam("b_n"), state="live")
    )
    account_update = (
        update(wallet_accounts)
        .where(a.id == bindparam("b_id"))
        .values(debt=0, reserved=0, live_total=a.live_total - bindparam("b_n"), pending_total=0)
    )
    start = time.perf_counter()
    for base in range(0, n, batch):
        ev, fe, tx, le = [], [], [], []
        used: dict[str, int] = {}
        for k in range(base, min(base + batch, n)):
            cust = rng.choice(ids)
            used[cust] = used.get(cust, 0) + 1
            account_id = account[cust]
            eid = f"c-{k}-{secrets.token_hex(4)}"
            ev.append(
                {
                    "scope_id": SCOPE.id,
                    "id": eid,
                    "customer_id": cust,
                    "event_type": "completion",
                    "occurred_at": now,
                    "subject": None,
                    "description": None,
                    "data": {"model": "large", "tokens": 1000, "images": 1},
                    "costs": None,
                    "request_hash": "x" * 64,
                    "created_at": now,
                    "revenue": 1,
                    "cost": 0,
                }
            )
            for price in ("tokens", "requests"):
                fid, tid = new_id("fee"), new_id("txn")
                fe.append(
                    {
                        "id": fid,
                        "customer_id": cust,
                        "account_id": account_id,
                        "subscription_id": sub[cust],
                        "billing": "real_time",
                        "period_start": None,
                        "period_end": None,
                        "product_id": product,
                        "product_code": "bench",
                        "product_version": 1,
                        "price_id": price,
                        "price_name": price,
                        "asset": "CRED",
                        "dimensions": {"model": "large"},
                        "usage_type": "volume",
                        "volume_field": price,
                        "input_volume": 1,
                        "unit_price": None,
                        "volume_rate": 1,
                        "package_size": None,
                        "description": price,
                        "amount": 1,
                        "created_at": now,
                        "_event": len(ev) - 1,
                    }
                )
                tx.append(
                    {
                        "reason": None,
                        "description": price,
                        "metadata": None,
                        "request_hash": None,
                        "id": tid,
                        "customer_id": cust,
                        "account_id": account_id,
                        "asset": "CRED",
                        "amount": -1,
                        "created_at": now,
                        "executed_at": now,
                        "transaction_id": fid,
                        "type": "fee",
                    }
                )
                le.append(
                    {
                        "transaction_id": tid,
                        "account": "system:revenue:CRED",
                        "asset": "CRED",
                        "grant_id": None,
                        "amount": 1,
                        "created_at": now,
                    }
                )
                if price == "tokens" or k % 3:
                    le.append(
                        {
                            "transaction_id": tid,
                            "account": f"wallet:{account_id}",
                            "asset": "CRED",
                            "grant_id": grant[account_id],
                            "amount": -1,
                            "created_at": now,
                        }
                    )
        rollup = [
            {"scope_id": SCOPE.id, "kind": f"{kind}_{grain}", "key": key, "sub": "", "period": period,
             "revenue": 1, "cost": 0}
            for kind, keys in (("customer", sorted(used)), ("product", [product]))
            for key in keys
            for grain, period in (("day", day), ("month", month))
        ]
        with write(engine) as conn:
            conn.execute(grant_update, [{"b_id": grant[account[c]], "b_n": m} for c, m in sorted(used.items())])
            conn.execute(account_update, [{"b_id": account[c], "b_n": m} for c, m in sorted(used.items())])
            conn.execute(insert(transactions), tx)
            conn.execute(insert(ledger_entries), le)
            conn.execute(insert(events), ev)
            seqs = {
                (r.customer_id, r.id): r.seq
                for r in conn.execute(
                    select(events.c.customer_id, events.c.id, events.c.seq).where(
                        tuple_(events.c.customer_id, events.c.id).in_([(e["customer_id"], e["id"]) for e in ev])
                    )
                )
            }
            conn.execute(
                insert(fees),
                [
                    {
                        **{k: v for k, v in f.items() if k != "_event"},
                        "event_seq": seqs[(ev[f["_event"]]["customer_id"], ev[f["_event"]]["id"])],
                    }
                    for f in fe
                ],
            )
            conn.execute(rollup_upsert(conn), rollup)
    rate = n / (time.perf_counter() - start)
    engine.dispose()
    return rate


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
    """Events grouped many per transaction (one request per customer), billed as the batching writer does."""
    engine = make_engine(url)
    rss: dict[str, int] = {}
    cache = HotCache()
    start = time.perf_counter()
    done = 0
    while done < n:
        evs = make_events(min(per_txn, n - done), rng)
        groups: dict[str, list[UsageEvent]] = {}
        for ev in evs:
            groups.setdefault(rng.choice(ids), []).append(ev)
        with write(engine) as conn:
            batches = [UsageBatch(SCOPE, cid, None, batch) for cid, batch in groups.items()]
            for result in pipeline.bill(conn, batches, datetime.now(UTC), None, cache):
                assert not isinstance(result, Exception), result
        done += len(evs)
        if rss_at is not None and done >= rss_at and "at_first" not in rss:
            rss["at_first"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss["at_end"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rate = n / (time.perf_counter() - start)
    engine.dispose()
    return rate, rss


def http_phase(
    url: str, ids: list[str], n: int, clients: int, latency_samples: int, workers: int = 1
) -> dict[str, Any]:
    served = serve(url, workers)
    base = served.base
    try:
        headers = served.headers

        def body(ev: UsageEvent, cid: str) -> dict[str, object]:
            doc = {"id": ev.id, "event_type": ev.event_type, "occurred_at": ev.occurred_at.isoformat(), "data": ev.data}
            return {"customer_id": cid, "events": [doc]}

        # Latency of one synchronous event at low load.
        rng = random.Random(3)
        timings = []
        with httpx.Client(base_url=base, headers=headers) as c:
            for ev in make_events(latency_samples, rng):
                t = time.perf_counter()
                resp = c.post("/events", json=body(ev, rng.choice(ids)))
                timings.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 204, resp.text
        timings.sort()

        def pct(p: float) -> float:
            return round(timings[min(len(timings) - 1, int(len(timings) * p))], 2)

        # Throughput with concurrent clients, one event per request.
        per_client = n // clients
        errors: list[str] = []

        def worker(seed: int) -> None:
            r = random.Random(seed)
            with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
                for ev in make_events(per_client, r):
                    resp = c.post("/events", json=body(ev, r.choice(ids)))
                    if resp.status_code != 204:
                        errors.append(resp.text[:200])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rate = per_client * clients / (time.perf_counter() - start)
        return {
            "events_per_s": round(rate),
            "clients": clients,
            "workers": workers,
            "errors": len(errors),
            "latency_ms": {"p50": round(statistics.median(timings), 2), "p99": pct(0.99), "p99.9": pct(0.999)},
        }
    finally:
        served.stop()


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
    backend: str, n: int, out: Path, memory_events: int, step: Callable[[str], None] = lambda name: None
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
        url = _next(backend, out, customers_n)
        upgrade(url)
        worlds[customers_n] = (url, build_world(url, customers_n))
    url100, ids100 = worlds[100]
    step(PHASES[0])
    result["ceiling_events_per_s"] = round(ceiling(url100, ids100, n, rng))
    step(PHASES[1])
    result["naive_events_per_s"] = round(naive(url100, ids100, max(n // 10, 200), rng))
    result["engine_events_per_s"] = {}
    for phase, (customers_n, (url, ids)) in zip(PHASES[2:5], worlds.items(), strict=True):
        step(phase)
        rate, _ = engine_rate(url, ids, n, rng)
        result["engine_events_per_s"][str(customers_n)] = round(rate)
    step(PHASES[5])
    result["http"] = http_phase(url100, ids100, max(n // 5, 400), clients=8, latency_samples=min(n, 2000))
    step(PHASES[6])
    result["http_2_workers"] = http_phase(
        url100, ids100, max(n // 5, 400), clients=8, latency_samples=min(n, 2000), workers=2
    )
    step(PHASES[7])

    result["holds"] = hold_phase(url100, ids100, min(n, 2000))
    if memory_events:
        step(PHASES[8])
        # In a fresh process: the peak RSS of this one already holds the worlds built above.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            rate, rss = pool.apply(_memory_run, (url100, ids100, memory_events))
        result["memory"] = {
            "events": memory_events,
            "events_per_s": round(rate),
            "peak_rss_kb_at_100k": rss.get("at_first"),
            "peak_rss_kb_at_end": rss["at_end"],
        }
    (out / f"ingest-{backend}.json").write_text(json.dumps(result, indent=2))
    return result


def _memory_run(url: str, ids: list[str], n: int) -> tuple[float, dict[str, int]]:
    return engine_rate(url, ids, n, random.Random(7), rss_at=min(100_000, n))


def _next(backend: str, out: Path, customers_n: int) -> str:
    if backend == "sqlite":
        path = out / f"ingest-{customers_n}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    admin_url = os.environ.get("DRAWDOWN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"drawdown_ingest_bench_{customers_n}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
