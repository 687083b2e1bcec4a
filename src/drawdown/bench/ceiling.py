"""The honest ceiling of ``drawdown bench ingest``: the rows the engine writes for n events, written
with the raw driver (``sqlite3`` ``executemany``; on PostgreSQL psycopg 3's ``executemany``, or ``COPY`` for a
plain INSERT of many rows, as the engine writes them, and the updates and upserts as one statement of
all their rows) from tuples built before the clock
runs, 1,000 events per transaction, customers picked the way the engine phase picks them. No
pricing, no reads but the event sequence numbers, no SQLAlchemy on the write path: what this
database can do with our schema on this machine.

Per event it writes 1 event and 2 fees (tokens and requests); per customer per transaction, one usage
transaction naming its fees (migration 0018) with a wallet entry on the grant and a revenue entry
(none when the fees took nothing, as in the engine), a grant and an account update and the customer's
day and month rollup upserts; per transaction, the product's day and month rollups. The INSERT
column lists come from the tables themselves (``db/tables.py``) and every value passes the engine
dialect's own bind processor, so the stored bytes are the engine's. ``bench/writes.py`` checks the
rows against the engine's.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, select

from drawdown.bench.events import make_events
from drawdown.core.ids import new_id
from drawdown.core.money import SCALE
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import make_engine, read
from drawdown.db.rows import COPY_FROM
from drawdown.db.tables import credit_grants, events, fees, ledger_entries, products, subscriptions, transactions
from drawdown.db.tables import wallet_accounts as accounts
from drawdown.usage.models import UsageEvent

# The bench product's prices (bench/ingest.py PRODUCT) in nano-units: per token by model, per image.
TOKEN_RATE = {"large": 30_000, "small": 1_000, "vision": 20_000}
OTHER_TOKEN_RATE = 10_000
IMAGE_RATE, IMAGE_PACKAGE = 500_000_000, 10  # 0.5 per 10 images, prorated

GRANT_UPDATE = "UPDATE credit_grants SET remaining = {p}, state = 'live' WHERE id = {p}"
ACCOUNT_UPDATE = "UPDATE wallet_accounts SET debt = 0, reserved = 0, live_total = {p}, pending_total = 0 WHERE id = {p}"
ROLLUP_UPSERT = (
    'INSERT INTO rollups (scope_id, kind, "key", sub, period, revenue, cost) '
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) "
    'ON CONFLICT (scope_id, kind, "key", sub, period) DO UPDATE '
    "SET revenue = rollups.revenue + excluded.revenue, cost = rollups.cost + excluded.cost"
)

# PostgreSQL: the same three statements, each for many rows at once (``_many``).
MANY = {
    "credit_grants": "UPDATE credit_grants AS g SET remaining = CAST(v.remaining AS BIGINT), state = 'live' "
                     "FROM (VALUES {values}) AS v(remaining, id) WHERE g.id = v.id",
    "wallet_accounts": "UPDATE wallet_accounts AS a SET debt = 0, reserved = 0, "
                       "live_total = CAST(v.live_total AS BIGINT), pending_total = 0 "
                       "FROM (VALUES {values}) AS v(live_total, id) WHERE a.id = v.id",
    "rollups": ROLLUP_UPSERT.replace("VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})", "VALUES {values}"),
}


@dataclass
class World:
    """What the rows point at, read once before the clock runs."""

    account: dict[str, str]
    grant: dict[str, str]
    subscription: dict[str, str]
    product: str
    prices: tuple[str, str] = field(default_factory=lambda: (new_id("prc"), new_id("prc")))
    remaining: dict[str, int] = field(default_factory=dict)  # by grant
    live_total: dict[str, int] = field(default_factory=dict)  # by account


def load_world(engine: Engine) -> World:
    g = credit_grants.c
    with read(engine) as conn:
        account = {r.customer_id: r.id for r in conn.execute(select(accounts.c.customer_id, accounts.c.id))}
        # The engine spends the grant that expires first: the bench world gives one per customer.
        grants = conn.execute(select(g.account_id, g.id, g.remaining).where(g.expires_at.is_not(None))).all()
        world = World(
            account=account,
            grant={r.account_id: r.id for r in grants},
            subscription={r.customer_id: r.id for r in conn.execute(select(subscriptions))},
            product=conn.execute(select(products.c.id)).scalar_one(),
            remaining={r.id: r.remaining for r in grants},
            live_total={r.id: r.live_total for r in conn.execute(select(accounts.c.id, accounts.c.live_total))},
        )
    return world


class Writer:
    """INSERT statements from the tables' columns, and values through the dialect's bind processors."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.p = "?" if engine.dialect.name == "sqlite" else "%s"
        self.columns: dict[str, list[str]] = {}
        self.procs: dict[str, list[Any]] = {}

    def insert_sql(self, table: Table) -> str:
        cols = self._columns(table)
        names = ", ".join(f'"{c}"' for c in cols)
        return f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([self.p] * len(cols))})"

    def copy_sql(self, table: Table) -> str:
        names = ", ".join(f'"{c}"' for c in self._columns(table))
        return f"COPY {table.name} ({names}) FROM STDIN"

    def row(self, table: Table, values: dict[str, Any]) -> tuple[Any, ...]:
        """The row as the engine binds it; a NOT NULL column the ceiling does not fill fails loudly."""
        cols = self._columns(table)
        for name in cols:
            assert name in values or table.c[name].nullable, f"no {table.name}.{name} in the ceiling: update it"
        procs = self.procs[table.name]
        return tuple(p(values.get(c)) if p else values.get(c) for c, p in zip(cols, procs, strict=True))

    def _columns(self, table: Table) -> list[str]:
        if table.name not in self.columns:
            # The ledger's surrogate key comes from the database, as in the engine.
            cols = [c.name for c in table.columns if not (c.autoincrement is True and table is ledger_entries)]
            self.columns[table.name] = cols
            self.procs[table.name] = [table.c[c].type.bind_processor(self.dialect) for c in cols]
        return self.columns[table.name]


@dataclass
class Batch:
    """One transaction's rows; events and fees wait for the sequence numbers the database gives."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    fees: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)  # (event index, row without seq)
    transactions: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    grants: list[tuple[Any, ...]] = field(default_factory=list)
    accounts: list[tuple[Any, ...]] = field(default_factory=list)
    rollups: list[tuple[Any, ...]] = field(default_factory=list)


def _fee_amounts(ev: UsageEvent) -> list[tuple[int, int, int | None, int]]:
    """(input volume, rate, package size, amount) in nano-units for the tokens and the requests price."""
    data = ev.data or {}
    tokens, images = int(data["tokens"]), int(data["images"])
    rate = TOKEN_RATE.get(str(data["model"]), OTHER_TOKEN_RATE)
    return [
        (tokens * SCALE, rate, None, tokens * rate),
        (images * SCALE, IMAGE_RATE, IMAGE_PACKAGE, images * IMAGE_RATE // IMAGE_PACKAGE),
    ]


def build_batch(w: Writer, world: World, groups: dict[str, list[UsageEvent]], now: datetime) -> Batch:
    b = Batch()
    for cust, evs in groups.items():
        spent = sum(fee[-1] for ev in evs for fee in _fee_amounts(ev))
        account, grant = world.account[cust], world.grant[world.account[cust]]
        txn = new_id("txn")
        _event_rows(w, world, b, cust, evs, now, txn)
        b.transactions.append(w.row(transactions, {
            "id": txn, "customer_id": cust, "transaction_id": txn, "type": "usage", "account_id": account,
            "asset": "CRED", "amount": -spent, "description": f"{2 * len(evs)} usage fees", "created_at": now,
            "executed_at": now,
        }))
        if spent:  # fees that took nothing move no money, as in the engine
            entry = {"transaction_id": txn, "asset": "CRED", "created_at": now}
            b.entries.append(w.row(ledger_entries, {
                **entry, "account": f"wallet:{account}", "grant_id": grant, "amount": -spent}))
            b.entries.append(w.row(ledger_entries, {**entry, "account": "system:revenue:CRED", "amount": spent}))
        world.remaining[grant] -= spent
        world.live_total[account] -= spent
        b.grants.append((world.remaining[grant], grant))
        b.accounts.append((world.live_total[account], account))
    day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
    keys = [("customer", c) for c in groups] + [("product", world.product)]
    b.rollups = [(DEFAULT_LIVE.id, f"{kind}_{grain}", key, "", period, 0, 0)
                 for kind, key in keys for grain, period in (("day", day), ("month", month))]
    return b


def _event_rows(
    w: Writer, world: World, b: Batch, cust: str, evs: list[UsageEvent], now: datetime, txn: str
) -> None:
    account = world.account[cust]
    for ev in evs:
        b.events.append(w.row(events, {
            "scope_id": DEFAULT_LIVE.id, "id": ev.id, "customer_id": cust, "event_type": ev.event_type,
            "occurred_at": ev.occurred_at, "data": ev.data, "request_hash": secrets.token_hex(32),
            "created_at": now, "revenue": 0, "cost": 0, "seq": 0,
        }))
        prices = zip(_fee_amounts(ev), world.prices, ("Tokens", "Requests"), ("tokens", "images"), strict=True)
        for (volume, rate, package, amount), price, name, field_name in prices:
            b.fees.append((len(b.events) - 1, w.row(fees, {
                "id": new_id("fee"), "event_seq": 0, "subscription_id": world.subscription[cust],
                "billing": "real_time", "customer_id": cust, "account_id": account, "product_id": world.product,
                "product_code": "bench", "product_version": 1, "price_id": price, "price_name": name, "asset": "CRED",
                "dimensions": {"model": (ev.data or {})["model"]} if name == "Tokens" else None, "usage_type": "volume",
                "volume_field": field_name, "input_volume": volume, "volume_rate": rate, "package_size": package,
                "amount": amount, "charge_id": txn, "created_at": now,
            })))


def ceiling(url: str, ids: list[str], n: int, rng: random.Random, per_txn: int = 1000) -> tuple[float, Counter[str]]:
    """Events per second and the rows written by table."""
    # On SQLite a writer's engine, so that the log is checkpointed beside the writes as the engine's is
    # (db/checkpoints.py); on PostgreSQL not: a writer's connections turn psycopg's preparation off.
    engine = make_engine(url, writer=url.startswith("sqlite"))
    world, w = load_world(engine), Writer(engine)
    sql = {t.name: w.insert_sql(t) for t in (events, fees, transactions, ledger_entries)}
    sql |= {f"copy {t.name}": w.copy_sql(t) for t in (events, fees, transactions, ledger_entries)}
    # _write puts the sequence numbers in place by position: seq leads the events, event_seq follows a fee's id.
    assert w.columns["events"][0] == "seq" and w.columns["fees"][:2] == ["id", "event_seq"], "column order moved"
    sql |= {"credit_grants": GRANT_UPDATE.format(p=w.p), "wallet_accounts": ACCOUNT_UPDATE.format(p=w.p),
            "rollups": ROLLUP_UPSERT.format(p=w.p)}
    counts: Counter[str] = Counter()
    raw = engine.raw_connection()  # the engine's own connection settings (WAL, synchronous), none of its code
    conn = raw.driver_connection
    elapsed, done = 0.0, 0
    try:
        while done < n:
            groups: dict[str, list[UsageEvent]] = {}
            for ev in make_events(min(per_txn, n - done), rng):
                groups.setdefault(rng.choice(ids), []).append(ev)
            batch = build_batch(w, world, groups, datetime.now(UTC))
            start = time.perf_counter()
            _write(conn, engine.dialect.name, sql, batch, counts)
            elapsed += time.perf_counter() - start
            done += len(batch.events)
    finally:
        raw.close()
        engine.dispose()
    return n / elapsed, counts


def _write(conn: Any, backend: str, sql: dict[str, str], b: Batch, counts: Counter[str]) -> None:
    """One transaction, in the engine's order of statements."""
    cur = conn.cursor()
    if backend == "sqlite":
        cur.execute("BEGIN IMMEDIATE")
    for table, rows in (("credit_grants", b.grants), ("wallet_accounts", b.accounts)):
        counts[table] += _many(cur, backend, sql, table, rows)
    for table, rows in (("transactions", b.transactions), ("ledger_entries", b.entries)):
        counts[table] += _insert(cur, backend, sql, table, rows)
    seqs = _next_seqs(cur, backend, len(b.events))
    counts["events"] += _insert(cur, backend, sql, "events", [(seqs[i], *row[1:]) for i, row in enumerate(b.events)])
    fee_rows = [(row[0], seqs[i], *row[2:]) for i, row in b.fees]  # after id: event_seq
    counts["fees"] += _insert(cur, backend, sql, "fees", fee_rows)
    counts["rollups"] += _many(cur, backend, sql, "rollups", b.rollups)
    if backend == "sqlite":
        cur.execute("COMMIT")
    else:
        conn.commit()


def _insert(cur: Any, backend: str, sql: dict[str, str], table: str, rows: list[tuple[Any, ...]]) -> int:
    """Rows of a plain INSERT, written as the engine writes them (``db/rows.py:Bulk``): by COPY on
    PostgreSQL from ``COPY_FROM`` rows, by executemany otherwise. The rows written."""
    if backend == "sqlite" or len(rows) < COPY_FROM:
        cur.executemany(sql[table], rows)
        return int(cur.rowcount)
    with cur.copy(sql[f"copy {table}"]) as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def _many(cur: Any, backend: str, sql: dict[str, str], table: str, rows: list[tuple[Any, ...]]) -> int:
    """Rows of an UPDATE by key or an upsert: by executemany on SQLite (its statements cost no round
    trip), on PostgreSQL as one statement of all the rows, bound by the driver in C: each statement
    costs PostgreSQL an executor start-up, and the database's best is what a ceiling measures. The
    rows changed."""
    if not rows:
        return 0
    if backend == "sqlite":
        cur.executemany(sql[table], rows)
    else:
        width = len(rows[0])
        values = ", ".join([f"({', '.join(['%s'] * width)})"] * len(rows))
        cur.execute(MANY[table].format(values=values), [value for row in rows for value in row])
    return int(cur.rowcount)


def _next_seqs(cur: Any, backend: str, k: int) -> list[int]:
    """The events' sequence numbers, as the database would give them: the rowid after the largest on
    SQLite (this is the only writer), the column's own sequence on PostgreSQL."""
    if backend == "sqlite":
        top = cur.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        return list(range(top + 1, top + 1 + k))
    cur.execute("SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, %s)", (k,))
    return [r[0] for r in cur.fetchall()]
