"""The portal's money pages in chromium against a server paying through localstripe: top up with a
test card and see the new balance on the overview; the form's errors next to the field; screenshots at
375 and 1280 px in docs/portal/ (DRAWDOWN_PORTAL_SHOTS overrides)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server, unique
from tests.portal.test_portal_browser import SHOTS, _tab, browser  # noqa: F401 (the fixture)

VISA = "4242424242424242"


@pytest.fixture
def api(pay_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pay_server.url, headers={"X-CREDYT-API-KEY": pay_server.key}, timeout=30) as c:
        yield c


def _customer(api: httpx.Client) -> str:
    resp = api.post("/customers", json={"name": "Ada Lovelace", "external_id": unique("ada")})
    assert resp.status_code == 201, resp.text
    customer = str(resp.json()["id"])
    got = api.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": "USD", "amount": "5", "reason": "gift"})
    assert got.status_code in (200, 201), got.text
    return customer


def _link(api: httpx.Client, server: Server, customer: str) -> str:
    made = api.post("/billing-portal/sessions", json={
        "customer_id": customer, "return_url": f"{server.url}/health", "failure_url": f"{server.url}/health"})
    assert made.status_code == 200, made.text
    return server.url + "/portal/open/" + str(made.json()["redirect_url"]).split("/portal/open/", 1)[1]


def _type_card(page: Any, number: str) -> None:
    page.wait_for_selector("#card-element input[placeholder=number]")
    for field, value in (("number", number), ("exp_month", "12"), ("exp_year", "30"), ("cvc", "123"),
                         ("postal_code", "12345")):
        page.fill(f"#card-element input[placeholder={field}]", value)


def test_top_up_with_a_card_shows_the_new_balance(pay_server: Server, browser: Any, api: httpx.Client) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    backend = pay_server.engine.dialect.name
    customer = _customer(api)
    phone, tab, problems = _tab(browser, 375)
    tab.goto(_link(api, pay_server, customer))
    assert tab.locator('[data-account="default:USD"] .available').inner_text() == "5.00"
    tab.get_by_role("link", name="Top up").first.click()
    tab.wait_for_url("**/portal/top-up")
    tab.get_by_label("Amount in USD").fill("12.345")
    tab.locator("#quote").get_by_text("Use at most 2 decimal places.").wait_for()  # live, through htmx
    tab.get_by_role("button", name="Continue to payment").click()
    assert tab.locator("#amount-error").inner_text() == "Use at most 2 decimal places."
    if backend == "sqlite":
        tab.screenshot(path=str(SHOTS / "top-up-error-375.png"), full_page=True)
    tab.get_by_label("Amount in USD").fill("20")
    tab.locator("#quote").get_by_text("Adds 20.00 USD to your wallet.").wait_for()
    assert tab.evaluate("document.documentElement.scrollWidth") <= 375
    tab.get_by_role("button", name="Continue to payment").click()
    tab.wait_for_url("**/pay/**")
    _type_card(tab, VISA)
    tab.get_by_role("button", name="Pay 20.00 USD").click()
    tab.get_by_text("Payment received").or_(tab.locator('[data-account="default:USD"]')).first.wait_for()
    if "/pay/" in tab.url:
        tab.get_by_role("link", name="Continue").click()
    tab.wait_for_url("**/portal/overview")
    assert tab.locator('[data-account="default:USD"] .available').inner_text() == "25.00"
    assert not [p for p in problems if "Content Security Policy" in p], problems
    phone.close()
    desk, big, _ = _tab(browser, 1280)
    big.goto(_link(api, pay_server, customer))
    big.goto(f"{pay_server.url}/portal/top-up")
    big.get_by_label("Amount in USD").fill("50")
    big.locator("#quote").get_by_text("Adds 50.00 USD to your wallet.").wait_for()
    if backend == "sqlite":
        big.screenshot(path=str(SHOTS / "top-up-1280.png"), full_page=True)
    desk.close()


def _add_card(tab: Any, number: str) -> None:
    _type_card(tab, number)
    tab.get_by_role("button", name="Save card").click()
    tab.locator(f'[data-card="{number[-4:]}"]').wait_for()  # the page reloads with it listed
    tab.get_by_text("Your card is saved.").wait_for()


def test_add_make_default_and_remove_cards(pay_server: Server, browser: Any, api: httpx.Client) -> None:  # noqa: F811
    backend = pay_server.engine.dialect.name
    customer = _customer(api)
    for width in (375, 1280):
        context, tab, problems = _tab(browser, width)
        tab.goto(_link(api, pay_server, customer))
        tab.get_by_role("link", name="Cards").click()
        tab.wait_for_url("**/portal/cards")
        if width == 375:
            assert tab.get_by_text("No saved card.").is_visible()
            _type_card(tab, "4000000000000002")  # Stripe declines saving it: said next to the card field
            tab.get_by_role("button", name="Save card").click()
            tab.locator("#add-card-error").get_by_text("Your card was declined.").wait_for()
            assert tab.get_by_role("button", name="Save card").is_enabled() and tab.locator(".saved-card").count() == 0
            _add_card(tab, VISA)
            _add_card(tab, "5555555555554444")
            cards = tab.locator(".saved-card")
            assert cards.count() == 2
            assert tab.locator('[data-card="4242"] .tag').inner_text() == "Default"  # the first card
            tab.locator('[data-card="4444"]').get_by_role("button", name="Make default").click()
            tab.get_by_text("That card is now your default.").wait_for()
            assert tab.locator('[data-card="4444"] .tag').inner_text() == "Default"
            assert tab.evaluate("document.documentElement.scrollWidth") <= 375
        if backend == "sqlite":
            tab.screenshot(path=str(SHOTS / f"cards-{width}.png"), full_page=True)
        if width == 1280:
            tab.locator('[data-card="4242"]').get_by_role("button", name="Remove").click()
            tab.get_by_text("The card is removed.").wait_for()
            assert tab.locator(".saved-card").count() == 1 and tab.locator('[data-card="4242"]').count() == 0
        assert not [p for p in problems if "Content Security Policy" in p], problems
        context.close()


def test_set_up_auto_top_up_and_fix_a_failing_card(pay_server: Server, browser: Any, api: httpx.Client) -> None:  # noqa: F811
    backend = pay_server.engine.dialect.name
    customer = _customer(api)  # 5 USD
    for card in ("pm_card_chargeCustomerFail", "pm_card_visa"):
        assert api.post(f"/customers/{customer}/payment-methods", json={"payment_method_id": card}).status_code == 201
    context, tab, problems = _tab(browser, 375)
    tab.goto(_link(api, pay_server, customer))
    tab.get_by_role("link", name="Auto top-up").click()
    tab.wait_for_url("**/portal/auto-top-up")
    tab.get_by_label("When below").fill("2")
    tab.get_by_label("Add").fill("20.001")
    tab.get_by_role("button", name="Save").click()
    assert "decimal" in tab.locator("#amount-1-error").inner_text()  # next to its field
    tab.get_by_label("Add").fill("20")
    tab.get_by_label("Monthly limit").fill("100")
    tab.get_by_label("Card", exact=True).select_option(label="Visa ···· 0341 (default)")
    tab.get_by_role("button", name="Save").click()
    tab.get_by_text("Saved.").wait_for()
    assert tab.locator('[data-account="default:USD"] .tag').inner_text() == "On"
    spent = api.post(f"/customers/{customer}/wallet/charges", json={
        "transaction_id": unique("chg"), "asset": "USD", "amount": "4"})
    assert spent.status_code in (200, 201), spent.text
    deadline = time.monotonic() + 20
    while "The last automatic top-up failed" not in tab.content():
        assert time.monotonic() < deadline
        time.sleep(0.2)
        tab.goto(f"{pay_server.url}/portal/auto-top-up")
    assert "To fix it" in tab.locator(".problem").inner_text()
    assert tab.evaluate("document.documentElement.scrollWidth") <= 375
    if backend == "sqlite":
        tab.screenshot(path=str(SHOTS / "auto-top-up-failed-375.png"), full_page=True)
    # The fix: another card, saved.
    tab.get_by_label("Card", exact=True).select_option(label="Visa ···· 4242")
    tab.get_by_role("button", name="Save").click()
    tab.get_by_text("Saved.").wait_for()
    deadline = time.monotonic() + 20
    while tab.locator('[data-account="default:USD"] .problem').count():
        assert time.monotonic() < deadline
        time.sleep(0.2)
        tab.reload()
    assert not [p for p in problems if "Content Security Policy" in p], problems
    context.close()
    desk, big, _ = _tab(browser, 1280)
    big.goto(_link(api, pay_server, customer))
    big.goto(f"{pay_server.url}/portal/overview")
    assert big.locator('[data-account="default:USD"] .available').inner_text() == "21.00"  # 1 left + 20 bought
    big.goto(f"{pay_server.url}/portal/auto-top-up")
    if backend == "sqlite":
        big.screenshot(path=str(SHOTS / "auto-top-up-1280.png"), full_page=True)
    desk.close()
