"""The batching writer: group commit for usage events.

Requests hand their batch to one writer thread and wait. The writer takes every request waiting (up to
``max_batch``), processes them in ONE database transaction — each in its own savepoint, so a refused
request rolls back alone — and commits once; only then is each caller answered. Nothing is
acknowledged before its commit, and a failed commit fails every request of the group (they retry;
event ids make that safe).

Customers are processed in sorted order (PostgreSQL row locks always taken in the same order, so
several writer processes cannot deadlock), and the profitability rollups of the whole group are
upserted at the end, in key order, for the same reason.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Callable

import structlog
from sqlalchemy import Engine

from drawdown.store import billing, costs
from drawdown.store.db import write

log = structlog.get_logger()


@dataclass
class Request:
    customer_id: str | None
    customer_external_id: str | None
    events: list[dict]
    future: Future


class BatchWriter:
    def __init__(self, engine: Engine, clock: Callable[[], datetime], overdraft_limit: Decimal | None, max_batch: int = 256) -> None:
        self.engine, self.clock, self.limit, self.max_batch = engine, clock, overdraft_limit, max_batch
        self.queue: queue.Queue[Request | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)
        self.thread.start()

    def submit(self, customer_id: str | None, customer_external_id: str | None, events: list[dict]) -> tuple[str, billing.Outcome]:
        """Blocks until the request's transaction has committed; returns (customer id, outcome)."""
        future: Future = Future()
        self.queue.put(Request(customer_id, customer_external_id, events, future))
        return future.result()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_batch:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.queue.put(None)
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[Request]) -> None:
        results: list[tuple[Request, object]] = []
        try:
            with write(self.engine) as conn:
                now = self.clock()
                rollup = costs.Rollup()
                resolved = []
                for req in group:
                    try:
                        cid = billing.resolve_customer(conn, req.customer_id, req.customer_external_id)
                        resolved.append((cid, req))
                    except Exception as exc:  # noqa: BLE001 - the caller gets its own error
                        results.append((req, exc))
                for cid, req in sorted(resolved, key=lambda pair: pair[0]):
                    savepoint = conn.begin_nested()
                    try:
                        outcome = billing.send_usage(conn, cid, req.events, now, self.limit, rollup=rollup)
                        savepoint.commit()
                        results.append((req, (cid, outcome)))
                    except Exception as exc:  # noqa: BLE001 - one refused request rolls back alone
                        savepoint.rollback()
                        results.append((req, exc))
                rollup.flush(conn)
        except Exception as exc:  # noqa: BLE001 - the commit failed: nobody's events are recorded
            log.exception("group_commit_failed", requests=len(group))
            for req in group:
                req.future.set_exception(exc)
            return
        for req, result in results:
            if isinstance(result, Exception):
                req.future.set_exception(result)
            else:
                req.future.set_result(result)
