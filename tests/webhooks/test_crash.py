"""At least once across ``kill -9``: ``drawdown serve`` (a real process, its own fresh database) is
killed after events are committed and before they are delivered, and again in the middle of a
delivery; after each restart every event acknowledged (202) reaches the receiver, signed, and nothing
is delivered that was not sent."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import postgres_database
from tests.crash.test_kill9 import SECRET, Process, _start
from tests.webhooks.receiver import Receiver


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same kind, for this test alone: no other server's worker delivers from it."""
    if database_url.startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "hooks.db")
        return
    with postgres_database("drawdown_hooks") as url:
        yield url


def _serve(url: str, holder: Process, interval: str) -> None:
    os.environ["DRAWDOWN_WEBHOOKS_INTERVAL_SECONDS"] = interval
    try:
        _start(url, holder)
    finally:
        del os.environ["DRAWDOWN_WEBHOOKS_INTERVAL_SECONDS"]


def _kill(holder: Process) -> None:
    assert holder.process is not None
    holder.process.send_signal(signal.SIGKILL)
    holder.process.wait(timeout=10)


def _send(holder: Process, destination: str, n: int, acknowledged: dict[str, int]) -> None:
    with httpx.Client(base_url=holder.base, headers={"X-CREDYT-API-KEY": SECRET}, timeout=10) as c:
        for _ in range(n):
            number = len(acknowledged)
            resp = c.post(f"/webhooks/{destination}/test/balance.low", json={"n": number})
            assert resp.status_code == 202, resp.text
            acknowledged[resp.json()["id"]] = number


def _delivered(receiver: Receiver, acknowledged: dict[str, int], timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if {d.json["id"] for d in list(receiver.deliveries)} >= set(acknowledged):
            break
        time.sleep(0.05)
    return {d.json["id"] for d in list(receiver.deliveries)}


def test_events_committed_before_a_kill_are_delivered_after_it(fresh_url: str, receiver: Receiver,
                                                               tmp_path: Path) -> None:
    os.environ.update(DRAWDOWN_WEBHOOKS_CONNECT_TIMEOUT_SECONDS="1", DRAWDOWN_WEBHOOKS_TIMEOUT_SECONDS="2")
    holder = Process(tmp_path / "serve.log")
    acknowledged: dict[str, int] = {}
    try:
        # 1. Committed, never attempted: the worker does not look before the kill.
        _serve(fresh_url, holder, "3600")
        with httpx.Client(base_url=holder.base, headers={"X-CREDYT-API-KEY": SECRET}, timeout=10) as c:
            made = c.post("/webhooks", json={"url": receiver.url})
            assert made.status_code == 201, made.text
        destination = made.json()["id"]
        receiver.trust(made.json()["secret"])
        _send(holder, destination, 20, acknowledged)
        _kill(holder)
        assert receiver.deliveries == []
        _serve(fresh_url, holder, "0.1")
        assert _delivered(receiver, acknowledged, 30) >= set(acknowledged)
        # 2. Killed in the middle of deliveries: a slow receiver holds them in flight.
        receiver.delay = 1.5
        before = len(receiver.deliveries)
        _send(holder, destination, 10, acknowledged)
        receiver.wait_for(before + 1, timeout=10)
        _kill(holder)
        receiver.delay = 0
        _serve(fresh_url, holder, "0.1")
        # A claimed attempt is retried once its lease (1 + 2 × 2 + 5 s) has passed.
        assert _delivered(receiver, acknowledged, 60) >= set(acknowledged)
    finally:
        for process in holder.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
        for name in ("DRAWDOWN_WEBHOOKS_CONNECT_TIMEOUT_SECONDS", "DRAWDOWN_WEBHOOKS_TIMEOUT_SECONDS"):
            os.environ.pop(name, None)
    seen = {d.json["id"]: d for d in receiver.deliveries}
    assert set(seen) == set(acknowledged)  # none invented
    assert all(d.verified and d.json["data"] == {"n": acknowledged[i]} for i, d in seen.items())
    # Per event at least once; in order per customer does not apply (test events have none).
    assert len(receiver.deliveries) >= len(acknowledged)
