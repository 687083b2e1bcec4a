"""/customers/{id}/wallet/{account}/alerts (Drawdown extension): balance alerts, the thresholds whose
crossing sends ``balance.low`` (docs/webhooks.md). A customer or account of another scope answers
exactly like an unknown one."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Response

from drawdown.api.routing import Context, ExactJSONResponse, context, router
from drawdown.api.schemas.alerts import AlertsRequest, AlertsResponse
from drawdown.api.scoping import CallerScope
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.wallets import alerts
from drawdown.wallets.alerts import AlertsView, Threshold

api = router("Wallets")
ALERTS = "/customers/{customerId}/wallet/{accountId}/alerts"


@api.put(ALERTS, response_model=AlertsResponse, summary="Set an account's balance alerts (Drawdown extension)")
def put_alerts(customerId: str, accountId: str, body: AlertsRequest, ctx: Context = Depends(context),
               scope: Scope = CallerScope) -> Any:
    wanted = [Threshold(t.amount, t.percent) for t in body.thresholds]
    with write(ctx.engine) as conn:
        view = alerts.put(conn, scope, customerId, accountId, wanted, ctx.now(), ctx.settings.overdraft_limit())
    return ExactJSONResponse(_shape(view))


@api.get(ALERTS, response_model=AlertsResponse, summary="An account's balance alerts (Drawdown extension)")
def get_alerts(customerId: str, accountId: str, ctx: Context = Depends(context), scope: Scope = CallerScope) -> Any:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(_shape(alerts.get(conn, scope, customerId, accountId, ctx.now())))


@api.delete(ALERTS, status_code=204, summary="Remove an account's balance alerts (Drawdown extension)")
def delete_alerts(customerId: str, accountId: str, ctx: Context = Depends(context),
                  scope: Scope = CallerScope) -> Response:
    with write(ctx.engine) as conn:
        alerts.remove(conn, scope, customerId, accountId)
    return Response(status_code=204)


def _shape(v: AlertsView) -> dict[str, Any]:
    return {
        "account_id": v.account_id, "asset": v.asset, "available": v.available, "last_top_up": v.last_top_up,
        "thresholds": [{"amount": t.amount, "percent": t.percent, "level": t.level, "below": t.below}
                       for t in v.thresholds],
        "updated_at": v.updated_at,
    }
