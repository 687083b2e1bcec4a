"""The billing portal's pages: ``/portal/open/{token}`` (the link ``POST /billing-portal/sessions``
answers) turns into a session cookie; ``/portal/overview``; ``/portal/logout``; the portal's own
static files (its CSS and the vendored htmx: nothing comes from a CDN). Shared pieces (session,
branding, CSP, CSRF) are in api/portal_web.py. Outside the OpenAPI document, like the payment pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from drawdown.api import portal_web as web
from drawdown.api.deps import Context, context
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.portal import chart, ledger, overview, sessions, usage
from drawdown.portal.data_models import UsageFilter, format_amount

api = APIRouter(include_in_schema=False)
# Only pages that exist are linked: usage, transactions, credits, top up, auto top-up and cards join
# as they are built (issue 13); a customer never follows a link to a missing page.
NAV = (
    ("overview", "Overview", "/portal/overview"),
    ("usage", "Usage", "/portal/usage"),
    ("transactions", "Transactions", "/portal/transactions"),
    ("credits", "Credits", "/portal/credits"),
    ("top-up", "Top up", "/portal/top-up"),
    ("auto-top-up", "Auto top-up", "/portal/auto-top-up"),
    ("cards", "Cards", "/portal/cards"),
)
PAGE = 20


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


@api.get("/portal/overview", response_class=HTMLResponse)
def overview_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    s = current.session
    with read(ctx.engine) as conn:
        figures = overview.overview(conn, web.scope(ctx, current), s.customer_id, ctx.now())
    accounts = [
        {"name": b.name, "asset": b.asset, "available": format_amount(b.available, p),
         "pending_in": format_amount(b.pending_in, p), "pending_out": format_amount(b.pending_out, p),
         "negative": b.available < 0}
        for b, p in figures.balances
    ]
    spend = [
        {"asset": a.asset, "month_to_date": format_amount(a.month_to_date, a.precision),
         "total": format_amount(sum((d.amount for d in a.daily), Decimal(0)), a.precision),
         "chart": chart.bars(a, current.look.colors.brand_line), "first": a.daily[0].day, "last": a.daily[-1].day}
        for a in figures.figures.spend
    ]
    return web.render(ctx, "portal/overview.html", current.look, visit=current, nav=NAV, here="overview",
                      accounts=accounts, spend=spend, month=ctx.now().strftime("%B %Y"))


@api.post("/portal/logout")
async def logout(request: Request, ctx: Context = Depends(context)) -> Response:
    got = await web.submitted(ctx, request)
    if not isinstance(got, tuple):
        return got
    current, _ = got
    await run_in_threadpool(_end, ctx, current)
    response = RedirectResponse(current.session.return_url, status_code=303)
    web.clear_cookie(ctx, response)
    return response


def _end(ctx: Context, current: web.Visit) -> None:
    with write(ctx.engine) as conn:
        sessions.end(conn, current.session)


# ------------------------------------------------------------------------------ usage, ledger, credits
def iso(at: datetime) -> str:
    """ISO 8601 UTC for a <time datetime=...> (web/static/portal.js shows it in the browser's time zone)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, min(int(raw), 1_000_000)) if raw.isdigit() else 1


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def usage_filters(request: Request, known: set[str]) -> tuple[UsageFilter, dict[str, str], dict[str, str]]:
    """The usage filters from the query (UTC days, ``to`` included; a product of the customer's), the
    values to keep in the form and links, and an error per field that could not be read."""
    q = request.query_params
    kept = {k: q.get(k, "").strip() for k in ("from", "to", "product")}
    errors: dict[str, str] = {}
    start, end = _day(kept["from"]), _day(kept["to"])
    for key, day in (("from", start), ("to", end)):
        if kept[key] and day is None:
            errors[key] = "Use a date like 2026-12-01."
    if start and end and end < start:
        errors["to"] = "The end date is before the start date."
        end = None
    product = kept["product"] or None
    if product is not None and product not in known:
        errors["product"] = "Choose one of your products."
        product = None
    kept = {k: v for k, v in kept.items() if v and k not in errors}
    filters = UsageFilter(_midnight(start) if start else None,
                          _midnight(end) + timedelta(days=1) if end else None, product)
    return filters, kept, errors


def _pages(base: str, kept: dict[str, str], page: int, total: int) -> dict[str, Any]:
    last = max(1, -(-total // PAGE))
    def link(n: int) -> str:
        return base + "?" + urlencode({**kept, "page": n})
    return {"page": page, "last": last, "total": total, "first_row": (page - 1) * PAGE + 1 if total else 0,
            "last_row": min(page * PAGE, total), "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < last else None}


@api.get("/portal/usage", response_class=HTMLResponse)
def usage_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    s, page = current.session, _page_number(request)
    scope = web.scope(ctx, current)
    with read(ctx.engine) as conn:
        products = usage.products(conn, scope, s.customer_id, ctx.now())
        filters, kept, errors = usage_filters(request, {pid for pid, _ in products})
        items, total = usage.usage_page(conn, scope, s.customer_id, filters, (page - 1) * PAGE, PAGE)
        places = ledger.places(conn, scope, {f.asset for i in items for f in i.fees})
    events = [
        {"id": i.id, "type": i.event_type, "iso": iso(i.recorded_at), "when": utc_text(i.recorded_at),
         "description": i.description or i.subject or "",
         "fees": [{"product": f.product_name or f.product_code, "price": f.price_name, "asset": f.asset,
                   "amount": format_amount(f.amount, places[f.asset])} for f in i.fees]}
        for i in items
    ]
    csv_link = "/portal/usage.csv" + ("?" + urlencode(kept) if kept else "")
    return web.render(ctx, "portal/usage.html", current.look, visit=current, nav=NAV, here="usage", events=events,
                      products=products, kept=kept, errors=errors, filtered=bool(kept), csv_link=csv_link,
                      pages=_pages("/portal/usage", kept, page, total))


@api.get("/portal/usage.csv")
def usage_export(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    s = current.session
    scope = web.scope(ctx, current)
    with read(ctx.engine) as conn:
        known = {pid for pid, _ in usage.products(conn, scope, s.customer_id, ctx.now())}
    filters, _, _ = usage_filters(request, known)
    name = f"usage-{ctx.now().astimezone(UTC):%Y-%m-%d}.csv"
    response = StreamingResponse(_csv_lines(ctx, scope, s.customer_id, filters), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return web.secure_headers(response, "default-src 'none'")


def _csv_lines(ctx: Context, scope: Scope, customer_id: str, filters: UsageFilter) -> Iterator[str]:
    """Every line read inside one read transaction, so the file is one consistent picture."""
    with read(ctx.engine) as conn:
        yield from usage.usage_csv(conn, scope, customer_id, filters)


KINDS = {"top_up": "Top-up", "refund": "Refund", "adjustment": "Adjustment", "fee": "Usage fee", "usage": "Usage",
         "charge": "Charge", "expiry": "Expiry", "entitlement": "Entitlement", "rollover": "Rollover"}


@api.get("/portal/transactions", response_class=HTMLResponse)
def transactions_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    s, page = current.session, _page_number(request)
    scope = web.scope(ctx, current)
    with read(ctx.engine) as conn:
        items, total = ledger.transactions_page(conn, scope, s.customer_id, (page - 1) * PAGE, PAGE)
        places = ledger.places(conn, scope, {t.asset for t in items})
    rows = [
        {"id": t.id, "kind": KINDS.get(t.kind, t.kind.replace("_", " ").capitalize()), "code": t.kind,
         "amount": ("+" if t.amount > 0 else "") + format_amount(t.amount, places[t.asset]), "asset": t.asset,
         "negative": t.amount < 0, "account": "Wallet" if t.account == "default" else t.account,
         "description": t.description or "", "iso": iso(t.at), "when": utc_text(t.at),
         "grants": [{"id": g.grant_id, "purpose": g.purpose} for g in t.grants]}
        for t in items
    ]
    return web.render(ctx, "portal/transactions.html", current.look, visit=current, nav=NAV, here="transactions",
                      rows=rows, pages=_pages("/portal/transactions", {}, page, total))


@api.get("/portal/credits", response_class=HTMLResponse)
def credits_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    s = current.session
    with read(ctx.engine) as conn:
        found = ledger.credits(conn, web.scope(ctx, current), s.customer_id, ctx.now())
    grants = [
        {"id": c.grant_id, "phrase": c.phrase(), "purpose": c.purpose.replace("_", " ").capitalize(),
         "state": c.state, "unit": c.asset_label or c.asset,
         "account": "Wallet" if c.account == "default" else c.account,
         "remaining": format_amount(c.remaining, c.precision), "amount": format_amount(c.amount, c.precision),
         "expires": {"iso": iso(c.expires_at), "when": utc_text(c.expires_at)} if c.expires_at else None,
         "starts": {"iso": iso(c.effective_at), "when": utc_text(c.effective_at)} if c.state == "pending" else None}
        for c in found
    ]
    return web.render(ctx, "portal/credits.html", current.look, visit=current, nav=NAV, here="credits", grants=grants)
