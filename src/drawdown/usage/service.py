"""The usage room's door: ``send`` bills one customer's batch and answers once it is committed.

With group commit on (the default), batches go through the batching writer, which bills every batch
waiting in one transaction; otherwise each batch is billed in a transaction of its own. Either way
the caller waits for the commit, and the path is ``pipeline.bill``. ``close`` drains the writer: every
batch already handed over is billed and answered first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine

from drawdown.db.engine import write
from drawdown.ops.metrics import Metrics
from drawdown.usage import pipeline
from drawdown.usage.batching import BatchWriter, tally
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Answer, Outcome, UsageBatch
from drawdown.usage.writer_process import ProcessWriter


class UsageService:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        default_limit: Decimal | None,
        *,
        group_commit: bool = True,
        max_batch: int = 256,
        cache: HotCache | None = None,
        metrics: Metrics | None = None,
        writer_process: tuple[str, str] | None = None,
    ) -> None:
        """``writer_process``: (database URL, SQLite synchronous) to run the batching writer in a child
        process billing at the system clock (``usage/writer_process.py``)."""
        self.engine, self.clock, self.default_limit = engine, clock, default_limit
        self.cache = cache or HotCache()
        self.metrics = metrics or Metrics()
        self.writer: BatchWriter | ProcessWriter | None = None
        if group_commit and writer_process is not None:
            self.writer = ProcessWriter(*writer_process, default_limit, max_batch, self.metrics)
        elif group_commit:
            self.writer = BatchWriter(engine, clock, default_limit, self.cache, max_batch, self.metrics)

    @property
    def running(self) -> bool:
        """Whether batches can be billed: the batching writer's thread is alive (always, without one)."""
        return self.writer is None or self.writer.running

    async def send(self, batch: UsageBatch) -> tuple[str, Outcome]:
        """(customer id, what became of each event) once committed; raises why the batch was refused."""
        if self.writer is not None:
            answer = await asyncio.wrap_future(self.writer.submit(batch.take_digests()))
        else:
            answer = await asyncio.to_thread(self._bill_alone, batch)
        return _settled(answer)

    def send_now(self, batch: UsageBatch) -> tuple[str, Outcome]:
        """``send`` for callers without an event loop (blocks until committed)."""
        if self.writer is None:
            return _settled(self._bill_alone(batch))
        return _settled(self.writer.submit(batch.take_digests()).result())

    def close(self) -> None:
        """Drain the batching writer: every batch queued is billed and answered, later ones refused."""
        if self.writer is not None:
            self.writer.close()

    def _bill_alone(self, batch: UsageBatch) -> Answer:
        try:
            with write(self.engine) as conn:
                answer = pipeline.bill(conn, [batch], self.clock(), self.default_limit, self.cache)[0]
        except Exception:
            self.metrics.counted(0, 0, len(batch.events))
            raise
        self.metrics.counted(*tally([batch], [answer]))
        return answer


def _settled(answer: Answer) -> tuple[str, Outcome]:
    if isinstance(answer, Exception):
        raise answer
    return answer
