"""Overdraft limits: an event that would pass the limit is refused whole; the rest still bill."""

from __future__ import annotations

from decimal import Decimal

from tests.api.helpers import available, customer_on, event, gift, make_asset, token_product


def _grants(client, customer_id: str, asset: str) -> list[dict]:
    return client.wallets.customer_wallet_ops.get_credit_grants(customer_id, f"default:{asset}")["items"]


def test_event_past_the_limit_is_refused_and_others_bill(http, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    # Spend is gated by a zero overdraft limit (new accounts have none by default, as Credyt's).
    assert (
        http.patch(f"/customers/{customer_id}/wallet/default:{asset}", json={"overdraft_limit": "0"}).status_code == 204
    )
    gift(client, customer_id, asset, "5")
    ok1 = event(model="large", tokens=1_000_000)  # 3
    too_big = event(model="large", tokens=1_000_000)  # 3 more would need 6 > 5
    ok2 = event(model="small", tokens=1_000_000)  # 1
    resp = http.post("/events", json={"customer_id": customer_id, "events": [ok1, too_big, ok2]})
    assert resp.status_code == 422
    problem = resp.json()
    assert list(problem["errors"]) == ["events[1]"]
    assert "insufficient funds in default:" in problem["errors"]["events[1]"][0]
    assert "available 2" in problem["errors"]["events[1]"][0]
    assert problem["accepted"] == [ok1["id"], ok2["id"]]
    assert available(client, customer_id, asset) == Decimal("1")
    # Nothing of the refused event was written: it does not exist.
    assert http.get(f"/events/{too_big['id']}").status_code == 404
    # Sent again once funded, it bills.
    gift(client, customer_id, asset, "10")
    assert http.post("/events", json={"customer_id": customer_id, "events": [too_big]}).status_code == 204
    assert available(client, customer_id, asset) == Decimal("8")


def test_overdraft_limit_allows_debt_and_a_later_credit_settles_it(http, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    resp = http.patch(f"/customers/{customer_id}/wallet/default:{asset}", json={"overdraft_limit": "4"})
    assert resp.status_code == 204
    gift(client, customer_id, asset, "1")
    assert (
        http.post(
            "/events", json={"customer_id": customer_id, "events": [event(model="large", tokens=1_000_000)]}
        ).status_code
        == 204
    )
    assert available(client, customer_id, asset) == Decimal("-2")
    refused = http.post(
        "/events", json={"customer_id": customer_id, "events": [event(model="large", tokens=1_000_000)]}
    )
    assert refused.status_code == 422  # would need debt 5 > limit 4
    gift(client, customer_id, asset, "10")
    assert available(client, customer_id, asset) == Decimal("8")
    # The new grant paid the debt: 10 granted, 2 of it settled the overdraft.
    remaining = sorted(Decimal(str(g["available"])) for g in _grants(client, customer_id, asset))
    assert remaining == [Decimal("0"), Decimal("8")]


def test_grants_are_drawn_by_priority_then_expiry(http, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "2", expires_at="2099-01-01T00:00:00Z")
    gift(client, customer_id, asset, "2", expires_at="2098-01-01T00:00:00Z")
    gift(client, customer_id, asset, "2")
    assert (
        http.post(
            "/events", json={"customer_id": customer_id, "events": [event(model="large", tokens=1_000_000)]}
        ).status_code
        == 204
    )
    grants = {g["expires_at"]: Decimal(str(g["available"])) for g in _grants(client, customer_id, asset)}
    assert grants == {"2098-01-01T00:00:00Z": 0, "2099-01-01T00:00:00Z": 1, None: 2}


def test_future_grants_are_pending_not_available(client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "7", effective_at="2099-01-01T00:00:00Z")
    account = client.wallets.customer_wallet_ops.get_account(customer_id, f"default:{asset}")
    assert Decimal(str(account["available"])) == 0 and Decimal(str(account["pending_in"])) == 7


def test_by_default_an_unfunded_customer_is_billed_and_goes_negative(http, client) -> None:
    """Credyt's tutorial flow: a product, a customer, usage without pre-funding: it bills (no limit)."""
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    evs = [event(model="large", tokens=1_000_000), event(model="small", tokens=1_000_000)]  # 3 + 1
    assert http.post("/events", json={"customer_id": customer_id, "events": evs}).status_code == 204
    assert available(client, customer_id, asset) == Decimal("-4")
    got = client.wallets.customer_wallet_ops.get_account(customer_id, f"default:{asset}")
    assert got.get("overdraft_limit") is None  # unlimited
    # A later top-up settles the debt first.
    gift(client, customer_id, asset, "10")
    assert available(client, customer_id, asset) == Decimal("6")
