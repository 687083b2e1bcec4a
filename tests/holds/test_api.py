"""Holds over real HTTP on both backends: the hold routes through httpx (a Drawdown extension the
official client does not know), events through Credyt's official client, which passes the unknown
``hold_id`` through in ``data``."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx

from tests.api.helpers import available, customer_on, event, gift, make_asset
from tests.api.test_tiers import TIERS, product
from tests.conftest import Server, unique

D = Decimal


def _world(client: Any, http: httpx.Client, funds: str = "100", model: str = "tiered",
           limit: str | None = "0") -> tuple[str, str, str]:
    """(customer, asset, holds path) on a tiered token price, funded, overdraft limit 0 (None: as shipped,
    no limit set)."""
    asset = make_asset(client)
    p = product(client, asset, model, TIERS) if model == "tiered" else product(client, asset, model, TIERS[:1])
    customer = customer_on(client, p["code"])
    gift(client, customer, asset, funds)
    if limit is not None:
        assert http.patch(f"/customers/{customer}/wallet/default:{asset}",
                          json={"overdraft_limit": limit}).status_code == 204
    return customer, asset, f"/customers/{customer}/wallet/default:{asset}/holds"


def _account(http: httpx.Client, customer: str, asset: str) -> dict[str, Any]:
    return http.get(f"/customers/{customer}/wallet/default:{asset}").json()


def test_an_agent_run_end_to_end(client, http: httpx.Client) -> None:
    """Estimate -> hold -> a stream of events settled against it -> release (docs/holds.md)."""
    customer, asset, holds = _world(client, http)
    estimate = {"event_type": "completion", "data": {"tokens": 600}}  # 500@0.01 + 100@0.005
    check = http.post(holds, json={"hold_id": "run-1", "estimate": estimate, "dry_run": True})
    assert check.status_code == 200 and check.json()["amount"] == 5.5 and check.json()["would_succeed"] is True
    placed = http.post(holds, json={"hold_id": "run-1", "estimate": estimate, "ttl_seconds": 600})
    assert placed.status_code == 201, placed.text
    assert (placed.json()["amount"], placed.json()["held"], placed.json()["status"]) == (5.5, 5.5, "active")
    assert _account(http, customer, asset)["held"] == 5.5 and available(client, customer, asset) == D("94.5")
    steps = [event(tokens=200, hold_id="run-1"), event(tokens=300, hold_id="run-1")]  # 2 + 3
    for ev in steps:
        client.events.send_usage({"customer_id": customer, "events": [ev]})
    h = http.get(f"{holds}/run-1").json()
    assert (h["settled"], h["held"]) == (5, 0.5)
    assert [(s["event_id"], s["from_hold"]) for s in h["settlements"]] == [(steps[0]["id"], 2), (steps[1]["id"], 3)]
    assert available(client, customer, asset) == D("94.5")
    released = http.post(f"{holds}/run-1/release")
    assert released.status_code == 200 and (released.json()["status"], released.json()["released"]) == ("released", 0.5)
    assert available(client, customer, asset) == D(95) and _account(http, customer, asset)["held"] == 0
    assert http.post(f"{holds}/run-1/release").json()["released"] == 0.5  # no second release
    assert available(client, customer, asset) == D(95)
    listed = http.get(holds).json()
    assert listed["total_count"] == 1 and listed["items"][0]["id"] == "run-1"


def test_an_estimate_prices_tiers_without_moving_them(client, http: httpx.Client) -> None:
    customer, _, holds = _world(client, http)
    estimate = {"event_type": "completion", "data": {"tokens": 400}}
    first = http.post(holds, json={"hold_id": "a", "estimate": estimate}).json()["amount"]
    second = http.post(holds, json={"hold_id": "b", "estimate": estimate}).json()["amount"]
    assert first == second == 4  # 400 @ 0.01: the first estimate moved nothing
    client.events.send_usage({"customer_id": customer, "events": [event(tokens=400)]})
    assert http.post(holds, json={"hold_id": "c", "estimate": estimate}).json()["amount"] == 2.5  # 100@.01+300@.005


def test_hold_id_is_the_idempotency_key(client, http: httpx.Client) -> None:
    _, _, holds = _world(client, http)
    body = {"hold_id": "same", "amount": "7.25", "metadata": {"job": "render"}}
    first, again = http.post(holds, json=body), http.post(holds, json=body)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    changed = http.post(holds, json={**body, "amount": "8"})
    assert changed.status_code == 409 and changed.headers["content-type"] == "application/problem+json"
    assert http.get(holds).json()["items"][0]["amount"] == 7.25


def test_an_unaffordable_hold_is_an_insufficient_funds_problem(client, http: httpx.Client) -> None:
    customer, asset, holds = _world(client, http, funds="10")
    assert http.post(holds, json={"hold_id": "a", "amount": "6"}).status_code == 201
    refused = http.post(holds, json={"hold_id": "b", "amount": "6"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"].endswith("/insufficient_funds") and body["missing"] == 2 and "amount" in body["errors"]
    assert available(client, customer, asset) == D(4)
    dry = http.post(holds, json={"hold_id": "b", "amount": "6", "dry_run": True}).json()
    assert (dry["would_succeed"], dry["missing"]) == (False, 2)


def test_bad_input_is_a_422_naming_the_field(client, http: httpx.Client) -> None:
    customer, asset, holds = _world(client, http)
    cases = [
        ({"hold_id": "x", "amount": "-1"}, "amount"),
        ({"hold_id": "x", "amount": "0.0000000001"}, "amount"),
        ({"hold_id": "x", "amount": "1", "ttl_seconds": 7 * 86400 + 1}, "ttl_seconds"),
        ({"hold_id": "x", "amount": "1", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"hold_id": "x", "amount": "1", "expires_at": "2999-01-01T00:00:00Z"}, "expires_at"),
        ({"hold_id": "x"}, "amount"),
        ({"hold_id": "x", "amount": "1", "estimate": {"event_type": "completion"}}, "amount"),
        ({"hold_id": "x", "amount": "1", "ttl_seconds": 5, "expires_at": "2999-01-01T00:00:00Z"}, "ttl_seconds"),
    ]
    for body, field in cases:
        resp = http.post(holds, json=body)
        assert resp.status_code == 422 and field in resp.json()["errors"], (body, resp.text)
    nobody = http.post(f"/customers/cust_{'0' * 26}/wallet/default:{asset}/holds", json={"hold_id": "x", "amount": "1"})
    assert nobody.status_code == 422 and "customer_id" in nobody.json()["errors"]
    no_account = http.post(f"/customers/{customer}/wallet/default:EUR/holds", json={"hold_id": "x", "amount": "1"})
    assert no_account.status_code == 422 and "account_id" in no_account.json()["errors"]
    assert http.post(f"{holds}/ghost/release").status_code == 404
    assert http.get(holds).json()["total_count"] == 0 and available(client, customer, asset) == D(100)


def test_an_event_naming_a_released_hold_bills_as_usual_and_says_so(client, http: httpx.Client) -> None:
    customer, asset, holds = _world(client, http)
    http.post(holds, json={"hold_id": "gone", "amount": "5"})
    http.post(f"{holds}/gone/release")
    seen: dict[str, Any] = {}
    client.events.send_usage(
        {"customer_id": customer, "events": [event(tokens=100, hold_id="gone")]},
        cls=lambda resp, _, headers: seen.update({k.lower(): v for k, v in resp.http_response.headers.items()}),
    )
    notes = json.loads(seen["x-drawdown-hold-notes"])
    assert "released" in notes["events[0]"] and available(client, customer, asset) == D(99)
    # The extension field on the event itself works too (raw HTTP: the client would put it in data).
    http.post(holds, json={"hold_id": "top", "amount": "5"})
    ev = {**event(tokens=100), "hold_id": "top"}
    assert http.post("/events", json={"customer_id": customer, "events": [ev]}).status_code == 204
    assert http.get(f"{holds}/top").json()["settled"] == 1


def test_with_no_overdraft_limit_set_the_balance_alone_covers_holds(client, http: httpx.Client) -> None:
    """As shipped, accounts have no limit (unlimited overdraft); a hold still answers "can they pay?"."""
    customer, asset, holds = _world(client, http, funds="10", limit=None)
    assert http.post(holds, json={"hold_id": unique("h"), "amount": "6"}).status_code == 201
    refused = http.post(holds, json={"hold_id": unique("h"), "amount": "6"})
    assert refused.status_code == 422 and D(str(refused.json()["missing"])) == D(2)
    assert http.patch(f"/customers/{customer}/wallet/default:{asset}", json={"overdraft_limit": "5"}).status_code == 204
    assert http.post(holds, json={"hold_id": unique("h"), "amount": "6"}).status_code == 201  # 4 + 5 covers it


def test_concurrent_holds_succeed_exactly_as_far_as_the_balance_allows(server: Server, client, http) -> None:
    customer, asset, holds = _world(client, http, funds="100", limit=None)  # as shipped

    def place(i: int) -> int:
        with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=60) as c:
            return c.post(holds, json={"hold_id": f"h{i}", "amount": "7"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(place, range(30)))
    assert sorted(codes) == [201] * 14 + [422] * 16  # 14 * 7 = 98 <= 100 < 105
    placed = [h["id"] for h in http.get(holds, params={"limit": 100}).json()["items"]]
    assert len(placed) == 14 and available(client, customer, asset) == D(2)

    def settle_and_release(hold_id: str) -> tuple[str, D]:
        # 300 tokens: what they cost depends on the tier the lifetime total has reached (at most 3).
        ev = event(event_id=unique("ev"), tokens=300, hold_id=hold_id)
        with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=60) as c:
            assert c.post("/events", json={"customer_id": customer, "events": [ev]}).status_code == 204
            return hold_id, D(str(c.post(f"{holds}/{hold_id}/release").json()["released"]))

    with ThreadPoolExecutor(8) as pool:
        released = dict(pool.map(settle_and_release, placed))
    final = {h["id"]: h for h in http.get(holds, params={"limit": 100}).json()["items"]}
    for hold_id, back in released.items():
        h = final[hold_id]
        settled = D(str(h["settled"]))
        assert h["status"] == "released" and settled > 0 and back == D(7) - settled
        assert len(h["settlements"]) == 1 and D(str(h["settlements"][0]["from_hold"])) == settled
    fees = sum(D(str(h["settled"])) for h in final.values())
    events = client.events.list(customer_id=customer, limit=100)["items"]
    assert fees == sum(D(str(e["total_fees"])) for e in events)
    assert available(client, customer, asset) == D(100) - fees and _account(http, customer, asset)["held"] == 0
