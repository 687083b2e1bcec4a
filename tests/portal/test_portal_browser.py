"""The portal in a real browser (Debian's chromium, headless, driven by playwright) against a real
server: a link made with the official client opens the overview with the right balances and spend,
in the scope's branding; the link cannot be used twice; ten idle minutes (a pinned clock) end the
session; another customer's session sees only its own; a POST without the CSRF token is refused.
Screenshots at 375 px and 1280 px go to docs/portal/ (DRAWDOWN_PORTAL_SHOTS overrides)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import write
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment
from tests.conftest import Clock, Server
from tests.worlds import new_code, new_product, usage_price

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(os.environ.get("DRAWDOWN_PORTAL_SHOTS", Path(__file__).resolve().parents[2] / "docs" / "portal"))
LOGO = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" rx="10" '
        b'fill="#0f766e"/><path d="M10 28 20 10l10 18z" fill="#fff"/></svg>')


class _App(BaseHTTPRequestHandler):
    """The platform's own app: where "Back to the app" and a refused link lead, and its logo."""

    def do_GET(self) -> None:
        logo = self.path.endswith(".svg")
        body = LOGO if logo else f"<!doctype html><title>App</title><h1>App page {self.path}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml" if logo else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium; `make test` does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests need chromium in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


def _tab(browser: Any, width: int) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return context, tab, problems


def _customer_with_spend(server: Server, days_ago: list[int]) -> str:
    """A customer given 50 USD and 1,500 credits (3 places), who spent 2.50 USD on each of ``days_ago``."""
    now = datetime.now(UTC)
    with write(server.engine) as conn:
        price = usage_price("USD", [{"volume_rate": "0.25"}])
        _, code = new_product(conn, now - timedelta(days=40), [price])
        subs = (NewSubscription(products=(ProductRef(code=code),)),)
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="Ada Lovelace", subscriptions=subs),
                                        now - timedelta(days=40), Decimal(0)).id
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment(new_code("gift"), "USD", Decimal(50), "gift"),
                       now - timedelta(days=35), Decimal(0))
    for i, ago in enumerate(days_ago):
        at = now - timedelta(days=ago)
        event = UsageEvent(f"chat-{i}", "u", at, data={"n": 10})
        with write(server.engine) as conn:
            (answer,) = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [event])], at, None, HotCache())
        assert not isinstance(answer, Exception), answer
    return cid


def _link(client: Any, customer: str, app_site: str) -> str:
    made = client.billing_portal.create_portal_session({
        "customer_id": customer, "return_url": f"{app_site}/billing", "failure_url": f"{app_site}/portal-failed"})
    return str(made.redirect_url)


def test_the_portal_walk(server: Server, browser: Any, client: Any, http: httpx.Client, clock: Clock,
                         app_site: str) -> None:
    server.settings.public_url = server.url  # the links lead to this test server
    branding = {"display_name": "Acme AI", "logo_url": f"{app_site}/acme-logo.svg", "primary_color": "#0f766e",
                "support_url": f"{app_site}/help"}
    assert http.put("/billing-portal/settings", json=branding).status_code == 200
    try:
        _walk(server, browser, client, clock, app_site)
    finally:
        http.put("/billing-portal/settings", json={})
        server.settings.public_url = "http://127.0.0.1:8000"


def _walk(server: Server, browser: Any, client: Any, clock: Clock, app_site: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ada = _customer_with_spend(server, [0, 1, 3, 6])
    link = _link(client, ada, app_site)
    phone, tab, problems = _tab(browser, 375)
    tab.goto(link)
    assert tab.url.endswith("/portal/overview")
    card = tab.locator('[data-account="default:USD"]')
    assert card.locator(".available").inner_text() == "40.00"  # 50 given, 4 x 2.50 spent
    assert card.locator(".pending-in").inner_text() == "0.00"
    assert tab.locator('[data-asset="USD"] .chart rect').count() == 30
    assert "Acme AI" in tab.title() and tab.locator(".operator").inner_text() == "Acme AI"
    assert tab.locator("img.logo").evaluate("img => img.naturalWidth") > 0  # the logo passed the CSP
    assert tab.locator("a.back").get_attribute("href") == f"{app_site}/billing"
    assert tab.evaluate("typeof htmx") == "object"  # vendored, served here, allowed by the CSP
    assert tab.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than a phone
    tab.screenshot(path=str(SHOTS / "overview-375.png"), full_page=True)
    # A POST without the session's CSRF token (what a forged form on another site sends) is refused.
    forged = tab.request.post(f"{server.url}/portal/logout", form={"csrf_token": "forged"}, max_redirects=0)
    assert forged.status == 403
    # The link again, in another browser: the app's failure page.
    other, again, _ = _tab(browser, 375)
    again.goto(link)
    assert again.url == f"{app_site}/portal-failed"
    other.close()
    # Ten idle minutes end the session (the server's clock, pinned): refused, with the way back.
    clock.pinned = datetime.now(UTC) + timedelta(minutes=11)
    tab.reload()
    assert "Your session has ended" in tab.content()
    tab.screenshot(path=str(SHOTS / "session-ended-375.png"), full_page=True)
    clock.pinned = None
    assert not [p for p in problems if "Content Security Policy" in p], problems
    phone.close()
    # Desktop, a fresh link; and another customer's session beside it sees only its own money.
    desk, big, _ = _tab(browser, 1280)
    big.goto(_link(client, ada, app_site))
    assert big.locator('[data-account="default:USD"] .available').inner_text() == "40.00"
    big.screenshot(path=str(SHOTS / "overview-1280.png"), full_page=True)
    grace = _customer_with_spend(server, [])
    stranger, theirs, _ = _tab(browser, 1280)
    theirs.goto(_link(client, grace, app_site))
    assert theirs.locator('[data-account="default:USD"] .available').inner_text() == "50.00"
    assert "Nothing spent in the last 30 days" in theirs.content()
    theirs.screenshot(path=str(SHOTS / "overview-empty-spend-1280.png"), full_page=True)
    stranger.close()
    desk.close()
