"""/events"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import Depends, Query, Response

from drawdown.api.problems import problem
from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.events import CostData, GetEventResponse, ListEventsItem, UsageEvent, UsageRequest
from drawdown.api.scoping import CallerScope
from drawdown.api.shapes.reports import stats
from drawdown.core.scopes import Scope
from drawdown.db.engine import read
from drawdown.reports.profitability import of
from drawdown.usage import events, models

api = router("Events")


@api.post(
    "/events",
    status_code=204,
    summary="Send usage events for one customer",
    responses={204: {"description": "Every event was billed (or was a replay of one already billed)"}},
)
async def send_usage(body: UsageRequest, scope: Scope = CallerScope, ctx: Context = Depends(context)) -> Response:
    # Async: the request waits for its commit on the event loop, not in a pool thread. The usual request
    # never gets here: api/fast_events.py answers it with the same two functions below.
    batch = usage_batch(scope, body)
    _, outcome = await ctx.usage.send(batch)
    return answer(batch, outcome)


def usage_batch(scope: Scope, body: UsageRequest) -> models.UsageBatch:
    events_ = [_event(e) for e in body.events]
    return models.UsageBatch(scope, body.customer_id, body.customer_external_id, events_)


def answer(batch: models.UsageBatch, outcome: models.Outcome) -> Response:
    """204, or 422 naming each event refused (the others were billed)."""
    # Drawdown extension: an event that named a hold it could not settle against (closed, unknown, on
    # another account) was billed as usual; each such event says so, under its index. A header, since
    # Credyt's clients expect an empty 204.
    notes = {f"events[{i}]": note for i, note in sorted(outcome.notes.items())}
    if outcome.rejected:
        errors = {f"events[{i}]": [reason] for i, reason in sorted(outcome.rejected.items())}
        n = len(batch.events)
        detail = (
            f"{len(outcome.rejected)} of {n} events were refused and not recorded; "
            f"the other {n - len(outcome.rejected)} were billed."
        )
        extra = {"hold_notes": notes} if notes else {}
        return problem(422, detail, None, errors, accepted=outcome.accepted + outcome.replayed, **extra)
    headers = {HOLD_NOTES: json.dumps(notes, ensure_ascii=True)} if notes else None
    return Response(status_code=204, headers=headers)


HOLD_NOTES = "X-Drawdown-Hold-Notes"


def _event(e: UsageEvent) -> models.UsageEvent:
    costs = None if e.costs is None else tuple(_cost(c) for c in e.costs)
    return models.UsageEvent(e.id, e.event_type, e.occurred_at, e.subject, e.description, e.data, costs, e.hold_id)


def _cost(c: CostData) -> models.Cost:
    return models.Cost(**c.model_dump())


def _day(value: date | None, end: bool = False) -> datetime | None:
    if value is None:
        return None
    start = datetime.combine(value, time.min, tzinfo=UTC)
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
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    types = [t.strip() for t in event_types.split(",") if t.strip()] if event_types else None
    f = models.EventFilter(
        event_id,
        customer_id,
        customer_external_id,
        subject,
        _day(period_from),
        _day(period_to, end=True),
        types,
        has_fees,
    )
    with read(ctx.engine) as conn:
        items, total = events.list_events(conn, scope, f, offset, limit)
    return page([_summary(e) for e in items], total, limit, offset)


@api.get("/events/{eventId}", response_model=GetEventResponse, summary="Get an event with its fees")
def get_event(
    eventId: str,
    customer_id: str | None = Query(None),
    scope: Scope = CallerScope,
    ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        e = events.get_event(conn, scope, eventId, customer_id)
    return ExactJSONResponse(
        {
            "id": e.id,
            "event_type": e.event_type,
            "occurred_at": e.occurred_at,
            "subject": e.subject,
            "description": e.description,
            "data": e.data,
            "costs": e.costs,
            "customer_id": e.customer_id,
            "created_at": e.created_at,
            "fees": [_fee(f) for f in e.fees],
            "stats": stats(of(e.revenue, e.cost)),
        }
    )


def _fee(f: models.FeeView) -> dict[str, Any]:
    return {
        "id": f.id,
        "product_id": f.product_id,
        "product_code": f.product_code,
        "product_version": f.product_version,
        "price_id": f.price_id,
        "price_name": f.price_name,
        "currency": f.asset,
        "dimensions": f.dimensions,
        "usage_type": f.usage_type,
        "volume_field": f.volume_field,
        "input_volume": f.input_volume,
        "unit_price": f.unit_price,
        "volume_rate": f.volume_rate,
        "package_size": f.package_size,
        "description": f.description,
        "amount": f.amount,
    }


def _summary(e: models.EventSummary) -> dict[str, Any]:
    return {
        "id": e.id,
        "customer_id": e.customer_id,
        "external_id": e.external_id,
        "event_type": e.event_type,
        "subject": e.subject,
        "description": e.description,
        "occurred_at": e.occurred_at,
        "created_at": e.created_at,
        # Credyt's model has one total and one currency: the total is of the fees in that currency only.
        "total_fees": e.total_fees,
        "fee_currency": e.fee_currency,
        # Drawdown extension: every currency the event was billed in, with its own total.
        "fee_totals": [{"currency": c, "amount": amount} for c, amount in e.fee_totals.items()],
        "has_fees": bool(e.fee_totals),
        "stats": stats(of(e.revenue, e.cost)),
    }
