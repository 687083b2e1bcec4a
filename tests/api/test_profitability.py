"""Unit economics through the official client: costs from two vendors in two currencies, fees paid
partly by promotional and partly by paid credit; every figure equals a hand computation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from corehttp.exceptions import HttpResponseError, ResourceExistsError

from tests.api.helpers import make_asset
from tests.conftest import unique

DAY = datetime(2026, 9, 15, 12, 0, tzinfo=UTC)


def money(stats: dict) -> tuple:
    return tuple(D(str(stats[k])) for k in ("gross_revenue", "total_costs", "net_revenue", "margin")) + (
        stats["currency"],
    )


def test_event_customer_product_and_vendor_stats(client, http, clock) -> None:
    clock.pinned = DAY
    client.assets.add_rate(
        "EUR",
        {"source": "USD", "rate": D("1.10"), "valid_from": "2026-09-01T00:00:00Z", "valid_to": "2026-10-01T00:00:00Z"},
    )
    credits = make_asset(client, rate="0.01")
    product = client.products.create(
        {
            "name": "Calls",
            "code": unique("calls"),
            "publish": True,
            "prices": [
                {
                    "name": "Call",
                    "type": "usage_based",
                    "billing_model": {"type": "real_time"},
                    "usage_calculation": {"event_type": "call", "usage_type": "unit"},
                    "pricing": [{"asset": credits, "values": [{"unit_price": D("60")}]}],
                }
            ],
        }
    )
    customer_id = client.customers.create(
        {"name": "Margins Inc", "subscriptions": [{"products": [{"code": product["code"]}]}]}
    )["id"]
    wallet = client.wallets.customer_wallet_ops
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": credits, "amount": D("100"), "reason": "gift"}
    )
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": credits, "amount": D("200"), "reason": "external_topup"}
    )
    openai_ext = unique("openai")
    client.vendors.vendors_ops.create_vendor({"name": "OpenAI", "external_id": openai_ext})
    gpu = client.vendors.vendors_ops.create_vendor({"name": "GPU Cloud"})["id"]
    with pytest.raises(ResourceExistsError):
        client.vendors.vendors_ops.create_vendor({"name": "again", "external_id": openai_ext})

    def call(*costs: dict) -> dict:
        return {"id": unique("call"), "event_type": "call", "occurred_at": "2026-09-15T12:00:00Z", "costs": list(costs)}

    e1 = call({"id": "c1", "vendor_external_id": openai_ext, "category": "inference", "amount": D("0.12")})
    e2 = call(
        {"id": "c1", "vendor_external_id": openai_ext, "category": "inference", "amount": D("0.05")},
        {"id": "c2", "vendor_id": gpu, "category": "compute", "amount": D("0.10"), "currency": "EUR"},
    )
    e3 = call(
        {"id": "c1", "vendor_id": gpu, "category": "compute", "units": 2, "unit_price": D("0.05"), "currency": "EUR"}
    )
    client.events.send_usage({"customer_id": customer_id, "events": [e1, e2, e3]})

    # e1: 60 promotional credits -> no revenue. e2: 40 promotional + 20 paid -> 20 x 0.01. e3: 60 paid.
    assert money(client.events.get(e1["id"])["stats"]) == (0, D("0.12"), D("-0.12"), 0, "USD")
    assert money(client.events.get(e2["id"])["stats"]) == (D("0.2"), D("0.16"), D("0.04"), D("20"), "USD")
    assert money(client.events.get(e3["id"])["stats"]) == (D("0.6"), D("0.11"), D("0.49"), D("81.67"), "USD")
    listed = {i["id"]: i for i in client.events.list(customer_id=customer_id)["items"]}
    assert money(listed[e3["id"]]["stats"]) == (D("0.6"), D("0.11"), D("0.49"), D("81.67"), "USD")

    assert money(client.customers.get_stats(customer_id)) == (D("0.8"), D("0.39"), D("0.41"), D("51.25"), "USD")
    page = client.customers.list_stats(period_from="2026-09-15", period_to="2026-09-15")
    assert [i["id"] for i in page["items"]] == [customer_id]
    assert money(page["summary"]) == (D("0.8"), D("0.39"), D("0.41"), D("51.25"), "USD")
    assert money(page["items"][0]["stats"]) == (D("0.8"), D("0.39"), D("0.41"), D("51.25"), "USD")
    assert client.customers.list_stats(period_from="2026-09-16", period_to="2026-09-30")["items"] == []

    product_stats = http.get(f"/products/{product['id']}/stats").json()
    assert money(product_stats) == (D("0.8"), D("0.39"), D("0.41"), D("51.25"), "USD")

    openai = client.vendors.vendors_ops.list_vendors(external_id=openai_ext)["items"][0]["id"]
    o = client.vendors.vendors_ops.get_vendor_stats(openai)
    assert D(str(o["total_costs"])) == D("0.17") and o["categories"] == [{"category": "inference", "cost": 0.17}]
    g = client.vendors.vendors_ops.get_vendor_stats(
        gpu, period_from="2026-09-15", period_to="2026-09-15", category="compute"
    )
    assert D(str(g["total_costs"])) == D("0.22")
    assert D(str(client.vendors.vendors_ops.get_vendor_stats(gpu, category="storage")["total_costs"])) == 0


def test_cost_validation_names_the_field(client, http, clock) -> None:
    clock.pinned = DAY
    credits = make_asset(client)
    customer_id = client.customers.create({"name": "Bad costs"})["id"]

    def send(cost: dict) -> dict:
        ev = {"id": unique(), "event_type": "x", "occurred_at": "2026-09-15T12:00:00Z", "costs": [cost]}
        resp = http.post("/events", json={"customer_id": customer_id, "events": [ev]})
        assert resp.status_code == 422, resp.text
        return resp.json()["errors"]

    assert "events[0].costs[0].vendor_id" in send({"id": "c", "vendor_id": "vnd_nobody", "amount": 1})
    assert "events[0].costs[0].vendor_external_id" in send({"id": "c", "vendor_external_id": "nobody", "amount": 1})
    assert "events[0].costs[0]" in send({"id": "c", "amount": 1})
    vendor = client.vendors.vendors_ops.create_vendor({"name": "V"})["id"]
    assert "events[0].costs[0].currency" in send({"id": "c", "vendor_id": vendor, "amount": 1, "currency": "JPY"})
    assert "events[0].costs[0]" in send({"id": "c", "vendor_id": vendor})
    with pytest.raises(HttpResponseError):
        client.vendors.vendors_ops.get_vendor_stats("vnd_nobody")
    assert credits
