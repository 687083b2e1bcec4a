"""Every topic, sent from where its fact happens, delivered to a real receiver that verifies each
signature: customers, subscriptions (activated, action_required and back), entitlements, balance
alerts (once per crossing, re-armed above, a percentage of the last top-up), depletion and overdraft,
expiries, and top-ups and auto top-ups through localstripe. Nothing is mocked between the outbox and
the socket; the servers' own delivery workers deliver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import Server, unique
from tests.payments import paying
from tests.webhooks.conftest import Platform, new_platform
from tests.webhooks.receiver import Receiver

D = Decimal


def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code < 300, (resp.request.url, resp.status_code, resp.text)
    return resp.json(parse_float=Decimal) if resp.content else None


def _listen(platform: Platform, receiver: Receiver) -> None:
    made = platform.client.webhooks.webhooks.create_webhook_destination({"url": receiver.url, "topics": ["*"]})
    receiver.trust(made["secret"])


def _received(receiver: Receiver, customer: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The events about ``customer``, once ``count`` have come, each signed and well formed."""
    got = receiver.wait_for(count, timeout, lambda d: d.json["data"].get("customer_id") == customer)
    assert len(got) >= count, [d.json["type"] for d in got]
    for d in got:
        assert d.verified, d.headers
        body = d.json
        assert body["id"].startswith("evt_") and body["live_mode"] is True and body["created"]
        assert body["data"]["occurred_at"]
    return [d.json for d in got]


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def _tokens_product(http: httpx.Client, rate: str = "1") -> str:
    code = unique("tok")
    _ok(http.post("/products", json={"name": "Tokens", "code": code, "publish": True, "prices": [{
        "name": "Tokens", "type": "usage_based", "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "run", "usage_type": "volume", "volume_field": "n"},
        "pricing": [{"asset": "USD", "values": [{"volume_rate": rate}]}]}]}))
    return code


def _customer(http: httpx.Client, code: str, gift: str = "10") -> str:
    customer = _ok(http.post("/customers", json={"name": "Ada", "external_id": unique("ada"),
                                                 "subscriptions": [{"products": [{"code": code}]}]}))["id"]
    if gift != "0":
        _ok(http.post(f"/customers/{customer}/wallet/adjustments", json={
            "transaction_id": unique("gift"), "asset": "USD", "amount": gift, "reason": "gift"}))
    return str(customer)


def _spend(http: httpx.Client, customer: str, n: int, at: datetime | None = None) -> None:
    when = (at or datetime.now(UTC)).isoformat()
    _ok(http.post("/events", json={"customer_id": customer, "events": [
        {"id": unique("e"), "event_type": "run", "occurred_at": when, "data": {"n": n}}]}))


def test_customer_subscription_and_balance_crossings(platform: Platform, receiver: Receiver) -> None:
    _listen(platform, receiver)
    http = platform.http
    customer = _customer(http, _tokens_product(http))
    alerts = _ok(http.put(f"/customers/{customer}/wallet/default:USD/alerts",
                          json={"thresholds": [{"amount": 5}, {"amount": "2.5"}]}))
    assert [t["level"] for t in alerts["thresholds"]] == [D(5), D("2.5")] and alerts["available"] == D(10)
    for _ in range(6):  # 10 → 8 → 6 → 4 (below 5) → 2 (below 2.5) → 0 (depleted) → -2 (overdraft)
        _spend(http, customer, 2)
    events = _received(receiver, customer, 6)
    lows = [e["data"] for e in events if e["type"] == "balance.low"]
    assert [(x["threshold"]["amount"], x["available"]) for x in lows] == [(5, 4), (D("2.5"), 2)]
    assert _types(events)[:2] == ["customer.created", "subscription.activated"]
    assert _types(events)[2:] == ["balance.low", "balance.low", "balance.depleted", "balance.overdraft"]
    assert [e["data"]["available"] for e in events[4:]] == [0, -2]
    assert all(e["data"]["account_id"] == "default:USD" for e in events[2:])
    got = _ok(http.get(f"/customers/{customer}/wallet/default:USD/alerts"))
    assert [t["below"] for t in got["thresholds"]] == [True, True]
    # Back above both lines: re-armed; falling again crosses 5 once more (and 2.5 not).
    _ok(http.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": "USD", "amount": "9", "reason": "gift"}))  # -2 → 7
    _spend(http, customer, 3)  # 7 → 4
    again = _received(receiver, customer, 7)
    assert _types(again)[6:] == ["balance.low"] and again[6]["data"]["available"] == 4
    ids = [e["id"] for e in again]
    assert len(set(ids)) == len(ids)


def test_exactly_one_low_balance_alert_under_16_concurrent_senders(platform: Platform, receiver: Receiver) -> None:
    _listen(platform, receiver)
    http = platform.http
    customer = _customer(http, _tokens_product(http), gift="100")
    _ok(http.put(f"/customers/{customer}/wallet/default:USD/alerts", json={"thresholds": [{"amount": 50}]}))
    errors: list[str] = []

    def sender() -> None:
        with httpx.Client(base_url=http.base_url, headers=dict(http.headers), timeout=30) as c:
            for _ in range(5):
                resp = c.post("/events", json={"customer_id": customer, "events": [{
                    "id": unique("e"), "event_type": "run", "occurred_at": datetime.now(UTC).isoformat(),
                    "data": {"n": 1}}]})
                if resp.status_code >= 300:
                    errors.append(resp.text)

    threads = [threading.Thread(target=sender) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert _ok(http.get(f"/customers/{customer}/wallet/default:USD"))["available"] == D(20)  # 100 - 80
    events = _received(receiver, customer, 3)
    receiver.wait_for(10, 1.0)  # anything late would arrive now
    lows = [e for e in receiver.events(lambda b: b["data"].get("customer_id") == customer)
            if e["type"] == "balance.low"]
    assert len(lows) == 1 and lows[0]["data"]["threshold"] == {"amount": 50}
    assert D(str(lows[0]["data"]["available"])) < 50 and "balance.depleted" not in _types(events)


def test_a_grant_written_off_is_announced_with_what_was_lost(server: Server, platform: Platform,
                                                            receiver: Receiver) -> None:
    _listen(platform, receiver)
    http = platform.http
    customer = _customer(http, _tokens_product(http), gift="0")
    start = datetime.now(UTC)
    _ok(http.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("promo"), "asset": "USD", "amount": "3", "reason": "gift",
        "expires_at": (start + timedelta(hours=1)).isoformat()}))
    _spend(http, customer, 1)  # 2 left, written off at expiry
    server.clock.pinned = start + timedelta(hours=2)
    try:
        _spend(http, customer, 1, at=start + timedelta(hours=2))  # the next write finds it expired
        events = _received(receiver, customer, 5)
    finally:
        server.clock.pinned = None
    expired = [e["data"] for e in events if e["type"] == "grant.expired"]
    assert len(expired) == 1 and expired[0]["written_off"] == 2 and expired[0]["asset"] == "USD"
    assert expired[0]["expired_at"].startswith((start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))


def test_subscription_action_required_then_activated(platform: Platform, receiver: Receiver) -> None:
    _listen(platform, receiver)
    http = platform.http
    code = unique("plan")
    _ok(http.post("/products", json={"name": "Plan", "code": code, "publish": True, "prices": [{
        "name": "Plan", "type": "fixed", "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
        "pricing": [{"asset": "USD", "values": [{"unit_price": "20"}]}]}]}))
    customer = _ok(http.post("/customers", json={"name": "Bo", "external_id": unique("bo")}))["id"]
    _ok(http.post(f"/customers/{customer}/wallet/adjustments", json={  # the account, with 1 USD, no overdraft
        "transaction_id": unique("gift"), "asset": "USD", "amount": "1", "reason": "gift"}))
    _ok(http.patch(f"/customers/{customer}/wallet/default:USD", json={"overdraft_limit": "0"}))
    sub = _ok(http.post(f"/customers/{customer}/subscriptions", json={"products": [{"code": code}]}))
    events = _received(receiver, customer, 2)
    assert _types(events) == ["customer.created", "subscription.action_required"]
    data = events[1]["data"]
    assert data["subscription_id"] == sub["id"] and data["required_actions"][0]["type"] == "payment"
    assert data["required_actions"][0]["redirect_url"].endswith(f"/portal/subscriptions/{sub['id']}/payment")
    _ok(http.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": "USD", "amount": "19", "reason": "gift"}))
    _ok(http.patch(f"/customers/{customer}/subscriptions/{sub['id']}", json={"status": "active"}))
    events = _received(receiver, customer, 4)  # the fee takes the wallet to zero, then the subscription is active
    assert _types(events)[2:] == ["balance.depleted", "subscription.activated"]
    assert events[3]["data"]["subscription_id"] == sub["id"]


def test_entitlements_refreshed(platform: Platform, receiver: Receiver) -> None:
    _listen(platform, receiver)
    http = platform.http
    code = unique("ent")
    _ok(http.post("/products", json={"name": "Bundle", "code": code, "publish": True, "prices": [{
        "name": "Tokens", "type": "usage_based", "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "run", "usage_type": "volume", "volume_field": "n"},
        "pricing": [{"asset": "USD", "values": [{"volume_rate": "1"}]}]}],
        "entitlements": [{"name": "Monthly", "asset": "USD", "amount": "7", "purpose": "bundled",
                          "lifecycle": {"duration": "month", "refresh": {"strategy": "expire_and_replace"}}}]}))
    customer = _customer(http, code, gift="0")
    events = _received(receiver, customer, 3)
    refreshed = [e["data"] for e in events if e["type"] == "entitlement.refreshed"]
    assert len(refreshed) == 1 and refreshed[0]["amount"] == 7 and refreshed[0]["entitlement"] == "Monthly"
    assert refreshed[0]["grant_id"].startswith("grt_") or refreshed[0]["grant_id"]


@pytest.mark.parametrize(("body", "field"), [
    ({"thresholds": []}, "thresholds"),
    ({"thresholds": [{"amount": 5, "percent": 10}]}, "thresholds[0]"),
    ({"thresholds": [{}]}, "thresholds[0]"),
    ({"thresholds": [{"amount": "-1"}]}, "thresholds[0].amount"),
    ({"thresholds": [{"amount": "0.001"}]}, "thresholds[0].amount"),
    ({"thresholds": [{"percent": "101"}]}, "thresholds[0].percent"),
    ({"thresholds": [{"percent": "0.001"}]}, "thresholds[0].percent"),
    ({"thresholds": [{"amount": 1}] * 11}, "thresholds"),
    ({"thresholds": [{"amount": "abc"}]}, "thresholds[0].amount"),
])
def test_bad_alerts_name_the_field(platform: Platform, body: dict[str, Any], field: str) -> None:
    http = platform.http
    customer = _customer(http, _tokens_product(http), gift="0")
    resp = http.put(f"/customers/{customer}/wallet/default:USD/alerts", json=body)
    assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")
    assert field in resp.json()["errors"], resp.json()


def test_alerts_of_unknown_things_are_not_found(platform: Platform) -> None:
    http = platform.http
    customer = _customer(http, _tokens_product(http), gift="0")
    body = {"thresholds": [{"amount": 1}]}
    unknown = "/customers/cust_01jzzzzzzzzzzzzzzzzzzzzzzz/wallet/default:USD/alerts"
    assert http.put(unknown, json=body).status_code == 404
    assert http.put(f"/customers/{customer}/wallet/default:NOPE/alerts", json=body).status_code == 404
    assert http.get(f"/customers/{customer}/wallet/default:USD/alerts").status_code == 404  # none set
    assert http.put(f"/customers/{customer}/wallet/default:USD/alerts", json=body).status_code == 200
    assert http.delete(f"/customers/{customer}/wallet/default:USD/alerts").status_code == 204
    assert http.get(f"/customers/{customer}/wallet/default:USD/alerts").status_code == 404


# --------------------------------------------------------------------------- top-ups (localstripe)
@pytest.fixture
def paid_platform(pay_server: Server) -> Iterator[Platform]:
    from corehttp.credentials import ServiceKeyCredential
    from credytapi import CredytApiClient

    scope, secret = new_platform(pay_server, "Paying hooks")
    with (CredytApiClient(credential=ServiceKeyCredential(secret), endpoint=pay_server.url) as client,
          httpx.Client(base_url=pay_server.url, headers={"X-CREDYT-API-KEY": secret}, timeout=30) as http):
        yield Platform(scope, secret, client, http)


URLS = {"return_url": "https://platform.example/ok", "failure_url": "https://platform.example/failed"}


def test_top_ups_and_percentage_alerts(pay_server: Server, paid_platform: Platform, receiver: Receiver) -> None:
    _listen(paid_platform, receiver)
    http = paid_platform.http
    customer = _customer(http, _tokens_product(http), gift="0")
    _ok(http.put(f"/customers/{customer}/wallet/default:USD/alerts", json={"thresholds": [{"percent": 25}]}))
    assert _ok(http.get(f"/customers/{customer}/wallet/default:USD/alerts"))["thresholds"][0]["level"] is None
    paid = _ok(http.post("/top-ups", json={"customer_id": customer, "amount": "40", "currency": "USD", **URLS}))["id"]
    paying.pay(pay_server, paid)
    assert paying.settled(pay_server, paid).status == "succeeded"
    declined = _ok(http.post("/top-ups", json={"customer_id": customer, "amount": "5", "currency": "USD",
                                               **URLS}))["id"]
    paying.pay(pay_server, declined, "pm_card_chargeCustomerFail")
    assert paying.settled(pay_server, declined).status == "failed"
    got = _ok(http.get(f"/customers/{customer}/wallet/default:USD/alerts"))
    assert got["last_top_up"] == 40 and got["thresholds"][0]["level"] == 10  # 25% of the last top-up
    _spend(http, customer, 31)  # 40 → 9: below 10
    events = _received(receiver, customer, 5)
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["top_up.succeeded"]["top_up_id"] == paid and by_type["top_up.succeeded"]["credited"] == 40
    assert by_type["top_up.failed"]["top_up_id"] == declined and by_type["top_up.failed"]["reason"]
    assert by_type["balance.low"]["threshold"] == {"percent": 25, "amount": 10}


def test_auto_top_up_succeeded_and_failed(pay_server: Server, paid_platform: Platform, receiver: Receiver) -> None:
    _listen(paid_platform, receiver)
    http = paid_platform.http
    code = _tokens_product(http)
    good, bad = _customer(http, code, gift="10"), _customer(http, code, gift="10")
    for customer, card in ((good, "pm_card_visa"), (bad, "pm_card_chargeCustomerFail")):
        _ok(http.post(f"/customers/{customer}/payment-methods", json={"payment_method_id": card}))
        _ok(http.put(f"/customers/{customer}/wallet/default:USD/auto-top-up", json={
            "enabled": True, "threshold": "5", "amount": "20"}))
        _spend(http, customer, 6)  # 10 → 4: below 5
    ok = [e for e in _received(receiver, good, 3) if e["type"].startswith("auto_top_up")]
    assert ok and ok[0]["type"] == "auto_top_up.succeeded" and ok[0]["data"]["credited"] == 20
    failed = [e for e in _received(receiver, bad, 3) if e["type"].startswith("auto_top_up")]
    assert failed and failed[0]["type"] == "auto_top_up.failed"
    assert failed[0]["data"]["consecutive_failures"] == 1 and failed[0]["data"]["paused"] is False


def test_a_hold_that_takes_the_balance_below_a_threshold_is_a_crossing(platform: Platform,
                                                                        receiver: Receiver) -> None:
    """A hold sets value aside: what the customer can spend falls, so the alert fires then, not later
    when the job's fees settle against the hold (which leaves what can be spent where the hold put it)."""
    _listen(platform, receiver)
    http = platform.http
    customer = _customer(http, _tokens_product(http))  # 10
    _ok(http.put(f"/customers/{customer}/wallet/default:USD/alerts", json={"thresholds": [{"amount": 5}]}))
    hold = unique("job")
    _ok(http.post(f"/customers/{customer}/wallet/default:USD/holds", json={"hold_id": hold, "amount": "6"}))
    events = _received(receiver, customer, 3)
    assert _types(events)[2:] == ["balance.low"] and events[2]["data"]["available"] == 4
    _ok(http.post("/events", json={"customer_id": customer, "events": [{  # settled from the hold: no new crossing
        "id": unique("e"), "event_type": "run", "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"n": 2, "hold_id": hold}}]}))
    _ok(http.post(f"/customers/{customer}/wallet/default:USD/holds/{hold}/release"))
    _spend(http, customer, 1)  # 8 → 7: above 5, nothing
    receiver.wait_for(10, 1.0)
    assert _types(receiver.events(lambda b: b["data"].get("customer_id") == customer))[2:] == ["balance.low"]
