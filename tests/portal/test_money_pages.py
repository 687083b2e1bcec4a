"""The portal's money pages over real HTTP (a server paying through localstripe), on both backends:
the top-up form (errors next to the field, a live quote for a custom asset, a foreign account refused
like an unknown one, CSRF), leading to the payment page."""

from __future__ import annotations

import time
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


def _saved(pay_server: Server, c: httpx.Client, token: str, number: str) -> str:
    """A card saved as the cards page saves it: a SetupIntent from the portal, confirmed with the card
    the way Stripe.js confirms it (publishable key and client secret only); its id, for /portal/cards/add."""
    made = c.post("/portal/cards/setup", data={"csrf_token": token})
    assert made.status_code == 200, made.text
    secret = made.json()["client_secret"]
    seti = secret.split("_secret_", 1)[0]
    confirmed = httpx.post(f"{pay_server.settings.stripe_api_base}/v1/setup_intents/{seti}/confirm", json={
        "key": pay_server.settings.stripe_publishable_key, "client_secret": secret, "payment_method_data": {
            "type": "card", "card": {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}}},
        timeout=10)
    assert confirmed.status_code == 200, confirmed.text
    return seti


def _not_default(page: str) -> str:
    """The card offered "Make default" (the first card field after that form's action)."""
    return page.split('action="/portal/cards/default"', 1)[1].split('name="card" value="', 1)[1].split('"', 1)[0]


def _card_ids(page: str) -> list[str]:
    return sorted({part.split('"', 1)[0] for part in page.split('name="card" value="')[1:]})


def test_cards_add_default_remove_and_a_foreign_card_is_unknown(pay_server: Server, api: httpx.Client) -> None:
    mine, theirs = _customer(api), _customer(api)
    with signed_in(pay_server, api, theirs) as other:
        token = csrf(other.get("/portal/cards").text)
        theirs_setup = _saved(pay_server, other, token, "5555555555554444")
        added = other.post("/portal/cards/add", data={"csrf_token": token, "setup_intent": theirs_setup})
        assert added.status_code == 200, added.text
        (foreign,) = _card_ids(other.get("/portal/cards").text)
    with signed_in(pay_server, api, mine) as c:
        page = c.get("/portal/cards")
        assert page.status_code == 200 and "No saved card." in page.text
        assert "frame-src" in page.headers["content-security-policy"]
        token = csrf(page.text)
        assert c.post("/portal/cards/setup", data={}).status_code == 403
        refused = c.post("/portal/cards/add", data={"setup_intent": _saved(pay_server, c, token, "4242424242424242")})
        assert refused.status_code == 403
        for nonsense in ("nonsense", "seti_unknown", theirs_setup):  # another customer's SetupIntent too
            answer = c.post("/portal/cards/add", data={"csrf_token": token, "setup_intent": nonsense})
            assert answer.status_code == 422 and "could not be saved" in answer.json()["message"]
        for number in ("4242424242424242", "4000056655665556"):
            setup = _saved(pay_server, c, token, number)
            added = c.post("/portal/cards/add", data={"csrf_token": token, "setup_intent": setup})
            assert added.status_code == 200, added.text
            again = c.post("/portal/cards/add", data={"csrf_token": token, "setup_intent": setup})
            assert again.status_code == 200  # the same card kept once: the list below has two
        listed = c.get("/portal/cards").text
        assert "···· 4242" in listed and "···· 5556" in listed and listed.count("Default</span>") == 1
        ids = _card_ids(listed)
        assert len(ids) == 2 and foreign not in ids
        for action in ("remove", "default"):
            for card in (foreign, "card_unknown"):  # another customer's card answers like an unknown one
                answer = c.post(f"/portal/cards/{action}", data={"csrf_token": token, "card": card})
                assert answer.status_code == 404 and "not one of your saved cards" in answer.text
            assert c.post(f"/portal/cards/{action}", data={"card": ids[0]}).status_code == 403
        second = _not_default(listed)  # the one not default
        assert listed.count('action="/portal/cards/default"') == 1
        made = c.post("/portal/cards/default", data={"csrf_token": token, "card": second})
        assert made.status_code == 303 and made.headers["location"] == "/portal/cards?default=1"
        after = c.get("/portal/cards?default=1").text
        assert "now your default" in after and _not_default(after) != second
        gone = c.post("/portal/cards/remove", data={"csrf_token": token, "card": second})
        assert gone.status_code == 303
        assert len(_card_ids(c.get("/portal/cards").text)) == 1
    with signed_in(pay_server, api, theirs) as other:
        assert _card_ids(other.get("/portal/cards").text) == [foreign]  # untouched


def _failed_attempts(api: httpx.Client, customer: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        got = api.get(f"/customers/{customer}/wallet/default:USD/auto-top-up").json()
        if sum(a["status"] == "failed" for a in got.get("attempts", [])) >= count:
            return
        assert time.monotonic() < deadline, got
        time.sleep(0.05)


def _spend(api: httpx.Client, customer: str, amount: str) -> None:
    got = api.post(f"/customers/{customer}/wallet/charges", json={
        "transaction_id": unique("chg"), "asset": "USD", "amount": amount})
    assert got.status_code in (200, 201), got.text


def test_auto_top_up_form_errors_foreign_card_and_the_last_failure(pay_server: Server, api: httpx.Client) -> None:
    mine, theirs = _customer(api, "10"), _customer(api)
    bad = api.post(f"/customers/{mine}/payment-methods", json={"payment_method_id": "pm_card_chargeCustomerFail"})
    assert bad.status_code == 201, bad.text
    foreign = api.post(f"/customers/{theirs}/payment-methods", json={"payment_method_id": "pm_card_visa"}).json()["id"]
    with signed_in(pay_server, api, mine) as c:
        page = c.get("/portal/auto-top-up")
        assert page.status_code == 200 and 'data-account="default:USD"' in page.text
        assert '<span class="tag">Off' in page.text
        token = csrf(page.text)
        base = {"csrf_token": token, "account": "default:USD", "enabled": "on", "threshold": "5", "amount": "20"}
        unsigned = {k: v for k, v in base.items() if k != "csrf_token"}
        assert c.post("/portal/auto-top-up", data=unsigned).status_code == 403
        cases = (({"threshold": "-1"}, "threshold-1-error", "Must be zero or more"),
                 ({"amount": "1.234"}, "amount-1-error", "decimal"),
                 ({"amount": "abc"}, "amount-1-error", "Enter a number"),
                 ({"monthly_limit": "10"}, "monthly_limit-1-error", "at least amount"),
                 ({"card": foreign}, "card-1-error", "Choose one of your saved cards."),
                 ({"card": "pm_unknown"}, "card-1-error", "Choose one of your saved cards."))
        for change, field, said in cases:
            refused = c.post("/portal/auto-top-up", data={**base, **change})
            assert refused.status_code == 422, change
            assert said in refused.text.split(f'id="{field}">', 1)[1].split("</p>", 1)[0], (change, refused.text)
        other = c.post("/portal/auto-top-up", data={**base, "account": "other:USD"})
        assert other.status_code == 404 and "not one of yours" in other.text
        saved = c.post("/portal/auto-top-up", data={**base, "monthly_limit": "100"})
        assert saved.status_code == 303 and saved.headers["location"] == "/portal/auto-top-up?saved=default:USD"
        page = c.get("/portal/auto-top-up?saved=default:USD").text
        assert "Saved." in page and 'class="tag on"' in page and 'value="100.00"' in page
        _spend(api, mine, "6")  # below the threshold: the card is charged, and declined
        _failed_attempts(api, mine, 1)
        page = c.get("/portal/auto-top-up").text
        assert "The last automatic top-up failed" in page and "declined" in page.lower() and "To fix it" in page
