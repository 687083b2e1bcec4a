"""/customers/{id}/wallet/{account}/holds (Drawdown extension): set value aside before a job, settle
its events against it, release the rest. Placing and releasing go through the batching writer with
the events (``ctx.usage.send``); reads are plain reads."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from drawdown.api.problems import problem
from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router
from drawdown.api.schemas.common import Page
from drawdown.api.schemas.holds import CreateHoldRequest, Hold, HoldCheck
from drawdown.api.scoping import CallerScope
from drawdown.codec import fingerprint
from drawdown.core.scopes import Scope
from drawdown.db.engine import read
from drawdown.holds import service as holds
from drawdown.holds.models import Check, Estimate, HoldCommand, HoldView, InsufficientFunds, PlaceHold, ReleaseHold
from drawdown.usage.models import UsageBatch

api = router("Holds")
_PATH = "/customers/{customerId}/wallet/{accountId}/holds"


@api.post(
    _PATH,
    status_code=201,
    response_model=Hold,
    summary="Place a hold (or, with dry_run, check whether one would succeed)",
    responses={200: {"model": HoldCheck, "description": "dry_run: whether it would succeed and what it costs"}},
)
async def create_hold(
    customerId: str,
    accountId: str,
    body: CreateHoldRequest,
    request: Request,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    doc = body.model_dump(exclude={"dry_run"})
    estimate = None if body.estimate is None else Estimate(body.estimate.event_type, body.estimate.data)
    cmd = PlaceHold(
        body.hold_id,
        accountId,
        body.amount,
        estimate,
        body.expires_at,
        body.ttl_seconds,
        body.description,
        body.metadata,
        body.dry_run,
        # The same body on the same account is the same hold; dry_run is not part of what a hold is.
        digest=fingerprint({**doc, "account": accountId}),
    )
    try:
        answer = await _send(ctx, scope, customerId, cmd)
    except InsufficientFunds as exc:
        return problem(
            422,
            exc.detail,
            request,
            exc.errors,
            type="https://drawdown.dev/problems/insufficient_funds",
            title="Insufficient funds",
            amount=exc.amount,
            missing=exc.missing,
        )
    if isinstance(answer, Check):
        return ExactJSONResponse(_check(answer))
    return ExactJSONResponse(_hold(answer), status_code=201)


@api.post(f"{_PATH}/{{holdId}}/release", response_model=Hold, summary="Release a hold (what it still holds)")
async def release_hold(
    customerId: str, accountId: str, holdId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    answer = await _send(ctx, scope, customerId, ReleaseHold(holdId, accountId))
    assert isinstance(answer, HoldView)
    return ExactJSONResponse(_hold(answer))


@api.get(_PATH, response_model=Page[Hold], summary="List an account's holds, oldest first")
def list_holds(
    customerId: str,
    accountId: str,
    offset: int = Offset,
    limit: int = Limit,
    ctx: Context = Depends(context),
    scope: Scope = CallerScope,
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = holds.list_holds(conn, scope, customerId, accountId, offset, limit, ctx.now())
    return page([_hold(h) for h in items], total, limit, offset)


@api.get(f"{_PATH}/{{holdId}}", response_model=Hold, summary="Get a hold with the fees settled against it")
def get_hold(
    customerId: str, accountId: str, holdId: str, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        found = holds.get_hold(conn, scope, customerId, accountId, holdId, ctx.now())
    return ExactJSONResponse(_hold(found))


async def _send(ctx: Context, scope: Scope, customer_id: str, cmd: HoldCommand) -> HoldView | Check:
    _, outcome = await ctx.usage.send(UsageBatch(scope, customer_id, None, [], hold=cmd))
    assert outcome.hold is not None
    return outcome.hold


def _hold(h: HoldView) -> dict[str, Any]:
    return {
        "id": h.hold_id,
        "account_id": h.account,
        "asset": h.asset,
        "status": h.status,
        "amount": h.amount,
        "settled": h.settled,
        "held": h.held,
        "released": h.released,
        "expires_at": h.expires_at,
        "closed_at": h.closed_at,
        "description": h.description,
        "metadata": h.metadata,
        "estimate": h.estimate,
        "created_at": h.created_at,
        "settlements": [
            {"fee_id": s.fee_id, "event_id": s.event_id, "amount": s.amount, "from_hold": s.from_hold,
             "created_at": s.created_at}
            for s in h.settlements
        ],
    }


def _check(c: Check) -> dict[str, Any]:
    return {
        "dry_run": True,
        "account_id": c.account,
        "asset": c.asset,
        "amount": c.amount,
        "would_succeed": c.would_succeed,
        "missing": c.missing,
    }
