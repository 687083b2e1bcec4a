"""GET /health/ready: 200 when the database answers at head and the writer runs; else 503 saying which."""

from __future__ import annotations

from fastapi.testclient import TestClient

from drawdown.api.app import create_app
from drawdown.db.engine import make_engine
from drawdown.settings import Settings


def test_ready_when_migrated_and_the_writer_runs(http) -> None:
    response = http.get("/health/ready", headers={"X-CREDYT-API-KEY": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "writer": "ok"}}
    assert http.get("/health").json() == {"status": "ok"}


def test_not_ready_on_a_database_without_migrations(empty_url: str) -> None:
    engine = make_engine(empty_url)
    app = create_app(Settings(database_url=empty_url), engine=engine)
    try:
        response = TestClient(app).get("/health/ready")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["checks"]["database"] == "ok" and body["checks"]["writer"] == "ok"
        assert "no revision" in body["checks"]["migrations"] and "drawdown migrate" in body["detail"]
    finally:
        app.state.ctx.usage.close()
        engine.dispose()


def test_not_ready_once_the_writer_is_closed(engine, database_url: str) -> None:
    app = create_app(Settings(database_url=database_url), engine=engine)
    app.state.ctx.usage.close()
    response = TestClient(app).get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok", "migrations": "ok", "writer": "the batching writer is not running (shutting down or stopped)"
    }


def test_not_ready_when_the_database_is_unreachable() -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"
    engine = make_engine(url)
    app = create_app(Settings(database_url=url), engine=engine)
    try:
        body = TestClient(app).get("/health/ready").json()
        assert body["status"] == 503 and body["checks"]["database"].startswith("unreachable: OperationalError")
    finally:
        app.state.ctx.usage.close()
