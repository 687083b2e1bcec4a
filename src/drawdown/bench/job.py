"""Benchmark of the billing job with nothing due (``drawdown bench job``).

For each size (100 and 100,000 customers) a fresh database gets one template customer made through
the services at ``START``: subscribed to a plan with a monthly fee (charged), a monthly entitlement
(granted), recurring usage (one event accrued, uncharged) and a gift expiring in 90 days. Its rows in
the tables the job reads or writes are then cloned, ids renamed, for every other customer, with
``executemany`` (usage fees lose their event: the job never reads events). A day later nothing is due,
and ``run_due`` is timed (median of several runs): it should cost the same at either size. Results go
to ``var/bench/job-<backend>.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select

from drawdown.billing.job import run_due
from drawdown.billing.models import ACTION_REQUIRED, ACTIVE
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import upgrade
from drawdown.db.tables import (
    credit_grants,
    entitlement_grants,
    fees,
    period_charges,
    subscription_product_versions,
    subscription_products,
    subscriptions,
    wallet_accounts,
)
from drawdown.db.tables import customers as customer_rows
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment

START = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
SCOPE = DEFAULT_LIVE  # the world is built in the default account's live environment
SIZES = (100, 100_000)
RUNS = 9
_MONTHLY = {"type": "recurring", "recurring": {"interval": "month"}}
PLAN = NewProduct(
    code="plan",
    name="Plan",
    prices=[
        {"name": "Plan", "type": "fixed", "billing_model": _MONTHLY,
         "pricing": [{"asset": "CRED", "values": [{"unit_price": Decimal(20)}]}]},
        {"name": "Tokens", "type": "usage_based", "billing_model": _MONTHLY,
         "usage_calculation": {"event_type": "tokens", "usage_type": "volume", "volume_field": "n"},
         "pricing": [{"asset": "CRED", "values": [{"volume_rate": Decimal(1)}]}]},
    ],
    entitlements=[{"name": "allowance", "asset": "CRED", "amount": "5", "purpose": "bundled",
                   "lifecycle": {"duration": "month", "refresh": {"strategy": "expire_and_replace"}}}],
    publish=True,
)
# Cloned per customer, parents first; the id columns renamed in each (the others are copied).
CLONED: list[tuple[Table, tuple[str, ...]]] = [
    (customer_rows, ("id",)),
    (subscriptions, ("id", "customer_id")),
    (subscription_products, ("subscription_id",)),
    (subscription_product_versions, ("subscription_id",)),
    (wallet_accounts, ("id", "customer_id")),
    (credit_grants, ("id", "account_id")),
    (fees, ("id", "subscription_id", "customer_id", "account_id", "charge_id")),
    (period_charges, ("subscription_id", "customer_id", "transaction_id")),
    (entitlement_grants, ("subscription_id", "grant_id")),
]


def template(engine: Engine) -> str:
    """The template customer, made as the API would make it at ``START``."""
    with write(engine) as conn:
        catalog.create_asset(conn, SCOPE, NewAsset(code="CRED", name="Credits"), START)
        catalog.create_product(conn, SCOPE, PLAN, START)
        cid = customers.create_customer(conn, SCOPE, NewCustomer(name="template"), START, None).id
        topup = Adjustment("topup", "CRED", Decimal(1000), "external_topup")
        wallets.adjust(conn, SCOPE, cid, topup, START, None)
        gift = Adjustment("gift", "CRED", Decimal(50), "gift", expires_at=START + timedelta(days=90))
        wallets.adjust(conn, SCOPE, cid, gift, START, None)
        customers.create_subscription(conn, SCOPE, cid, NewSubscription((ProductRef(code="plan"),)), START, None)
        event = UsageEvent("tokens-1", "tokens", START, data={"n": 3})
        [answer] = pipeline.bill(conn, [UsageBatch(SCOPE, cid, None, [event])], START, None, HotCache())
        if isinstance(answer, Exception):
            raise answer
    return cid


def _template_rows(conn: Connection, cid: str) -> dict[str, list[dict[str, Any]]]:
    subs = select(subscriptions.c.id).where(subscriptions.c.customer_id == cid)
    accounts = select(wallet_accounts.c.id).where(wallet_accounts.c.customer_id == cid)
    owner = {
        "customers": customer_rows.c.id == cid,
        "subscriptions": subscriptions.c.customer_id == cid,
        "subscription_products": subscription_products.c.subscription_id.in_(subs),
        "subscription_product_versions": subscription_product_versions.c.subscription_id.in_(subs),
        "wallet_accounts": wallet_accounts.c.customer_id == cid,
        "credit_grants": credit_grants.c.account_id.in_(accounts),
        "fees": fees.c.customer_id == cid,
        "period_charges": period_charges.c.customer_id == cid,
        "entitlement_grants": entitlement_grants.c.subscription_id.in_(subs),
    }
    return {t.name: [dict(r._mapping) for r in conn.execute(select(t).where(owner[t.name]))] for t, _ in CLONED}


def clone(engine: Engine, cid: str, n: int, chunk: int = 20_000) -> None:
    """``n`` customers like the template, inserted ``chunk`` at a time with executemany."""
    with engine.connect() as conn:
        rows = _template_rows(conn, cid)
    with write(engine) as conn:
        for first in range(1, n, chunk):
            numbers = range(first, min(first + chunk, n))
            for table, renamed in CLONED:
                batch = [_renamed(row, renamed, i) for i in numbers for row in rows[table.name]]
                if batch:
                    conn.execute(insert(table), batch)


def _renamed(row: dict[str, Any], columns: tuple[str, ...], i: int) -> dict[str, Any]:
    out = {**row, **{c: f"{row[c]}-{i}" for c in columns if row[c] is not None}}
    if "event_seq" in out:
        out["event_seq"] = None
    return out


def measure(engine: Engine, now: datetime, runs: int = RUNS) -> dict[str, Any]:
    """Median (and min/max) milliseconds of ``run_due`` at ``now``, and of the old job's first query."""
    run_due(engine, now, None, "")  # warm: plans and pools
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        report = run_due(engine, now, None, "")
        times.append((time.perf_counter() - t0) * 1000)
        if report.visited:
            raise RuntimeError(f"nothing should be due at {now}, yet {report.visited} customers were visited")
    with engine.connect() as conn:
        t0 = time.perf_counter()
        # What the job read before next_due_at: every billed customer, each then visited.
        old = conn.execute(
            select(subscriptions.c.customer_id).where(
                subscriptions.c.status.in_((ACTIVE, ACTION_REQUIRED)), subscriptions.c.started_at <= now
            )
        ).all()
        old_ms = (time.perf_counter() - t0) * 1000
    return {"median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3),
            "max_ms": round(max(times), 3), "old_selection_ms": round(old_ms, 2), "old_visits": len(old)}


def world(url: str, n: int) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url)
    try:
        t0 = time.perf_counter()
        clone(engine, template(engine), n)
        built = time.perf_counter() - t0
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(subscriptions)).scalar_one()
        if count != n:
            raise RuntimeError(f"built {count} subscriptions, wanted {n}")
        return {"customers": n, "build_s": round(built, 2), **measure(engine, START + timedelta(days=1))}
    finally:
        engine.dispose()


def run(backend: str, out: Path, step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"backend": backend, "cores": os.cpu_count(), "runs": RUNS, "worlds": []}
    for n in SIZES:
        step(f"{n:,} customers")
        url, drop = _fresh(backend, out, n)
        try:
            result["worlds"].append(world(url, n))
        finally:
            drop()
    (out / f"job-{backend}.json").write_text(json.dumps(result, indent=2))
    return result


def _fresh(backend: str, out: Path, n: int) -> tuple[str, Callable[[], None]]:
    """A fresh database's URL and what drops it."""
    if backend == "sqlite":
        path = out / f"job-{n}.db"

        def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)

        remove()
        return f"sqlite:///{path}", remove
    import psycopg

    admin_url = os.environ.get("DRAWDOWN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"drawdown_job_bench_{n}"

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop
