"""Start-up: migrations serialised across processes, and a database that cannot be used refused in one line.

Each test makes its own fresh database (a new SQLite directory, or a new PostgreSQL database), since
what is tested is what happens before and while the schema is made.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from drawdown.api.app import create_app
from drawdown.apikeys import service as api_keys
from drawdown.cli import app
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import alembic_config, upgrade
from drawdown.settings import Settings, normalise_url
from tests.conftest import _pg_admin

DRAWDOWN = str(Path(sys.executable).parent / "drawdown")


def _version(url: str) -> str:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    return str(version)


def _invoke(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"DRAWDOWN_DATABASE_URL": url, "DRAWDOWN_LOG_LEVEL": "info"})
    return result.exit_code, result.output


def test_simultaneous_migrations_all_succeed(fresh_url: str) -> None:
    """Three `drawdown migrate` on a fresh database at once: each exits 0 and the schema is at head."""
    env = {**os.environ, "DRAWDOWN_DATABASE_URL": fresh_url}
    procs = [
        subprocess.Popen([DRAWDOWN, "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outcomes = [(p.wait(timeout=25), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert _version(fresh_url) == ScriptDirectory.from_config(alembic_config(fresh_url)).get_current_head()


def test_serve_refuses_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "drawdown.db"
    code, output = _invoke(f"sqlite:///{missing}", "serve")
    assert code == 1
    assert len(output.strip().splitlines()) == 1 and "does not exist" in output and "drawdown migrate" in output
    assert not missing.parent.exists()


def test_migrate_creates_the_directory_on_purpose(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "drawdown.db"
    code, output = _invoke(f"sqlite:///{path}", "migrate")
    assert code == 0, output
    assert path.exists()


def test_a_path_under_a_file_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("not a directory")
    for command in ("serve", "migrate"):
        code, output = _invoke(f"sqlite:///{tmp_path}/plain.txt/sub/drawdown.db", command)
        assert code == 1
        assert len(output.strip().splitlines()) == 1 and "is a file, not a directory" in output


def test_bad_url_and_unreachable_server_are_one_line() -> None:
    code, output = _invoke("mysql+nosuchdriver://x/y", "migrate")
    assert code == 1 and len(output.strip().splitlines()) == 1 and "DRAWDOWN_DATABASE_URL" in output
    # Port 9 (discard) on localhost: nothing listens, the connection is refused at once.
    code, output = _invoke("postgresql://postgres@127.0.0.1:9/none?connect_timeout=2", "serve")
    assert code == 1 and len(output.strip().splitlines()) == 1 and "cannot connect" in output


def test_invalid_setting_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAWDOWN_SQLITE_SYNCHRONOUS", "sometimes")
    code, output = _invoke(f"sqlite:///{tmp_path}/x.db", "migrate")
    assert code == 1 and len(output.strip().splitlines()) == 1 and "DRAWDOWN_SQLITE_SYNCHRONOUS" in output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--debug"], env={"DRAWDOWN_DATABASE_URL": f"sqlite:///{tmp_path}/no/x.db"}
    )
    assert result.exit_code != 0 and type(result.exception).__name__ == "StartupProblem"


def _read_only_url(url: str) -> str:
    """The same database, made read-only in the way each backend can be while this suite runs as root."""
    if url.startswith("sqlite"):
        return f"sqlite:///file:{url.split('///', 1)[1]}?mode=ro&uri=true"
    name = url.rsplit("/", 1)[1]
    with _pg_admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    return url


def test_serve_refuses_a_read_only_database(fresh_url: str) -> None:
    upgrade(fresh_url)
    code, output = _invoke(_read_only_url(fresh_url), "serve")
    assert code == 1
    assert len(output.strip().splitlines()) == 1 and "read-only" in output


def test_a_database_read_only_at_run_time_answers_503_without_retry_after(fresh_url: str) -> None:
    upgrade(fresh_url)
    with write(make_engine(fresh_url)) as conn:
        _, secret = api_keys.create(conn, DEFAULT_LIVE, "ro", datetime.now(UTC))
    read_only = _read_only_url(fresh_url)
    engine = make_engine(read_only)
    client = TestClient(create_app(Settings(database_url=read_only, job_interval_seconds=0), engine))
    resp = client.post("/customers", json={"name": "x"}, headers={"X-CREDYT-API-KEY": secret})
    engine.dispose()
    assert resp.status_code == 503, resp.text
    assert "read-only" in resp.json()["detail"] and "Retry-After" not in resp.headers


def test_sqlite_synchronous_is_full_by_default_and_normal_on_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    for setting, level in (("full", 2), ("normal", 1)):
        engine = make_engine(url, setting)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
        engine.dispose()
    assert Settings().sqlite_synchronous == "full"
    with pytest.raises(ValueError):
        make_engine(url, "off")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_passes_the_connection_settings_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    env = {
        "DRAWDOWN_DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
        "DRAWDOWN_JOB_INTERVAL_SECONDS": "0",
        "DRAWDOWN_WORKERS": workers,
        "DRAWDOWN_KEEP_ALIVE_SECONDS": "7",
        "DRAWDOWN_MAX_CONNECTIONS": "300",
        "DRAWDOWN_BACKLOG": "128",
    }
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert (seen["timeout_keep_alive"], seen["limit_concurrency"], seen["backlog"]) == (7, 300, 128)
