"""Exchange-rate schedules, quotes, and fiat-priced credits into a custom asset."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from corehttp.exceptions import HttpResponseError

from tests.api.helpers import make_asset
from tests.conftest import unique


def test_scheduled_rates_are_picked_by_time(client, clock) -> None:
    clock.pinned = datetime(2026, 7, 1, tzinfo=UTC)
    code = make_asset(client, rate="0.01")
    client.assets.add_rate(code, {"source": "USD", "rate": D("0.02"), "valid_from": "2026-08-01T00:00:00Z"})
    client.assets.add_rate(code, {"source": "USD", "rate": D("0.02"), "valid_from": "2026-08-01T00:00:00Z"})  # a retry
    now = client.assets.quote(code, {"source": "USD", "amount": D("10")})
    assert D(str(now["destination_amount"])) == 1000 and D(str(now["rate"])) == D("0.01")
    later = client.assets.quote(code, {"source": "USD", "amount": D("10"), "exchange_at": "2026-08-01T00:00:00Z"})
    assert D(str(later["destination_amount"])) == 500 and D(str(later["inverse_rate"])) == 50
    schedule = client.assets.get(code)["rates"][0]["schedule"]
    assert [s["valid_to"] for s in schedule] == [
        None,
        "2026-08-01T00:00:00Z",
    ]  # the first rate closed at the second's start


def test_conversion_rounds_down_to_the_asset_precision(client) -> None:
    code = unique("W").upper().replace("-", "")[:12]
    client.assets.create(
        {"code": code, "name": "Whole", "precision": 0, "rates": [{"source": "USD", "inverse_rate": D("3")}]}
    )
    quote = client.assets.quote(code, {"source": "USD", "amount": D("1.01")})
    assert D(str(quote["destination_amount"])) == 3  # 3.03 units, rounded down: never more than paid for


def test_fiat_topup_credits_the_asset_at_the_rate_in_force(client, http, clock) -> None:
    clock.pinned = datetime(2026, 7, 1, tzinfo=UTC)
    code = make_asset(client, rate="0.01")
    client.assets.add_rate(code, {"source": "USD", "rate": D("0.02"), "valid_from": "2026-08-01T00:00:00Z"})
    customer_id = client.customers.create({"name": "Payer"})["id"]
    body = {"transaction_id": unique(), "asset": code, "amount": "10", "currency": "USD", "reason": "external_topup"}
    assert http.post(f"/customers/{customer_id}/wallet/adjustments", json=body).status_code == 201
    clock.pinned = datetime(2026, 8, 2, tzinfo=UTC)
    body2 = {**body, "transaction_id": unique()}
    assert http.post(f"/customers/{customer_id}/wallet/adjustments", json=body2).status_code == 201
    grants = client.wallets.customer_wallet_ops.get_credit_grants(customer_id, f"default:{code}")["items"]
    assert sorted((D(str(g["amount"])), D(str(g["revenue_basis"]))) for g in grants) == [
        (D(500), D("0.02")),
        (D(1000), D("0.01")),
    ]
    assert all(g["purpose"] == "paid" and g["basis_currency"] == "USD" for g in grants)


def test_rate_errors(client, http) -> None:
    code = make_asset(client)
    with pytest.raises(HttpResponseError) as seen:
        client.assets.add_rate(code, {"source": "CREDITS", "rate": D("1")})
    assert seen.value.status_code == 422
    resp = http.post(f"/assets/{code}/quote", json={"source": "EUR", "amount": 5})
    assert resp.status_code == 422 and "source" in resp.json()["errors"]
    assert http.post("/assets/USD/rates", json={"source": "USD", "rate": 1}).status_code == 409
