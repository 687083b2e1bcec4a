"""Test harness: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from DRAWDOWN_TEST_POSTGRES_URL (default: the local server's ``test`` database);
a fresh database is created per run and dropped after it. When PostgreSQL is unreachable the
PostgreSQL half is skipped locally, but fails the run when CI=true, so its coverage cannot vanish.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
import uvicorn
from sqlalchemy import Engine

from drawdown.api.app import create_app
from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import upgrade
from drawdown.settings import Settings
from drawdown.webhooks.worker import start as start_webhooks

# localstripe and a Drawdown server paying through it (``pay_server``), and a real webhook receiver
# (``receiver``, tests/webhooks/receiver.py), for any test folder.
pytest_plugins = ["tests.localstripe_server", "tests.webhooks.receiver"]

# Webhook receivers in the tests listen on 127.0.0.1 (servers started as subprocesses inherit this).
os.environ.setdefault("DRAWDOWN_WEBHOOKS_ALLOW_PRIVATE", "true")

PG_URL = os.environ.get("DRAWDOWN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> psycopg.Connection:
    return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards; skipped locally when PostgreSQL is
    unreachable, failed under CI=true (its half of the suite must not vanish)."""
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is unreachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {exc}")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "drawdown.db")
        return
    with postgres_database("drawdown_test") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def backend(engine: Engine) -> str:
    return engine.dialect.name


class Clock:
    """The injectable clock: real time unless a test pins it."""

    def __init__(self) -> None:
        self.pinned: datetime | None = None

    def __call__(self) -> datetime:
        return self.pinned or datetime.now(UTC)


@dataclass
class Server:
    url: str
    key: str
    engine: Engine
    clock: Clock
    settings: Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(engine: Engine, settings: Settings, name: str = "tests") -> tuple[Server, uvicorn.Server]:
    """The app on a free port of 127.0.0.1, in a thread, with a DEFAULT_LIVE key (the bootstrap's scope)."""
    clock = Clock()
    app = create_app(settings, engine=engine, clock=clock)
    with write(engine) as conn:
        _, secret = api_keys.create(conn, DEFAULT_LIVE, name, datetime.now(UTC))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return Server(f"http://127.0.0.1:{port}", secret, engine, clock, settings), srv


@pytest.fixture(scope="session")
def server(engine: Engine, database_url: str) -> Iterator[Server]:
    # Defaults as shipped (no overdraft limit, no Stripe), but webhooks to 127.0.0.1 and looked for often.
    settings = Settings(database_url=database_url, webhooks_allow_private=True, webhooks_interval_seconds=0.25)
    served, srv = start_server(engine, settings)
    # The webhook delivery worker, as ``serve`` runs it.
    hooks = start_webhooks(engine, served.settings, served.clock)
    yield served
    hooks.stop()
    srv.should_exit = True


@pytest.fixture
def clock(server: Server) -> Iterator[Clock]:
    yield server.clock
    server.clock.pinned = None


@pytest.fixture
def client(server: Server):
    from corehttp.credentials import ServiceKeyCredential
    from credytapi import CredytApiClient

    with CredytApiClient(credential=ServiceKeyCredential(server.key), endpoint=server.url) as c:
        yield c


@pytest.fixture
def http(server: Server):
    import httpx

    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=30) as c:
        yield c


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_per_backend: dict[str, dict[str, int]] = {b: {"passed": 0, "failed": 0, "skipped": 0} for b in BACKENDS}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.skipped or report.failed):
        return
    for b in BACKENDS:
        if f"[{b}" in report.nodeid or f"-{b}]" in report.nodeid or f"-{b}-" in report.nodeid:
            outcome = (
                "passed"
                if report.passed and report.when == "call"
                else "failed"
                if report.failed
                else "skipped"
                if report.skipped
                else None
            )
            if outcome:
                _per_backend[b][outcome] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    terminalreporter.section("database backends")
    for b, counts in _per_backend.items():
        terminalreporter.write_line(
            f"{b:>10}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
        )
