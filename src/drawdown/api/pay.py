"""The payment pages a customer opens in a browser: ``/pay/{token}`` (a top-up) and
``/portal/subscriptions/{id}/payment`` (a blocked subscription). Server-rendered, no API key: the
address is the credential (an unguessable token, or the subscription's id, the only key a page reads
by), and a page shows nothing but what that key names. Only Stripe.js comes from elsewhere
(``DRAWDOWN_STRIPE_JS_URL``); the rest, styles and script included, is served here.

The pages are not part of Credyt's API, so they stay out of the OpenAPI document.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field

from drawdown.api.deps import Context, context
from drawdown.api.portal_web import look
from drawdown.catalog import service as catalog
from drawdown.core.errors import NotFound
from drawdown.core.scopes import Scope
from drawdown.db.engine import read
from drawdown.payments import checkout, subscriptions
from drawdown.payments.checkout import Outcome
from drawdown.payments.models import EXPIRED, OPEN, PENDING, SUCCEEDED, TopUp
from drawdown.portal.data_models import format_amount

api = APIRouter(include_in_schema=False)

_pages = Environment(
    loader=PackageLoader("drawdown", "web/templates"), autoescape=select_autoescape(), trim_blocks=True
)
_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
_ASSETS = {"pay.css": "text/css; charset=utf-8", "pay.js": "text/javascript; charset=utf-8"}


class CardPayment(BaseModel):
    token: str = Field(min_length=1, max_length=200)  # Stripe.js createToken's id (tok_…)
    save_card: bool = False


# ---------------------------------------------------------------------------------- rendering
def _origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _render(ctx: Context, template: str, status: int = 200, scope_id: int | None = None, **values: Any) -> HTMLResponse:
    """A payment page, in the branding of ``scope_id`` (``PUT /billing-portal/settings``) where it has one,
    else the operator's (``DRAWDOWN_OPERATOR_*``)."""
    s = ctx.settings
    nonce = secrets.token_urlsafe(16)
    stripe = " ".join(filter(None, {_origin(s.stripe_js_url), _origin(s.stripe_api_base)}))
    brand = look(ctx, scope_id)
    html = _pages.get_template(template).render(
        operator=brand.name, logo=brand.logo, colors=brand.colors, nonce=nonce, **values
    )
    response = HTMLResponse(html, status_code=status)
    # Scripts only from here and Stripe; Stripe's frames (card fields, 3-D Secure) and API allowed;
    # never framed by another site. The token is in the address: no Referer may carry it away.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {stripe}; style-src 'self' 'nonce-{nonce}'; "
        f"connect-src 'self' {stripe}; frame-src {stripe} https://js.stripe.com https://hooks.stripe.com; "
        f"img-src 'self' data: {_origin(brand.logo)}; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _message(ctx: Context, status: int, title: str, text: str, tone: str = "info",
             link: str | None = None, link_text: str | None = None, scope_id: int | None = None) -> HTMLResponse:
    return _render(ctx, "message.html", status, scope_id, title=title, text=text, tone=tone, link=link,
                   link_text=link_text)


def _not_found(ctx: Context) -> HTMLResponse:
    return _message(ctx, 404, "Payment page not found",
                    "This payment link is not valid. Check the address, or ask for a new link.", "error")


def _precision(ctx: Context, scope_id: int, code: str) -> int:
    with read(ctx.engine) as conn:
        facts = catalog.asset_facts(conn, Scope(scope_id, "", ""), code)
    return facts[0] if facts else 2


def _credits(ctx: Context, t: TopUp) -> str:
    """What the payment adds, in words."""
    wallet = "your wallet" if t.account_name == "default" else f"your “{t.account_name}” wallet"
    if t.asset == t.currency:
        return f"Adds {format_amount(t.amount, _precision(ctx, t.scope_id, t.currency))} {t.currency} to {wallet}."
    if t.exchange_rate:
        units = t.amount / t.exchange_rate
        return f"Adds {format_amount(units, _precision(ctx, t.scope_id, t.asset))} {t.asset} to {wallet}."
    return f"Adds {t.asset} to {wallet}, at the rate in force today."


def _ended(ctx: Context, t: TopUp) -> HTMLResponse:
    """The page of a top-up that no longer takes a card."""
    if t.status == SUCCEEDED:
        return _message(ctx, 200, "Payment received", "Thank you: your payment went through and your balance "
                        "has been credited.", "success", t.return_url, "Continue", t.scope_id)
    if t.status == PENDING:
        return _message(ctx, 200, "Confirming your payment", "Your bank is still confirming this payment. "
                        "Your balance is credited as soon as it is done.", "info", f"/pay/{t.page_token}",
                        "Check again", t.scope_id)
    if t.status == EXPIRED:
        return _message(ctx, 410, "This payment link has expired", "Nothing was charged. Ask for a new link to "
                        "pay.", "error", t.failure_url, "Go back", t.scope_id)
    reason = t.failure_message or "The payment did not go through."
    return _message(ctx, 200, "Payment failed", f"{reason} Nothing was charged.", "error", t.failure_url,
                    "Go back", t.scope_id)


# ----------------------------------------------------------------------------------- top-ups
@api.get("/pay/assets/{name}")
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response((_STATIC / name).read_bytes(), media_type=_ASSETS[name],
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


@api.get("/pay/{token}", response_class=HTMLResponse)
def pay_page(token: str, ctx: Context = Depends(context)) -> HTMLResponse:
    found = checkout.page_top_up(ctx.engine, token, ctx.now())
    if found is None:
        return _not_found(ctx)
    if found.status == PENDING and found.payment_intent:
        # A page reloaded mid-payment (3-D Secure left open, a processing charge): ask Stripe once.
        checkout.complete(ctx.engine, ctx.stripe, ctx.settings, found, ctx.now)
        found = checkout.page_top_up(ctx.engine, token, ctx.now()) or found
    if not checkout.takes_card(found, ctx.now()):
        return _ended(ctx, found)
    if not ctx.settings.stripe_publishable_key or not ctx.settings.stripe_secret_key:
        return _message(ctx, 503, "Payments are not available", "Card payments are not set up yet. Please try "
                        "again later.", "error", found.failure_url, "Go back", found.scope_id)
    return _render(
        ctx, "pay.html", scope_id=found.scope_id, top_up=found,
        amount=format_amount(found.amount, _precision(ctx, found.scope_id, found.currency)),
        credits=_credits(ctx, found), publishable_key=ctx.settings.stripe_publishable_key,
        stripe_js=ctx.settings.stripe_js_url, card_url=f"/pay/{token}/card", complete_url=f"/pay/{token}/complete",
        expires=found.expires_at.strftime("%d %b %Y, %H:%M UTC"),
    )


def _answer(outcome: Outcome, token: str) -> JSONResponse:
    body: dict[str, Any] = {"status": outcome.status, "redirect": outcome.redirect or f"/pay/{token}"}
    if outcome.client_secret:
        body = {"status": outcome.status, "client_secret": outcome.client_secret}
    if outcome.message:
        body["message"] = outcome.message
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _gone() -> JSONResponse:
    return JSONResponse({"status": "not_found", "message": "This payment link is not valid."}, status_code=404)


@api.post("/pay/{token}/card")
def pay_card(token: str, body: CardPayment, ctx: Context = Depends(context)) -> JSONResponse:
    found = checkout.page_top_up(ctx.engine, token, ctx.now())
    if found is None:
        return _gone()
    if found.status not in OPEN:
        return _answer(checkout.settled(found), token)
    if found.payment_intent:  # an attempt already at Stripe: report it rather than charge again
        return _answer(checkout.complete(ctx.engine, ctx.stripe, ctx.settings, found, ctx.now), token)
    outcome = checkout.pay_with_token(ctx.engine, ctx.stripe, ctx.settings, found, body.token, body.save_card, ctx.now)
    return _answer(outcome, token)


@api.post("/pay/{token}/complete")
def pay_complete(token: str, ctx: Context = Depends(context)) -> JSONResponse:
    found = checkout.page_top_up(ctx.engine, token, ctx.now())
    if found is None:
        return _gone()
    return _answer(checkout.complete(ctx.engine, ctx.stripe, ctx.settings, found, ctx.now), token)


# ----------------------------------------------------------------------------- subscriptions
def _due(ctx: Context, subscription_id: str) -> subscriptions.Due | None:
    try:
        return subscriptions.due(ctx.engine, subscription_id, ctx.now())
    except NotFound:
        return None


@api.get("/portal/subscriptions/{subscription_id}/payment", response_class=HTMLResponse)
def subscription_page(subscription_id: str, ctx: Context = Depends(context)) -> HTMLResponse:
    found = _due(ctx, subscription_id)
    if found is None:
        return _message(ctx, 404, "Subscription not found", "This payment link is not valid.", "error")
    if not found.blocked:
        return _message(ctx, 200, "Nothing to pay", "This subscription has nothing due: it is "
                        f"{found.status.replace('_', ' ')}.", "success", found.return_url, "Continue", found.scope.id)
    fees = [(f.name, format_amount(f.amount, _precision(ctx, found.scope.id, f.asset)), f.asset) for f in found.fees]
    shortfall = covered = None
    if found.asset:
        places = _precision(ctx, found.scope.id, found.asset)
        shortfall = format_amount(found.shortfall, places)
        held = sum((f.amount for f in found.fees if f.asset == found.asset), Decimal(0)) - found.shortfall
        covered = format_amount(held, places) if held > 0 else None
    return _render(ctx, "subscription.html", scope_id=found.scope.id, due=found, fees=fees, shortfall=shortfall,
                   covered=covered)


@api.post("/portal/subscriptions/{subscription_id}/payment")
def subscription_pay(subscription_id: str, ctx: Context = Depends(context)) -> Response:
    found = _due(ctx, subscription_id)
    if found is None:
        return _message(ctx, 404, "Subscription not found", "This payment link is not valid.", "error")
    here = f"/portal/subscriptions/{subscription_id}/payment"
    if not found.blocked:
        return RedirectResponse(here, status_code=303)
    if found.asset is None:  # the wallet already covers it (topped up since): collect now
        subscriptions.reactivate(ctx.engine, subscription_id, ctx.now(), ctx.settings)
        return RedirectResponse(here, status_code=303)
    if not found.payable:
        return _message(ctx, 409, "This cannot be paid by card", f"What is due is in {found.asset}, which is not "
                        "a currency. Please contact us to add it.", "error", found.failure_url, "Go back",
                        found.scope.id)
    top_up = subscriptions.start_payment(ctx.engine, found, ctx.now(), ctx.settings)
    return RedirectResponse(f"/pay/{top_up.page_token}", status_code=303)

