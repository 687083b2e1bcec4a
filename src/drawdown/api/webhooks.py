"""/webhooks (Credyt's destinations, test events and delivery log) and Drawdown's extensions: secret
rotation (``POST /webhooks/{id}/rotate-secret``) and redelivery (``POST /webhooks/events/{id}/redeliver``).
docs/webhooks.md has the envelope, the signature and the delivery rules."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from fastapi import Body, Depends, Query, Request, Response

from drawdown.api import idempotency
from drawdown.api.idempotency import IdempotencyKey
from drawdown.api.routing import Context, ExactJSONResponse, context, router, utc
from drawdown.api.schemas.webhooks import (
    CreateWebhookDestinationRequest,
    CreateWebhookDestinationResponse,
    CursorPageWebhookEventListItem,
    RedeliverResponse,
    TestWebhookResponse,
    UpdateWebhookDestinationRequest,
    WebhookDestination,
    WebhookDestinations,
)
from drawdown.api.scoping import CallerScope
from drawdown.core.errors import Invalid
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.webhooks import service as webhooks
from drawdown.webhooks.models import Destination, DestinationChanges, LogItem, LogQuery, NewDestination

api = router("Webhooks")

AnyJSON = Body(None, description="Any JSON: the test event's data")


def _summary(d: Destination) -> dict[str, Any]:
    return {"id": d.id, "url": d.url, "topics": d.topics, "connect": d.connect, "enabled": d.enabled,
            "created_at": d.created_at, "updated_at": d.updated_at, "disabled_reason": d.disabled_reason,
            "disabled_at": d.disabled_at}


def _full(d: Destination) -> dict[str, Any]:
    return {**_summary(d), "secret": d.secret, "previous_secret_expires_at": d.previous_secret_expires_at}


@api.post("/webhooks", status_code=201, response_model=CreateWebhookDestinationResponse,
          summary="Create a webhook destination; its secret is in this answer (and in GET /webhooks/{id})")
def create_destination(
    body: CreateWebhookDestinationRequest, request: Request, key: str | None = IdempotencyKey,
    scope: Scope = CallerScope, ctx: Context = Depends(context),
) -> ExactJSONResponse:
    webhooks.check_address(body.url, ctx.settings.webhooks_allow_private)  # before the transaction
    command = NewDestination(body.url, list(body.topics), body.connect)

    def made(conn: Any) -> dict[str, Any]:
        d = webhooks.create(conn, scope, command, ctx.now())
        return {"id": d.id, "secret": d.secret, "created_at": d.created_at}

    return idempotency.create(ctx, scope, request, key, body.model_dump(), made)


@api.get("/webhooks", response_model=WebhookDestinations, summary="List webhook destinations (without secrets)")
def list_destinations(
    enabled: bool | None = None, connect: bool | None = None,
    scope: Scope = CallerScope, ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        found = webhooks.list_destinations(conn, scope, enabled, connect)
    return ExactJSONResponse({"items": [_summary(d) for d in found], "total_count": len(found)})


def _cursor(position: int | None) -> str | None:
    return None if position is None else base64.urlsafe_b64encode(f"d{position}".encode()).decode().rstrip("=")


def _position(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if len(text) < 2 or text[0] != "d" or not text[1:].isdigit() or len(text) > 20:
        raise Invalid.field(field, "is not a cursor this log gave")
    return int(text[1:])


def _log_item(item: LogItem) -> dict[str, Any]:
    attempts = [{"attempt": a.attempt, "started_at": a.started_at, "duration_ms": a.duration_ms,
                 "status_code": a.status_code, "error": a.error} for a in item.attempts]
    return {
        "id": item.id, "destination_id": item.destination_id, "topic": item.topic, "time": item.time,
        "successful_at": item.successful_at, "failed_at": item.failed_at,
        "metadata": {"status": item.status, "attempt_count": len(attempts), "attempts": attempts,
                     "next_attempt_at": item.next_attempt_at},
        "data": item.data,
    }


# Declared before /webhooks/{webhookId}, which would otherwise take "events" and "test" for ids.
@api.get("/webhooks/events", response_model=CursorPageWebhookEventListItem,
         summary="The delivery log: one item per event and destination, newest first, with its attempts")
def list_events(
    limit: int = Query(20, ge=1, le=200), next: str | None = Query(None, max_length=64),
    prev: str | None = Query(None, max_length=64),
    destination_id: str | None = Query(None, max_length=2000, description="Comma-separated destination ids"),
    status: str | None = Query(None, max_length=16, description="Success, Failed or (Drawdown) Pending"),
    time_gte: datetime | None = None, time_lte: datetime | None = None,
    scope: Scope = CallerScope, ctx: Context = Depends(context),
) -> ExactJSONResponse:
    query = LogQuery(
        limit=limit, after=_position(next, "next"), before=_position(prev, "prev"),
        destination_ids=tuple(d.strip() for d in (destination_id or "").split(",") if d.strip()),
        status=status.capitalize() if status else None, time_gte=utc(time_gte), time_lte=utc(time_lte),
    )
    with read(ctx.engine) as conn:
        found = webhooks.delivery_log(conn, scope, query)
    return ExactJSONResponse({
        "models": [_log_item(i) for i in found.items],
        "pagination": {"limit": limit, "next": _cursor(found.next), "prev": _cursor(found.prev)},
    })


@api.post("/webhooks/events/{webhookEventId}/redeliver", status_code=202, response_model=RedeliverResponse,
          summary="Send an event again, now, to every destination it went to or one (Drawdown extension)")
def redeliver_event(
    webhookEventId: str, destination_id: str | None = Query(None, max_length=64),
    scope: Scope = CallerScope, ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with write(ctx.engine) as conn:
        count = webhooks.redeliver(conn, scope, webhookEventId, destination_id, ctx.now())
    return ExactJSONResponse({"id": webhookEventId, "deliveries": count}, status_code=202)


def _test(ctx: Context, scope: Scope, topic: str, body: Any, **where: str | None) -> ExactJSONResponse:
    with write(ctx.engine) as conn:
        event_id = webhooks.test_event(conn, scope, topic, body, ctx.now(), **where)
    return ExactJSONResponse({"id": event_id}, status_code=202)


@api.post("/webhooks/test/{topic}", status_code=202, response_model=TestWebhookResponse,
          summary="Send a test event of a topic, the body as its data, to every matching destination")
def test_destinations(
    topic: str, body: Any = AnyJSON, scope: Scope = CallerScope, ctx: Context = Depends(context)
) -> ExactJSONResponse:
    return _test(ctx, scope, topic, body)


@api.post("/webhooks/test/{topic}/{connectedAccountId}", status_code=202, response_model=TestWebhookResponse,
          summary="Send a test event as if from a connected account, to the connect destinations")
def test_connected_destinations(
    topic: str, connectedAccountId: str, body: Any = AnyJSON, scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    return _test(ctx, scope, topic, body, connected_account_id=connectedAccountId)


@api.get("/webhooks/{webhookId}", response_model=WebhookDestination, summary="Get a webhook destination (with secret)")
def get_destination(webhookId: str, scope: Scope = CallerScope, ctx: Context = Depends(context)) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(_full(webhooks.get(conn, scope, webhookId)), headers={"Cache-Control": "no-store"})


@api.patch("/webhooks/{webhookId}", response_model=WebhookDestination,
           summary="Change a destination's URL, topics or enabled (enabling a disabled one resumes its deliveries)")
def update_destination(
    webhookId: str, body: UpdateWebhookDestinationRequest, scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    webhooks.check_address(body.url, ctx.settings.webhooks_allow_private)  # before the transaction
    changes = DestinationChanges(body.url, None if body.topics is None else list(body.topics), body.enabled)
    with write(ctx.engine) as conn:
        return ExactJSONResponse(_full(webhooks.update(conn, scope, webhookId, changes, ctx.now())))


@api.delete("/webhooks/{webhookId}", status_code=204, summary="Delete a destination (its log stays)")
def delete_destination(webhookId: str, scope: Scope = CallerScope, ctx: Context = Depends(context)) -> Response:
    with write(ctx.engine) as conn:
        webhooks.delete(conn, scope, webhookId, ctx.now())
    return Response(status_code=204)


@api.post("/webhooks/{webhookId}/rotate-secret", response_model=WebhookDestination,
          summary="A new secret; the old one still signs, beside it, for 24 hours (Drawdown extension)")
def rotate_secret(webhookId: str, scope: Scope = CallerScope, ctx: Context = Depends(context)) -> ExactJSONResponse:
    with write(ctx.engine) as conn:
        return ExactJSONResponse(_full(webhooks.rotate_secret(conn, scope, webhookId, ctx.now())))


@api.post("/webhooks/{webhookId}/test/{topic}", status_code=202, response_model=TestWebhookResponse,
          summary="Send a test event of a topic, the body as its data, to this destination")
def test_destination(
    webhookId: str, topic: str, body: Any = AnyJSON, scope: Scope = CallerScope, ctx: Context = Depends(context)
) -> ExactJSONResponse:
    return _test(ctx, scope, topic, body, destination_id=webhookId)


@api.post("/webhooks/{webhookId}/test/{topic}/{connectedAccountId}", status_code=202,
          response_model=TestWebhookResponse,
          summary="Send a test event to this destination as if from a connected account")
def test_connected_destination(
    webhookId: str, topic: str, connectedAccountId: str, body: Any = AnyJSON, scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    return _test(ctx, scope, topic, body, destination_id=webhookId, connected_account_id=connectedAccountId)
