"""``drawdown bench http`` says where a single event's CPU went (``bench/cpu.py``): the served process,
its child processes (the writer) and the PostgreSQL backends of the bench's database. Each part must
see the CPU spent there, and only there."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest
from sqlalchemy import Engine

from drawdown.bench.cpu import CpuSplit

_BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\ntime.sleep(30)"

pytestmark = pytest.mark.skipif(not os.path.exists("/proc"), reason="reads /proc (Linux)")


def test_a_child_s_cpu_is_the_writer_s_and_not_the_event_loop_s() -> None:
    child = subprocess.Popen([sys.executable, "-c", _BURN])
    try:
        time.sleep(0.2)  # started (its own start-up counts too: the split is taken before and after)
        split = CpuSplit(os.getpid(), "sqlite:///unused.db")
        time.sleep(1.0)  # the child burns 0.4 s of CPU, this process almost none
        spent = split.per_request(1)
    finally:
        child.kill()
        child.wait()
    assert spent["writer"] >= 150, spent
    assert spent["event loop"] < 100, spent
    assert "database" not in spent  # SQLite: no process of its own


def test_a_backend_s_cpu_is_the_database_s(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL backend")
    url = engine.url.render_as_string(hide_password=False)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as busy:
        split = CpuSplit(os.getpid(), url)
        busy.execute("SELECT count(*) FROM generate_series(1, 4000000)")
        spent = split.per_request(1)
    assert spent["database"] >= 100, spent
    assert spent["event loop"] < spent["database"], spent
