"""The whole portal journey in one sitting, as a customer lives it, in chromium against a server paying
through localstripe. The platform brands the portal in a light yellow (the hardest colour to keep
readable) and creates the link with the official client; the customer opens it, sees the balance, goes
to usage with the keyboard alone, pages through it and exports the CSV, tops up with a test card and
sees the new balance, adds a card and removes another, sets up auto top-up, and, once the server's
clock (pinned, not slept) is past ten idle minutes, is refused, as is the used link. Every page passes
an AA contrast scan (tests/portal/aa.py) and fits a phone."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, unique
from tests.portal.aa import low_contrast
from tests.portal.test_money_browser import VISA, _type_card
from tests.portal.test_portal_browser import LOGO, SHOTS, app_site, browser

__all__ = ["app_site", "browser"]  # the fixtures

YELLOW = "#ffd400"
# What the button said once its form was sent, kept across the navigation that follows.
SEEN = """window.addEventListener('submit', (e) => { const b = e.target.querySelector('button[type=submit]');
  sessionStorage.setItem('sent', b.textContent + '|' + b.disabled); })"""
EVENTS = 25


@pytest.fixture
def platform(pay_server: Server) -> Iterator[tuple[Any, httpx.Client]]:
    """The platform's official client and a plain one, both with its key, and its yellow branding."""
    from corehttp.credentials import ServiceKeyCredential
    from credytapi import CredytApiClient

    with (CredytApiClient(credential=ServiceKeyCredential(pay_server.key), endpoint=pay_server.url) as client,
          httpx.Client(base_url=pay_server.url, headers={"X-CREDYT-API-KEY": pay_server.key}, timeout=30) as api):
        logo = "data:image/svg+xml;base64," + base64.b64encode(LOGO).decode()  # the image itself, not an address
        assert api.put("/billing-portal/settings", json={"display_name": "Sunny AI", "logo_url": logo,
                                                         "primary_color": YELLOW}).status_code == 200
        try:
            yield client, api
        finally:
            api.put("/billing-portal/settings", json={})


def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


def _customer_with_usage(api: httpx.Client) -> tuple[str, list[str]]:
    """A customer subscribed to tokens at 0.01 USD each, given 5 USD, who sent 25 events of 10 tokens."""
    code = unique("tokens")
    _ok(api.post("/products", json={"name": "Tokens", "code": code, "publish": True, "prices": [{
        "name": "Tokens", "type": "usage_based", "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "completion", "usage_type": "volume", "volume_field": "tokens",
                              "billable_dimensions": ["model"]},
        "pricing": [{"asset": "USD", "values": [
            {"dimensions": {"model": "*"}, "values": [{"volume_rate": "0.01"}]}]}]}]}))
    customer = _ok(api.post("/customers", json={"name": "Ada Lovelace", "external_id": unique("ada"),
                                                "subscriptions": [{"products": [{"code": code}]}]}))["id"]
    _ok(api.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": "USD", "amount": "5", "reason": "gift"}))
    start = datetime.now(UTC)  # after the subscription began: earlier events would find no price
    ids = [unique("run") for _ in range(EVENTS)]
    sent = _ok(api.post("/events", json={"customer_id": customer, "events": [
        {"id": eid, "event_type": "completion", "occurred_at": (start + timedelta(milliseconds=10 * n)).isoformat(),
         "data": {"tokens": 10, "model": "m"}} for n, eid in enumerate(ids)]}))
    assert sent is None or "error" not in str(sent), sent
    return customer, ids


def _checked(tab: Any, width: int) -> None:
    """What every page must be: AA contrast, nothing wider than the screen."""
    assert low_contrast(tab) == [], tab.url
    assert tab.evaluate("document.documentElement.scrollWidth") <= width, tab.url


def _by_keyboard(tab: Any, link: str) -> None:
    """Tab from the top of the page to the navigation link ``link`` and follow it with Enter."""
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    for _ in range(20):
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.textContent.trim()") == link:
            break
    else:
        pytest.fail(f"the keyboard never reached {link!r}")
    tab.keyboard.press("Enter")


def test_the_whole_journey(pay_server: Server, browser: Any, platform: tuple[Any, httpx.Client], app_site: str,
                           tmp_path: Path) -> None:
    client, api = platform
    customer, ids = _customer_with_usage(api)
    link = str(client.billing_portal.create_portal_session({
        "customer_id": customer, "return_url": f"{app_site}/billing", "failure_url": f"{app_site}/failed",
    }).redirect_url)
    context = browser.new_context(viewport={"width": 375, "height": 800}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    refused: list[str] = []
    tab.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        _journey(pay_server, tab, link, ids, tmp_path, app_site)
    finally:
        pay_server.clock.pinned = None
        context.close()
    assert not refused, refused
    if pay_server.engine.dialect.name == "sqlite":  # the same brand on a desktop, for docs/portal.md
        desk = browser.new_context(viewport={"width": 1280, "height": 800})
        big = desk.new_page()
        big.goto(str(client.billing_portal.create_portal_session({
            "customer_id": customer, "return_url": f"{app_site}/billing", "failure_url": f"{app_site}/failed",
        }).redirect_url))
        big.goto(f"{pay_server.url}/portal/top-up")
        assert low_contrast(big) == []
        big.screenshot(path=str(SHOTS / "top-up-light-brand-1280.png"), full_page=True)
        desk.close()


def _journey(server: Server, tab: Any, link: str, ids: list[str], tmp_path: Path, app_site: str) -> None:
    # Open the link: the balances, in the platform's branding.
    tab.goto(link)
    tab.wait_for_url("**/portal/overview")
    assert tab.locator('[data-account="default:USD"] .available').inner_text() == "2.50"  # 5 - 25 x 0.10
    assert tab.locator(".operator").inner_text() == "Sunny AI"
    assert tab.locator("img.logo").evaluate("img => img.naturalWidth") > 0  # the embedded logo, under the CSP
    _checked(tab, 375)
    if server.engine.dialect.name == "sqlite":
        tab.screenshot(path=str(SHOTS / "overview-light-brand-375.png"), full_page=True)
    # Usage, reached with the keyboard; paged; exported.
    _by_keyboard(tab, "Usage")
    tab.wait_for_url("**/portal/usage")
    assert tab.locator("tr[data-event]").count() == 20
    _checked(tab, 375)
    tab.get_by_role("link", name="Older →").click()
    assert tab.locator("tr[data-event]").count() == 5 and "21–25 of 25" in tab.content()
    with tab.expect_download() as got:
        tab.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / got.value.suggested_filename
    got.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [r["event_id"] for r in rows] == ids[::-1] and {r["amount"] for r in rows} == {"0.1"}
    # Top up 20 USD with a test card: the overview shows 22.50.
    tab.get_by_role("link", name="Top up").first.click()
    tab.get_by_label("Amount in USD").fill("20")
    tab.locator("#quote").get_by_text("Adds 20.00 USD to your wallet.").wait_for()
    _checked(tab, 375)
    tab.evaluate(SEEN)
    tab.get_by_role("button", name="Continue to payment").click()
    tab.wait_for_url("**/pay/**")
    assert tab.evaluate("sessionStorage.getItem('sent')") == "Preparing your payment…|true"  # progress shown
    _type_card(tab, VISA)
    _checked(tab, 375)
    tab.get_by_role("button", name="Pay 20.00 USD").click()
    tab.get_by_text("Payment received").or_(tab.locator('[data-account="default:USD"]')).first.wait_for()
    if "/pay/" in tab.url:
        tab.get_by_role("link", name="Continue").click()
    tab.wait_for_url("**/portal/overview")
    assert tab.locator('[data-account="default:USD"] .available').inner_text() == "22.50"
    # Cards: add two, remove the first.
    tab.get_by_role("link", name="Cards").click()
    for number in (VISA, "5555555555554444"):
        _type_card(tab, number)
        tab.get_by_role("button", name="Save card").click()
        tab.locator(f'[data-card="{number[-4:]}"]').wait_for()
    _checked(tab, 375)
    tab.locator('[data-card="4242"]').get_by_role("button", name="Remove").click()
    tab.get_by_text("The card is removed.").wait_for()
    assert tab.locator(".saved-card").count() == 1
    # Auto top-up: below 5 USD, add 20, at most 100 a month, on the card left.
    tab.get_by_role("link", name="Auto top-up").click()
    tab.get_by_label("When below").fill("5")
    tab.get_by_label("Add").fill("20")
    tab.get_by_label("Monthly limit").fill("100")
    card = tab.get_by_label("Card", exact=True)
    left = card.locator("option", has_text="···· 4444")
    assert "(default)" in left.inner_text()  # the default removed, the card left became the default
    card.select_option(value=left.get_attribute("value"))
    tab.get_by_role("button", name="Save").click()
    tab.get_by_text("Saved.").wait_for()
    assert tab.locator('[data-account="default:USD"] .tag').inner_text() == "On"
    _checked(tab, 375)
    # Eleven idle minutes later (the server's clock, pinned): refused, and the used link goes to failure_url.
    server.clock.pinned = datetime.now(UTC) + timedelta(minutes=11)
    tab.reload()
    assert "Your session has ended" in tab.content()
    _checked(tab, 375)
    tab.goto(link)
    assert tab.url == f"{app_site}/failed"
