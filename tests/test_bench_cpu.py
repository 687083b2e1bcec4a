"""``drawdown bench http`` says where a single event's CPU went (``bench/cpu.py``): the served process,
its child processes (the writer) and the PostgreSQL backends of the bench's database. Each part must
see the CPU spent there, and only there.

The served process is a stand-in that only waits (the test process itself runs other tests' servers
and workers in threads, so its own CPU is not idle)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest
from sqlalchemy import Engine

from drawdown.bench.cpu import CpuSplit, _children

# The writer stand-in: waits, burns 0.4 s of CPU, then waits again.
_BURN = (
    "import time\ntime.sleep(0.3)\nend = time.process_time() + 0.4\n"
    "while time.process_time() < end: pass\ntime.sleep(30)"
)
# The served stand-in: starts the writer and waits for it.
_SERVED = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {_BURN!r}]).wait()"

pytestmark = pytest.mark.skipif(not os.path.exists("/proc"), reason="reads /proc (Linux)")


def _kill_tree(parent: subprocess.Popen[bytes]) -> None:
    for pid in _children(parent.pid):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    parent.kill()
    parent.wait()


def test_a_child_s_cpu_is_the_writer_s_and_not_the_event_loop_s() -> None:
    served = subprocess.Popen([sys.executable, "-c", _SERVED])
    try:
        deadline = time.monotonic() + 60
        while not _children(served.pid):  # the writer stand-in has started
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        split = CpuSplit(served.pid, "sqlite:///unused.db")
        spent = split.per_request(1)
        while spent.get("writer", 0) < 350 and time.monotonic() < deadline:  # the child burns 0.4 s of CPU
            time.sleep(0.1)
            spent = split.per_request(1)
    finally:
        _kill_tree(served)
    assert spent["writer"] >= 350, spent
    assert spent["event loop"] < 50, spent  # its parent only waited
    assert "database" not in spent  # SQLite: no process of its own


def test_a_backend_s_cpu_is_the_database_s(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL backend")
    url = engine.url.render_as_string(hide_password=False)
    idle = subprocess.Popen(["sleep", "30"])  # the served stand-in
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as busy:
            split = CpuSplit(idle.pid, url)
            busy.execute("SELECT count(*) FROM generate_series(1, 4000000)")
            spent = split.per_request(1)
    finally:
        idle.kill()
        idle.wait()
    assert spent["database"] >= 100, spent
    assert spent["event loop"] < 50, spent
    assert "writer" not in spent  # the stand-in has no child
