"""Customers over HTTP in two scopes: the default account's live key and a test-environment key. The
same external_id lives in each; a customer and its subscriptions answer the other scope's key exactly
like unknown ones (same status, same body with the id swapped) and are never listed to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import DEFAULT_TEST
from drawdown.db.engine import write
from tests.conftest import Server, unique

UNKNOWN = "cus_" + "0" * 26


@pytest.fixture
def test_http(server: Server) -> Iterator[httpx.Client]:
    """A client holding a key of the default account's test environment."""
    with write(server.engine) as conn:
        _, secret = api_keys.create(conn, DEFAULT_TEST, unique("test-key"), datetime.now(UTC))
    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": secret}, timeout=30) as c:
        yield c


def assert_like_unknown(foreign: httpx.Response, unknown: httpx.Response, foreign_id: str) -> None:
    assert foreign.status_code == unknown.status_code == 404
    assert json.loads(foreign.text.replace(foreign_id, UNKNOWN)) == unknown.json()


def _customer(http: httpx.Client, external_id: str, **body: object) -> str:
    resp = http.post("/customers", json={"name": "N", "external_id": external_id, **body})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_the_same_external_id_in_each_scope_redirects_to_each_scope_s_customer(
    http: httpx.Client, test_http: httpx.Client
) -> None:
    external_id = unique("x")
    live, test = _customer(http, external_id), _customer(test_http, external_id)
    assert live != test
    for client, own in ((http, live), (test_http, test)):
        resp = client.get("/customers", params={"external_id": external_id}, follow_redirects=False)
        assert (resp.status_code, resp.headers["location"]) == (303, f"/customers/{own}")
    # A second one in the same scope is a conflict, there only.
    assert test_http.post("/customers", json={"name": "again", "external_id": external_id}).status_code == 409
    only_live = unique("x")
    _customer(http, only_live)
    assert test_http.get("/customers", params={"external_id": only_live}, follow_redirects=False).status_code == 404


def test_a_live_customer_answers_the_test_key_like_an_unknown_one(
    http: httpx.Client, test_http: httpx.Client
) -> None:
    asset = unique("A").upper().replace("-", "")[:12]
    assert http.post("/assets", json={"code": asset, "name": asset}).status_code == 201
    plan = unique("plan")
    price = {
        "name": "use",
        "type": "usage_based",
        "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "use", "usage_type": "unit"},
        "pricing": [{"asset": asset, "values": [{"unit_price": "1"}]}],
    }
    product = http.post("/products", json={"name": plan, "code": plan, "publish": True, "prices": [price]})
    assert product.status_code == 201, product.text
    name = unique("name")
    cid = _customer(http, unique("x"), name=name, subscriptions=[{"products": [{"code": plan}]}])
    sub_id = http.get(f"/customers/{cid}").json()["subscriptions"][0]["id"]

    def both(method: str, path: str, **kw: object) -> None:
        foreign = test_http.request(method, path.format(c=cid), **kw)  # type: ignore[arg-type]
        unknown = test_http.request(method, path.format(c=UNKNOWN), **kw)  # type: ignore[arg-type]
        assert_like_unknown(foreign, unknown, cid)

    both("GET", "/customers/{c}")
    both("GET", "/customers/{c}/stats")
    both("PATCH", "/customers/{c}", json={"name": "stolen"})
    both("POST", "/customers/{c}/subscriptions", json={"products": [{"code": "USD"}]})
    both("PATCH", f"/customers/{{c}}/subscriptions/{sub_id}", json={"status": "inactive"})
    product_id = product.json()["id"]
    both("PATCH", f"/customers/{{c}}/subscriptions/{sub_id}/products/{product_id}", json={"version": 1})
    for params in ({"name": name}, {"customer_id": cid}):
        listed = test_http.get("/customers", params=params).json()
        assert (listed["items"], listed["total_count"]) == ([], 0)
    # The live customer is untouched and still seen by its own key.
    got = http.get(f"/customers/{cid}").json()
    assert (got["name"], got["subscriptions"][0]["status"]) == (name, "active")
    assert [c["id"] for c in http.get("/customers", params={"name": name}).json()["items"]] == [cid]
    # A live product cannot be subscribed to from the test scope: it answers like an unknown one.
    test_cid = _customer(test_http, unique("x"))
    foreign = test_http.post(f"/customers/{test_cid}/subscriptions", json={"products": [{"code": plan}]})
    unknown = test_http.post(f"/customers/{test_cid}/subscriptions", json={"products": [{"code": "no-such-plan"}]})
    assert foreign.status_code == unknown.status_code == 422
    assert foreign.json()["errors"] == json.loads(unknown.text.replace("no-such-plan", plan))["errors"]
