"""What every billing portal page shares (api/portal.py and the pages after it): the session from
its cookie, the scope's branding, rendering with a strict Content-Security-Policy, and CSRF.

A page handler calls ``visit`` first: it answers the session (its idle time reset) or the page that
refuses (no session, or one left idle past ten minutes). Every POST goes through ``posted``, which
reads the form and refuses it unless it carries the session's CSRF token (the hidden field
``csrf_token`` that ``render`` gives every template as ``csrf``, or an ``X-CSRF-Token`` header,
which htmx sends from ``hx-headers`` on <body>)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from drawdown.accounts import service as accounts
from drawdown.api.deps import Context
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from drawdown.portal import branding, sessions
from drawdown.portal.branding import Look
from drawdown.portal.models import PortalSession

COOKIE = "drawdown_portal"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024

_pages = Environment(
    loader=PackageLoader("drawdown", "web/templates"), autoescape=select_autoescape(), trim_blocks=True
)
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
ASSETS = {
    "portal.css": ("portal.css", "text/css; charset=utf-8"),
    "portal.js": ("portal.js", "text/javascript; charset=utf-8"),
    "portal-cards.js": ("portal-cards.js", "text/javascript; charset=utf-8"),
    "htmx.min.js": ("vendor/htmx.min.js", "text/javascript; charset=utf-8"),
}


@dataclass(frozen=True)
class Visit:
    """A live session's request: who (scope and customer), its cookie, and how its pages look."""

    session: PortalSession
    cookie: str
    look: Look

    @property
    def csrf(self) -> str:
        return sessions.csrf_token(self.cookie)


def origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def look(ctx: Context, scope_id: int | None) -> Look:
    s = ctx.settings
    with read(ctx.engine) as conn:
        return branding.look(conn, scope_id, s.operator_name, s.operator_logo_url, s.operator_color)


def secure_headers(response: Response, csp: str) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def render(ctx: Context, template: str, brand: Look, status: int = 200, visit: Visit | None = None,
           script_origins: tuple[str, ...] = (), **values: Any) -> HTMLResponse:
    """A portal page. Scripts from here only (plus ``script_origins``, e.g. Stripe.js on the cards page);
    styles from here and the one nonce'd block that sets the brand colour; forms post here only (and
    may be redirected back to the app); never framed."""
    nonce = secrets.token_urlsafe(16)
    back = visit.session.return_url if visit else None
    html = _pages.get_template(template).render(
        brand=brand, nonce=nonce, visit=visit, csrf=visit.csrf if visit else "", csrf_field=CSRF_FIELD,
        back=back, **values,
    )
    scripts = " ".join(["'self'", *script_origins])
    csp = (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'nonce-{nonce}'; "
        f"img-src 'self' data: {origin(brand.logo)}; connect-src 'self' {' '.join(script_origins)}; "
        f"form-action 'self' {origin(back)}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        # Stripe.js draws its card fields (and 3-D Secure) in frames from its own origins.
        + (f"; frame-src {' '.join(script_origins)} https://js.stripe.com https://hooks.stripe.com"
           if script_origins else "")
    )
    return secure_headers(HTMLResponse(html, status_code=status), csp)  # type: ignore[return-value]


def message(ctx: Context, brand: Look, status: int, title: str, text: str, link: str | None = None,
            link_text: str | None = None) -> HTMLResponse:
    return render(ctx, "portal/message.html", brand, status, title=title, text=text, link=link, link_text=link_text)


def visit(ctx: Context, request: Request) -> Visit | HTMLResponse:
    """The request's live session, or the page saying why there is none."""
    cookie = request.cookies.get(COOKIE)
    with write(ctx.engine) as conn:
        found = sessions.resume(conn, cookie, ctx.now())
    if found.session is not None and cookie:
        return Visit(found.session, cookie, look(ctx, found.session.scope_id))
    if found.ended is not None:
        brand = look(ctx, found.ended.scope_id)
        return message(ctx, brand, 401, "Your session has ended", "For your security, the billing portal "
                       "closes after 10 minutes without activity. Open it again from the app.",
                       found.ended.return_url, "Back to the app")
    return message(ctx, look(ctx, None), 401, "You are not signed in", "Open the billing portal from the app "
                   "you use: it gives you a fresh, private link.")


async def posted(ctx: Context, request: Request, current: Visit) -> dict[str, str] | HTMLResponse:
    """The form of a POST from ``current``'s page, or a 403 page when its CSRF token is missing or wrong."""
    body = await request.body()
    form = {k: v[0] for k, v in parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace")).items()}
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not sessions.csrf_ok(current.cookie, sent):
        return message(ctx, current.look, 403, "This form has expired", "The page was open for too long, or the "
                       "request did not come from this portal. Go back, reload the page and try again.",
                       "/portal/overview", "Back to the overview")
    return form


async def submitted(ctx: Context, request: Request) -> tuple[Visit, dict[str, str]] | HTMLResponse:
    """A POST's live session and its CSRF-checked form, or the page saying why not (every form's first step)."""
    current = await run_in_threadpool(visit, ctx, request)
    if not isinstance(current, Visit):
        return current
    form = await posted(ctx, request, current)
    return form if isinstance(form, HTMLResponse) else (current, form)


def scope(ctx: Context, current: Visit) -> Scope:
    """The session's scope, environment included (payments refuse a live Stripe key in a test one)."""
    with read(ctx.engine) as conn:
        found = accounts.scope_by_id(conn, current.session.scope_id)
    assert found is not None  # scopes are never deleted
    return found


def set_cookie(ctx: Context, response: Response, value: str) -> None:
    response.set_cookie(COOKIE, value, httponly=True, samesite="lax", path="/portal",
                        secure=ctx.settings.public_url.startswith("https://"))


def clear_cookie(ctx: Context, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/portal", httponly=True, samesite="lax",
                           secure=ctx.settings.public_url.startswith("https://"))
