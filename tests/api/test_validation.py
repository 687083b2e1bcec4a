"""Bad input gets a clear RFC 7807 problem naming the field; never a 500, never a partial write."""

from __future__ import annotations

import pytest
from corehttp.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError

from tests.api.helpers import available, customer_on, event, gift, make_asset, token_product
from tests.conftest import unique


def _problem(resp) -> dict:
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
    return resp.json()


def test_missing_or_wrong_key_is_401(server) -> None:
    import httpx

    assert httpx.get(server.url + "/assets").status_code == 401
    assert httpx.get(server.url + "/assets", headers={"X-CREDYT-API-KEY": "nope"}).status_code == 401
    ok = httpx.get(server.url + "/assets", headers={"Authorization": f"Bearer {server.key}"})
    assert ok.status_code == 200


def test_official_client_raises_on_bad_key(server) -> None:
    from corehttp.credentials import ServiceKeyCredential
    from credytapi import CredytApiClient

    with CredytApiClient(credential=ServiceKeyCredential("wrong"), endpoint=server.url) as c:
        with pytest.raises(ClientAuthenticationError):
            c.assets.list()


def test_malformed_json_is_400(http) -> None:
    resp = http.post("/events", content=b"{nope", headers={"content-type": "application/json"})
    assert resp.status_code == 400 and "not valid JSON" in _problem(resp)["detail"]


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda b: b["events"][0].pop("id"), "events[0].id"),
        (lambda b: b["events"][0].update(occurred_at="yesterday"), "events[0].occurred_at"),
        (lambda b: b["events"][0].update(occurred_at="2026-01-01T00:00:00"), "events[0].occurred_at"),
        (lambda b: b["events"][0].update(data={"tokens": [1, 2]}), "events[0].data.tokens"),
        # Keys that look like pydantic's tags are still the caller's field names.
        (lambda b: b["events"][0].update(data={"Tokens": [1]}), "events[0].data.Tokens"),
        (lambda b: b["events"][0].update(data={"int": {"a": 1}}), "events[0].data.int"),
        (lambda b: b.pop("customer_id"), "body"),
        (lambda b: b.update(events=[]), "events"),
    ],
)
def test_event_batch_validation_names_the_field(http, client, mutate, field) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    body = {"customer_id": customer_id, "events": [event(model="large", tokens=1)]}
    mutate(body)
    resp = http.post("/events", json=body)
    assert resp.status_code == 422
    problem = _problem(resp)
    assert field in problem["errors"], problem


def test_unrateable_event_fails_the_whole_batch_and_writes_nothing(http, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "10")
    good = event(model="large", tokens=1_000_000)
    bad = event(model="large", tokens="lots")
    resp = http.post("/events", json={"customer_id": customer_id, "events": [good, bad]})
    assert resp.status_code == 422
    assert "events[1].data.tokens" in _problem(resp)["errors"]
    assert http.get(f"/events/{good['id']}").status_code == 404
    assert available(client, customer_id, asset) == 10


def test_unknown_customer_is_named(http) -> None:
    resp = http.post("/events", json={"customer_id": "cust_nobody", "events": [event(model="x", tokens=1)]})
    assert resp.status_code == 422 and "customer_id" in _problem(resp)["errors"]
    resp = http.post("/events", json={"customer_external_id": "nobody", "events": [event(model="x", tokens=1)]})
    assert resp.status_code == 422 and "customer_external_id" in _problem(resp)["errors"]


def test_amounts_finer_than_nine_places_are_refused_not_rounded(http, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    resp = http.post(
        f"/customers/{customer_id}/wallet/adjustments",
        content=f'{{"transaction_id":"{unique()}","asset":"{asset}","amount":0.0000000001,"reason":"gift"}}',
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 422 and "amount" in _problem(resp)["errors"]
    for bad in ("NaN", "Infinity", "1e400"):
        resp = http.post(
            f"/customers/{customer_id}/wallet/adjustments",
            content=f'{{"transaction_id":"{unique()}","asset":"{asset}","amount":{bad},"reason":"gift"}}',
            headers={"content-type": "application/json"},
        )
        assert resp.status_code in (400, 422), (bad, resp.text)
    assert available(client, customer_id, asset) == 0


def test_adjustment_errors(http, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    base = {"transaction_id": unique(), "asset": asset, "amount": "1", "reason": "gift"}
    assert (
        http.patch(f"/customers/{customer_id}/wallet/default:{asset}", json={"overdraft_limit": "0"}).status_code == 204
    )
    cases = [
        ({**base, "reason": "because"}, "reason"),
        ({**base, "amount": "0"}, "amount"),  # a model validator's error, placed under its field
        ({**base, "asset": "NOPE"}, "asset"),
        ({**base, "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({**base, "amount": "-5"}, "amount"),  # more than the balance with a zero overdraft limit
    ]
    for body, field in cases:
        resp = http.post(f"/customers/{customer_id}/wallet/adjustments", json={**body, "transaction_id": unique()})
        assert resp.status_code == 422, (body, resp.text)
        assert field in _problem(resp)["errors"], (body, resp.json())
    assert http.post("/customers/cust_nobody/wallet/adjustments", json=base).status_code == 404


@pytest.mark.parametrize(
    "price_patch, field",
    [
        (
            {
                "pricing_model": "tiered",
                "pricing": [{"asset": "USD", "values": [{"volume_rate": 1}, {"volume_rate": 0.5}]}],
            },
            "prices[0].pricing[0].values[0].up_to",
        ),
        (
            {
                "pricing_model": "tiered",
                "pricing": [
                    {
                        "asset": "USD",
                        "values": [
                            {"volume_rate": 1, "up_to": 10},
                            {"volume_rate": 0.5, "up_to": 5},
                            {"volume_rate": 0.1},
                        ],
                    }
                ],
            },
            "prices[0].pricing[0].values[1].up_to",
        ),
        (
            {"pricing_model": "package", "pricing": [{"asset": "USD", "values": [{"unit_price": 1}]}]},
            "prices[0].pricing[0].values[0].package_size",
        ),
        ({"pricing_model": "tiered", "tiering": {"basis": "custom"}}, "prices[0].tiering.basis"),
        ({"tiering": {"period": "monthly"}}, "prices[0].tiering"),
        (
            {
                "usage_calculation": {
                    "event_type": "x",
                    "usage_type": "custom",
                    "volume_aggregation": "__import__('os')",
                }
            },
            "prices[0].usage_calculation.volume_aggregation",
        ),
        (
            {"usage_calculation": {"event_type": "x", "usage_type": "custom", "volume_aggregation": "tokens ** 2"}},
            "prices[0].usage_calculation.volume_aggregation",
        ),
        (
            {
                "type": "fixed",
                "billing_model": {"type": "real_time"},
                "pricing": [{"asset": "USD", "values": [{"unit_price": 20}]}],
            },
            "prices[0].billing_model.type",
        ),
        (
            {"usage_calculation": {"event_type": "x", "usage_type": "volume"}},
            "prices[0].usage_calculation.volume_field",
        ),
        ({"pricing": [{"asset": "NOPE", "values": [{"volume_rate": 1}]}]}, "prices[0].pricing[0].asset"),
        (
            {
                "usage_calculation": {"event_type": "x", "usage_type": "volume", "volume_field": "v"},
                "pricing": [{"asset": "USD", "values": [{"unit_price": 1}]}],
            },
            "prices[0].pricing[0].values[0].volume_rate",
        ),
        ({"pricing": [{"asset": "USD", "values": [{"volume_rate": -1}]}]}, "prices[0].pricing[0].values"),
    ],
)
def test_product_validation_names_the_field(http, price_patch, field) -> None:
    price = {
        "name": "p",
        "type": "usage_based",
        "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "x", "usage_type": "volume", "volume_field": "v"},
        "pricing": [{"asset": "USD", "values": [{"volume_rate": 1}]}],
    }
    price.update(price_patch)
    resp = http.post("/products", json={"name": "P", "code": unique("p"), "prices": [price], "publish": True})
    assert resp.status_code == 422, resp.text
    errors = _problem(resp)["errors"]
    assert any(k.startswith(field) for k in errors), errors


def test_duplicates_conflict(client) -> None:
    asset = make_asset(client)
    with pytest.raises(ResourceExistsError):
        client.assets.create({"code": asset, "name": "again"})
    product = token_product(client, asset)
    with pytest.raises(ResourceExistsError):
        token_product(client, asset, code=product["code"])
    external = unique("ext")
    customer_on(client, product["code"], external_id=external)
    with pytest.raises(ResourceExistsError):
        customer_on(client, product["code"], external_id=external)


def test_subscribing_to_a_draft_is_refused(client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset, publish=False)
    with pytest.raises(HttpResponseError) as seen:
        customer_on(client, product["code"])
    assert seen.value.status_code == 422
