"""Usage, transactions and credits in a real browser (Debian's chromium, driven by playwright): page
through usage, filter it, export the CSV through the browser's download, see the ledger and credits,
times shown in the browser's time zone by portal.js (a Tokyo browser here), nothing wider than a phone.
Screenshots at 375 px and 1280 px go to docs/portal/."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Server
from tests.portal.test_pages_data import _customer
from tests.portal.test_portal_browser import SHOTS, _link, _tab, app_site, browser

__all__ = ["app_site", "browser"]  # the fixtures, shared with the overview's walk


def _shot(tab: Any, name: str) -> None:
    tab.screenshot(path=str(SHOTS / name), full_page=True)


def test_usage_transactions_and_credits_in_chromium(server: Server, browser: Any, client: Any,
                                                    http: httpx.Client, app_site: str, tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    server.settings.public_url = server.url
    try:
        cid, _, b, ids = _customer(server, ["a"] * 22 + ["b"] * 3)
        context = browser.new_context(viewport={"width": 375, "height": 800}, timezone_id="Asia/Tokyo", locale="en-GB",
                                      accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        problems: list[str] = []
        tab.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        tab.goto(_link(client, cid, app_site))
        tab.get_by_role("link", name="Usage").click()
        tab.wait_for_url("**/portal/usage")
        assert tab.locator("tr[data-event]").count() == 20
        # 25 Nov 12:00 UTC is 21:00 in Tokyo: portal.js rewrote it, the UTC text kept as its title.
        newest = tab.locator(f'tr[data-event="{ids[-1]}"] time')
        assert "21:00" in newest.inner_text() and newest.get_attribute("title") == "25 Nov 2026, 12:00 UTC"
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
        _shot(tab, "usage-375.png")
        tab.get_by_role("link", name="Older →").click()
        assert tab.locator("tr[data-event]").count() == 5 and "21–25 of 25" in tab.content()
        tab.get_by_role("link", name="← Newer").click()
        assert "1–20 of 25" in tab.content()
        tab.select_option("#product", b)
        tab.get_by_role("button", name="Filter").click()
        tab.wait_for_url("**product=*")
        assert tab.locator("tr[data-event]").count() == 3
        with tab.expect_download() as got:
            tab.get_by_role("link", name="Download CSV").click()
        download = got.value
        assert download.suggested_filename.startswith("usage-") and download.suggested_filename.endswith(".csv")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        rows = list(csv.DictReader(io.StringIO(saved.read_text())))
        assert [r["event_id"] for r in rows] == [ids[24], ids[23], ids[22]] and rows[0]["amount"] == "2"
        tab.get_by_role("link", name="Transactions").click()
        assert tab.locator("tr[data-transaction]").count() == 20
        assert tab.locator('tr[data-kind="usage"] .amount').first.inner_text() == "-2.00 USD"
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
        _shot(tab, "transactions-375.png")
        tab.get_by_role("link", name="Credits").click()
        assert tab.locator(".credit .phrase").first.inner_text() == "88.50 USD expire on 1 Dec"
        _shot(tab, "credits-375.png")
        assert not problems, problems
        context.close()
        desk, big, _ = _tab(browser, 1280)
        big.goto(_link(client, cid, app_site))
        for page in ("usage", "transactions", "credits"):
            big.goto(f"{server.url}/portal/{page}")
            _shot(big, f"{page}-1280.png")
        empty, *_ = _customer(server, [])
        big.goto(_link(client, empty, app_site))
        big.goto(f"{server.url}/portal/usage")
        assert "No usage yet" in big.content()
        _shot(big, "usage-empty-1280.png")
        desk.close()
    finally:
        server.settings.public_url = "http://127.0.0.1:8000"
