"""Saved cards against a real localstripe: the Stripe customer made once (even when asked at once from
many threads), cards saved by PaymentMethod id and from a Stripe.js token, listed, made default and
removed; a card or customer of someone else answers like an unknown one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.payments import cards
from tests.conftest import Server
from tests.payments.conftest import SECRET_KEY
from tests.payments.paying import credyt, customer, gateway
from tests.payments.paying import http as http_client


@pytest.fixture
def http(pay_server: Server) -> Iterator[httpx.Client]:
    with http_client(pay_server) as c:
        yield c


def _save(http: httpx.Client, customer_id: str, pm: str = "pm_card_visa") -> dict[str, Any]:
    resp = http.post(f"/customers/{customer_id}/payment-methods", json={"payment_method_id": pm})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _cards(http: httpx.Client, customer_id: str) -> list[dict[str, Any]]:
    resp = http.get(f"/customers/{customer_id}/payment-methods")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def test_cards_are_saved_listed_made_default_and_removed(pay_server: Server, http: httpx.Client) -> None:
    customer_id = customer(http)
    assert _cards(http, customer_id) == []  # no Stripe customer needed to say so
    first = _save(http, customer_id)
    assert first["id"].startswith("pm_") and first["is_default"] is True
    assert (first["brand"], first["last4"], first["exp_month"], first["exp_year"]) == ("visa", "4242", 12, 2030)
    second = _save(http, customer_id)
    assert second["is_default"] is False
    listed = _cards(http, customer_id)
    assert {c["id"] for c in listed} == {first["id"], second["id"]}

    assert http.put(f"/customers/{customer_id}/payment-methods/{second['id']}/default").status_code == 204
    assert {c["id"]: c["is_default"] for c in _cards(http, customer_id)} == {first["id"]: False, second["id"]: True}

    assert http.delete(f"/customers/{customer_id}/payment-methods/{first['id']}").status_code == 204
    assert [c["id"] for c in _cards(http, customer_id)] == [second["id"]]
    # The Stripe customer is recorded on the customer, read back through the official client.
    with credyt(pay_server) as client:
        accounts = client.customers.get(customer_id)["external_accounts"]
    assert [a["provider"] for a in accounts] == ["stripe"] and accounts[0]["provider_id"].startswith("cus_")


def test_a_card_kept_from_a_token_is_listed_and_can_be_default(
    pay_server: Server, http: httpx.Client, localstripe: str
) -> None:
    """The payment page keeps a typed card as a card source (Stripe.js createToken): localstripe's
    payment_methods.list does not show those, so the list asks for sources too."""
    customer_id = customer(http)
    pm = _save(http, customer_id)
    token = httpx.post(f"{localstripe}/v1/tokens", auth=(SECRET_KEY, ""), data={
        "card[number]": "4242424242424242", "card[exp_month]": "7", "card[exp_year]": "2031", "card[cvc]": "123",
    }).json()["id"]
    stripe_id = cards.stripe_customer(pay_server.engine, gateway(pay_server), DEFAULT_LIVE, customer_id)
    source = gateway(pay_server).attach_token(stripe_id, token)["id"]
    listed = {c["id"]: c for c in _cards(http, customer_id)}
    assert set(listed) == {pm["id"], source} and listed[source]["exp_year"] == 2031
    assert http.put(f"/customers/{customer_id}/payment-methods/{source}/default").status_code == 204
    assert {c["id"]: c["is_default"] for c in _cards(http, customer_id)} == {pm["id"]: False, source: True}
    assert http.delete(f"/customers/{customer_id}/payment-methods/{source}").status_code == 204
    assert [c["id"] for c in _cards(http, customer_id)] == [pm["id"]]


def test_someone_elses_card_answers_like_an_unknown_one(http: httpx.Client) -> None:
    owner, other = customer(http), customer(http)
    card = _save(http, owner)["id"]
    _save(http, other)
    for method, suffix in (("DELETE", ""), ("PUT", "/default")):
        theirs = http.request(method, f"/customers/{other}/payment-methods/{card}{suffix}")
        unknown = http.request(method, f"/customers/{other}/payment-methods/pm_unknown0000{suffix}")
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json()["detail"].replace(card, "X") == unknown.json()["detail"].replace("pm_unknown0000", "X")
    assert [c["id"] for c in _cards(http, owner)] == [card]  # untouched
    assert http.get("/customers/cus_nobody/payment-methods").status_code == 404


def test_bad_cards_are_422_naming_the_field(http: httpx.Client) -> None:
    customer_id = customer(http)
    for pm in ("pm_does_not_exist", "card_123", "pm_card_visa_chargeDeclined"):
        resp = http.post(f"/customers/{customer_id}/payment-methods", json={"payment_method_id": pm})
        assert resp.status_code == 422, (pm, resp.text)
        assert "payment_method_id" in resp.text
    assert _cards(http, customer_id) == []


def test_the_stripe_customer_is_made_once_when_asked_at_once(pay_server: Server, http: httpx.Client) -> None:
    customer_id = customer(http)
    gw = gateway(pay_server)
    found: list[str] = []
    barrier = threading.Barrier(6)

    def ask() -> None:
        barrier.wait()
        found.append(cards.stripe_customer(pay_server.engine, gw, DEFAULT_LIVE, customer_id))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 6 and len(set(found)) == 1
    with credyt(pay_server) as client:
        accounts = client.customers.get(customer_id)["external_accounts"]
    assert accounts == [{"provider": "stripe", "provider_id": found[0]}]
    # The losers' Stripe customers were removed: only the recorded one is left for this customer.
    made = httpx.get(f"{pay_server.settings.stripe_api_base}/v1/customers", params={"limit": 100},
                     auth=(SECRET_KEY, "")).json()["data"]
    mine = [c["id"] for c in made if (c.get("metadata") or {}).get("drawdown_customer_id") == customer_id]
    assert mine == [found[0]]
