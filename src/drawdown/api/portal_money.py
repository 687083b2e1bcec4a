"""The billing portal's money pages: ``/portal/top-up`` (an amount, a live quote for custom assets,
then the payment page ``/pay/{token}``), ``/portal/cards`` (list, remove, make default, add with
Stripe.js) and ``/portal/auto-top-up`` (per wallet). Stripe is only called outside transactions
(``payments.cards`` reads and commits first). Shared pieces (session, branding, CSP, CSRF) are in
api/portal_web.py; the navigation is api/portal.py's NAV."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from drawdown.api import portal_web as web
from drawdown.api.deps import Context, context
from drawdown.api.portal import NAV
from drawdown.core.errors import Invalid, NotFound
from drawdown.db.engine import read, write
from drawdown.payments import cards
from drawdown.payments.gateway import PaymentsUnavailable
from drawdown.portal import auto as portal_auto
from drawdown.portal import cards as portal_cards
from drawdown.portal import topup

api = APIRouter(include_in_schema=False)
HERE = "/portal/top-up"


def _choices(ctx: Context, current: web.Visit) -> list[topup.Choice]:
    with read(ctx.engine) as conn:
        return topup.choices(conn, web.scope(ctx, current), current.session.customer_id, ctx.now())


def _quote(choice: topup.Choice | None, text: str) -> str:
    """What the amount typed buys, in words ('' when there is nothing to say)."""
    if choice is None or not text.strip():
        return ""
    paid, error = topup.amount(text, choice.places)
    if paid is None:
        return error or ""
    got = topup.units(choice, paid)
    if choice.rate is None:
        return f"Adds {got:,.{choice.asset_places}f} {choice.asset} to your wallet."
    return (f"Buys {got:,.{choice.asset_places}f} {choice.asset} at {choice.rate.normalize():f} "
            f"{choice.currency} each (the rate in force now).")


def _page(ctx: Context, current: web.Visit, options: list[topup.Choice], picked: str = "", typed: str = "",
          errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    chosen = next((c for c in options if c.key == picked), options[0] if options else None)
    return web.render(ctx, "portal/top_up.html", current.look, status, visit=current, nav=NAV, here="top-up",
                      options=options, chosen=chosen, typed=typed, errors=errors or {},
                      quote="" if errors else _quote(chosen, typed))


@api.get("/portal/top-up", response_class=HTMLResponse)
def top_up_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    return _page(ctx, current, _choices(ctx, current))


@api.get("/portal/top-up/quote", response_class=HTMLResponse)
def top_up_quote(request: Request, ctx: Context = Depends(context)) -> Response:
    """The htmx fragment under the amount: the units it buys, or why it cannot be paid."""
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    options = _choices(ctx, current)
    picked = request.query_params.get("account", "")
    chosen = next((c for c in options if c.key == picked), None)
    text = _quote(chosen, request.query_params.get("amount", ""))
    return web.render(ctx, "portal/top_up_quote.html", current.look, visit=current, quote=text)


@api.post("/portal/top-up")
async def top_up_start(request: Request, ctx: Context = Depends(context)) -> Response:
    got = await web.submitted(ctx, request)
    if not isinstance(got, tuple):
        return got
    return await run_in_threadpool(_start, ctx, *got)


def _start(ctx: Context, current: web.Visit, form: dict[str, str]) -> Response:
    options = _choices(ctx, current)
    picked, typed = form.get("account", ""), form.get("amount", "")
    chosen = next((c for c in options if c.key == picked), None)
    if chosen is None:  # another customer's account, or one that cannot be bought: like an unknown one
        return _page(ctx, current, options, picked, typed, {"account": "Choose one of your wallets."}, 422)
    scope = web.scope(ctx, current)
    try:
        ctx.stripe.config.check(scope)
    except PaymentsUnavailable:
        return _page(ctx, current, options, picked, typed,
                     {"amount": "Card payments are not available right now. Please try again later."}, 503)
    with write(ctx.engine) as conn:
        made = topup.start(conn, scope, current.session.customer_id, chosen, typed, "/portal/overview", HERE,
                           ctx.now(), ctx.settings.top_up_link_minutes)
    if made.top_up is None:
        return _page(ctx, current, options, picked, typed, made.errors, 422)
    return web.secure_headers(RedirectResponse(f"/pay/{made.top_up.page_token}", status_code=303),
                              "default-src 'none'")


# ------------------------------------------------------------------------------------------- cards
CARDS = "/portal/cards"
DONE = {"added": "Your card is saved.", "removed": "The card is removed.", "default": "That card is now your default."}
NOT_YOURS = "That card is not one of your saved cards."


def _stripe_js(ctx: Context) -> tuple[str, ...]:
    s = ctx.settings
    return tuple(dict.fromkeys(filter(None, (web.origin(s.stripe_js_url), web.origin(s.stripe_api_base)))))


def _cards_page(ctx: Context, current: web.Visit, notice: str = "", error: bool = False, status: int = 200) -> Response:
    scope = web.scope(ctx, current)
    try:
        ctx.stripe.config.check(scope)
        saved = cards.list_cards(ctx.engine, ctx.stripe, scope, current.session.customer_id)
    except PaymentsUnavailable:
        return web.render(ctx, "portal/cards.html", current.look, 503, visit=current, nav=NAV, here="cards",
                          unavailable=True, notice="", saved=[])
    return web.render(ctx, "portal/cards.html", current.look, status, visit=current, nav=NAV, here="cards",
                      script_origins=_stripe_js(ctx), saved=saved, notice=notice, notice_error=error,
                      publishable_key=ctx.settings.stripe_publishable_key, stripe_js=ctx.settings.stripe_js_url,
                      unavailable=not ctx.settings.stripe_publishable_key)


@api.get("/portal/cards", response_class=HTMLResponse)
def cards_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    done = next((DONE[k] for k in DONE if k in request.query_params), "")
    return _cards_page(ctx, current, done)


async def _json_form(ctx: Context, request: Request) -> tuple[web.Visit, dict[str, str]] | Response:
    """The session and its CSRF-checked form, for the card script (answers in JSON, not pages)."""
    current = await run_in_threadpool(web.visit, ctx, request)
    if not isinstance(current, web.Visit):
        return current
    form = await web.posted(ctx, request, current)
    if not isinstance(form, dict):
        return JSONResponse({"message": "This page has expired. Reload it and try again."}, status_code=403)
    return current, form


@api.post("/portal/cards/setup")
async def card_setup(request: Request, ctx: Context = Depends(context)) -> Response:
    """Step one of adding a card: a SetupIntent whose client secret Stripe.js confirms in the browser."""
    got = await _json_form(ctx, request)
    if not isinstance(got, tuple):
        return got
    return await run_in_threadpool(_setup, ctx, got[0])


def _setup(ctx: Context, current: web.Visit) -> Response:
    try:
        secret = portal_cards.begin(ctx.engine, ctx.stripe, web.scope(ctx, current), current.session.customer_id)
    except PaymentsUnavailable:
        return JSONResponse({"message": "Cards are not available right now."}, status_code=503)
    return JSONResponse({"client_secret": secret}, headers={"Cache-Control": "no-store"})


@api.post("/portal/cards/add")
async def card_add(request: Request, ctx: Context = Depends(context)) -> Response:
    """Step two: the SetupIntent confirmed, its card kept on the customer."""
    got = await _json_form(ctx, request)
    if not isinstance(got, tuple):
        return got
    return await run_in_threadpool(_add, ctx, got[0], got[1].get("setup_intent", ""))


def _add(ctx: Context, current: web.Visit, setup_intent: str) -> Response:
    scope = web.scope(ctx, current)
    try:
        portal_cards.finish(ctx.engine, ctx.stripe, scope, current.session.customer_id, setup_intent)
    except Invalid as exc:
        return JSONResponse({"message": " ".join(m for ms in exc.errors.values() for m in ms)}, status_code=422)
    except PaymentsUnavailable:
        return JSONResponse({"message": "Cards are not available right now."}, status_code=503)
    return JSONResponse({"status": "saved"}, headers={"Cache-Control": "no-store"})


@api.post("/portal/cards/{action}")
async def card_change(action: str, request: Request, ctx: Context = Depends(context)) -> Response:
    got = await web.submitted(ctx, request)
    if not isinstance(got, tuple):
        return got
    current, form = got
    if action not in ("remove", "default"):
        return web.message(ctx, current.look, 404, "Page not found", "Go back to your cards.", CARDS, "Your cards")
    return await run_in_threadpool(_change, ctx, current, action, form.get("card", ""))


def _change(ctx: Context, current: web.Visit, action: str, card_id: str) -> Response:
    scope = web.scope(ctx, current)
    customer = current.session.customer_id
    try:
        if action == "remove":
            cards.delete_card(ctx.engine, ctx.stripe, scope, customer, card_id)
        else:
            cards.make_default(ctx.engine, ctx.stripe, scope, customer, card_id, ctx.now())
    except NotFound:  # unknown, or another customer's: the same answer
        return _cards_page(ctx, current, NOT_YOURS, True, 404)
    except PaymentsUnavailable:
        return _cards_page(ctx, current)
    done = "removed" if action == "remove" else "default"
    return web.secure_headers(RedirectResponse(f"{CARDS}?{done}=1", status_code=303), "default-src 'none'")


# -------------------------------------------------------------------------------------- auto top-up
AUTO = "/portal/auto-top-up"


def _auto_page(ctx: Context, current: web.Visit, posted: str = "", values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, saved: bool = False, status: int = 200) -> Response:
    scope = web.scope(ctx, current)
    customer = current.session.customer_id
    try:
        ctx.stripe.config.check(scope)
        saved_cards = cards.list_cards(ctx.engine, ctx.stripe, scope, customer)
    except PaymentsUnavailable:
        saved_cards = []
    found = portal_auto.accounts(ctx.engine, scope, customer, ctx.now())
    return web.render(ctx, "portal/auto_top_up.html", current.look, status, visit=current, nav=NAV,
                      here="auto-top-up", accounts=found, cards=saved_cards, posted=posted, values=values or {},
                      errors=errors or {}, saved=saved)


@api.get("/portal/auto-top-up", response_class=HTMLResponse)
def auto_page(request: Request, ctx: Context = Depends(context)) -> Response:
    current = web.visit(ctx, request)
    if not isinstance(current, web.Visit):
        return current
    return _auto_page(ctx, current, request.query_params.get("saved", ""), saved="saved" in request.query_params)


@api.post("/portal/auto-top-up")
async def auto_save(request: Request, ctx: Context = Depends(context)) -> Response:
    got = await web.submitted(ctx, request)
    if not isinstance(got, tuple):
        return got
    return await run_in_threadpool(_auto_save, ctx, *got)


def _auto_save(ctx: Context, current: web.Visit, form: dict[str, str]) -> Response:
    scope = web.scope(ctx, current)
    customer = current.session.customer_id
    key = form.get("account", "")
    account = next((a for a in portal_auto.accounts(ctx.engine, scope, customer, ctx.now()) if a.key == key), None)
    if account is None:  # another customer's account, or none at all: like an unknown one
        return web.message(ctx, current.look, 404, "Wallet not found", "That wallet is not one of yours.", AUTO,
                           "Back to auto top-up")
    try:
        errors = portal_auto.save(ctx.engine, ctx.stripe, scope, customer, account, form, ctx.now(),
                                  ctx.settings.overdraft_limit())
    except PaymentsUnavailable:
        errors = {"card": "Card payments are not available right now. Please try again later."}
    if errors:
        return _auto_page(ctx, current, key, form, errors, status=422)
    return web.secure_headers(RedirectResponse(f"{AUTO}?saved={key}", status_code=303), "default-src 'none'")
