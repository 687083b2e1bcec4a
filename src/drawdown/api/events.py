"""/events"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta, timezone

from fastapi import Depends, Query, Response
from fastapi.concurrency import run_in_threadpool

from drawdown.api.problems import problem
from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.events import GetEventResponse, ListEventsItem, UsageRequest
from drawdown.usage import events as billing
from drawdown.usage import pipeline as usage
from drawdown.db.engine import read, write

api = router("Events")


@api.post(
    "/events",
    status_code=204,
    summary="Send usage events for one customer",
    responses={204: {"description": "Every event was billed (or was a replay of one already billed)"}},
)
async def send_usage(body: UsageRequest, ctx: Context = Depends(context)) -> Response:
    # Async: the request waits for its group's commit on the event loop, not in a pool thread.
    batch = [e.model_dump(exclude_none=True) for e in body.events]
    writer = ctx.writer
    if writer is not None:
        _, outcome = await asyncio.wrap_future(writer.enqueue(body.customer_id, body.customer_external_id, batch))
    else:
        _, outcome = await run_in_threadpool(_bill_alone, ctx, body, batch)
    if outcome.rejected:
        errors = {f"events[{i}]": [reason] for i, reason in sorted(outcome.rejected.items())}
        detail = (
            f"{len(outcome.rejected)} of {len(batch)} events were refused and not recorded; "
            f"the other {len(batch) - len(outcome.rejected)} were billed."
        )
        return problem(422, detail, None, errors, accepted=outcome.accepted + outcome.replayed)
    return Response(status_code=204)


def _bill_alone(ctx: Context, body: UsageRequest, batch: list[dict]) -> tuple[str, usage.Outcome]:
    with write(ctx.engine) as conn:
        result = usage.bill(conn, [usage.Request(body.customer_id, body.customer_external_id, batch)], ctx.now(),
                            ctx.settings.overdraft_limit())[0]
    if isinstance(result, Exception):
        raise result
    return result


def _day(value: date | None, end: bool = False) -> datetime | None:
    if value is None:
        return None
    start = datetime.combine(value, time.min, tzinfo=timezone.utc)
    return start + timedelta(days=1) if end else start


@api.get("/events", response_model=Page[ListEventsItem], summary="List events, newest first")
def list_events(
    offset: int = Offset,
    limit: int = Limit,
    event_id: str | None = Query(None),
    customer_id: str | None = Query(None),
    customer_external_id: str | None = Query(None),
    subject: str | None = Query(None),
    period_from: date | None = Query(None, description="First day (UTC, inclusive) of occurred_at"),
    period_to: date | None = Query(None, description="Last day (UTC, inclusive) of occurred_at"),
    event_types: str | None = Query(None, description="Comma-separated event types"),
    has_fees: bool | None = Query(None),
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    filters = {
        "event_id": event_id,
        "customer_id": customer_id,
        "customer_external_id": customer_external_id,
        "subject": subject,
        "period_from": _day(period_from),
        "period_to": _day(period_to, end=True),
        "event_types": [t.strip() for t in event_types.split(",") if t.strip()] if event_types else None,
        "has_fees": has_fees,
    }
    with read(ctx.engine) as conn:
        items, total = billing.list_events(conn, offset, limit, filters)
    return page(items, total, limit, offset)


@api.get("/events/{eventId}", response_model=GetEventResponse, summary="Get an event with its fees")
def get_event(eventId: str, customer_id: str | None = Query(None), ctx: Context = Depends(context)) -> ExactJSONResponse:  # noqa: N803
    with read(ctx.engine) as conn:
        return ExactJSONResponse(billing.get_event(conn, eventId, customer_id))
