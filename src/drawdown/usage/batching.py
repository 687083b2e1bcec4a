"""The batching writer: group commit for usage events.

Requests hand their batch to one writer thread and wait. The writer takes every request waiting (up to
``max_batch``) and bills them together with ``usage.pipeline.bill``: one transaction, one executemany per
row kind, one commit; only then is each caller answered, so nothing is acknowledged before its commit.
A request that is refused (data that cannot be rated) is taken back alone before anything is written.
If the group's transaction fails as a whole, every request is billed again on its own, so one bad
request never fails the others; event ids make the retry safe.
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

from drawdown.usage import pipeline as usage
from drawdown.db.engine import write

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
        self.groups = 0
        self.groups_failed = 0  # groups whose transaction failed and whose requests were billed alone
        self.thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)
        self.thread.start()

    def submit(self, customer_id: str | None, customer_external_id: str | None, events: list[dict]) -> tuple[str, usage.Outcome]:
        """Blocks until the request's transaction has committed; returns (customer id, outcome)."""
        return self.enqueue(customer_id, customer_external_id, events).result()

    def enqueue(self, customer_id: str | None, customer_external_id: str | None, events: list[dict]) -> Future:
        """A future resolved with (customer id, outcome) once the request's transaction has committed."""
        future: Future = Future()
        self.queue.put(Request(customer_id, customer_external_id, events, future))
        return future

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
        requests = [usage.Request(r.customer_id, r.customer_external_id, r.events) for r in group]
        self.groups += 1
        try:
            with write(self.engine) as conn:
                results = usage.bill(conn, requests, self.clock(), self.limit)
        except Exception:  # noqa: BLE001 - the group's transaction failed: bill each request alone
            log.exception("group_commit_failed", requests=len(group))
            self.groups_failed += 1
            results = []
            for request in requests:
                try:
                    with write(self.engine) as conn:
                        results.append(usage.bill(conn, [request], self.clock(), self.limit)[0])
                except Exception as exc:  # noqa: BLE001 - nothing of this request was recorded
                    results.append(exc)
        for req, result in zip(group, results):
            if isinstance(result, Exception):
                req.future.set_exception(result)
            else:
                req.future.set_result(result)
