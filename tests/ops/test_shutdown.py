"""Graceful shutdown: SIGTERM ``drawdown serve`` under concurrent clients; every 204 is stored once, every
other request was answered (503) or never reached the server (a connection error, nothing stored).
Also the writer's drain in-process: batches queued at close are billed and answered, later ones refused."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from drawdown.api.app import create_app
from drawdown.bench.server import serve
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db import tables as t
from drawdown.db.engine import make_engine
from drawdown.usage.batching import ShuttingDown
from drawdown.usage.models import UsageBatch
from drawdown.usage.service import UsageService
from tests.api.helpers import event
from tests.conftest import unique
from tests.worlds import volume_world

CLIENTS = 8


def _stored(url: str, ids: list[str]) -> Counter[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ev = t.events.c
            rows = conn.execute(select(ev.id, func.count()).where(ev.id.in_(ids)).group_by(ev.id))
            return Counter({i: n for i, n in rows})
    finally:
        engine.dispose()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_mid_stream_answers_every_request_and_loses_no_acknowledged_event(
    empty_url: str, workers: int
) -> None:
    served = serve(empty_url, workers=workers)
    try:
        customer = httpx.post(
            f"{served.base}/customers", json={"name": "Ada", "external_id": unique("ext")}, headers=served.headers
        ).json()["id"]
        outcomes: dict[str, int | str] = {}  # event id -> status, or the connection error's kind
        lock = threading.Lock()
        acknowledged = threading.Semaphore(0)
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=served.base, headers=served.headers, timeout=20) as c:
                while not stop.is_set():
                    e = event(tokens=1)
                    try:
                        status: int | str = c.post("/events", json={"customer_id": customer, "events": [e]}).status_code
                    except httpx.TransportError as exc:
                        status = type(exc).__name__
                    with lock:
                        outcomes[e["id"]] = status
                    if status == 204:
                        acknowledged.release()
                    elif status == "ConnectError":
                        return  # the server no longer accepts: this client is done

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for th in threads:
            th.start()
        for _ in range(50):  # mid-stream: at least 50 events acknowledged before the signal
            assert acknowledged.acquire(timeout=10)
        signalled = time.monotonic()
        served.process.terminate()
        # uvicorn re-raises the signal once its graceful shutdown is done: it ends "killed by SIGTERM"
        assert served.process.wait(timeout=20) in (0, -signal.SIGTERM)
        stop.set()
        for th in threads:
            th.join(timeout=10)
            assert not th.is_alive()
        assert time.monotonic() - signalled < 30, "shutdown and every client's last answer within 30 s"
    finally:
        if served.process.poll() is None:
            served.process.kill()

    kinds = Counter(v if isinstance(v, str) else f"{v // 100}xx" for v in outcomes.values())
    assert set(kinds) <= {"2xx", "5xx", "ConnectError", "RemoteProtocolError", "ReadError", "WriteError"}, kinds
    assert all(v in (204, 503) for v in outcomes.values() if isinstance(v, int)), kinds
    acked = {i for i, v in outcomes.items() if v == 204}
    stored = _stored(empty_url, list(outcomes))
    assert set(stored) == acked, "stored exactly the acknowledged events"
    assert set(stored.values()) == {1}, "each once"


def test_close_drains_every_queued_batch_then_refuses(engine) -> None:
    _, (customer,) = volume_world(engine, datetime.now(UTC), Decimal(1), 1, Decimal(1000))
    usage = UsageService(engine, lambda: datetime.now(UTC), Decimal(0), max_batch=4)
    batches = [UsageBatch(DEFAULT_LIVE, customer, None, [_event()]) for _ in range(40)]
    futures = [usage.writer.submit(b) for b in batches]  # type: ignore[union-attr]
    usage.close()
    answers = [f.result(timeout=0) for f in futures]  # every one answered by the time close returns
    assert all(not isinstance(a, Exception) and len(a[1].accepted) == 1 for a in answers)
    late = usage.writer.submit(UsageBatch(DEFAULT_LIVE, customer, None, [_event()])).result(timeout=0)  # type: ignore[union-attr]
    assert isinstance(late, ShuttingDown) and late.status == 503
    assert not usage.running


def test_a_request_after_close_gets_a_503_problem(server) -> None:
    app = create_app(server.settings, engine=server.engine)
    app.state.ctx.usage.close()
    with TestClient(app, headers={"X-CREDYT-API-KEY": server.key}) as client:  # lifespan closes again: harmless
        response = client.post("/events", json={"customer_id": "cust_x", "events": [event(tokens=1)]})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "shutting down" in response.json()["detail"]


def _event():
    from drawdown.usage.models import UsageEvent

    return UsageEvent(unique("ev"), "u", datetime.now(UTC), data={"n": 1})
