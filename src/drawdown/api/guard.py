"""The request edge: the API key is checked before the body is read, bodies have a size limit, and
a client sending wrong keys is made to back off.

``BodyLimit`` is a pure ASGI middleware: a declared length over the limit is answered 413 at once,
and a streamed (chunked) body is counted as it arrives, so no more than the limit is ever held.
``check_key`` runs in ``DecimalRoute`` before the body is read, so an unauthenticated 100 MB upload
is answered 401 after its headers, unread. A body that stalls (no new chunk for
``DRAWDOWN_BODY_TIMEOUT_SECONDS``) is answered 408 and its connection closed, so a slow client cannot
hold a request open for ever.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drawdown.api.deps import Context
from drawdown.api.errors import BodyTimeout, BodyTooLarge, TooManyFailures, Unauthorized
from drawdown.api.problems import problem
from drawdown.apikeys import service as api_keys
from drawdown.apikeys.models import KeyInfo
from drawdown.db.engine import read, write

MISSING_KEY = "Send your API key in the X-CREDYT-API-KEY header (or as a Bearer token)."


def secret_from(headers: Headers) -> str | None:
    """The key a request carries: X-CREDYT-API-KEY, else an ``Authorization: Bearer`` token."""
    key = headers.get("x-credyt-api-key")
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


KEY_TTL_SECONDS = 1.0  # how long a verified key is trusted before the database is asked again
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key and process


@dataclass
class _Cached:
    info: KeyInfo
    until: float


def cached_key(app: FastAPI, secret: str) -> KeyInfo | None:
    """The key if this process verified it less than ``KEY_TTL_SECONDS`` ago (no database trip).

    The short life is what makes a revocation take effect at once everywhere: the process that revokes
    forgets the key immediately (``forget_key``), every other process within a second."""
    cache: dict[str, _Cached] = app.state.key_cache
    entry = cache.get(api_keys.hash_secret(secret))
    if entry is None or entry.until < time.monotonic():
        return None
    return entry.info


def forget_key(app: FastAPI, key_id: str) -> None:
    cache: dict[str, _Cached] = app.state.key_cache
    for digest in [d for d, entry in cache.items() if entry.info.id == key_id]:
        cache.pop(digest, None)


async def key_for(app: FastAPI, secret: str) -> KeyInfo | None:
    """The key, or None when it is unknown or revoked; verified keys are remembered briefly."""
    cached = cached_key(app, secret)
    if cached is not None:
        return cached
    info = await run_in_threadpool(_verify, app.state.ctx, secret)
    if info is not None:
        cache: dict[str, _Cached] = app.state.key_cache
        if len(cache) > 10_000:  # bounded: forgotten wholesale, re-verified on next use
            cache.clear()
        cache[api_keys.hash_secret(secret)] = _Cached(info, time.monotonic() + KEY_TTL_SECONDS)
    return info


def _verify(ctx: Context, secret: str) -> KeyInfo | None:
    with read(ctx.engine) as conn:
        info = api_keys.verify(conn, secret)
    if info is None:
        return None
    now = ctx.now()
    if info.last_used_at is None or now - info.last_used_at >= LAST_USED_EVERY:
        with write(ctx.engine) as conn:
            api_keys.touch(conn, info.id, now)
    return info


@dataclass
class _Client:
    window_start: float
    failures: int = 0
    blocked_until: float = 0.0


class Backoff:
    """Wrong keys per client IP: past ``allowed`` in a window, a block that doubles with each further one."""

    MAX_CLIENTS = 10_000  # forgotten wholesale when exceeded: memory stays bounded under a flood

    def __init__(self, allowed: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed, self.window, self.clock = allowed, window, clock
        self.clients: dict[str, _Client] = {}

    def retry_after(self, ip: str) -> int | None:
        """Seconds this client must wait, or None when it is not blocked."""
        client = self.clients.get(ip)
        now = self.clock()
        if client is None or client.blocked_until <= now:
            return None
        return max(1, math.ceil(client.blocked_until - now))

    def failed(self, ip: str) -> None:
        now = self.clock()
        client = self.clients.get(ip)
        if client is None or (now - client.window_start > self.window and now >= client.blocked_until):
            if len(self.clients) >= self.MAX_CLIENTS:
                self.clients.clear()
            client = self.clients[ip] = _Client(window_start=now)
        client.failures += 1
        over = client.failures - self.allowed
        if over >= 0:
            client.blocked_until = now + self.window * 2 ** min(over, 10)


def _backoff(app: FastAPI) -> Backoff:
    if not hasattr(app.state, "auth_backoff"):
        settings = app.state.ctx.settings
        app.state.auth_backoff = Backoff(settings.auth_failures_allowed, settings.auth_backoff_seconds)
    backoff: Backoff = app.state.auth_backoff
    return backoff


async def check_key(request: Request) -> KeyInfo:
    """The caller's key, also left on ``request.state.key``; refuses a missing key (401), a wrong or
    revoked one (401), and a wrong one from a client in back-off (429 with Retry-After, the block
    growing with each further guess).

    A valid key always passes, even from a client in back-off, whether or not this process has seen
    it before: a burst of wrong keys from one address (a misconfigured service, a test) must never lock
    out the real keys sent from it. Keys are 256-bit random secrets (the bootstrap key at least 32
    characters), so the back-off is there to make guessing expensive, not to hide which keys exist.
    Only wrong keys count; a missing one is a mistake, not a guess.
    """
    secret = secret_from(request.headers)
    if not secret:
        raise Unauthorized(MISSING_KEY)
    app: FastAPI = request.app
    backoff = _backoff(app)
    ip = request.client.host if request.client else "unknown"
    key = await key_for(app, secret)
    if key is not None:
        request.state.key = key
        return key
    wait = backoff.retry_after(ip)
    backoff.failed(ip)  # guessing on during a block prolongs it
    if wait is not None:
        raise TooManyFailures(f"Too many wrong API keys from this client; retry after {wait} s.", wait)
    raise Unauthorized("The API key is not valid.")


class BodyLimit:
    """413 for a body over ``DRAWDOWN_MAX_BODY_BYTES``, declared or streamed, never read past the limit;
    408 and ``Connection: close`` for a body with no new chunk for ``DRAWDOWN_BODY_TIMEOUT_SECONDS``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.ctx.settings
        limit: int = settings.max_body_bytes
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            response = problem(413, _too_large(limit), Request(scope))
            await response(scope, receive, send)
            return
        guarded = _Guarded(receive, send, limit, settings.body_timeout_seconds)
        await self.app(scope, guarded.receive, guarded.send)


def _too_large(limit: int) -> str:
    return f"The body is larger than the limit of {limit} bytes (DRAWDOWN_MAX_BODY_BYTES)."


class _Guarded:
    """``receive`` counting the body and bounding each wait for its next chunk; ``send`` closing the
    connection after a timed-out body, whose unread rest would otherwise be parsed as the next request."""

    def __init__(self, receive: Receive, send: Send, limit: int, timeout: float) -> None:
        self._receive, self._send = receive, send
        self.limit, self.timeout = limit, timeout
        self.seen = 0
        self.body_done = False
        self.timed_out = False

    async def receive(self) -> Message:
        if self.body_done:
            # After the body only http.disconnect can come, and waiting for it (a streaming response
            # watching for the client to leave) is not the client being slow: no bound.
            return await self._receive()
        try:
            async with asyncio.timeout(self.timeout):  # no task per wait, unlike wait_for
                message = await self._receive()
        except TimeoutError:
            self.timed_out = True
            raise BodyTimeout(
                f"The body sent no data for {self.timeout:g} s (DRAWDOWN_BODY_TIMEOUT_SECONDS)."
            ) from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyTooLarge(_too_large(self.limit))
            self.body_done = not message.get("more_body", False)
        else:
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self.timed_out and message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await self._send(message)
