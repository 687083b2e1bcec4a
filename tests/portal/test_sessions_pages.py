"""The portal link and session over real HTTP: single use, 10 minutes to open, 10 idle minutes to live
(a pinned clock, not a sleep), one customer's data only, CSRF on every POST."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Clock, Server, unique

URLS = {"return_url": "https://platform.example/app", "failure_url": "https://platform.example/portal-failed"}


def customer_with_balance(http: httpx.Client, amount: str) -> str:
    resp = http.post("/customers", json={"name": "Ada", "external_id": unique("ada")})
    assert resp.status_code == 201, resp.text
    customer = str(resp.json()["id"])
    got = http.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": "USD", "amount": amount, "reason": "gift"})
    assert got.status_code in (200, 201), got.text
    return customer


def link(http: httpx.Client, customer: str) -> str:
    resp = http.post("/billing-portal/sessions", json={"customer_id": customer, **URLS})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["redirect_url"])


@pytest.fixture
def browser_like(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as c:
        yield c


def _open(c: httpx.Client, url: str) -> httpx.Response:
    return c.get(urlsplit(url).path)  # the test server's public URL is the default, not its port


def test_a_link_opens_once_into_a_session(http: httpx.Client, browser_like: httpx.Client) -> None:
    customer = customer_with_balance(http, "12.5")
    url = link(http, customer)
    opened = _open(browser_like, url)
    assert opened.status_code == 303 and opened.headers["location"] == "/portal/overview"
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/portal" in cookie
    assert "secure" not in cookie  # the test server's public URL is http://
    page = browser_like.get("/portal/overview")
    assert page.status_code == 200 and "12.50" in page.text and "Back to the app" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    again = _open(httpx.Client(base_url=browser_like.base_url), url)
    assert again.status_code == 303 and again.headers["location"] == URLS["failure_url"]


def test_forged_tampered_and_expired_links(server: Server, http: httpx.Client, browser_like: httpx.Client,
                                           clock: Clock) -> None:
    customer = customer_with_balance(http, "1")
    url = link(http, customer)
    tampered = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert _open(browser_like, tampered).headers["location"] == URLS["failure_url"]
    unknown = browser_like.get("/portal/open/ps_01jz0000000000000000000000.secret")
    assert unknown.status_code == 404 and "link is not valid" in unknown.text
    assert browser_like.get("/portal/open/garbage").status_code == 404
    # The tampered try did not spend the link: it still opens, in time.
    assert _open(browser_like, url).headers["location"] == "/portal/overview"
    late = link(http, customer)
    clock.pinned = datetime.now(UTC) + timedelta(minutes=10, seconds=1)
    assert _open(browser_like, late).headers["location"] == URLS["failure_url"]


def test_a_session_ends_after_ten_idle_minutes(http: httpx.Client, browser_like: httpx.Client, clock: Clock) -> None:
    start = datetime.now(UTC)
    clock.pinned = start
    _open(browser_like, link(http, customer_with_balance(http, "3")))
    clock.pinned = start + timedelta(minutes=9)
    assert browser_like.get("/portal/overview").status_code == 200  # each request slides the idle time
    clock.pinned = start + timedelta(minutes=18)
    assert browser_like.get("/portal/overview").status_code == 200
    clock.pinned = start + timedelta(minutes=29)
    ended = browser_like.get("/portal/overview")
    assert ended.status_code == 401 and "session has ended" in ended.text and URLS["return_url"] in ended.text


def test_a_session_sees_only_its_customer(http: httpx.Client, server: Server) -> None:
    mine, theirs = customer_with_balance(http, "111"), customer_with_balance(http, "222")
    with httpx.Client(base_url=server.url) as a, httpx.Client(base_url=server.url) as b:
        _open(a, link(http, mine))
        _open(b, link(http, theirs))
        assert "111.00" in a.get("/portal/overview").text and "222.00" not in a.get("/portal/overview").text
        assert "222.00" in b.get("/portal/overview").text and "111.00" not in b.get("/portal/overview").text
        # A forged cookie naming the other's session (its id, not its secret) is no session at all.
        session_id = a.cookies["drawdown_portal"].split(".")[0]
        forged = httpx.get(f"{server.url}/portal/overview", cookies={"drawdown_portal": f"{session_id}.guess"})
        assert forged.status_code == 401 and "111.00" not in forged.text


def _csrf(page: str) -> str:
    marker = 'name="csrf_token" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_a_post_without_the_sessions_csrf_token_is_refused(http: httpx.Client, browser_like: httpx.Client) -> None:
    _open(browser_like, link(http, customer_with_balance(http, "1")))
    token = _csrf(browser_like.get("/portal/overview").text)
    forged: list[dict[str, Any]] = [{}, {"data": {"csrf_token": "0" * 64}}, {"data": {"csrf_token": token[:-1]}}]
    for extra in forged:
        refused = browser_like.post("/portal/logout", **extra)
        assert refused.status_code == 403 and "form has expired" in refused.text
    assert browser_like.get("/portal/overview").status_code == 200  # still signed in
    out = browser_like.post("/portal/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == URLS["return_url"]
    assert browser_like.get("/portal/overview").status_code == 401
