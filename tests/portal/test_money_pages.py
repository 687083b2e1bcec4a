"""The portal's money pages over real HTTP (a server paying through localstripe), on both backends:
the top-up form (errors next to the field, a live quote for a custom asset, a foreign account refused
like an unknown one, CSRF), leading to the payment page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Server, unique
from tests.portal.test_sessions_pages import URLS


@pytest.fixture
def api(pay_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pay_server.url, headers={"X-CREDYT-API-KEY": pay_server.key}, timeout=30) as c:
        yield c


def _customer(api: httpx.Client, amount: str = "5") -> str:
    resp = api.post("/customers", json={"name": "Ada", "external_id": unique("ada")})
    assert resp.status_code == 201, resp.text
    customer = str(resp.json()["id"])
    got = api.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": "USD", "amount": amount, "reason": "gift"})
    assert got.status_code in (200, 201), got.text
    return customer


def _gems(api: httpx.Client, customer: str) -> str:
    code = unique("GEM").upper().replace("-", "")[:14]
    made = api.post("/assets", json={"code": code, "name": "Gems", "precision": 0,
                                     "rates": [{"source": "USD", "rate": "0.25"}]})
    assert made.status_code == 201, made.text
    got = api.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": code, "amount": "3", "reason": "gift"})
    assert got.status_code in (200, 201), got.text
    return code


@contextmanager
def signed_in(pay_server: Server, api: httpx.Client, customer: str) -> Iterator[httpx.Client]:
    resp = api.post("/billing-portal/sessions", json={"customer_id": customer, **URLS})
    assert resp.status_code == 200, resp.text
    with httpx.Client(base_url=pay_server.url, timeout=30, follow_redirects=False) as c:
        assert c.get(urlsplit(resp.json()["redirect_url"]).path).status_code == 303
        yield c


def csrf(page: str) -> str:
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_top_up_errors_next_to_the_field_then_the_payment_page(pay_server: Server, api: httpx.Client) -> None:
    customer = _customer(api)
    with signed_in(pay_server, api, customer) as c:
        page = c.get("/portal/top-up")
        assert page.status_code == 200 and 'value="default:USD"' in page.text
        token = csrf(page.text)
        for typed, said in (("-5", "more than zero"), ("1.234", "at most 2 decimal places"), ("abc", "Enter a number"),
                            ("", "Enter an amount")):
            refused = c.post("/portal/top-up", data={"csrf_token": token, "account": "default:USD", "amount": typed})
            assert refused.status_code == 422, typed
            error = refused.text.split('id="amount-error">', 1)[1].split("</p>", 1)[0]
            assert said in error, (typed, error)
            assert 'aria-invalid="true"' in refused.text
        forged = c.post("/portal/top-up", data={"account": "default:USD", "amount": "10"})
        assert forged.status_code == 403
        made = c.post("/portal/top-up", data={"csrf_token": token, "account": "default:USD", "amount": "12.50"})
        assert made.status_code == 303 and made.headers["location"].startswith("/pay/")
        pay = c.get(made.headers["location"])
        assert pay.status_code == 200 and "12.50" in pay.text


def test_a_custom_asset_is_quoted_live(pay_server: Server, api: httpx.Client) -> None:
    customer = _customer(api)
    gems = _gems(api, customer)
    with signed_in(pay_server, api, customer) as c:
        quote = c.get("/portal/top-up/quote", params={"account": f"default:{gems}", "amount": "10"})
        assert quote.status_code == 200 and f"Buys 40 {gems} at 0.25 USD each" in quote.text
        too_fine = c.get("/portal/top-up/quote", params={"account": f"default:{gems}", "amount": "10.001"})
        assert "at most 2 decimal places" in too_fine.text
        token = csrf(c.get("/portal/top-up").text)
        made = c.post("/portal/top-up", data={"csrf_token": token, "account": f"default:{gems}", "amount": "10"})
        assert made.status_code == 303
        assert f"Adds 40 {gems}" in c.get(made.headers["location"]).text


def test_another_customers_account_is_refused_like_an_unknown_one(pay_server: Server, api: httpx.Client) -> None:
    mine, theirs = _customer(api), _customer(api)
    gems = _gems(api, theirs)
    with signed_in(pay_server, api, mine) as c:
        token = csrf(c.get("/portal/top-up").text)
        answers = [c.post("/portal/top-up", data={"csrf_token": token, "account": key, "amount": "10"})
                   for key in (f"default:{gems}", "default:NOPE")]
        assert [a.status_code for a in answers] == [422, 422]
        assert all("Choose one of your wallets." in a.text for a in answers)
        assert c.get("/portal/top-up/quote", params={"account": f"default:{gems}", "amount": "10"}).text.strip() == ""
