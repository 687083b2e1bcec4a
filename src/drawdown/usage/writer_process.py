"""The batching writer in a process of its own, so that the server's event loop never waits on it.

In one process, the writer thread and the event loop share the GIL: while the writer rates and books a
group, requests are neither read nor answered, and each of the writer's database calls (which release
the GIL) waits to get it back from the loop. Measured over HTTP with 8 single-event clients, the writer
was busy the whole time and the two took turns instead of running side by side. Here the writer is the
same ``BatchWriter`` (same groups, same transaction, same answers after the commit), run in a child
process with its own engine and caches; the server sends it each batch over a pipe and awaits the
answer, so HTTP work and billing run on two cores.

The writer reads the system clock itself: an app built with another clock (the tests) keeps the writer
thread (``api/app.py`` decides). Nothing is answered before the child has committed it; if the child
dies, every batch in flight is answered ``OutcomeUnknown`` (503): it may or may not have been billed,
and sending it again with the same event ids is safe.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

import structlog

from drawdown.core.errors import DomainError
from drawdown.ops.metrics import Metrics
from drawdown.usage.batching import BatchWriter, ShuttingDown, tally
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Answer, UsageBatch

log = structlog.get_logger()


class OutcomeUnknown(DomainError):
    """The writer process ended while the batch was in flight: it may have been billed or not."""

    status = 503
    title = "Service unavailable"


class ProcessWriter:
    """``BatchWriter``'s interface (``submit``, ``close``, ``running``), billing in a child process."""

    def __init__(
        self, url: str, synchronous: str, default_limit: Decimal | None, max_batch: int, metrics: Metrics
    ) -> None:
        self.metrics = metrics
        ctx = multiprocessing.get_context("spawn")  # never fork a process that holds threads and connections
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_child, args=(child, url, synchronous, default_limit, max_batch), name="drawdown-writer"
        )
        self.process.start()
        child.close()
        # Started before the server answers: a request must never wait for the child's imports.
        if not self._conn.poll(60) or self._conn.recv() != ("ready",):
            self.process.kill()
            raise RuntimeError("the writer process did not start")
        self._pending: dict[int, tuple[UsageBatch, Future[Answer]]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()  # one sender at a time; pending and closed change together
        self.closed = False
        self.groups = 0
        self.metrics.watch_queue(lambda: len(self._pending))
        self._reader = threading.Thread(target=self._read, name="writer-answers", daemon=True)
        self._reader.start()
        # An app nobody closed (a test's, a script's): at exit, multiprocessing joins every child it
        # started, and the child waits for this end of the pipe, so the interpreter would never end.
        # Closed first (atexit runs the latest registration first), the child drains and ends.
        atexit.register(self.close, 5)

    @property
    def running(self) -> bool:
        return not self.closed and self.process.is_alive()

    def submit(self, batch: UsageBatch) -> Future[Answer]:
        """A future resolved with the batch's answer once the child has committed its group."""
        future: Future[Answer] = Future()
        with self._lock:
            if not self.closed:
                n = next(self._ids)
                self._pending[n] = (batch, future)
                try:
                    self._conn.send((n, batch))
                    return future
                except (OSError, ValueError):  # the child is gone: nothing of this batch was sent
                    del self._pending[n]
        self.metrics.counted(0, 0, len(batch.events))
        future.set_result(ShuttingDown("The server is shutting down; nothing of this request was recorded. Retry it."))
        return future

    def close(self, timeout: float = 25) -> None:
        """Drain: the child bills and answers every batch it was sent, then ends."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            atexit.unregister(self.close)
            try:
                self._conn.send(None)
            except (OSError, ValueError):
                pass
        self._reader.join(timeout=timeout)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
        self._unknown()

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind in ("answer", "raised"):
                n = message[1]
                answer = message[2] if kind == "answer" else _rebuilt(*message[2:])
                with self._lock:
                    batch, future = self._pending.pop(n)
                self.metrics.counted(*tally([batch], [answer]))
                future.set_result(answer)
            elif kind == "group":
                self.groups += 1
                self.metrics.group(message[1], message[2])
            elif kind == "failed":
                self.metrics.groups_failed.inc()
        with self._lock:
            self.closed = True
        self._unknown()

    def _unknown(self) -> None:
        """Answer whatever is still in flight: the child ended before answering it."""
        with self._lock:
            left, self._pending = self._pending, {}
        for batch, future in left.values():
            self.metrics.counted(0, 0, len(batch.events))
            future.set_result(OutcomeUnknown(
                "The billing process stopped before answering; the events may or may not have been recorded. "
                "Send them again with the same ids: an event already recorded is not billed twice."
            ))
        if left:
            log.error("writer_process_ended", batches_unanswered=len(left))


class _Forwarded(Metrics):
    """The child's metrics: what the server's /metrics shows about groups is sent to the server."""

    def __init__(self, send: Any) -> None:
        super().__init__()
        self._send = send
        self.groups_failed = _FailedGroups(send)  # type: ignore[assignment]  # only .inc() is used

    def group(self, batches: int, seconds: float) -> None:
        self._send(("group", batches, seconds))

    def counted(self, accepted: int, replayed: int, refused: int) -> None:
        pass  # the server counts events from the answers it receives


class _FailedGroups:
    def __init__(self, send: Any) -> None:
        self._send = send

    def inc(self) -> None:
        self._send(("failed",))


def _child(conn: Connection, url: str, synchronous: str, default_limit: Decimal | None, max_batch: int) -> None:
    # The server stops the writer by closing it (after uvicorn drains its requests); a Ctrl-C or SIGTERM
    # sent to the whole process group must not end it before it has answered what it was sent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from drawdown.db.engine import make_engine

    sending = threading.Lock()

    def send(message: Any) -> None:
        with sending:
            conn.send(message)

    def answer(n: int, result: Answer) -> None:
        if not isinstance(result, Exception):
            send(("answer", n, result))
            return
        # An exception is sent as its class, args and attributes: ``Invalid(errors)`` and its kin do not
        # take their args back in __init__, so the default pickling would rebuild them wrongly.
        try:
            send(("raised", n, type(result), result.args, dict(vars(result))))
        except Exception:  # noqa: BLE001 - an attribute that does not pickle: its kind and text will
            send(("answer", n, _plain(result)))

    metrics = _Forwarded(send)
    engine = make_engine(url, synchronous, writer=True)
    writer = BatchWriter(engine, _utc_now, default_limit, HotCache(), max_batch, metrics)
    send(("ready",))
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):  # the server is gone: bill what was sent, nobody is left to answer
            break
        if item is None:
            break
        n, batch = item
        writer.submit(batch).add_done_callback(partial(_answered, answer, n))
    writer.close()
    conn.close()


def _answered(answer: Callable[[int, Answer], None], n: int, future: Future[Answer]) -> None:
    answer(n, future.result())


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _rebuilt(kind: type[Exception], args: tuple[Any, ...], attributes: dict[str, Any]) -> Exception:
    exc = kind.__new__(kind)
    exc.args = args
    exc.__dict__.update(attributes)
    return exc


def _plain(exc: Any) -> Exception:
    if isinstance(exc, DomainError):
        plain = DomainError(exc.detail)
        plain.status, plain.title = exc.status, exc.title
        return plain
    return RuntimeError(f"{type(exc).__name__}: {exc}")
