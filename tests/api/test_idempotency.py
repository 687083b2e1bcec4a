"""Nothing twice: replays of events, adjustments and charges, sequential and concurrent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from corehttp.exceptions import ResourceExistsError

from tests.api.helpers import available, customer_on, event, gift, make_asset, token_product
from tests.conftest import unique


def post(server, path: str, body: dict) -> int:
    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=60) as c:
        return c.post(path, json=body).status_code


def balance(server, customer_id: str, asset: str) -> Decimal:
    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}) as c:
        return Decimal(str(c.get(f"/customers/{customer_id}/wallet/default:{asset}").json()["available"]))


@pytest.fixture
def funded(client):
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "100")
    return customer_id, asset


def test_the_same_event_resent_bills_once(client, funded) -> None:
    customer_id, asset = funded
    ev = event(model="large", tokens=1_000_000)
    for _ in range(3):
        client.events.send_usage({"customer_id": customer_id, "events": [ev]})
    assert available(client, customer_id, asset) == Decimal("97")
    assert client.events.list(customer_id=customer_id)["total_count"] == 1
    # Twice in one batch is also billed once.
    twin = event(model="large", tokens=1_000_000)
    client.events.send_usage({"customer_id": customer_id, "events": [twin, twin]})
    assert available(client, customer_id, asset) == Decimal("94")


def test_an_event_id_reused_with_other_content_is_refused_and_named(http, client, funded) -> None:
    customer_id, asset = funded
    ev = event(model="large", tokens=1_000_000)
    client.events.send_usage({"customer_id": customer_id, "events": [ev]})
    changed = {**ev, "data": {"model": "large", "tokens": 5}}
    fresh = event(model="small", tokens=1_000_000)
    resp = http.post("/events", json={"customer_id": customer_id, "events": [changed, fresh]})
    assert resp.status_code == 422
    body = resp.json()
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "already received with different content" in body["errors"]["events[0]"][0]
    assert body["accepted"] == [fresh["id"]]
    assert available(client, customer_id, asset) == Decimal("96")


def test_concurrent_resends_of_one_event_bill_once(server, funded) -> None:
    customer_id, asset = funded
    ev = event(model="large", tokens=1_000_000)

    def send(_: int) -> int:
        return post(server, "/events", {"customer_id": customer_id, "events": [ev]})

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(16)))
    assert codes == [204] * 16
    assert balance(server, customer_id, asset) == Decimal("97")


def test_concurrent_distinct_events_all_bill_exactly(server, funded) -> None:
    customer_id, asset = funded
    events = [event(model="small", tokens=1_000_000) for _ in range(40)]

    def send(ev: dict) -> int:
        return post(server, "/events", {"customer_id": customer_id, "events": [ev]})

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, events))
    assert codes == [204] * 40
    assert balance(server, customer_id, asset) == Decimal("60")


def test_adjustment_replay_returns_the_first_result_and_a_changed_body_conflicts(client, funded) -> None:
    customer_id, asset = funded
    body = {"transaction_id": unique("adj"), "asset": asset, "amount": Decimal("5.5"), "reason": "external_topup"}
    first = client.wallets.customer_wallet_ops.create_adjustment(customer_id, body)
    again = client.wallets.customer_wallet_ops.create_adjustment(customer_id, body)
    assert first["id"] == again["id"] == body["transaction_id"]
    assert first["created_at"] == again["created_at"]
    assert available(client, customer_id, asset) == Decimal("105.5")
    with pytest.raises(ResourceExistsError):
        client.wallets.customer_wallet_ops.create_adjustment(customer_id, {**body, "amount": Decimal("6")})
    assert available(client, customer_id, asset) == Decimal("105.5")


def test_concurrent_adjustment_replays_apply_once(server, funded) -> None:
    customer_id, asset = funded
    body = {"transaction_id": unique("adj"), "asset": asset, "amount": "2.25", "reason": "gift"}

    def send(_: int) -> int:
        return post(server, f"/customers/{customer_id}/wallet/adjustments", body)

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(12)))
    assert codes == [201] * 12
    assert balance(server, customer_id, asset) == Decimal("102.25")


def test_charge_replay_is_idempotent_and_conflicts_on_change(client, funded) -> None:
    customer_id, asset = funded
    body = {"transaction_id": unique("chg"), "asset": asset, "amount": Decimal("1.5"), "description": "setup"}
    client.wallets.customer_wallet_ops.create_charge(customer_id, body)
    client.wallets.customer_wallet_ops.create_charge(customer_id, body)
    assert available(client, customer_id, asset) == Decimal("98.5")
    with pytest.raises(ResourceExistsError):
        client.wallets.customer_wallet_ops.create_charge(customer_id, {**body, "amount": Decimal("2")})
    txn = client.wallets.customer_wallet_ops.get_transaction(customer_id, body["transaction_id"])
    assert Decimal(str(txn["amount"])) == Decimal("-1.5")
