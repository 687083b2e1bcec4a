"""The bench's world, shared by its phases (``bench ingest``, ``bench http``, ``bench versus`` and the
tests that time them): the bench product, customers subscribed to it with seeded grants, and a fresh
database to build them in. It imports no phase, so that every phase can import it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import make_engine, write
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


def fresh_database(backend: str, out: Path, customers_n: int) -> str:
    """An empty database for a bench world: a SQLite file under ``out``, or a PostgreSQL database of a fixed
    name, dropped first (``bench ingest`` and ``bench http`` reuse these names run after run)."""
    if backend == "sqlite":
        path = out / f"ingest-{customers_n}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin_url = os.environ.get("DRAWDOWN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"drawdown_ingest_bench_{customers_n}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
