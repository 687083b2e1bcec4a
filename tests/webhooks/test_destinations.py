"""Destinations through the official client over real HTTP; test events received and their
signatures verified by a real receiver on 127.0.0.1 (tests/webhooks/receiver.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from corehttp.exceptions import HttpResponseError, ResourceNotFoundError

from tests.conftest import Server
from tests.webhooks.conftest import Platform
from tests.webhooks.receiver import Receiver


def _problem(p: Platform, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    resp = p.http.request(method, path, json=body)
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
    return resp.status_code, resp.json()


def test_destination_lifecycle_through_the_official_client(platform: Platform, receiver: Receiver) -> None:
    hooks = platform.client.webhooks.webhooks
    made = hooks.create_webhook_destination({"url": receiver.url, "topics": ["*"]})
    assert made["id"].startswith("wh_") and made["secret"].startswith("whsec_") and made["created_at"]
    listed = hooks.list_webhook_destinations()
    assert listed["total_count"] == 1 and "secret" not in listed["items"][0]
    assert listed["items"][0]["topics"] == ["*"] and listed["items"][0]["enabled"] is True
    got = hooks.get_webhook_destination(made["id"])
    assert got["secret"] == made["secret"] and got["url"] == receiver.url and got["connect"] is False
    changed = hooks.update_webhook_destination(made["id"], {"topics": ["balance.low", "top_up.succeeded"]})
    assert changed["topics"] == ["balance.low", "top_up.succeeded"] and changed["secret"] == made["secret"]
    assert hooks.list_webhook_destinations(enabled=False)["total_count"] == 0
    hooks.update_webhook_destination(made["id"], {"enabled": False})
    assert hooks.list_webhook_destinations(enabled=False)["total_count"] == 1
    hooks.delete_webhook_destination(made["id"])
    with pytest.raises(ResourceNotFoundError):
        hooks.get_webhook_destination(made["id"])
    assert hooks.list_webhook_destinations()["total_count"] == 0


def test_test_events_are_signed_and_delivered(platform: Platform, receiver: Receiver, receivers) -> None:
    hooks = platform.client.webhooks.webhooks
    made = hooks.create_webhook_destination({"url": receiver.url})
    receiver.trust(made["secret"])
    other = receivers()
    second = hooks.create_webhook_destination({"url": other.url, "topics": ["balance.low"]})
    other.trust(second["secret"])
    sent = hooks.test_webhook_destination(made["id"], "top_up.succeeded", {"amount": Decimal("12.345678901"), "x": [1]})
    [got] = receiver.wait_for(1)
    assert got.verified, got.headers
    body = got.json
    assert set(body) == {"id", "type", "created", "live_mode", "data"}
    assert body["id"] == sent["id"] and body["type"] == "top_up.succeeded" and body["live_mode"] is True
    assert b'"amount":12.345678901' in got.body  # exact, as posted
    assert got.headers["Content-Type"] == "application/json"
    # All destinations whose topics match: both for balance.low, only "*" for the rest.
    all_sent = hooks.test_webhook_destinations("balance.low", {"n": 1})
    assert receiver.wait_for(2)[-1].json["id"] == all_sent["id"]
    assert other.wait_for(1)[0].json["id"] == all_sent["id"] and other.deliveries[0].verified
    hooks.test_webhook_destinations("customer.created", {"n": 2})
    assert len(receiver.wait_for(3)) == 3
    assert len(other.deliveries) == 1


def test_connected_account_events_go_to_connect_destinations(platform: Platform, receivers) -> None:
    hooks = platform.client.webhooks.webhooks
    own, connect = receivers(), receivers()
    a = hooks.create_webhook_destination({"url": own.url})
    b = hooks.create_webhook_destination({"url": connect.url, "connect": True})
    own.trust(a["secret"])
    connect.trust(b["secret"])
    account = platform.client.accounts.create({"name": "Tenant"})["id"]
    sent = hooks.test_connected_webhook_destinations("customer.created", account, {"from": "tenant"})
    assert connect.wait_for(1)[0].json["id"] == sent["id"] and connect.deliveries[0].verified
    assert connect.deliveries[0].json["account"] == account  # whose event it is
    one = hooks.test_connected_webhook_destination(b["id"], "balance.low", account, {"one": True})
    assert connect.wait_for(2)[-1].json["id"] == one["id"]
    assert own.deliveries == []
    with pytest.raises(ResourceNotFoundError):
        hooks.test_connected_webhook_destinations("customer.created", "acc_00000000000000000000000001", {})


def test_bad_input_is_refused_naming_the_field(platform: Platform, receiver: Receiver, server: Server) -> None:
    for url, words in [("ftp://example.com/x", "http or https"), ("not a url", "http or https"),
                       ("http:///path", "host"), ("http://user:pw@127.0.0.1/", "credentials")]:
        status, problem = _problem(platform, "POST", "/webhooks", {"url": url})
        assert status == 422 and words in problem["errors"]["url"][0], problem
    status, problem = _problem(platform, "POST", "/webhooks", {"url": receiver.url, "topics": ["balance.low", "nope"]})
    assert status == 422 and "topics[1]" in problem["errors"], problem
    status, problem = _problem(platform, "POST", "/webhooks", {"url": receiver.url, "topics": []})
    assert status == 422 and "topics" in problem["errors"]
    status, problem = _problem(platform, "POST", "/webhooks", {"topics": ["*"]})
    assert status == 422 and "url" in problem["errors"]
    made = platform.client.webhooks.webhooks.create_webhook_destination({"url": receiver.url})
    status, problem = _problem(platform, "PATCH", f"/webhooks/{made['id']}", {"topics": ["x.y"]})
    assert status == 422 and "topics[0]" in problem["errors"]
    status, problem = _problem(platform, "POST", f"/webhooks/{made['id']}/test/nope", {})
    assert status == 422 and "topic" in problem["errors"]
    status, problem = _problem(platform, "POST", f"/webhooks/{made['id']}/test/balance.low", {"x": "y" * 70_000})
    assert status == 422 and "body" in problem["errors"] and "65536" in problem["errors"]["body"][0]
    status, _ = _problem(platform, "POST", "/webhooks/wh_01jzzzzzzzzzzzzzzzzzzzzzzz/test/balance.low", {})
    assert status == 404
    status, problem = _problem(platform, "GET", "/webhooks/events?next=garbage")
    assert status == 422 and "next" in problem["errors"]
    status, problem = _problem(platform, "GET", "/webhooks/events?status=Maybe")
    assert status == 422 and "status" in problem["errors"]
    # Private addresses, unless the operator allows them (this server does; turned off for a moment).
    server.settings.webhooks_allow_private = False
    try:
        for url in (receiver.url, "http://localhost:9/x", "http://[::1]/x", "http://169.254.169.254/latest",
                    "http://10.1.2.3/", "http://192.168.0.1/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/"):
            status, problem = _problem(platform, "POST", "/webhooks", {"url": url})
            assert status == 422 and "private" in problem["errors"]["url"][0], (url, problem)
        status, problem = _problem(platform, "PATCH", f"/webhooks/{made['id']}", {"url": "http://127.0.0.2/"})
        assert status == 422 and "url" in problem["errors"]
    finally:
        server.settings.webhooks_allow_private = True
    with pytest.raises(HttpResponseError) as seen:
        platform.client.webhooks.webhooks.create_webhook_destination({"url": "gopher://x"})
    assert seen.value.status_code == 422


def test_create_is_idempotent_with_a_key(platform: Platform, receiver: Receiver) -> None:
    body = {"url": receiver.url, "topics": ["balance.low"]}
    first = platform.http.post("/webhooks", json=body, headers={"Idempotency-Key": "hook-1"})
    again = platform.http.post("/webhooks", json=body, headers={"Idempotency-Key": "hook-1"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert platform.client.webhooks.webhooks.list_webhook_destinations()["total_count"] == 1


def test_rotation_signs_with_both_secrets_for_a_day(platform: Platform, receiver: Receiver, server: Server) -> None:
    hooks = platform.client.webhooks.webhooks
    made = hooks.create_webhook_destination({"url": receiver.url})
    old = made["secret"]
    rotated = platform.http.post(f"/webhooks/{made['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["previous_secret_expires_at"]
    assert hooks.get_webhook_destination(made["id"])["secret"] == new
    receiver.trust(old)  # a receiver that has not heard of the new secret yet still verifies
    hooks.test_webhook_destination(made["id"], "balance.low", {"k": 1})
    [got] = receiver.wait_for(1)
    assert got.verified and len(got.signatures) == 2
    receiver.secrets[:] = [new]  # and one that has
    hooks.test_webhook_destination(made["id"], "balance.low", {"k": 2})
    assert receiver.wait_for(2)[-1].verified
    from tests.webhooks.receiver import sign

    assert got.signatures == [sign(new, got.timestamp or 0, got.body), sign(old, got.timestamp or 0, got.body)]


def test_the_delivery_log_through_the_official_client(platform: Platform, receivers) -> None:
    hooks = platform.client.webhooks.webhooks
    good, bad = receivers(), receivers()
    bad.answer(500)
    ok_dest = hooks.create_webhook_destination({"url": good.url})
    good.trust(ok_dest["secret"])
    bad_dest = hooks.create_webhook_destination({"url": bad.url})
    sent = [hooks.test_webhook_destinations("balance.low", {"n": n})["id"] for n in range(3)]
    good.wait_for(3)
    bad.wait_for(3)
    page = hooks.list_events(limit=50)
    assert len(page["models"]) == 6 and page["pagination"]["next"] is None
    deadline = time.monotonic() + 10
    while any(m["successful_at"] is None and m["failed_at"] is None for m in hooks.list_events(limit=50)["models"]):
        assert time.monotonic() < deadline
    ok = hooks.list_events(status="Success")["models"]
    failed = hooks.list_events(status="Failed")["models"]
    assert {m["destination_id"] for m in ok} == {ok_dest["id"]} and len(ok) == 3
    assert {m["destination_id"] for m in failed} == {bad_dest["id"]} and len(failed) == 3
    item = failed[0]
    assert item["topic"] == "balance.low" and item["data"]["n"] in (0, 1, 2) and item["time"]
    attempt = item["metadata"]["attempts"][0]
    assert attempt["status_code"] == 500 and attempt["duration_ms"] >= 0 and item["metadata"]["status"] == "pending"
    both = hooks.list_events(destination_id=f"{ok_dest['id']},{bad_dest['id']}", limit=4)
    assert len(both["models"]) == 4 and both["pagination"]["next"]
    rest = hooks.list_events(destination_id=f"{ok_dest['id']},{bad_dest['id']}", limit=4,
                             next=both["pagination"]["next"])
    assert len(rest["models"]) == 2 and rest["pagination"]["prev"] and rest["pagination"]["next"] is None
    back = hooks.list_events(limit=4, prev=rest["pagination"]["prev"])
    assert [m["id"] for m in back["models"]] == [m["id"] for m in both["models"]]
    assert hooks.list_events(time_gte=datetime.now(UTC) + timedelta(hours=1))["models"] == []
    assert len(hooks.list_events(time_lte=datetime.now(UTC) + timedelta(hours=1))["models"]) == 6
    # Redelivery (Drawdown extension): sent again at once, the same id and body.
    first = next(d for d in good.deliveries if d.json["id"] == sent[0])
    again = platform.http.post(f"/webhooks/events/{sent[0]}/redeliver", params={"destination_id": ok_dest["id"]})
    assert again.status_code == 202 and again.json() == {"id": sent[0], "deliveries": 1}
    later = good.wait_for(4)[-1]
    assert later.json["id"] == sent[0] and later.body == first.body and later.verified
    assert platform.http.post("/webhooks/events/evt_01jzzzzzzzzzzzzzzzzzzzzzzz/redeliver").status_code == 404


def test_a_slow_receiver_never_slows_the_api(platform: Platform, receiver: Receiver) -> None:
    """Every sender busy with a receiver that takes 2 s: writes still answer at once (they only add a row)."""
    receiver.delay = 2
    made = platform.client.webhooks.webhooks.create_webhook_destination({"url": receiver.url})
    slowest = 0.0
    for n in range(20):
        started = time.monotonic()
        resp = platform.http.post(f"/webhooks/{made['id']}/test/balance.low", json={"n": n})
        slowest = max(slowest, time.monotonic() - started)
        assert resp.status_code == 202
    assert slowest < 1.5, slowest
    assert receiver.wait_for(1, timeout=10)
    metrics = platform.http.get("/metrics").text
    assert "drawdown_webhook_destinations_disabled" in metrics and "drawdown_webhook_attempts" in metrics
