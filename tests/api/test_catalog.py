"""Assets, products and versions through the official client."""

from __future__ import annotations

from decimal import Decimal

import pytest
from corehttp.exceptions import ResourceExistsError, ResourceNotFoundError

from tests.api.helpers import customer_on, event, gift, make_asset, token_product


def test_fiat_assets_exist_and_custom_assets_keep_exact_rates(client) -> None:
    codes = {a["code"] for a in client.assets.list(limit=500)["items"]}
    assert {"USD", "EUR", "GBP"} <= codes
    code = make_asset(client, rate="0.000125")
    asset = client.assets.get(code)
    schedule = asset["rates"][0]["schedule"][0]
    assert asset["rates"][0]["source"] == "USD"
    assert Decimal(str(schedule["rate"])) == Decimal("0.000125") and Decimal(str(schedule["inverse_rate"])) == 8000
    with pytest.raises(ResourceNotFoundError):
        client.assets.get("NOPE")


def test_versions_draft_publish_default_archive_and_delete(client, http) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    pid = product["id"]
    v2 = client.products.create_version(pid, {"prices": _prices(client, pid)})
    assert v2["version"] == 2 and v2["status"] == "draft" and v2["is_default"] is False
    client.products.update_version(pid, 2, {"publish": True})
    assert client.products.get_version(pid, 2)["is_default"] is False  # publishing does not move the default
    client.products.update_version(pid, 2, {"make_default": True})
    got = client.products.get(pid)
    assert got["default_version"]["version"] == 2
    assert [v["version"] for v in got["versions"]] == [2, 1]
    assert http.get(f"/products/{pid}/default").json()["version"] == 2
    client.products.archive_version(pid, 1)
    assert client.products.get_version(pid, 1)["status"] == "archived"
    with pytest.raises(ResourceExistsError):
        client.products.delete(pid)  # published versions: cannot be deleted
    draft = token_product(client, asset, publish=False)
    client.products.delete(draft["id"])
    with pytest.raises(ResourceNotFoundError):
        client.products.get(draft["id"])


def _prices(client, pid: str) -> list:
    prices = client.products.get_version(pid, 1)["prices"]
    return [{k: v for k, v in p.items() if k != "id"} for p in prices]


def test_existing_subscribers_stay_on_their_version_until_moved(client, http) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    pid = product["id"]
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "100")
    prices = _prices(client, pid)
    prices[0]["pricing"][0]["values"][0]["values"][0]["volume_rate"] = Decimal("0.00001")
    client.products.create_version(pid, {"prices": prices, "publish": True})
    client.products.update_version(pid, 2, {"make_default": True})
    ev = event(model="large", tokens=1_000_000)
    client.events.send_usage({"customer_id": customer_id, "events": [ev]})
    fee = client.events.get(ev["id"])["fees"][0]
    assert fee["product_version"] == 1 and Decimal(str(fee["amount"])) == 3
    sub_id = client.customers.get(customer_id)["subscriptions"][0]["id"]
    client.customers.update_subscription_product(customer_id, sub_id, pid, {"version": 2})
    ev2 = event(model="large", tokens=1_000_000)
    client.events.send_usage({"customer_id": customer_id, "events": [ev2]})
    fee2 = client.events.get(ev2["id"])["fees"][0]
    assert fee2["product_version"] == 2 and Decimal(str(fee2["amount"])) == 10


def test_customer_crud_and_inactive_subscription_stops_billing(client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"], email="ada@example.com")
    client.customers.update(customer_id, {"name": "Ada L."})
    got = client.customers.get(customer_id)
    assert got["name"] == "Ada L." and got["active_subscription_count"] == 1
    assert client.customers.list(email="ada@example.com")["total_count"] >= 1
    sub = got["subscriptions"][0]
    assert sub["status"] == "active" and sub["products"][0]["code"] == product["code"]
    client.customers.update_subscription(customer_id, sub["id"], {"status": "inactive"})
    gift(client, customer_id, asset, "5")
    ev = event(model="large", tokens=1_000_000)
    client.events.send_usage({"customer_id": customer_id, "events": [ev]})
    assert client.events.get(ev["id"])["fees"] == []
