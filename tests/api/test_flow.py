"""The spine end to end through Credyt's official client over real HTTP, on both backends."""

from __future__ import annotations

from decimal import Decimal

import pytest
from corehttp.exceptions import HttpResponseError, ResourceNotFoundError

from tests.api.helpers import available, customer_on, event, gift, make_asset, token_product
from tests.conftest import unique


def test_asset_product_customer_gift_events_fees_and_balance(client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    assert product["version"] == 1 and product["status"] == "published" and product["is_default"] is True
    assert product["id"].startswith("prp_") and len(product["id"]) == 30

    customer_id = customer_on(client, product["code"])
    assert customer_id.startswith("cust_")
    wallet = client.wallets.customer_wallet_ops.get_customer_wallet(customer_id)
    assert [a["id"] for a in wallet["accounts"]] == [f"default:{asset}"]
    assert available(client, customer_id, asset) == 0

    adj = gift(client, customer_id, asset, "100")
    assert available(client, customer_id, asset) == Decimal("100")

    e1, e2, e3 = (
        event(model="large", tokens=1_000_000),
        event(model="small", tokens=333),
        event(model="medium", tokens=5),
    )
    client.events.send_usage({"customer_id": customer_id, "events": [e1, e2, e3]})

    fees1 = client.events.get(e1["id"])["fees"]
    fees2 = client.events.get(e2["id"])["fees"]
    assert len(fees1) == 1 and Decimal(str(fees1[0]["amount"])) == Decimal("3")
    assert fees1[0]["dimensions"] == {"model": "large"} and fees1[0]["usage_type"] == "volume"
    assert fees1[0]["product_code"] == product["code"] and fees1[0]["product_version"] == 1
    assert Decimal(str(fees1[0]["input_volume"])) == 1_000_000 and Decimal(str(fees1[0]["volume_rate"])) == Decimal(
        "0.000003"
    )
    assert Decimal(str(fees2[0]["amount"])) == Decimal("0.000333")
    # An event no price matches (no wildcard for "medium") is stored without fees.
    assert client.events.get(e3["id"])["fees"] == []

    assert available(client, customer_id, asset) == Decimal("100") - Decimal("3") - Decimal("0.000333")
    txn = client.wallets.customer_wallet_ops.get_transaction(customer_id, adj["id"])
    assert txn["type"] == "adjustment" and Decimal(str(txn["amount"])) == 100
    fee_txn = client.wallets.customer_wallet_ops.get_transaction(customer_id, fees1[0]["id"])
    assert fee_txn["type"] == "fee" and Decimal(str(fee_txn["amount"])) == -3
    assert fee_txn["id"] == fees1[0]["id"] and fee_txn["account_id"] == f"default:{asset}"
    # The request's two fees were booked in one usage transaction: each names it, and it lists them.
    usage = client.wallets.customer_wallet_ops.get_transaction(customer_id, fee_txn["booked_in"])
    assert usage["type"] == "fee" and Decimal(str(usage["amount"])) == Decimal("-3.000333")
    assert usage["description"] == "2 usage fees"
    assert [(f["id"], f["event_id"], Decimal(str(f["amount"]))) for f in usage["fees"]] == [
        (fees1[0]["id"], e1["id"], Decimal(-3)), (fees2[0]["id"], e2["id"], Decimal("-0.000333"))]
    assert client.wallets.customer_wallet_ops.get_transaction(customer_id, fees2[0]["id"])["booked_in"] == usage["id"]

    listed = client.events.list(customer_id=customer_id)
    assert listed["total_count"] == 3
    by_id = {i["id"]: i for i in listed["items"]}
    assert by_id[e1["id"]]["has_fees"] is True and by_id[e3["id"]]["has_fees"] is False
    assert Decimal(str(by_id[e2["id"]]["total_fees"])) == Decimal("0.000333")


def test_a_millionth_per_token_over_a_million_tokens_is_exactly_one(client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "10")
    client.events.send_usage(
        {"customer_id": customer_id, "events": [event(model="small", tokens=1) for _ in range(10)]}
    )
    one = event(model="small", tokens=999_990)
    client.events.send_usage({"customer_id": customer_id, "events": [one]})
    assert available(client, customer_id, asset) == Decimal("9")
    listed = client.events.list(customer_id=customer_id, limit=100)
    total = sum(Decimal(str(i["total_fees"])) for i in listed["items"])
    assert total == Decimal("1")


def test_events_by_customer_external_id_and_lookup_redirect(client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    external = unique("ext")
    customer_id = customer_on(client, product["code"], external_id=external)
    gift(client, customer_id, asset, "1")
    ev = event(model="large", tokens=100)
    client.events.send_usage({"customer_external_id": external, "events": [ev]})
    assert client.events.get(ev["id"])["customer_id"] == customer_id
    # GET /customers?external_id= answers 303 to the customer, as Credyt documents. The official
    # client does not follow redirects: it raises, and the location names the customer.
    with pytest.raises(HttpResponseError) as seen:
        client.customers.list(external_id=external)
    assert seen.value.status_code == 303
    assert seen.value.response.headers["location"] == f"/customers/{customer_id}"
    with pytest.raises(ResourceNotFoundError):
        client.customers.list(external_id=unique("nobody"))


def test_unit_and_volume_with_min_and_max_per_event(client) -> None:
    asset = make_asset(client)
    body = {
        "name": "Chat",
        "code": unique("chat"),
        "publish": True,
        "prices": [
            {
                "name": "Chat turn",
                "type": "usage_based",
                "billing_model": {"type": "real_time"},
                "usage_calculation": {"event_type": "chat", "usage_type": "unit_and_volume", "volume_field": "tokens"},
                "pricing": [
                    {
                        "asset": asset,
                        "values": [
                            {
                                "unit_price": Decimal("0.05"),
                                "volume_rate": Decimal("0.0001"),
                                "min_amount": Decimal("0.06"),
                                "max_amount": Decimal("1"),
                            }
                        ],
                    }
                ],
            }
        ],
    }
    product = client.products.create(body)
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "50")
    small = {"id": unique("ev"), "event_type": "chat", "occurred_at": event()["occurred_at"], "data": {"tokens": 10}}
    mid = {**small, "id": unique("ev"), "data": {"tokens": 2000}}
    big = {**small, "id": unique("ev"), "data": {"tokens": 100000}}
    client.events.send_usage({"customer_id": customer_id, "events": [small, mid, big]})
    amounts = [Decimal(str(client.events.get(e["id"])["fees"][0]["amount"])) for e in (small, mid, big)]
    assert amounts == [Decimal("0.06"), Decimal("0.25"), Decimal("1")]
    assert available(client, customer_id, asset) == Decimal("50") - Decimal("1.31")
