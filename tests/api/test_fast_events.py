"""``POST /events`` is answered by the fast path (api/fast_events.py) when the key is fresh in the cache
and there is no query string, and by the ordinary route otherwise. Each request below is sent both ways
(a query string sends it to the ordinary route, which ignores it) and the answers must be the same:
status, media type, and the problem word for word; for a 204, the same fees stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.helpers import customer_on, event, gift, make_asset, now_iso, token_product
from tests.conftest import unique


@pytest.fixture
def customer(client: Any) -> tuple[str, str]:
    asset = make_asset(client)
    product = token_product(client, asset)
    cid = customer_on(client, product["code"])
    gift(client, cid, asset, "100")
    return cid, asset


def _both(http: httpx.Client, body: bytes, content_type: str = "application/json") -> list[httpx.Response]:
    answers = []
    for query in ("", "?route=ordinary"):
        http.get("/events", params={"limit": 1})  # the key is verified, so the next request finds it cached
        answers.append(http.post("/events" + query, content=body, headers={"Content-Type": content_type}))
    return answers


def _same(fast: httpx.Response, ordinary: httpx.Response) -> None:
    assert fast.status_code == ordinary.status_code, (fast.text, ordinary.text)
    assert fast.headers.get("content-type") == ordinary.headers.get("content-type")
    if fast.content:
        a, b = fast.json(), ordinary.json()
        assert a.pop("instance", None) in (None, "/events") and b.pop("instance", None) in (None, "/events")
        assert a == b


def _json(doc: Any) -> bytes:
    return httpx.Request("POST", "/", json=doc).content


def _fees(client: Any, event_id: str) -> list[tuple[str, Decimal]]:
    return [(f["price_name"], Decimal(str(f["amount"]))) for f in client.events.get(event_id)["fees"]]


def test_an_event_is_billed_the_same_both_ways_and_a_replay_is_a_204(client, http, customer) -> None:
    cid, _ = customer
    ids = []
    for query in ("", "?route=ordinary"):
        ev = event(model="large", tokens=1000)
        http.get("/events", params={"limit": 1})
        assert http.post("/events" + query, json={"customer_id": cid, "events": [ev]}).status_code == 204
        assert http.post("/events" + query, json={"customer_id": cid, "events": [ev]}).status_code == 204
        ids.append(ev["id"])
    assert _fees(client, ids[0]) == _fees(client, ids[1]) == [("Tokens by model", Decimal("0.003"))]
    # And through the official client, which the fast path must serve unchanged.
    ev = event(model="small", tokens=2000)
    client.events.send_usage({"customer_id": cid, "events": [ev]})
    assert _fees(client, ev["id"]) == [("Tokens by model", Decimal("0.002"))]


def _refusals(cid: str) -> list[tuple[bytes, str]]:
    good = event(model="large", tokens=10)
    return [
        (_json({"customer_id": cid}), "application/json"),  # no events
        (_json({"customer_id": cid, "events": []}), "application/json"),
        (_json({"events": [good]}), "application/json"),  # no customer
        (_json({"customer_id": "cus_unknown", "events": [good]}), "application/json"),
        (_json({"customer_id": cid, "events": [{**good, "occurred_at": "2026-01-01T00:00:00"}]}), "application/json"),
        (_json({"customer_id": cid, "events": [{**good, "data": {"model": ["large"]}}]}), "application/json"),
        (_json({"customer_id": cid, "events": [{**good, "id": ""}]}), "application/json"),
        (_json({"customer_id": cid, "events": [{**good, "id": "a\u0000b"}]}), "application/json"),
        (f'{{"customer_id":"{cid}","customer_id":"{cid}","events":[]}}'.encode(), "application/json"),
        (f'{{"customer_id":"{cid}","events":[{{"id":"x","n":1e999}}]}}'.encode(), "application/json"),
        (b'{"customer_id": ', "application/json"),  # not JSON
        (b"", "application/json"),
        (_json({"customer_id": cid, "events": [good]}), "text/plain"),
        (_json({"customer_id": cid, "events": [good]}), "application/merge-patch+json"),  # JSON, the route's way
        (_json([{"customer_id": cid}]), "application/json"),
    ]


def test_every_refusal_is_the_ordinary_routes_answer(http, customer) -> None:
    cid, _ = customer
    for body, content_type in _refusals(cid):
        fast, ordinary = _both(http, body, content_type)
        assert fast.status_code != 500
        _same(fast, ordinary)


def test_an_event_refused_by_the_billing_names_its_index_both_ways(http, customer) -> None:
    cid, _ = customer
    answers = []
    for query in ("", "?route=ordinary"):
        ok, bad = event(model="large", tokens=10), event(model="large", tokens="many")
        http.get("/events", params={"limit": 1})
        resp = http.post("/events" + query, json={"customer_id": cid, "events": [ok, bad]})
        answers.append(resp)
        if resp.status_code == 422 and "accepted" in resp.json():
            assert resp.json()["accepted"] == [ok["id"]]
    fast, ordinary = answers
    assert fast.status_code == ordinary.status_code == 422
    a, b = fast.json(), ordinary.json()
    a.pop("accepted", None), b.pop("accepted", None)
    _same_problem(a, b)


def _same_problem(a: dict[str, Any], b: dict[str, Any]) -> None:
    a.pop("instance", None), b.pop("instance", None)
    assert a == b


def test_a_connected_account_header_and_a_fresh_key_take_the_ordinary_route(http, server, customer) -> None:
    cid, _ = customer
    resp = http.post("/events", json={"customer_id": cid, "events": [event(model="large", tokens=1)]},
                     headers={"X-CREDYT-ACCOUNT": "acc_nobody"})
    assert resp.status_code == 403
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        wrong = anonymous.post("/events", json={"customer_id": cid, "events": []},
                               headers={"X-CREDYT-API-KEY": "key_" + unique("wrong")})
        assert wrong.status_code == 401
        assert anonymous.post("/events", json={"customer_id": cid, "events": []}).status_code == 401
    ev = {"id": unique("ev"), "event_type": "completion", "occurred_at": now_iso(),
          "data": {"model": "small", "tokens": 5}}
    assert http.post("/events", json={"customer_id": cid, "events": [ev]}).status_code == 204
