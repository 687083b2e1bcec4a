"""The billing portal's pages: ``/portal/open/{token}`` (the link ``POST /billing-portal/sessions``
answers) turns into a session cookie; ``/portal/overview``; ``/portal/logout``; the portal's own
static files (its CSS and the vendored htmx: nothing comes from a CDN). Shared pieces (session,
branding, CSP, CSRF) are in api/portal_web.py. Outside the OpenAPI document, like the payment pages."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from drawdown.api import portal_web as web
from drawdown.api.deps import Context, context
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.portal import chart, overview, sessions

api = APIRouter(include_in_schema=False)
# Only pages that exist are linked: usage, transactions, credits, top up, auto top-up and cards join
# as they are built (issue 13); a customer never follows a link to a missing page.
NAV = (("overview", "Overview", "/portal/overview"),)


@api.get("/portal/assets/{name}")
async def asset(name: str) -> Response:
    if name not in web.ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    path, kind = web.ASSETS[name]
    return Response((web.STATIC / path).read_bytes(), media_type=kind,
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


@api.get("/portal/open/{token}")
def open_link(token: str, ctx: Context = Depends(context)) -> Response:
    with write(ctx.engine) as conn:
        opened = sessions.open_link(conn, token, ctx.now())
    if opened.cookie is not None:
        response = RedirectResponse("/portal/overview", status_code=303)
        web.set_cookie(ctx, response, opened.cookie)
        return web.secure_headers(response, "default-src 'none'")
    if opened.failure_url is not None:  # reused, expired or tampered with: the app decides what next
        return web.secure_headers(RedirectResponse(opened.failure_url, status_code=303), "default-src 'none'")
    return web.message(ctx, web.look(ctx, None), 404, "This link is not valid",
                       "Check the address, or open the billing portal again from the app.")


def _amount(value: Decimal, places: int) -> str:
    return f"{value:,.{places}f}"


@api.get("/portal/overview", response_class=HTMLResponse)
def overview_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    s = current.session
    with read(ctx.engine) as conn:
        figures = overview.overview(conn, Scope(s.scope_id, "", ""), s.customer_id, ctx.now())
    accounts = [
        {"name": b.name, "asset": b.asset, "available": _amount(b.available, p), "pending_in": _amount(b.pending_in, p),
         "pending_out": _amount(b.pending_out, p), "negative": b.available < 0}
        for b, p in figures.balances
    ]
    spend = [
        {"asset": a.asset, "month_to_date": _amount(a.month_to_date, a.precision),
         "total": _amount(sum((d.amount for d in a.daily), Decimal(0)), a.precision),
         "chart": chart.bars(a, current.look.color), "first": a.daily[0].day, "last": a.daily[-1].day}
        for a in figures.figures.spend
    ]
    return web.render(ctx, "portal/overview.html", current.look, visit=current, nav=NAV, here="overview",
                      accounts=accounts, spend=spend, month=ctx.now().strftime("%B %Y"))


@api.post("/portal/logout")
async def logout(request: Request, ctx: Context = Depends(context)) -> Response:
    current = await run_in_threadpool(web.visit, ctx, request)
    if not isinstance(current, web.Visit):
        return current
    form = await web.posted(ctx, request, current)
    if not isinstance(form, dict):
        return form
    await run_in_threadpool(_end, ctx, current)
    response = RedirectResponse(current.session.return_url, status_code=303)
    web.clear_cookie(ctx, response)
    return response


def _end(ctx: Context, current: web.Visit) -> None:
    with write(ctx.engine) as conn:
        sessions.end(conn, current.session)
