"""Group commit: every batch waiting is billed in one transaction, and each caller is answered only
after that transaction has committed.

One writer thread takes every batch waiting (up to ``max_batch``), runs ``pipeline.bill`` over them
in one write transaction, commits, and then answers each caller. A batch that cannot be billed is
taken back alone before anything is written. If the group's transaction fails as a whole, each batch
is billed again on its own, so one bad batch never fails the others; event ids make the retry safe.

``close`` drains: every batch already queued is billed and answered before the thread ends; a batch
submitted after ``close`` (or still queued if the thread cannot finish in time) is answered with
``ShuttingDown``, a 503 the caller can retry elsewhere: nothing of it was recorded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy import Engine

from drawdown.core.errors import DomainError
from drawdown.db.engine import write
from drawdown.ops.metrics import Metrics
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Answer, UsageBatch

log = structlog.get_logger()


class ShuttingDown(DomainError):
    """The writer is closed: the batch was not recorded; send it again (to another server)."""

    status = 503
    title = "Service unavailable"


@dataclass
class _Waiting:
    batch: UsageBatch
    answer: Future[Answer]


class BatchWriter:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        default_limit: Decimal | None,
        cache: HotCache,
        max_batch: int = 256,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine, self.clock, self.limit, self.cache, self.max_batch = engine, clock, default_limit, cache, max_batch
        self.metrics = metrics or Metrics()
        self.queue: queue.Queue[_Waiting | None] = queue.Queue()
        self.metrics.watch_queue(self.queue.qsize)
        self.groups = 0
        self.groups_failed = 0  # groups whose transaction failed and whose batches were billed alone
        self.closed = False
        self._closing = threading.Lock()  # a submit never slips into the queue behind the closing sentinel
        self.thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)
        self.thread.start()

    @property
    def running(self) -> bool:
        return not self.closed and self.thread.is_alive()

    def submit(self, batch: UsageBatch) -> Future[Answer]:
        """A future resolved with the batch's answer once its transaction has committed."""
        future: Future[Answer] = Future()
        with self._closing:
            if not self.closed:
                self.queue.put(_Waiting(batch, future))
                return future
        self.metrics.counted(0, 0, len(batch.events))
        future.set_result(ShuttingDown("The server is shutting down; nothing of this request was recorded. Retry it."))
        return future

    def close(self, timeout: float = 25) -> None:
        """Drain: bill and answer every batch queued, then stop (refusing whatever is left after ``timeout``)."""
        with self._closing:
            if self.closed:
                return
            self.closed = True
            self.queue.put(None)  # behind every batch already queued
        self.thread.join(timeout=timeout)
        left = 0
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and not item.answer.done():
                left += len(item.batch.events)
                item.answer.set_result(ShuttingDown("The server stopped before this request could be billed; "
                                                    "nothing of it was recorded. Retry it."))
        self.metrics.counted(0, 0, left)
        log.info("batch_writer_closed", drained=not self.thread.is_alive(), refused_events=left)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            waiting = [first]
            while len(waiting) < self.max_batch:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.queue.put(None)
                    break
                waiting.append(item)
            self._commit(waiting)

    def _commit(self, waiting: list[_Waiting]) -> None:
        batches = [w.batch for w in waiting]
        self.groups += 1
        started = time.perf_counter()
        try:
            with write(self.engine) as conn:
                answers = pipeline.bill(conn, batches, self.clock(), self.limit, self.cache)
        except Exception:  # the group's transaction failed: bill each batch alone
            log.exception("group_commit_failed", batches=len(batches))
            self.groups_failed += 1
            self.metrics.groups_failed.inc()
            answers = [self._alone(b) for b in batches]
        self.metrics.group(len(batches), time.perf_counter() - started)
        self.metrics.counted(*tally(batches, answers))
        for w, answer in zip(waiting, answers, strict=True):
            w.answer.set_result(answer)

    def _alone(self, batch: UsageBatch) -> Answer:
        try:
            with write(self.engine) as conn:
                return pipeline.bill(conn, [batch], self.clock(), self.limit, self.cache)[0]
        except Exception as exc:  # noqa: BLE001 - nothing of this batch was recorded; its caller gets why
            return exc


def tally(batches: list[UsageBatch], answers: list[Answer]) -> tuple[int, int, int]:
    """(accepted, replayed, refused) events over a group's answers; a batch refused whole counts all its events."""
    accepted = replayed = refused = 0
    for batch, answer in zip(batches, answers, strict=True):
        if isinstance(answer, Exception):
            refused += len(batch.events)
        else:
            outcome = answer[1]
            accepted += len(outcome.accepted)
            replayed += len(outcome.replayed)
            refused += len(outcome.rejected)
    return accepted, replayed, refused
