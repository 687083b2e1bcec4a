"""What every route needs: the engine, the clock, the settings, and an authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import Engine

from drawdown.payments.gateway import Gateway
from drawdown.settings import Settings
from drawdown.usage.service import UsageService

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    engine: Engine
    settings: Settings
    clock: Clock
    usage: UsageService  # where usage events go to be billed
    stripe: Gateway  # payments; refuses with 503 when Stripe is not configured

    def now(self) -> datetime:
        return self.clock()


async def context(request: Request) -> Context:
    # Async: a sync dependency would cost every request a trip to the thread pool.
    ctx: Context = request.app.state.ctx
    return ctx
