"""A hybrid plan lived through three periods on the injected clock, through the official client:
"$20 a month, then 1 credit per job, tokens tiered by volume (charged at period end)"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drawdown.billing.job import run_due
from tests.api.helpers import iso, make_asset
from tests.conftest import unique

T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def hybrid(client, credits: str) -> dict:
    return client.products.create(
        {
            "name": "Studio",
            "code": unique("studio"),
            "publish": True,
            "prices": [
                {
                    "name": "Plan",
                    "type": "fixed",
                    "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
                    "pricing": [{"asset": "USD", "values": [{"unit_price": Decimal("20")}]}],
                },
                {
                    "name": "Jobs",
                    "type": "usage_based",
                    "billing_model": {"type": "real_time"},
                    "usage_calculation": {"event_type": "job", "usage_type": "unit"},
                    "pricing": [{"asset": credits, "values": [{"unit_price": Decimal("1")}]}],
                },
                {
                    "name": "Tokens",
                    "type": "usage_based",
                    "pricing_model": "tiered",
                    "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
                    "tiering": {"basis": "volume", "period": "custom"},
                    "usage_calculation": {"event_type": "tokens", "usage_type": "volume", "volume_field": "n"},
                    "pricing": [
                        {
                            "asset": credits,
                            "values": [
                                {"volume_rate": Decimal("0.01"), "up_to": 1000},
                                {"volume_rate": Decimal("0.005")},
                            ],
                        }
                    ],
                },
            ],
        }
    )


def account(client, customer_id: str, asset: str) -> dict:
    got = client.wallets.customer_wallet_ops.get_account(customer_id, f"default:{asset}")
    return {k: Decimal(str(got[k])) for k in ("available", "pending_in", "pending_out")}


def test_hybrid_plan_over_three_periods(server, client, clock, http) -> None:
    credits = make_asset(client)
    product = hybrid(client, credits)
    clock.pinned = T0
    customer_id = client.customers.create({"name": "Studio Co", "external_id": unique("ext")})["id"]
    wallet = client.wallets.customer_wallet_ops
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("100"), "reason": "external_topup"}
    )
    # The plan is paid in advance: no overdraft on its USD account (the default is unlimited, as Credyt's).
    assert http.patch(f"/customers/{customer_id}/wallet/default:USD", json={"overdraft_limit": "0"}).status_code == 204
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": credits, "amount": Decimal("10000"), "reason": "gift"}
    )

    sub = client.customers.create_subscription(customer_id, {"products": [{"code": product["code"]}]})
    assert sub["status"] == "active"
    assert sub["renews_at"] == "2026-02-28T10:00:00Z"  # calendar-correct: 31 January + 1 month
    assert account(client, customer_id, "USD")["available"] == 80  # the first month, in advance

    def job(t: datetime) -> dict:
        return {"id": unique("job"), "event_type": "job", "occurred_at": iso(t)}

    def tokens(t: datetime, n: int) -> dict:
        return {"id": unique("tok"), "event_type": "tokens", "occurred_at": iso(t), "data": {"n": n}}

    # Period 1: 3 jobs (real time) and 1,500 tokens (accrued: 1,000 x 0.01 + 500 x 0.005 = 12.5).
    clock.pinned = T0 + timedelta(days=1)
    p1 = [job(clock.pinned), job(clock.pinned), job(clock.pinned), tokens(clock.pinned, 600), tokens(clock.pinned, 900)]
    client.events.send_usage({"customer_id": customer_id, "events": p1})
    fees = [client.events.get(e["id"])["fees"][0] for e in p1]
    assert [Decimal(str(f["amount"])) for f in fees] == [1, 1, 1, Decimal("6"), Decimal("6.5")]  # 400x0.01 + 500x0.005
    assert account(client, customer_id, credits) == {
        "available": Decimal("9984.5"),
        "pending_in": 0,
        "pending_out": Decimal("12.5"),
    }

    simulated = client.products.simulate_usage(product["id"], 1, {"events": p1})
    assert [Decimal(str(f["amount"])) for f in simulated["fees"]] == [Decimal(str(f["amount"])) for f in fees]

    # A run before the period ends charges nothing.
    assert run_due(server.engine, clock(), None, "http://x", {customer_id}).usage_charged == 0

    # Period 2 starts 28 February: usage of period 1 is charged, the plan renews.
    clock.pinned = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    report = run_due(server.engine, clock(), None, "http://x", {customer_id})
    assert (report.usage_charged, report.fixed_charged) == (1, 1)
    again = run_due(server.engine, clock(), None, "http://x", {customer_id})
    assert (again.usage_charged, again.fixed_charged) == (0, 0)  # idempotent
    assert account(client, customer_id, credits) == {"available": Decimal("9984.5"), "pending_in": 0, "pending_out": 0}
    assert account(client, customer_id, "USD")["available"] == 60
    # The token tiers restart with the period: 800 tokens all at 0.01.
    clock.pinned += timedelta(days=3)
    p2 = [tokens(clock.pinned, 800), job(clock.pinned)]
    client.events.send_usage({"customer_id": customer_id, "events": p2})
    assert Decimal(str(client.events.get(p2[0]["id"])["fees"][0]["amount"])) == 8

    # Period 3 starts 31 March (anchored to the 31st, not to 28 February).
    clock.pinned = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    assert run_due(server.engine, clock(), None, "http://x", {customer_id}).fixed_charged == 0
    clock.pinned = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    report = run_due(server.engine, clock(), None, "http://x", {customer_id})
    assert (report.usage_charged, report.fixed_charged) == (1, 1)
    assert account(client, customer_id, credits)["available"] == Decimal("9984.5") - 8 - 1
    assert account(client, customer_id, "USD")["available"] == 40

    # The customer takes $40 back; at the next renewal the plan cannot be paid.
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("-40"), "reason": "external_refund"}
    )
    clock.pinned = datetime(2026, 4, 30, 10, 0, tzinfo=UTC)
    report = run_due(server.engine, clock(), 0, "http://drawdown.test", {customer_id})
    assert report.action_required
    got = client.customers.get(customer_id)["subscriptions"][0]
    assert got["status"] == "action_required"
    assert got["required_actions"][0]["type"] == "payment"
    # While payment is required, usage is recorded without fees.
    blocked = job(clock.pinned)
    client.events.send_usage({"customer_id": customer_id, "events": [blocked]})
    assert client.events.get(blocked["id"])["fees"] == []
    # Funded again, the next run collects the fee and reactivates the subscription.
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("25"), "reason": "external_topup"}
    )
    run_due(server.engine, clock(), 0, "http://drawdown.test", {customer_id})
    assert client.customers.get(customer_id)["subscriptions"][0]["status"] == "active"
    assert account(client, customer_id, "USD")["available"] == 5


def test_catch_up_after_downtime_charges_each_missed_period_once(server, client, clock) -> None:
    credits = make_asset(client)
    product = hybrid(client, credits)
    clock.pinned = datetime(2026, 1, 1, tzinfo=UTC)
    customer_id = client.customers.create({"name": "Late"})["id"]
    client.wallets.customer_wallet_ops.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("100"), "reason": "gift"}
    )
    client.customers.create_subscription(customer_id, {"products": [{"code": product["code"]}]})
    clock.pinned = datetime(2026, 4, 15, tzinfo=UTC)  # three renewals missed
    assert run_due(server.engine, clock(), None, "http://x", {customer_id}).fixed_charged == 3
    assert run_due(server.engine, clock(), None, "http://x", {customer_id}).fixed_charged == 0
    assert account(client, customer_id, "USD")["available"] == 20


def test_future_start_is_scheduled_and_billed_from_then(server, client, clock) -> None:
    credits = make_asset(client)
    product = hybrid(client, credits)
    clock.pinned = datetime(2026, 5, 1, tzinfo=UTC)
    customer_id = client.customers.create({"name": "Soon"})["id"]
    client.wallets.customer_wallet_ops.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("30"), "reason": "gift"}
    )
    sub = client.customers.create_subscription(
        customer_id, {"starts_at": "2026-05-10T00:00:00Z", "products": [{"code": product["code"]}]}
    )
    assert sub["status"] == "scheduled"
    assert account(client, customer_id, "USD")["available"] == 30
    subs = client.products.get_subscribers(product["id"])["items"]
    assert [s["subscription_status"] for s in subs] == ["scheduled"]
    clock.pinned = datetime(2026, 5, 10, tzinfo=UTC)
    assert run_due(server.engine, clock(), None, "http://x", {customer_id}).fixed_charged == 1
    assert client.customers.get(customer_id)["subscriptions"][0]["status"] == "active"


def test_version_move_starts_the_new_plan_fee_at_the_next_period(server, client, clock) -> None:
    credits = make_asset(client)
    product = hybrid(client, credits)
    clock.pinned = datetime(2026, 1, 15, tzinfo=UTC)
    customer_id = client.customers.create({"name": "Mover"})["id"]
    client.wallets.customer_wallet_ops.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("100"), "reason": "gift"}
    )
    sub = client.customers.create_subscription(customer_id, {"products": [{"code": product["code"]}]})
    prices = client.products.get_version(product["id"], 1)["prices"]
    prices = [{k: v for k, v in p.items() if k != "id"} for p in prices]
    prices[0]["pricing"][0]["values"][0]["unit_price"] = Decimal("30")
    client.products.create_version(product["id"], {"prices": prices, "publish": True})
    clock.pinned = datetime(2026, 2, 20, tzinfo=UTC)
    run_due(server.engine, clock(), None, "http://x", {customer_id})  # February at $20 (version 1)
    client.customers.update_subscription_product(customer_id, sub["id"], product["id"], {"version": 2})
    assert run_due(server.engine, clock(), None, "http://x", {customer_id}).fixed_charged == 0
    assert account(client, customer_id, "USD")["available"] == 60
    clock.pinned = datetime(2026, 3, 15, tzinfo=UTC)
    assert run_due(server.engine, clock(), None, "http://x", {customer_id}).fixed_charged == 1
    assert account(client, customer_id, "USD")["available"] == 30
