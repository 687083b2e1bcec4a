"""GET /events never adds fees of different currencies: total_fees is in fee_currency, and the
fee_totals extension gives one total per currency."""

from __future__ import annotations

from decimal import Decimal

from tests.api.helpers import customer_on, event, make_asset, token_product
from tests.conftest import unique


def _two_currency_product(client, credits: str) -> dict:
    tokens = token_product(client, credits)
    usd_price = {
        "name": "Requests",
        "type": "usage_based",
        "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "completion", "usage_type": "unit"},
        "pricing": [{"asset": "USD", "values": [{"unit_price": Decimal("0.25")}]}],
    }
    prices = client.products.get_version(tokens["id"], "1")["prices"]
    return token_product(client, credits, code=unique("two"), prices=[*prices, usd_price])


def test_an_event_billed_in_two_currencies_lists_one_total_per_currency(http, client) -> None:
    credits = make_asset(client)
    product = _two_currency_product(client, credits)
    customer_id = customer_on(client, product["code"])
    both = event(model="large", tokens=1_000_000)  # 3 credits and 0.25 USD
    one = event(model="small", tokens=0)  # 0 credits and 0.25 USD
    assert http.post("/events", json={"customer_id": customer_id, "events": [both, one]}).status_code == 204
    listed = {i["id"]: i for i in http.get("/events", params={"customer_id": customer_id}).json()["items"]}
    first = sorted([credits, "USD"])[0]
    assert listed[both["id"]]["fee_currency"] == first
    assert Decimal(str(listed[both["id"]]["total_fees"])) == (Decimal(3) if first == credits else Decimal("0.25"))
    assert {t["currency"]: Decimal(str(t["amount"])) for t in listed[both["id"]]["fee_totals"]} == {
        credits: Decimal(3),
        "USD": Decimal("0.25"),
    }
    assert listed[both["id"]]["has_fees"] is True
