"""What every route needs: the engine, the clock, the settings, and an authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from fastapi import Request
from sqlalchemy import Engine

from drawdown.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Context:
    engine: Engine
    settings: Settings
    clock: Clock
    writer: Any = None  # usage.batching.BatchWriter when group commit is on

    def now(self) -> datetime:
        return self.clock()


async def context(request: Request) -> Context:
    # Async: a sync dependency would cost every request a trip to the thread pool.
    return request.app.state.ctx
