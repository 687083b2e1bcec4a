"""The payment pages in a real browser: Debian's chromium, headless, driven by playwright, against a
Drawdown whose Stripe is a real localstripe. localstripe serves the Stripe.js stand-in the page loads
(``DRAWDOWN_STRIPE_JS_URL``): its card element is plain inputs named by placeholder (number,
exp_month, exp_year, cvc, postal_code), and its ``createToken`` asks localstripe for a real token.

Without /usr/bin/chromium these tests skip, saying so; under CI=true they fail instead (``make test``
installs chromium first).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from drawdown.payments.gateway import Gateway, StripeConfig
from tests.conftest import Server, unique
from tests.payments.conftest import PUBLISHABLE_KEY

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VISA = "4242424242424242"
THREE_D_SECURE = "4000002760003184"  # localstripe asks for authentication on this card
DECLINED_AT_CHARGE = "4000000000000341"
SHOTS = Path(os.environ.get("DRAWDOWN_SCREENSHOTS", "/tmp/drawdown-pages"))


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


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone's width
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


LOGO = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" rx="10" '
        b'fill="#0f766e"/><path d="M10 28 20 10l10 18z" fill="#fff"/></svg>')


class _Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        logo = self.path == "/logo.svg"
        body = LOGO if logo else b"<!doctype html><title>Shop</title><h1>Back at the shop</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml" if logo else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    """The operator's own site, where return_url and failure_url lead."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def client(pay_server: Server) -> Iterator[Any]:
    from corehttp.credentials import ServiceKeyCredential
    from credytapi import CredytApiClient

    with CredytApiClient(credential=ServiceKeyCredential(pay_server.key), endpoint=pay_server.url) as c:
        yield c


@pytest.fixture
def http(pay_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pay_server.url, headers={"X-CREDYT-API-KEY": pay_server.key}, timeout=30) as c:
        yield c


def _customer(client: Any) -> str:
    return str(client.customers.create({"name": "Ada Lovelace", "external_id": unique("ext")})["id"])


def _initiate(client: Any, shop: str, customer_id: str, amount: str = "25.00") -> dict[str, Any]:
    return dict(client.top_ups.initiate({
        "customer_id": customer_id, "amount": Decimal(amount), "currency": "USD",
        "description": "Credit for your AI studio", "return_url": f"{shop}/thanks", "failure_url": f"{shop}/sorry",
    }))


def _available(client: Any, customer_id: str, asset: str = "USD") -> Decimal:
    got = client.wallets.customer_wallet_ops.get_account(customer_id, f"default:{asset}")
    return Decimal(str(got["available"]))


def _type_card(page: Any, number: str, save: bool) -> None:
    page.wait_for_selector("#card-element input[placeholder=number]")
    for field, value in (("number", number), ("exp_month", "12"), ("exp_year", "30"), ("cvc", "123"),
                         ("postal_code", "12345")):
        page.fill(f"#card-element input[placeholder={field}]", value)
    if save:
        page.get_by_label("Save this card for later payments").check()


def _wait_status(client: Any, top_up_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        got = dict(client.top_ups.get(top_up_id))
        if got["status"] == status or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _stripe_cards(pay_server: Server, stripe_customer: str) -> list[dict[str, Any]]:
    """The cards kept on a Stripe customer, asked of localstripe itself (which lists a tokenised card
    only among the customer's sources)."""
    gateway = Gateway(StripeConfig.from_settings(pay_server.settings))
    found = gateway.client.v1.customers.payment_sources.list(stripe_customer, params={"object": "card"})
    return [c.to_dict() for c in found.data]


def _stripe_customer(client: Any, customer_id: str) -> str:
    accounts = client.customers.get(customer_id).get("external_accounts") or []
    return next(a["provider_id"] for a in accounts if a["provider"] == "stripe")


def test_pay_by_card_and_save_it(pay_server: Server, client: Any, http: httpx.Client, shop: str, page: Any) -> None:
    customer_id = _customer(client)
    top_up = _initiate(client, shop, customer_id)
    page.goto(top_up["redirect_url"])
    assert page.get_by_test_id("amount").inner_text() == "25.00"
    assert "Credit for your AI studio" in page.content()
    assert page.get_by_role("button", name="Pay 25.00 USD").is_visible()
    _type_card(page, VISA, save=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"pay-{pay_server.engine.dialect.name}.png"), full_page=True)

    page.get_by_role("button", name="Pay 25.00 USD").click()
    page.wait_for_url(f"{shop}/thanks")
    assert _wait_status(client, top_up["id"], "succeeded")["status"] == "succeeded"
    assert _available(client, customer_id) == Decimal("25")

    # The card was kept, as asked: in the customer's payment methods, and at Stripe.
    listed = http.get(f"/customers/{customer_id}/payment-methods")
    assert listed.status_code == 200, listed.text
    assert [c["last4"] for c in listed.json()["items"]] == ["4242"]
    assert [c["last4"] for c in _stripe_cards(pay_server, _stripe_customer(client, customer_id))] == ["4242"]

    # The link is spent: it now says so, and links back to the shop.
    page.goto(top_up["redirect_url"])
    assert page.get_by_role("heading", name="Payment received").is_visible()


def test_card_not_saved_unless_asked(pay_server: Server, client: Any, shop: str, page: Any) -> None:
    customer_id = _customer(client)
    top_up = _initiate(client, shop, customer_id, "10")
    page.goto(top_up["redirect_url"])
    _type_card(page, VISA, save=False)
    page.get_by_role("button", name="Pay 10.00 USD").click()
    page.wait_for_url(f"{shop}/thanks")
    assert _available(client, customer_id) == Decimal("10")
    assert _stripe_cards(pay_server, _stripe_customer(client, customer_id)) == []  # used once, then removed


def test_declined_card_fails_without_credit(pay_server: Server, client: Any, shop: str, page: Any) -> None:
    customer_id = _customer(client)
    top_up = _initiate(client, shop, customer_id)
    page.goto(top_up["redirect_url"])
    _type_card(page, DECLINED_AT_CHARGE, save=False)
    page.get_by_role("button", name="Pay 25.00 USD").click()
    page.wait_for_url(f"{shop}/sorry")
    failed = _wait_status(client, top_up["id"], "failed")
    assert failed["status"] == "failed"
    wallet = client.wallets.customer_wallet_ops.get_customer_wallet(customer_id)
    assert all(Decimal(str(a["available"])) == 0 for a in wallet.get("accounts") or [])  # no grant, no credit
    assert failed.get("grant_id") is None
    # Opening the link again explains what happened instead of taking another card.
    page.goto(top_up["redirect_url"])
    assert page.get_by_role("heading", name="Payment failed").is_visible()
    assert "declined" in page.content()


def test_expired_link(pay_server: Server, client: Any, shop: str, page: Any) -> None:
    customer_id = _customer(client)
    top_up = _initiate(client, shop, customer_id)
    pay_server.clock.pinned = pay_server.clock() + timedelta(minutes=pay_server.settings.top_up_link_minutes + 1)
    try:
        response = page.goto(top_up["redirect_url"])
        assert response.status == 410
        assert page.get_by_role("heading", name="This payment link has expired").is_visible()
        assert page.get_by_role("link", name="Go back").get_attribute("href") == f"{shop}/sorry"
    finally:
        pay_server.clock.pinned = None
    assert _wait_status(client, top_up["id"], "expired")["status"] == "expired"


def test_unknown_link(pay_server: Server, page: Any) -> None:
    response = page.goto(f"{pay_server.url}/pay/{unique('nope')}")
    assert response.status == 404
    assert page.get_by_role("heading", name="Payment page not found").is_visible()


def test_three_d_secure(pay_server: Server, client: Any, shop: str, page: Any) -> None:
    """The bank asks for authentication: Stripe.js runs it (localstripe's stand-in shows a dialog),
    then the page asks Drawdown to check the payment, which settles it."""
    customer_id = _customer(client)
    top_up = _initiate(client, shop, customer_id, "12.34")
    page.goto(top_up["redirect_url"])
    _type_card(page, THREE_D_SECURE, save=False)
    page.get_by_role("button", name="Pay 12.34 USD").click()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{shop}/thanks")
    assert _wait_status(client, top_up["id"], "succeeded")["status"] == "succeeded"
    assert _available(client, customer_id) == Decimal("12.34")


def test_three_d_secure_refused(pay_server: Server, client: Any, shop: str, page: Any) -> None:
    customer_id = _customer(client)
    top_up = _initiate(client, shop, customer_id, "12.34")
    page.goto(top_up["redirect_url"])
    _type_card(page, THREE_D_SECURE, save=False)
    page.get_by_role("button", name="Pay 12.34 USD").click()
    page.get_by_role("button", name="Fail authentication").click()
    page.wait_for_url(f"{shop}/sorry")
    assert _wait_status(client, top_up["id"], "failed")["status"] == "failed"


def test_operator_branding(pay_server: Server, client: Any, shop: str, page: Any) -> None:
    # The operator's look shows where the scope has no branding of its own: clear what other tests (the
    # schema fuzzer, on the same database) may have set for this scope.
    cleared = httpx.put(f"{pay_server.url}/billing-portal/settings", json={},
                        headers={"X-CREDYT-API-KEY": pay_server.key}, timeout=10)
    assert cleared.status_code == 200, cleared.text
    settings = pay_server.settings
    before = (settings.operator_name, settings.operator_color, settings.operator_logo_url)
    settings.operator_name, settings.operator_color = "Acme AI", "#0f766e"
    settings.operator_logo_url = f"{shop}/logo.svg"
    try:
        top_up = _initiate(client, shop, _customer(client), "49.99")
        page.goto(top_up["redirect_url"])
        assert page.title() == "Pay 49.99 USD · Acme AI"
        assert page.locator(".operator").inner_text() == "Acme AI"
        page.wait_for_function("document.querySelector('img.logo').naturalWidth > 0")  # allowed by the CSP
        brand = page.evaluate("getComputedStyle(document.getElementById('pay-button')).backgroundColor")
        assert brand == "rgb(15, 118, 110)"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"branded-{pay_server.engine.dialect.name}.png"), full_page=True)
    finally:
        settings.operator_name, settings.operator_color, settings.operator_logo_url = before


def _card_token(pay_server: Server, number: str = VISA) -> str:
    """A single-use card token, made the way Stripe.js makes it (with the publishable key)."""
    made = httpx.post(f"{pay_server.settings.stripe_api_base}/v1/tokens", data={
        "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030", "card[cvc]": "123",
        "key": PUBLISHABLE_KEY,
    }, timeout=10)
    made.raise_for_status()
    return str(made.json()["id"])


def test_two_submissions_at_once_charge_once(pay_server: Server, client: Any, shop: str) -> None:
    """A double click or two tabs: two card tokens posted at the same moment make one charge."""
    customer_id = _customer(client)
    top_up = _initiate(client, shop, customer_id, "7")
    card_url = top_up["redirect_url"] + "/card"
    tokens = [_card_token(pay_server) for _ in range(4)]
    with ThreadPoolExecutor(len(tokens)) as pool:
        answers = list(pool.map(lambda t: httpx.post(card_url, json={"token": t}, timeout=30).json(), tokens))
    assert sorted(a["status"] for a in answers).count("succeeded") >= 1, answers
    assert _wait_status(client, top_up["id"], "succeeded")["status"] == "succeeded"
    assert _available(client, customer_id) == Decimal("7")
    gateway = Gateway(StripeConfig.from_settings(pay_server.settings))
    charges = gateway.client.v1.charges.list(params={"customer": _stripe_customer(client, customer_id)})
    assert [c.amount for c in charges.data if c.status == "succeeded"] == [700]


def _blocked_subscription(client: Any, http: httpx.Client, shop: str) -> tuple[str, str]:
    """A customer with 5 USD and no overdraft subscribing to a 20 USD monthly plan: action_required."""
    product = client.products.create({
        "name": "Studio plan", "code": unique("plan"), "publish": True,
        "prices": [{
            "name": "Studio plan (monthly)", "type": "fixed",
            "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
            "pricing": [{"asset": "USD", "values": [{"unit_price": Decimal("20")}]}],
        }],
    })
    customer_id = _customer(client)
    client.wallets.customer_wallet_ops.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("5"), "reason": "gift"}
    )
    assert http.patch(f"/customers/{customer_id}/wallet/default:USD", json={"overdraft_limit": "0"}).status_code == 204
    sub = client.customers.create_subscription(customer_id, {
        "products": [{"code": product["code"]}], "return_url": f"{shop}/welcome-back", "failure_url": f"{shop}/sorry",
    })
    assert sub["status"] == "action_required"
    return customer_id, sub["id"]


def test_subscription_payment_reactivates(
    pay_server: Server, client: Any, http: httpx.Client, shop: str, page: Any
) -> None:
    customer_id, sub_id = _blocked_subscription(client, http, shop)
    sub = next(s for s in client.customers.get(customer_id)["subscriptions"] if s["id"] == sub_id)
    (action,) = sub["required_actions"]
    assert action["type"] == "payment"

    page.goto(action["redirect_url"])
    assert page.get_by_role("heading", name="Your subscription needs a payment").is_visible()
    assert "Studio plan (monthly)" in page.content()
    assert page.get_by_test_id("amount").inner_text() == "15.00"  # 20 due, 5 in the wallet
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"subscription-{pay_server.engine.dialect.name}.png"), full_page=True)
    page.get_by_role("button", name="Pay 15.00 USD by card").click()

    page.wait_for_url(f"{pay_server.url}/pay/**")
    _type_card(page, VISA, save=False)
    page.get_by_role("button", name="Pay 15.00 USD").click()
    page.wait_for_url(f"{shop}/welcome-back")

    sub = next(s for s in client.customers.get(customer_id)["subscriptions"] if s["id"] == sub_id)
    assert sub["status"] == "active"
    assert not sub.get("required_actions")
    assert _available(client, customer_id) == 0  # 5 + 15 paid, 20 collected

    page.goto(action["redirect_url"])
    assert page.get_by_role("heading", name="Nothing to pay").is_visible()


def test_subscription_page_unknown(pay_server: Server, page: Any) -> None:
    response = page.goto(f"{pay_server.url}/portal/subscriptions/{unique('sub')}/payment")
    assert response.status == 404
    assert page.get_by_role("heading", name="Subscription not found").is_visible()
