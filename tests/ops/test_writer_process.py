"""``drawdown serve`` with ``DRAWDOWN_WRITER_PROCESS=true`` (the default) bills in a writer process of its
own (usage/writer_process.py): answers cross the pipe intact (a refusal keeps the field it names), an event
is billed once however often it is sent, and if the writer process dies the server says so (readiness
503) and refuses new events with a 503 rather than hanging or acknowledging anything. A process that
built an app and never closed it still ends (multiprocessing joins its children at exit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from drawdown.bench.server import serve
from drawdown.db import tables as t
from drawdown.db.engine import make_engine
from tests.api.helpers import now_iso
from tests.conftest import unique
from tests.worlds import volume_world


def _writer_pid(server_pid: int) -> int:
    """The server's child running the writer (spawned: ``multiprocessing.spawn`` on its command line)."""
    found = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
                found.append(int(child))
    assert len(found) == 1, found
    return found[0]


def _event(n: int) -> dict[str, object]:
    return {"id": unique("ev"), "event_type": "u", "occurred_at": now_iso(), "data": {"n": n}}


@pytest.fixture(autouse=True)
def _writer_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAWDOWN_WRITER_PROCESS", "true")  # the default, whatever the environment says


def test_answers_cross_the_pipe_and_an_event_is_billed_once(empty_url: str) -> None:
    served = serve(empty_url)
    engine = make_engine(empty_url)
    try:
        _, (cid,) = volume_world(engine, datetime.now(UTC), Decimal("0.5"), 1, Decimal("100"))
        with httpx.Client(base_url=served.base, headers=served.headers, timeout=30) as c:
            ev = _event(3)
            for _ in range(3):
                assert c.post("/events", json={"customer_id": cid, "events": [ev]}).status_code == 204
            unknown = c.post("/events", json={"customer_id": "cus_nobody", "events": [_event(1)]})
            assert unknown.status_code == 422
            assert list(unknown.json()["errors"]) == ["customer_id"]  # Invalid rebuilt with its errors
            fees = c.get(f"/events/{ev['id']}", params={"customer_id": cid}).json()["fees"]
            assert [Decimal(str(f["amount"])) for f in fees] == [Decimal("1.5")]
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(t.events).where(t.events.c.id == ev["id"]))
        assert stored == 1
    finally:
        served.stop()
        engine.dispose()


def test_a_dead_writer_makes_the_server_unready_and_events_a_503(empty_url: str) -> None:
    served = serve(empty_url)
    try:
        os.kill(_writer_pid(served.process.pid), signal.SIGKILL)
        with httpx.Client(base_url=served.base, headers=served.headers, timeout=30) as c:
            deadline = time.monotonic() + 30
            while c.get("/health/ready").status_code != 503:  # the server notices the pipe closing
                assert time.monotonic() < deadline, "the server never noticed its writer died"
                time.sleep(0.05)
            assert "writer" in c.get("/health/ready").json()["checks"]["writer"]
            refused = c.post("/events", json={"customer_id": "cus_any", "events": [_event(1)]})
            assert refused.status_code == 503
            assert "nothing of this request was recorded" in refused.json()["detail"]
    finally:
        served.stop()


def test_a_process_that_never_closed_its_app_still_ends(empty_url: str) -> None:
    script = (
        "from drawdown.api.app import create_app\n"
        "from drawdown.settings import Settings\n"
        f"app = create_app(Settings(database_url={empty_url!r}, job_interval_seconds=0))\n"
        "assert app.state.ctx.usage.writer.process.is_alive()\n"
        "print('built', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("built\n"), done.stderr[-2000:]
