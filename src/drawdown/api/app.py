"""The FastAPI application: Credyt's public API over Drawdown's domains."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from drawdown import __version__
from drawdown.api import (
    accounts,
    alerts,
    assets,
    customers,
    events,
    holds,
    operations,
    pay,
    payment_methods,
    portal,
    portal_money,
    portal_sessions,
    problems,
    products,
    reports,
    subjects,
    top_ups,
    vendors,
    wallets,
    webhooks,
)
from drawdown.api.deps import Clock, Context, system_clock
from drawdown.api.fast_events import FastEvents
from drawdown.api.guard import BodyLimit
from drawdown.api.responses import ExactJSONResponse
from drawdown.db.engine import make_engine
from drawdown.logs import configure as configure_logging
from drawdown.ops.metrics import Metrics
from drawdown.payments.gateway import Gateway, StripeConfig
from drawdown.settings import Settings
from drawdown.usage.service import UsageService

DESCRIPTION = """Real-time prepaid usage billing that speaks Credyt's public API v1.0.

Authenticate with the `X-CREDYT-API-KEY` header (or `Authorization: Bearer <key>`). Amounts are exact
decimal JSON numbers. Errors are RFC 7807 `application/problem+json`."""


def create_app(settings: Settings | None = None, engine: Engine | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    engine = engine or make_engine(settings.database_url, settings.sqlite_synchronous)
    metrics = Metrics()  # this application's registry: several apps may share a process (the tests)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # Shutdown (SIGTERM): uvicorn has stopped accepting and finished the requests in flight; the
        # writer bills and answers whatever is still queued, then stops.
        await asyncio.to_thread(usage.close)

    app = operations.Drawdown(
        metrics,
        title="Drawdown",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=ExactJSONResponse,
        lifespan=lifespan,
    )
    usage = UsageService(
        engine,
        clock,
        settings.overdraft_limit(),
        group_commit=settings.group_commit,
        max_batch=settings.group_commit_max_batch,
        metrics=metrics,
        writer_process=_writer_process(settings, engine, clock),
    )
    gateway = Gateway(StripeConfig.from_settings(settings))
    app.state.ctx = Context(engine=engine, settings=settings, clock=clock, usage=usage, stripe=gateway)
    app.state.key_cache = {}
    app.state.connected_cache = {}
    # Added first, so it runs inside BodyLimit: the usual POST /events, answered without routing.
    app.add_middleware(FastEvents)
    app.add_middleware(BodyLimit)  # 413 past DRAWDOWN_MAX_BODY_BYTES, counted as the body streams in
    problems.install(app)
    for module in (assets, products, customers, wallets, alerts, holds, events, vendors, reports, subjects, accounts,
                   top_ups, payment_methods, portal_sessions, webhooks):
        app.include_router(module.api)
    app.include_router(accounts.keys_api)
    app.include_router(top_ups.stripe_api)  # Stripe's webhook: signed by Stripe, no API key
    app.include_router(pay.api)  # payment pages, outside the API document
    app.include_router(portal.api)  # the billing portal's pages, likewise
    app.include_router(portal_money.api)  # the portal's top-up, cards and auto top-up pages

    @app.get("/health", tags=["Operations"], summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    operations.install(app)
    return app


def _writer_process(settings: Settings, engine: Engine, clock: Clock) -> tuple[str, str] | None:
    """Where a writer process would bill, when the app may have one: it reads the system clock and opens
    its own connections, so an app on another clock or on a database only this process can see (an
    in-memory SQLite) keeps the writer thread."""
    url = engine.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if not settings.writer_process or clock is not system_clock or in_memory:
        return None
    return url.render_as_string(hide_password=False), settings.sqlite_synchronous


def app_from_environment() -> FastAPI:
    """The application as a factory, for ``serve`` with several worker processes."""
    return create_app(Settings())
