"""The payments worker: one thread that runs the payments room's background tasks every
``DRAWDOWN_PAYMENTS_INTERVAL_SECONDS``: reconciliation of pending top-ups (lost webhooks), expiry of
unpaid links, refunds left pending by a crash, and whatever other parts register.

A task is ``task(engine, gateway, settings, now)``; it reads, commits, calls Stripe, then writes in
a new transaction (never Stripe inside a transaction). Tasks run one after another in each tick; one
that raises is logged and the others still run; the next tick tries again. Register a task with
``Worker(..., tasks=[...])``, ``worker.add(task)``, or for every worker (``serve`` and the tests)
in ``default_tasks``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine

from drawdown.payments import auto, reconcile, refunds
from drawdown.payments.gateway import Gateway, StripeConfig
from drawdown.settings import Settings

log = structlog.get_logger()

Task = Callable[[Engine, Gateway, Settings, datetime], Any]


def default_tasks() -> list[Task]:
    """What every payments worker runs, in this order."""
    return [auto.charge_due, reconcile.reconcile, reconcile.expire, refunds.retry_pending]


def _system_now() -> datetime:
    return datetime.now(UTC)


class Worker(threading.Thread):
    def __init__(
        self,
        engine: Engine,
        gateway: Gateway,
        settings: Settings,
        clock: Callable[[], datetime] = _system_now,
        tasks: list[Task] | None = None,
    ) -> None:
        super().__init__(name="payments-worker", daemon=True)
        self.engine, self.gateway, self.settings, self.clock = engine, gateway, settings, clock
        self.tasks: list[Task] = default_tasks() if tasks is None else list(tasks)
        self._halt = threading.Event()

    def add(self, task: Task) -> None:
        self.tasks.append(task)

    def run(self) -> None:
        # The interval is read each time: a test may shorten it on a running server.
        while not self._halt.wait(self.settings.payments_interval_seconds):
            self.tick()

    def tick(self) -> None:
        """Every task once (also callable directly, e.g. by a test or a CLI command)."""
        for task in list(self.tasks):
            if self._halt.is_set():
                return
            try:
                task(self.engine, self.gateway, self.settings, self.clock())
            except Exception:  # one failing task must not stop the others, nor the thread
                log.exception("payments_task_failed", task=getattr(task, "__qualname__", repr(task)))

    def stop(self, timeout: float = 10) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout)


def start(engine: Engine, settings: Settings, clock: Callable[[], datetime] = _system_now) -> Worker:
    """A running worker with its own Stripe gateway (``serve`` and the tests' ``pay_server``)."""
    worker = Worker(engine, Gateway(StripeConfig.from_settings(settings)), settings, clock)
    worker.start()
    return worker
