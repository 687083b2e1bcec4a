"""The standing crash test: ``drawdown serve`` killed with SIGKILL at random moments under concurrent
clients, restarted on the same database, then everything ever sent is resent.

Only the final state is asserted, never timing: every event acknowledged before the resend is stored;
after the resend every event sent is stored once with its one fee, one fee transaction each, every
transaction balances, and every account's ledger equals its grants minus its debt. Seeded, bounded
(a few thousand events, three kills), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from drawdown.core.money import SCALE
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import read, write
from drawdown.db.tables import credit_grants, events, fees, ledger_entries, transactions, wallet_accounts
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment
from tests.worlds import make_asset, make_customer, make_product, usage_price

SEED = 17
CLIENTS = 4
CUSTOMERS = 20
KILLS = 3
RATE = Decimal("0.01")  # per unit of "n": an integer volume makes an exact fee, no rounding to reason about
FUNDS = Decimal("3")  # below what most customers spend, so both grants and debt are exercised
MAX_REQUESTS_PER_CLIENT = 500  # bounds the volume whatever the machine's speed (at most 3 events each)
SECRET = "key_crash_test_" + "k" * 32  # a bootstrap key of at least 32 characters


@dataclass
class Process:
    """The server currently serving; clients read ``base`` on every attempt to follow restarts."""

    log: Path
    base: str = ""
    process: subprocess.Popen[bytes] | None = None
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    start_seconds: list[float] = field(default_factory=list)  # reported, never asserted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(url: str, holder: Process) -> None:
    """Start a server on a free port and wait for /health; a second try if it exits at once (the port
    can be taken between choosing it and binding it)."""
    if not _try_start(url, holder, last=False):
        _try_start(url, holder, last=True)


def _try_start(url: str, holder: Process, last: bool) -> bool:
    port, t0 = _free_port(), time.monotonic()
    env = {**os.environ, "DRAWDOWN_DATABASE_URL": url, "DRAWDOWN_BOOTSTRAP_API_KEY": SECRET,
           "DRAWDOWN_JOB_INTERVAL_SECONDS": "0", "DRAWDOWN_LOG_LEVEL": "warning", "DRAWDOWN_WORKERS": "1"}
    with holder.log.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "drawdown.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    holder.started.append(process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200 and process.poll() is None:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None and not last:
            return False
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start; its log:\n{holder.log.read_text()[-3000:]}")
        time.sleep(0.05)
    holder.process, holder.base = process, base
    holder.start_seconds.append(round(time.monotonic() - t0, 2))
    return True


def _world(engine: Engine, now: datetime) -> list[str]:
    """Customers on a real-time usage price, each gifted FUNDS, accounts with no overdraft limit."""
    with write(engine) as conn:
        asset = make_asset(conn, now)
        product = make_product(conn, now, [usage_price(asset, [{"volume_rate": RATE}])])
        ids = [make_customer(conn, now, product, limit=None) for _ in range(CUSTOMERS)]
        for cid in ids:
            wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment(f"gift-{cid}", asset, FUNDS, "gift"), now, None)
    return ids


@dataclass
class Traffic:
    """Every request ever sent (body fixed once, so a resend is an exact replay) and what came back."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    acknowledged: set[int] = field(default_factory=set)  # indexes into ``sent``
    unknown: int = 0  # requests whose answer was lost to a kill (neither acknowledged nor refused)
    statuses: Counter[int] = field(default_factory=Counter)
    odd: list[str] = field(default_factory=list)  # the first answers that were neither 204 nor 503
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(k: int, ids: list[str], occurred_at: str, holder: Process, traffic: Traffic, stop: threading.Event) -> None:
    rng = random.Random(SEED * 100 + k)
    headers = {"X-CREDYT-API-KEY": SECRET}
    with httpx.Client(headers=headers, timeout=30) as c:
        for n in range(MAX_REQUESTS_PER_CLIENT):
            if stop.is_set():
                return
            body = {"customer_id": rng.choice(ids), "events": [
                {"id": f"c{k}-{n}-{j}", "event_type": "u", "occurred_at": occurred_at, "data": {"n": rng.randint(1, 9)}}
                for j in range(rng.randint(1, 3))]}
            with traffic.lock:  # recorded before it is sent: an unanswered request may still have been billed
                index = len(traffic.sent)
                traffic.sent.append(body)
            while not stop.is_set():
                try:
                    resp = c.post(f"{holder.base}/events", json=body)
                except httpx.ConnectError:  # never reached a server: send it again once one is back
                    time.sleep(0.05)
                    continue
                except httpx.TransportError:  # sent, answer lost in a kill: billed or not, left to the resend
                    with traffic.lock:
                        traffic.unknown += 1
                    break
                with traffic.lock:
                    traffic.statuses[resp.status_code] += 1
                    if resp.status_code == 204:
                        traffic.acknowledged.add(index)
                    elif resp.status_code != 503 and len(traffic.odd) < 5:
                        traffic.odd.append(f"{resp.status_code} {resp.text[:300]}")
                break


def _resend(bodies: list[dict[str, Any]], base: str, failures: list[str]) -> None:
    with httpx.Client(headers={"X-CREDYT-API-KEY": SECRET}, timeout=30) as c:
        for body in bodies:
            for _ in range(200):
                try:
                    resp = c.post(f"{base}/events", json=body)
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                if resp.status_code == 204:
                    break
                if resp.status_code != 503:  # a valid request, replayed exactly: nothing else is acceptable
                    failures.append(f"{resp.status_code} {resp.text[:300]} for {body}")
                    return
                time.sleep(0.05)
            else:
                failures.append(f"never answered 204: {body}")
                return


def _stored(engine: Engine, ids: list[str]) -> list[Any]:
    with read(engine) as conn:
        return list(conn.execute(
            select(events.c.customer_id, events.c.id, events.c.seq, events.c.data).where(events.c.customer_id.in_(ids))
        ).all())


def _threads(target: Any, args: list[tuple[Any, ...]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=a, daemon=True) for a in args]
    for t in threads:
        t.start()
    return threads


@pytest.mark.timeout(120)
def test_kill9_under_load_loses_nothing_and_bills_once(engine: Engine, database_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    ids = _world(engine, now)
    occurred_at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    holder = Process(log=tmp_path / "server.log")
    traffic = Traffic()
    stop = threading.Event()
    t0 = time.monotonic()
    try:
        _start(database_url, holder)
        clients = _threads(_client, [(k, ids, occurred_at, holder, traffic, stop) for k in range(CLIENTS)])
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 1.5))
            assert holder.process is not None
            os.kill(holder.process.pid, signal.SIGKILL)
            holder.process.wait(timeout=30)
            _start(database_url, holder)
        time.sleep(rng.uniform(0.5, 1.0))  # traffic on the last server too, before the clients stop
        stop.set()
        for t in clients:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in clients), "a client did not stop"

        # Durability: whatever was answered 204 survived every kill (checked before the resend can mask it).
        sent = {(b["customer_id"], e["id"]): e["data"]["n"] for b in traffic.sent for e in b["events"]}
        acked = {(traffic.sent[i]["customer_id"], e["id"])
                 for i in traffic.acknowledged for e in traffic.sent[i]["events"]}
        before = _stored(engine, ids)
        stored_keys = {(r.customer_id, r.id) for r in before}
        assert acked <= stored_keys, f"acknowledged events lost: {sorted(acked - stored_keys)[:10]}"
        assert stored_keys <= set(sent), "an event was stored that was never sent"
        assert set(traffic.statuses) <= {204, 503}, f"under load: {traffic.statuses} {traffic.odd}"

        t_load = time.monotonic() - t0
        failures: list[str] = []
        resend = _threads(_resend, [(traffic.sent[k::CLIENTS], holder.base, failures) for k in range(CLIENTS)])
        for t in resend:
            t.join(timeout=90)
        assert not any(t.is_alive() for t in resend), "the resend did not finish"
        assert failures == [], failures[:5]
        assert holder.process is not None and holder.process.poll() is None, "the last server died under load"
    finally:
        stop.set()
        for process in holder.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)

    t_resend = time.monotonic() - t0 - t_load
    print(f"{database_url.split(':')[0]}: {len(traffic.sent)} requests, {len(sent)} events, "
          f"{len(acked)} acknowledged, {traffic.unknown} answers lost, statuses {dict(traffic.statuses)}; "
          f"starts {holder.start_seconds} s, load {t_load:.1f} s, resend {t_resend:.1f} s")
    _check_final_state(engine, ids, sent)


def _check_final_state(engine: Engine, ids: list[str], sent: dict[tuple[str, str], int]) -> None:
    rows = _stored(engine, ids)
    # Every event sent is stored exactly once, with the content it was sent with.
    counts = Counter((r.customer_id, r.id) for r in rows)
    assert set(counts) == set(sent), f"missing: {sorted(set(sent) - set(counts))[:10]}"
    assert [k for k, n in counts.items() if n != 1] == [], "an event was stored twice"
    assert all(r.data == {"n": sent[(r.customer_id, r.id)]} for r in rows)
    with read(engine) as conn:
        # One fee per event, of exactly what the price makes: n × RATE, in scaled units.
        fee_rows = conn.execute(
            select(fees.c.id, fees.c.event_seq, fees.c.amount, fees.c.charge_id).where(fees.c.customer_id.in_(ids))
        ).all()
        by_seq = Counter(f.event_seq for f in fee_rows)
        expected = {r.seq: int(sent[(r.customer_id, r.id)] * RATE * SCALE) for r in rows}
        assert set(by_seq) == set(expected) and set(by_seq.values()) == {1}, "an event without exactly one fee"
        assert all(f.amount == expected[f.event_seq] for f in fee_rows), "a fee of the wrong amount"
        # Each fee names the usage transaction that took it, and each usage transaction took exactly what
        # its fees add up to: nothing debited twice, nothing debited without a fee.
        usage = {t.transaction_id: -t.amount for t in conn.execute(
            select(transactions.c.transaction_id, transactions.c.amount)
            .where(transactions.c.customer_id.in_(ids), transactions.c.type == "usage")
        )}
        taken: Counter[str] = Counter()
        for f in fee_rows:
            taken[f.charge_id] += f.amount
        assert dict(taken) == usage
        # Double entry: every transaction of these customers sums to zero.
        unbalanced = conn.execute(
            select(ledger_entries.c.transaction_id)
            .join(transactions, transactions.c.id == ledger_entries.c.transaction_id)
            .where(transactions.c.customer_id.in_(ids))
            .group_by(ledger_entries.c.transaction_id)
            .having(func.sum(ledger_entries.c.amount) != 0)
        ).all()
        assert unbalanced == []
        # Each account's ledger equals its grants remaining minus its debt; all together, gifts minus fees.
        total_booked = 0
        accounts = conn.execute(select(wallet_accounts).where(wallet_accounts.c.customer_id.in_(ids))).all()
        assert len(accounts) == CUSTOMERS
        for acc in accounts:
            booked = int(conn.execute(
                select(func.coalesce(func.sum(ledger_entries.c.amount), 0))
                .where(ledger_entries.c.account == f"wallet:{acc.id}")
            ).scalar_one())
            granted = int(conn.execute(
                select(func.coalesce(func.sum(credit_grants.c.remaining), 0))
                .where(credit_grants.c.account_id == acc.id)
            ).scalar_one())
            assert booked == granted - acc.debt, acc.id
            total_booked += booked
        assert total_booked == int(CUSTOMERS * FUNDS * SCALE) - sum(expected.values())
