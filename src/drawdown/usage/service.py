"""The usage room's door: ``send`` bills one customer's batch and answers once it is committed.

With group commit on (the default), batches go through the batching writer, which bills every batch
waiting in one transaction; otherwise each batch is billed in a transaction of its own. Either way
the caller waits for the commit, and the path is ``pipeline.bill``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine

from drawdown.db.engine import write
from drawdown.usage import pipeline
from drawdown.usage.batching import BatchWriter
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Answer, Outcome, UsageBatch


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
    ) -> None:
        self.engine, self.clock, self.default_limit = engine, clock, default_limit
        self.cache = cache or HotCache()
        self.writer = BatchWriter(engine, clock, default_limit, self.cache, max_batch) if group_commit else None

    async def send(self, batch: UsageBatch) -> tuple[str, Outcome]:
        """(customer id, what became of each event) once committed; raises why the batch was refused."""
        if self.writer is not None:
            answer = await asyncio.wrap_future(self.writer.submit(batch))
        else:
            answer = await asyncio.to_thread(self._bill_alone, batch)
        return _settled(answer)

    def send_now(self, batch: UsageBatch) -> tuple[str, Outcome]:
        """``send`` for callers without an event loop (blocks until committed)."""
        answer = self.writer.submit(batch).result() if self.writer is not None else self._bill_alone(batch)
        return _settled(answer)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _bill_alone(self, batch: UsageBatch) -> Answer:
        with write(self.engine) as conn:
            return pipeline.bill(conn, [batch], self.clock(), self.default_limit, self.cache)[0]


def _settled(answer: Answer) -> tuple[str, Outcome]:
    if isinstance(answer, Exception):
        raise answer
    return answer
