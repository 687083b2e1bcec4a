"""Group commit: every batch waiting is billed in one transaction, and each caller is answered only
after that transaction has committed.

One writer thread takes every batch waiting (up to ``max_batch``), runs ``pipeline.bill`` over them
in one write transaction, commits, and then answers each caller. A batch that cannot be billed is
taken back alone before anything is written. If the group's transaction fails as a whole, each batch
is billed again on its own, so one bad batch never fails the others; event ids make the retry safe.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy import Engine

from drawdown.db.engine import write
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Answer, UsageBatch

log = structlog.get_logger()


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
    ) -> None:
        self.engine, self.clock, self.limit, self.cache, self.max_batch = engine, clock, default_limit, cache, max_batch
        self.queue: queue.Queue[_Waiting | None] = queue.Queue()
        self.groups = 0
        self.groups_failed = 0  # groups whose transaction failed and whose batches were billed alone
        self.thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)
        self.thread.start()

    def submit(self, batch: UsageBatch) -> Future[Answer]:
        """A future resolved with the batch's answer once its transaction has committed."""
        future: Future[Answer] = Future()
        self.queue.put(_Waiting(batch, future))
        return future

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)

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
        try:
            with write(self.engine) as conn:
                answers = pipeline.bill(conn, batches, self.clock(), self.limit, self.cache)
        except Exception:  # the group's transaction failed: bill each batch alone
            log.exception("group_commit_failed", batches=len(batches))
            self.groups_failed += 1
            answers = [self._alone(b) for b in batches]
        for w, answer in zip(waiting, answers, strict=True):
            w.answer.set_result(answer)

    def _alone(self, batch: UsageBatch) -> Answer:
        try:
            with write(self.engine) as conn:
                return pipeline.bill(conn, [batch], self.clock(), self.limit, self.cache)[0]
        except Exception as exc:  # noqa: BLE001 - nothing of this batch was recorded; its caller gets why
            return exc
