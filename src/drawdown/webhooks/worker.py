"""The webhook delivery worker: one thread that, every ``DRAWDOWN_WEBHOOKS_INTERVAL_SECONDS``, fans
new outbox events out to their destinations and hands due deliveries to a pool of at most
``DRAWDOWN_WEBHOOKS_CONCURRENCY`` senders. It never waits for a sender: a slow receiver holds one
slot for at most its time bound, while the other destinations and customers go on, and ingestion
never waits for any of it (events only write an outbox row).

Several workers (processes, or the tests' servers) may share a database: a delivery is claimed by a
conditional UPDATE before it is sent, so each attempt is made by one of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine

from drawdown.db.engine import read, write
from drawdown.settings import Settings
from drawdown.webhooks import delivery, queue

log = structlog.get_logger()


def _system_now() -> datetime:
    return datetime.now(UTC)


class Deliverer:
    """The work itself, without the thread: ``tick(now)`` is what a test calls with its own clock."""

    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime] = _system_now) -> None:
        self.engine, self.settings, self.clock = engine, settings, clock
        self.pool = ThreadPoolExecutor(settings.webhooks_concurrency, thread_name_prefix="webhook-send")
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.webhooks_timeout_seconds, connect=settings.webhooks_connect_timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.webhooks_concurrency * 2, max_keepalive_connections=8),
            trust_env=False,
        )
        self._lock = threading.Lock()
        self.in_flight: set[int] = set()

    def tick(self, now: datetime | None = None, wait: bool = False) -> int:
        """Fan out, then start the due deliveries that fit in the free slots; how many were started.
        ``wait``: return only once they are sent and recorded (tests)."""
        now = now or self.clock()
        while delivery.fan_out(self.engine, now) == delivery.FAN_OUT_BATCH:
            pass
        with self._lock:
            free = self.settings.webhooks_concurrency - len(self.in_flight)
            busy = set(self.in_flight)
        if free <= 0:
            return 0
        with read(self.engine) as conn:
            rows = queue.due(conn, now, free, busy)
        started: list[Future[Any]] = []
        for row in rows:
            with write(self.engine) as conn:
                if not queue.claim(conn, row.id, row.attempts, now, now + delivery.lease(self.settings)):
                    continue
            with self._lock:
                self.in_flight.add(row.id)
            started.append(self.pool.submit(self._send, row, now))
        if wait:
            for future in started:
                future.result()
        return len(started)

    def drain(self, now: datetime | None = None, rounds: int = 50) -> None:
        """Tick and wait until nothing more is due at ``now`` (tests). Events another worker is fanning
        out (its rows locked, so skipped here) are waited for: once it commits, they are due here too."""
        for _ in range(rounds):
            if self.tick(now, wait=True) == 0:
                with read(self.engine) as conn:
                    if not queue.any_unfanned(conn):
                        return
                time.sleep(0.05)

    def _send(self, row: Any, now: datetime) -> None:
        try:
            delivery.attempt(self.engine, self.client, self.settings, row, now)
        except Exception:  # the delivery stays claimed and is retried when its lease ends
            log.exception("webhook_attempt_failed", delivery_id=row.id, event_id=row.event_id)
        finally:
            with self._lock:
                self.in_flight.discard(row.id)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()


class Worker(threading.Thread):
    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime] = _system_now) -> None:
        super().__init__(name="webhooks-worker", daemon=True)
        self.deliverer = Deliverer(engine, settings, clock)
        self.settings = settings
        self._halt = threading.Event()

    def run(self) -> None:
        # The interval is read each time: a test may shorten it on a running server.
        while not self._halt.wait(self.settings.webhooks_interval_seconds):
            try:
                self.deliverer.tick()
            except Exception:  # a database hiccup must not end the thread; the next tick tries again
                log.exception("webhooks_tick_failed")

    def stop(self, timeout: float = 10) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout)
        self.deliverer.close()


def start(engine: Engine, settings: Settings, clock: Callable[[], datetime] = _system_now) -> Worker:
    """A running delivery worker (``serve`` and the tests' servers)."""
    worker = Worker(engine, settings, clock)
    worker.start()
    return worker
