"""/billing-portal/sessions (Credyt): a customer's portal, opened from the link it answers (api/portal.py
serves it); /billing-portal/settings (Drawdown extension): the scope's branding, on the portal and the
payment pages."""

from __future__ import annotations

from fastapi import Depends

from drawdown.api.deps import Context, context
from drawdown.api.routing import ExactJSONResponse, router
from drawdown.api.schemas.portal import (
    CreateSessionRequest,
    CreateSessionResponse,
    PortalSettings,
    PortalSettingsResponse,
)
from drawdown.api.scoping import CallerScope
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.portal import branding, sessions
from drawdown.portal.models import Branding, NewSession

api = router("Billing portal")


@api.post("/billing-portal/sessions", response_model=CreateSessionResponse, summary="Create a portal session")
def create_session(
    body: CreateSessionRequest, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    with write(ctx.engine) as conn:
        made = sessions.create(conn, scope, NewSession(body.customer_id, body.return_url, body.failure_url), ctx.now())
    url = f"{ctx.settings.public_url.rstrip('/')}/portal/open/{made.link_token}"
    return ExactJSONResponse({"redirect_url": url, "expires_at": made.session.link_expires_at},
                             headers={"Cache-Control": "no-store"})


def _settings(b: Branding) -> dict[str, object]:
    return {"display_name": b.display_name, "logo_url": b.logo_url, "primary_color": b.primary_color,
            "support_url": b.support_url, "updated_at": b.updated_at}


@api.get("/billing-portal/settings", response_model=PortalSettingsResponse,
         summary="Get the portal's branding (Drawdown extension)")
def get_settings(ctx: Context = Depends(context), scope: Scope = CallerScope) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(_settings(branding.get(conn, scope)))


@api.put("/billing-portal/settings", response_model=PortalSettingsResponse,
         summary="Set the portal's branding, also used by the payment pages (Drawdown extension)")
def put_settings(
    body: PortalSettings, ctx: Context = Depends(context), scope: Scope = CallerScope
) -> ExactJSONResponse:
    wanted = Branding(body.display_name, body.logo_url, body.primary_color, body.support_url)
    with write(ctx.engine) as conn:
        return ExactJSONResponse(_settings(branding.put(conn, scope, wanted, ctx.now())))
