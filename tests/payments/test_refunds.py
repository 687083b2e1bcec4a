"""Refunds of paid top-ups through localstripe: at most the value still unspent in the top-up's grant,
the wallet losing exactly the refunded units (from that grant), and the revenue report showing them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.payments import paying
from tests.payments.paying import credyt, initiate


@pytest.fixture
def http(pay_server: Server) -> Iterator[httpx.Client]:
    with paying.http(pay_server) as c:
        yield c


def _paid(server: Server, http: httpx.Client, amount: str, **more: Any) -> tuple[str, str]:
    cid = paying.customer(http)
    with credyt(server) as client:
        made = initiate(client, cid, amount, **more)
    paying.pay(server, made.id)
    assert paying.settled(server, made.id).status == "succeeded"
    return cid, made.id


def _refund(http: httpx.Client, top_up_id: str, amount: str | None = None) -> httpx.Response:
    return http.post(f"/top-ups/{top_up_id}/refund", json={} if amount is None else {"amount": amount})


def _stripe_refunds(server: Server, top_up_id: str) -> list[dict[str, Any]]:
    intent = paying.top_up(server, top_up_id).payment_intent
    found = paying.gateway(server).client.v1.refunds.list(params={"payment_intent": intent}).data
    return [r.to_dict() for r in found]


def test_partial_then_full_refund(pay_server: Server, http: httpx.Client) -> None:
    cid, top_up_id = _paid(pay_server, http, "20")
    first = _refund(http, top_up_id, "7.5")
    assert first.status_code == 201, first.text
    body = first.json(parse_float=Decimal)
    assert (body["top_up_id"], body["amount"], body["status"]) == (top_up_id, Decimal("7.5"), "succeeded")
    assert paying.available(http, cid, "default:USD") == Decimal("12.5")
    rest = _refund(http, top_up_id).json(parse_float=Decimal)  # no amount: all that is left
    assert (rest["amount"], rest["status"]) == (Decimal("12.5"), "succeeded")
    assert paying.available(http, cid, "default:USD") == 0
    got = http.get(f"/top-ups/{top_up_id}").json(parse_float=Decimal)
    assert got["refunded"] == 20 and got["status"] == "succeeded"
    assert sorted(r["amount"] for r in _stripe_refunds(pay_server, top_up_id)) == [750, 1250]  # minor units
    nothing = _refund(http, top_up_id)
    assert nothing.status_code == 422 and "amount" in nothing.json()["errors"]
    tx = http.get(f"/customers/{cid}/wallet/transactions/refund:{body['id']}").json(parse_float=Decimal)
    assert tx["type"] == "adjustment" and tx["amount"] == Decimal("-7.5")


def test_cannot_refund_more_than_is_unspent(pay_server: Server, http: httpx.Client) -> None:
    cid, top_up_id = _paid(pay_server, http, "10")
    spent = http.post(f"/customers/{cid}/wallet/charges",
                      json={"transaction_id": "spend-1", "asset": "USD", "amount": "6.255"})
    assert spent.status_code == 201, spent.text
    too_much = _refund(http, top_up_id, "3.75")
    assert too_much.status_code == 422 and "at most 3.74 USD" in too_much.json()["errors"]["amount"][0]
    assert paying.available(http, cid, "default:USD") == Decimal("3.745")  # nothing taken
    done = _refund(http, top_up_id).json(parse_float=Decimal)  # rounded down to the cent
    assert (done["amount"], done["status"]) == (Decimal("3.74"), "succeeded")
    assert paying.available(http, cid, "default:USD") == Decimal("0.005")


def test_refund_of_a_custom_asset_takes_units_at_the_top_ups_price(pay_server: Server, http: httpx.Client) -> None:
    gem = paying.asset(http, rate="0.5")
    cid, top_up_id = _paid(pay_server, http, "10", destination={"asset": gem, "exchange_rate": Decimal("0.04")})
    account = f"default:{gem}"
    assert paying.available(http, cid, account) == 250
    # Another grant in the same account, spent first by nothing: the refund takes from the top-up's own.
    gift = http.post(f"/customers/{cid}/wallet/adjustments",
                     json={"transaction_id": "gift-1", "asset": gem, "amount": "40", "reason": "gift"})
    assert gift.status_code == 201
    done = _refund(http, top_up_id, "2").json(parse_float=Decimal)
    assert done["status"] == "succeeded"
    assert paying.available(http, cid, account) == 240  # 250 + 40 - 2 / 0.04
    by_id = {g["source"]["id"]: g for g in paying.grants(http, cid, account)}
    assert by_id[top_up_id]["available"] == 200 and by_id["gift-1"]["available"] == 40


def test_revenue_report_shows_refunds(pay_server: Server, http: httpx.Client) -> None:
    cid, top_up_id = _paid(pay_server, http, "10")
    assert http.post(f"/customers/{cid}/wallet/charges",
                     json={"transaction_id": "spend-r", "asset": "USD", "amount": "4"}).status_code == 201
    assert _refund(http, top_up_id, "5").json()["status"] == "succeeded"
    today = datetime.now(UTC).date().isoformat()
    report = http.get("/reports/revenue", params={"period_from": today, "period_to": today,
                                                  "customer_id": cid}).json(parse_float=Decimal)
    [paid] = [r for r in report["items"] if r["purpose"] == "paid"]
    assert (paid["consumed"], paid["revenue"], paid["refunded"], paid["refunds"]) == (4, 4, 5, 5)
    [usd] = [t for t in report["totals"] if t["currency"] == "USD"]
    assert (usd["revenue"], usd["refunds"]) == (4, 5)


def test_only_a_succeeded_top_up_can_be_refunded(pay_server: Server, http: httpx.Client) -> None:
    with credyt(pay_server) as client:
        made = initiate(client, paying.customer(http), "5")
    resp = _refund(http, made.id)
    assert resp.status_code == 409, resp.text
    assert _refund(http, "top_00000000000000000000000000").status_code == 404


@pytest.mark.parametrize("amount", ["-1", "0", "NaN", "1.001"])
def test_bad_refund_amounts_are_422(pay_server: Server, http: httpx.Client, amount: str) -> None:
    _, top_up_id = _paid(pay_server, http, "3")
    resp = _refund(http, top_up_id, amount)
    assert resp.status_code == 422 and "amount" in resp.json()["errors"], resp.text


def test_a_refund_stripe_refuses_puts_the_units_back(pay_server: Server, http: httpx.Client) -> None:
    """Stripe answers an error (here: it does not know the PaymentIntent any more): the refund fails and
    the units come back into the same grant, by a reversal transaction."""
    from drawdown.db.engine import write
    from drawdown.payments.repository import set_fields

    cid, top_up_id = _paid(pay_server, http, "6")
    with write(pay_server.engine) as conn:
        set_fields(conn, top_up_id, payment_intent="pi_unknown_to_stripe")
    resp = _refund(http, top_up_id, "2")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "failed" and body["failure_message"]
    assert paying.available(http, cid, "default:USD") == 6
    [grant] = paying.grants(http, cid, "default:USD")
    assert grant["available"] == 6
    back = http.get(f"/customers/{cid}/wallet/transactions/refund-reversal:{body['id']}").json(parse_float=Decimal)
    assert back["amount"] == 2
    assert http.get(f"/top-ups/{top_up_id}").json()["refunded"] == 0
