"""The Idempotency-Key header on creates: a retry returns the first result, a changed body conflicts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.helpers import make_asset, token_product
from tests.conftest import unique


def test_retried_customer_create_returns_the_first_customer(http, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    key = unique("idem")
    body = {"name": "Grace", "external_id": unique("ext"), "subscriptions": [{"products": [{"code": product["code"]}]}]}
    first = http.post("/customers", json=body, headers={"Idempotency-Key": key})
    again = http.post("/customers", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    changed = http.post("/customers", json={**body, "name": "Other"}, headers={"Idempotency-Key": key})
    assert changed.status_code == 409 and "Idempotency-Key" in changed.json()["detail"]
    assert http.get("/customers", params={"name": "Grace", "limit": 500}).json()["total_count"] >= 1


def test_concurrent_retries_create_one_customer(server) -> None:
    key = unique("idem")
    name = unique("name")
    body = {"name": name}

    def send(_: int) -> tuple[int, str]:
        with httpx.Client(
            base_url=server.url, headers={"X-CREDYT-API-KEY": server.key, "Idempotency-Key": key}, timeout=60
        ) as c:
            resp = c.post("/customers", json=body)
            return resp.status_code, resp.json().get("id", "")

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(send, range(12)))
    assert {code for code, _ in results} <= {201, 409}
    assert len({cid for code, cid in results if code == 201}) == 1
    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}) as c:
        assert c.get("/customers", params={"name": name}).json()["total_count"] == 1


def test_retried_product_create_with_key(http, client) -> None:
    asset = make_asset(client)
    key = unique("idem")
    body = {
        "name": "P",
        "code": unique("p"),
        "publish": True,
        "prices": [
            {
                "name": "u",
                "type": "usage_based",
                "billing_model": {"type": "real_time"},
                "usage_calculation": {"event_type": "x", "usage_type": "unit"},
                "pricing": [{"asset": asset, "values": [{"unit_price": 0.1}]}],
            }
        ],
    }
    first = http.post("/products", json=body, headers={"Idempotency-Key": key})
    again = http.post("/products", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
