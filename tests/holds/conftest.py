"""A world for hold tests: one customer of a volume price (1 unit per ``n``), funded, overdraft limit
0, and a usage service (the batching writer, as served) on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from drawdown.codec import fingerprint
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import read
from drawdown.holds import service as holds
from drawdown.holds.models import Check, HoldView, PlaceHold, ReleaseHold
from drawdown.usage.models import Outcome, UsageBatch, UsageEvent
from drawdown.usage.service import UsageService
from drawdown.wallets.repository import account_by_key, balances
from tests.worlds import volume_world

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


@dataclass
class World:
    engine: Engine
    usage: UsageService
    asset: str
    customer: str
    now: datetime

    @property
    def account(self) -> str:
        return f"default:{self.asset}"

    def clock(self) -> datetime:
        return self.now

    def place(self, hold_id: str, amount: str | None = None, **fields: Any) -> HoldView | Check:
        amount_ = None if amount is None else Decimal(amount)
        cmd = PlaceHold(hold_id, fields.pop("account", self.account), amount_, **fields)
        if not cmd.digest:
            body = {k: v for k, v in cmd.__dict__.items() if k not in ("digest", "dry_run")}
            cmd = PlaceHold(**{**cmd.__dict__, "digest": fingerprint(body)})
        _, outcome = self.usage.send_now(UsageBatch(DEFAULT_LIVE, self.customer, None, [], hold=cmd))
        assert outcome.hold is not None
        return outcome.hold

    def release(self, hold_id: str) -> HoldView:
        _, outcome = self.usage.send_now(
            UsageBatch(DEFAULT_LIVE, self.customer, None, [], hold=ReleaseHold(hold_id, self.account))
        )
        assert isinstance(outcome.hold, HoldView)
        return outcome.hold

    def use(self, event_id: str, n: int | str, hold_id: str | None = None, **extra: Any) -> Outcome:
        data: dict[str, Any] = {"n": n} | ({"hold_id": hold_id} if hold_id else {})
        event = UsageEvent(event_id, "u", self.now, data=data, **extra)
        return self.usage.send_now(UsageBatch(DEFAULT_LIVE, self.customer, None, [event]))[1]

    def balance(self) -> dict[str, Decimal]:
        with read(self.engine) as conn:
            row = account_by_key(conn, self.customer, "default", self.asset)
            assert row is not None
            return balances(conn, row.id, self.now)

    def hold(self, hold_id: str) -> HoldView:
        with read(self.engine) as conn:
            return holds.get_hold(conn, DEFAULT_LIVE, self.customer, self.account, hold_id, self.now)

    def later(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    asset, ids = volume_world(engine, T0, Decimal(1), 1, Decimal(100))
    w = World(engine, None, asset, ids[0], T0)  # type: ignore[arg-type]
    w.usage = UsageService(engine, w.clock, Decimal(0))
    yield w
    w.usage.close()
