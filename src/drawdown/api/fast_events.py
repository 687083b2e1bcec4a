"""``POST /events`` without FastAPI's routing and dependency machinery: the hot path of ingestion.

For a single event, the route's own work (parsing, validating, handing the batch to the writer) was a
small share of what the server spent on the request; route matching over every route of the API,
dependency resolution and the route wrappers cost more than all of it (docs/performance.md). This pure
ASGI middleware sits inside ``BodyLimit`` (so the size limit and body timeout apply as before) and
answers the ordinary request itself, on the event loop, with no thread-pool hop.

Only a request the ordinary route would accept as it is takes this path: an API key this process
verified less than a second ago, no ``X-CREDYT-ACCOUNT`` header, no query string, a JSON body that the
same strict parser (``codec.loads_request``, ``jsonio.body_faults``) and the same request model
(``UsageRequest``) accept. Anything else (a first or wrong key, a connected account, bad input) is
handed to the ordinary route with its body, so every refusal is that route's answer word for word. What
comes after the batch is handed over (the commit's answer, a refusal, an outage) is answered by the
route's own functions (``events.answer``) and error handlers (``problems.answer``).
"""

from __future__ import annotations

from types import SimpleNamespace

from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drawdown.api import events, problems
from drawdown.api.deps import Context
from drawdown.api.guard import cached_key, secret_from
from drawdown.api.jsonio import body_faults
from drawdown.api.schemas.events import UsageRequest
from drawdown.codec import BodyError, loads_request
from drawdown.core.errors import DomainError

# What RequestContext labels the request's latency with: the route template, as for the ordinary route.
_ROUTE = SimpleNamespace(path="/events")


class FastEvents:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/events" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        secret = secret_from(headers)
        key = cached_key(scope["app"], secret) if secret else None
        content_type = headers.get("content-type")
        if key is None or "x-credyt-account" in headers or not _plain_json(content_type):
            await self.app(scope, receive, send)
            return
        try:
            body = await _body(receive)
        except DomainError as exc:  # too large, or stalled: the guard's refusal, as the route would answer it
            await (await problems.answer(Request(scope), exc))(scope, receive, send)
            return
        if body is None:  # the client left before its body was complete: answered (to no one) as the route would
            await (await problems.answer(Request(scope), ClientDisconnect()))(scope, receive, send)
            return
        model = _accepted(body)
        if model is None:
            await self.app(scope, _replay(body, receive), send)
            return
        batch = events.usage_batch(key.scope, model)
        ctx: Context = scope["app"].state.ctx
        response: Response
        try:
            _, outcome = await ctx.usage.send(batch)
            response = events.answer(batch, outcome)
        except Exception as exc:  # noqa: BLE001 - answered exactly as the route's error handlers would
            response = await problems.answer(Request(scope), exc)
        scope["route"] = _ROUTE
        await response(scope, receive, send)


def _plain_json(content_type: str | None) -> bool:
    # The route takes any JSON media type, and a body with none; this path takes the usual two cases.
    return content_type is None or content_type.partition(";")[0].strip().lower() == "application/json"


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _accepted(body: bytes) -> UsageRequest | None:
    """The request, when the route would take it as it is; else None (the route answers why not)."""
    if not body:
        return None
    try:
        parsed = loads_request(body)
    except BodyError:
        return None
    refused, repeated = body_faults(parsed)
    if refused or repeated:
        return None
    try:
        return UsageRequest.model_validate(parsed)
    except ValidationError:
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the route: the body already read, then whatever the connection says next."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
