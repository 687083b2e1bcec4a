"""Operations endpoints and the outermost layer of every request.

- ``RequestContext`` (pure ASGI, wrapped around the whole application, error handling included): a
  request id on every response (``X-Request-ID``, the caller's when it is sane, else a new one), bound
  into structlog's context so every log line of the request carries it; and the request's latency into
  ``drawdown_http_request_duration_seconds`` by route *template* (``/customers/{customerId}``), never the
  raw path, so the series stay bounded.
- ``GET /metrics``: Prometheus text, unauthenticated (operators scrape it; Credyt clients never call it).
- ``GET /health/ready``: 200 when the database answers, its migrations are at head and the batching
  writer runs; else 503 with a problem naming what is not.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import FastAPI, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drawdown.api.deps import Context
from drawdown.api.problems import problem
from drawdown.db.migrate import MIGRATIONS
from drawdown.ops.metrics import CONTENT_TYPE, Metrics

_SANE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id(incoming: str | None) -> str:
    """The caller's id when it is 1-128 characters of [A-Za-z0-9_-]; otherwise a new one."""
    if incoming is not None and _SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = request_id(incoming.decode("latin-1") if incoming is not None else None)
        header = (b"x-request-id", rid.encode())
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.http_seconds.labels(method, route, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )


class Drawdown(FastAPI):
    """FastAPI with ``RequestContext`` outside everything, error handlers and other middleware included."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(super().build_middleware_stack(), self.metrics)


_heads: tuple[str, ...] | None = None


def _script_heads() -> tuple[str, ...]:
    global _heads
    if _heads is None:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        _heads = tuple(sorted(ScriptDirectory.from_config(cfg).get_heads()))
    return _heads


def readiness(ctx: Context) -> dict[str, str]:
    """Each check's verdict: "ok" or why not."""
    checks = {"database": "ok", "migrations": "ok", "writer": "ok"}
    try:
        with ctx.engine.connect() as conn:
            current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        checks["migrations"] = "unknown (database unreachable)"
    else:
        heads = _script_heads()
        if current != heads:
            checks["migrations"] = (
                f"database at {', '.join(current) or 'no revision'}, code at {', '.join(heads)}: run drawdown migrate"
            )
    if not ctx.usage.running:
        checks["writer"] = "the batching writer is not running (shutting down or stopped)"
    return checks


def install(app: Drawdown) -> None:
    @app.get(
        "/health/ready",
        tags=["Operations"],
        summary="Readiness: database reachable, migrations at head, batching writer running",
        responses={503: {"description": "Not ready; the problem says which check failed"}},
    )
    def ready(request: Request) -> Any:
        checks = readiness(request.app.state.ctx)
        failed = {k: v for k, v in checks.items() if v != "ok"}
        if failed:
            detail = "Not ready: " + "; ".join(f"{k}: {v}" for k, v in failed.items())
            return problem(503, detail, request, checks=checks)
        return {"status": "ready", "checks": checks}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(app.metrics.exposition(), media_type=CONTENT_TYPE)
