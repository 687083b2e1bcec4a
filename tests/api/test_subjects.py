"""Profitability per subject over real HTTP (SQLite and PostgreSQL): an agent run of 12 events across
two days, costs from two vendors (one in EUR), the first fees paid from promotional credit; every
figure equals the hand computation written beside it (the worked example of docs/profitability.md).

The events are sent through the official client; the subject endpoints are a Drawdown extension, read
with the client's own HTTP connection (``http``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from tests.api.helpers import make_asset
from tests.conftest import unique

SETUP = datetime(2029, 4, 9, 12, 0, tzinfo=UTC)  # the subscription starts before the run
NOW = datetime(2029, 4, 10, 12, 0, tzinfo=UTC)
STEP1 = datetime(2029, 4, 9, 20, 0, tzinfo=UTC)  # events 1-8, 20:00..20:07 on the 9th
STEP9 = datetime(2029, 4, 10, 1, 0, tzinfo=UTC)  # events 9-12, 01:00..01:03 on the 10th


def money(stats: dict) -> tuple:
    return tuple(D(str(stats[k])) for k in ("gross_revenue", "total_costs", "net_revenue", "margin")) + (
        stats["currency"],
    )


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(i: int) -> datetime:
    """When step i (1..12) of the run occurred."""
    return STEP1 + timedelta(minutes=i - 1) if i <= 8 else STEP9 + timedelta(minutes=i - 9)


def world(client: Any) -> dict[str, Any]:
    """Credits at 0.01 USD; an agent step costs 10 credits; 45 promotional credits, then 200 paid."""
    client.assets.add_rate(
        "EUR",
        {"source": "USD", "rate": D("1.10"), "valid_from": "2029-04-01T00:00:00Z", "valid_to": "2029-05-01T00:00:00Z"},
    )
    credits = make_asset(client, rate="0.01")
    product = client.products.create({
        "name": "Agent", "code": unique("agent"), "publish": True,
        "prices": [{"name": "Step", "type": "usage_based", "billing_model": {"type": "real_time"},
                    "usage_calculation": {"event_type": "step", "usage_type": "unit"},
                    "pricing": [{"asset": credits, "values": [{"unit_price": D("10")}]}]}],
    })
    subscription = {"products": [{"code": product["code"]}]}
    customer = client.customers.create({"name": "Agents Inc", "subscriptions": [subscription]})
    ops = client.wallets.customer_wallet_ops
    ops.create_adjustment(customer["id"], {"transaction_id": unique(), "asset": credits, "amount": D("45"),
                                           "reason": "gift"})
    ops.create_adjustment(customer["id"], {"transaction_id": unique(), "asset": credits, "amount": D("200"),
                                           "reason": "external_topup"})
    llm = client.vendors.vendors_ops.create_vendor({"name": "LLM host"})["id"]
    gpu = client.vendors.vendors_ops.create_vendor({"name": "GPU Cloud"})["id"]
    return {"credits": credits, "product": product, "customer": customer["id"], "llm": llm, "gpu": gpu}


def step(w: dict[str, Any], run: str, i: int) -> dict:
    """Step i: the LLM host costs 0.03 USD each time; every third step also rents a GPU for 0.10 EUR."""
    costs = [{"id": "llm", "vendor_id": w["llm"], "category": "inference", "amount": D("0.03")}]
    if i % 3 == 0:
        costs.append({"id": "gpu", "vendor_id": w["gpu"], "category": "compute", "amount": D("0.10"),
                      "currency": "EUR"})
    return {"id": f"{run}-step-{i}", "event_type": "step", "occurred_at": iso(at(i)), "subject": run,
            "costs": costs}


def test_an_agent_run_adds_up_to_the_hand_computation(client, http, clock) -> None:
    clock.pinned = SETUP
    w = world(client)
    clock.pinned = NOW
    run, other = unique("runs/agent"), unique("run")  # a subject may hold '/'
    customer = w["customer"]
    send = client.events.send_usage
    send({"customer_id": customer, "events": [step(w, run, i) for i in range(1, 9)]})
    send({"customer_id": customer, "events": [step(w, run, i) for i in range(9, 13)] + [
        {"id": f"{other}-1", "event_type": "step", "occurred_at": iso(at(12)), "subject": other,
         "costs": [{"id": "llm", "vendor_id": w["llm"], "category": "inference", "amount": D("0.01")}]}]})
    send({"customer_id": customer, "events": [step(w, run, 1)]})  # a replay counts once

    # Revenue: steps 1-4 draw 40 promotional credits (no revenue), step 5 draws the last 5 promotional
    # and 5 paid, steps 6-12 draw 70 paid: 75 paid credits x 0.01 = 0.75 USD.
    # Costs: 12 x 0.03 = 0.36 (LLM host) + steps 3, 6, 9, 12: 4 x 0.10 EUR x 1.10 = 0.44 (GPU): 0.80.
    # Net 0.75 - 0.80 = -0.05; margin -0.05 / 0.75 x 100 = -6.666... -> -6.67 (half-even, two places).
    s = http.get(f"/customers/{customer}/subjects/{run}/stats").json()
    assert money(s["stats"]) == (D("0.75"), D("0.8"), D("-0.05"), D("-6.67"), "USD")
    assert (s["customer_id"], s["subject"], s["event_count"]) == (customer, run, 12)
    assert s["first_occurred_at"] == "2029-04-09T20:00:00Z" and s["last_occurred_at"] == "2029-04-10T01:03:00Z"
    costs = {(c["vendor_id"], c["category"]): D(str(c["cost"])) for c in s["costs"]}
    assert costs == {(w["llm"], "inference"): D("0.36"), (w["gpu"], "compute"): D("0.44")}
    [fee] = s["fees"]
    assert (fee["product_id"], fee["asset"], D(str(fee["amount"])), fee["count"]) == (
        w["product"]["id"], w["credits"], D("120"), 12)
    assert fee["price_id"] == client.products.get_version(w["product"]["id"], 1)["prices"][0]["id"]

    # The run's events, each with its own figures, add up to the same.
    listed = http.get("/events", params={"customer_id": customer, "subject": run, "limit": 50}).json()["items"]
    assert len(listed) == 12
    assert sum(D(str(e["stats"]["gross_revenue"])) for e in listed) == D("0.75")
    assert sum(D(str(e["stats"]["total_costs"])) for e in listed) == D("0.80")

    # The other run: one step of 10 paid credits (0.10), cost 0.01: net 0.09, margin 90.00.
    o = http.get(f"/customers/{customer}/subjects/{other}/stats").json()
    assert money(o["stats"]) == (D("0.1"), D("0.01"), D("0.09"), D("90"), "USD") and o["event_count"] == 1

    by_revenue = http.get(f"/customers/{customer}/subjects").json()
    assert [i["subject"] for i in by_revenue["items"]] == [run, other]
    # Summary: revenue 0.85, costs 0.81, net 0.04, margin 0.04 / 0.85 x 100 = 4.705... -> 4.71; 13 events.
    assert money(by_revenue["summary"]) == (D("0.85"), D("0.81"), D("0.04"), D("4.71"), "USD")
    assert by_revenue["summary"]["event_count"] == 13 and by_revenue["total_count"] == 2
    by_margin = http.get(f"/customers/{customer}/subjects", params={"order": "margin"}).json()
    assert [i["subject"] for i in by_margin["items"]] == [run, other]  # the loss-maker first
    assert [i["subject"] for i in http.get(f"/customers/{customer}/subjects",
                                           params={"limit": 1, "offset": 1}).json()["items"]] == [other]

    # A period holds the subjects that started in it, whole: the run started on the 9th, so the 9th holds
    # it with all 12 steps (the 4 after midnight too) and the 10th only the other run.
    ninth = http.get(f"/customers/{customer}/subjects", params={"period_from": "2029-04-09",
                                                               "period_to": "2029-04-09"}).json()
    [item] = ninth["items"]
    assert item["subject"] == run and item["event_count"] == 12 and ninth["total_count"] == 1
    assert money(item["stats"]) == (D("0.75"), D("0.8"), D("-0.05"), D("-6.67"), "USD")
    assert (item["first_occurred_at"], item["last_occurred_at"]) == ("2029-04-09T20:00:00Z", "2029-04-10T01:03:00Z")
    assert money(ninth["summary"]) == (D("0.75"), D("0.8"), D("-0.05"), D("-6.67"), "USD")
    tenth = http.get(f"/customers/{customer}/subjects", params={"period_from": "2029-04-10",
                                                               "period_to": "2029-04-10"}).json()
    assert [i["subject"] for i in tenth["items"]] == [other] and tenth["summary"]["event_count"] == 1
    every_tenth = http.get("/subjects/stats", params={"period_from": "2029-04-10", "period_to": "2029-04-10"}).json()
    assert run not in {i["subject"] for i in every_tenth["items"]}

    across = http.get("/subjects/stats", params={"period_from": "2029-04-09", "period_to": "2029-04-10",
                                                 "order": "margin"}).json()
    mine = [i for i in across["items"] if i["customer_id"] == customer]
    assert [i["subject"] for i in mine] == [run, other]
    assert money(mine[0]["stats"]) == (D("0.75"), D("0.8"), D("-0.05"), D("-6.67"), "USD")
    assert D(str(across["summary"]["gross_revenue"])) >= D("0.85") and across["total_count"] >= 2


def test_bad_input_unknown_customer_and_unknown_subject(client, http, clock) -> None:
    clock.pinned = NOW
    customer = client.customers.create({"name": "Nobody ran"})["id"]
    zero = http.get(f"/customers/{customer}/subjects/never-ran/stats")
    assert zero.status_code == 200
    body = zero.json()
    assert money(body["stats"]) == (0, 0, 0, 0, "USD")
    assert (body["event_count"], body["first_occurred_at"], body["costs"], body["fees"]) == (0, None, [], [])
    assert http.get(f"/customers/{customer}/subjects").json()["items"] == []

    missing = http.get("/customers/cus_nobody/subjects/x/stats")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert http.get("/customers/cus_nobody/subjects").status_code == 404

    too_long = http.get(f"/customers/{customer}/subjects/{'x' * 501}/stats")
    assert too_long.status_code == 422 and too_long.headers["content-type"].startswith("application/problem+json")
    assert "subject" in too_long.json()["errors"]
    assert http.get(f"/customers/{customer}/subjects/{'x' * 500}/stats").status_code == 200

    for params, field in (({"order": "cost"}, "order"), ({"period_from": "yesterday"}, "period_from"),
                          ({"limit": 0}, "limit")):
        resp = http.get("/subjects/stats", params=params)
        assert resp.status_code == 422 and field in resp.json()["errors"], resp.text
