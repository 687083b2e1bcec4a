"""Prepaid value lived through 40 days on the injected clock, through the official client: a
"$20/month includes 1,000 credits, rollover" plan plus a daily "100 free credits, expire and replace"
promotion, with usage every day, checked grant by grant each day and against hand sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from drawdown.billing.job import run_due
from tests.api.helpers import iso, make_asset
from tests.conftest import unique

T0 = datetime(2026, 3, 1, tzinfo=UTC)
OUTAGE = {5, 6, 7}  # no job runs and no usage on these days


def usage_on(day: int) -> int:
    if day in OUTAGE:
        return 0
    if day == 25:
        return 400
    if day == 35:
        return 1500
    return 150 if day % 3 == 0 else 60


def plan(client, credits: str) -> dict:
    return client.products.create(
        {
            "name": "Creator",
            "code": unique("creator"),
            "publish": True,
            "prices": [
                {
                    "name": "Plan",
                    "type": "fixed",
                    "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
                    "pricing": [{"asset": "USD", "values": [{"unit_price": D("20")}]}],
                },
                {
                    "name": "Generation",
                    "type": "usage_based",
                    "billing_model": {"type": "real_time"},
                    "usage_calculation": {"event_type": "generate", "usage_type": "volume", "volume_field": "credits"},
                    "pricing": [{"asset": credits, "values": [{"volume_rate": D("1")}]}],
                },
            ],
            "entitlements": [
                {
                    "name": "Monthly credits",
                    "asset": credits,
                    "amount": D("1000"),
                    "purpose": "bundled",
                    "lifecycle": {"duration": "month", "refresh": {"strategy": "rollover"}},
                    "accounting": {"revenue_basis": D("0.015"), "cost_basis": "auto"},
                },
                {
                    "name": "Daily free credits",
                    "asset": credits,
                    "amount": D("100"),
                    "purpose": "promotion",
                    "lifecycle": {"duration": "day", "refresh": {"strategy": "expire_and_replace"}},
                },
            ],
        }
    )


class Model:
    """The expected wallet, by hand: promo first (earliest expiry), then bundled, then paid."""

    def __init__(self) -> None:
        self.promo = D(0)
        self.bundled = D(0)
        self.paid = D(500)  # a paid top-up
        self.paid_expiring = D(100)  # paid, expiring on day 10
        self.consumed = {"promotion": {}, "bundled": {}, "paid": {}}
        self.promo_expired = D(0)

    def new_day(self, day: int) -> None:
        self.promo_expired += self.promo
        # During the outage nothing grants the day's promotion; the catch-up on day 8 grants the
        # missed days (already expired) and day 8's.
        self.promo = D(0) if day in OUTAGE else D(100)
        if day == 0:
            self.bundled = D(1000)
        if day == 31:  # 1 April: the month's 1,000 plus what March left
            self.carried = self.bundled
            self.bundled = D(1000) + self.bundled
        if day == 10:
            self.paid_expiring = D(0)

    def use(self, day: int, amount: int) -> None:
        month = "2026-03" if day < 31 else "2026-04"
        left = D(amount)
        # Entitlements (priority 50) before paid value (100); among equals the earlier expiry, then
        # the older grant. The daily promotion expires first, except on 31 March, when it expires
        # with March's bundled grant, which is older.
        order = ("bundled", "promo") if day == 30 else ("promo", "bundled")
        for name in (*order, "paid_expiring", "paid"):
            take = min(getattr(self, name), left)
            setattr(self, name, getattr(self, name) - take)
            purpose = {"promo": "promotion", "bundled": "bundled"}.get(name, "paid")
            self.consumed[purpose][month] = self.consumed[purpose].get(month, D(0)) + take
            left -= take
        assert left == 0


def grants_by_source(client, customer_id: str, credits: str) -> dict:
    items = client.wallets.customer_wallet_ops.get_credit_grants(customer_id, f"default:{credits}", limit=500)["items"]
    return items


def test_forty_days_of_entitlements_promotions_and_usage(server, client, clock, http) -> None:
    credits = make_asset(client, rate="0.02")
    product = plan(client, credits)
    clock.pinned = T0
    customer_id = client.customers.create({"name": "Creator Co"})["id"]
    wallet = client.wallets.customer_wallet_ops
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": D("100"), "reason": "external_topup"}
    )
    wallet.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": credits, "amount": D("500"), "reason": "external_topup"}
    )
    wallet.create_adjustment(
        customer_id,
        {
            "transaction_id": unique(),
            "asset": credits,
            "amount": D("100"),
            "reason": "external_topup",
            "expires_at": iso(T0 + timedelta(days=10)),
        },
    )
    client.customers.create_subscription(customer_id, {"products": [{"code": product["code"]}]})
    model = Model()
    only = {customer_id}
    for day in range(40):
        midnight = T0 + timedelta(days=day)
        model.new_day(day)
        clock.pinned = midnight + timedelta(minutes=1)
        if day not in OUTAGE:
            first = run_due(server.engine, clock(), None, "http://x", only)
            second = run_due(server.engine, clock(), None, "http://x", only)
            assert (second.entitlements_granted, second.fixed_charged, second.usage_charged) == (0, 0, 0), day
            if day == 8:  # back from the outage: days 5-8 granted now, once each
                assert first.entitlements_granted == 4
        amount = usage_on(day)
        clock.pinned = midnight + timedelta(hours=12)
        if amount:
            ev = {
                "id": unique("gen"),
                "event_type": "generate",
                "occurred_at": iso(clock.pinned),
                "data": {"credits": amount},
            }
            client.events.send_usage({"customer_id": customer_id, "events": [ev]})
            model.use(day, amount)
        # Grant by grant, every day.
        items = grants_by_source(client, customer_id, credits)
        live = [g for g in items if g["state"] == "live"]
        promo = [g for g in live if g["purpose"] == "promotion"]
        bundled = [g for g in live if g["purpose"] == "bundled"]
        paid = [
            g
            for g in live
            if g["purpose"] == "paid" and (g["expires_at"] is None or g["expires_at"] > iso(clock.pinned))
        ]
        if day in OUTAGE:
            assert promo == [], day
        else:
            assert len(promo) == 1 and D(str(promo[0]["available"])) == model.promo, day
        assert len(bundled) == 1 and D(str(bundled[0]["available"])) == model.bundled, day
        assert sum(D(str(g["available"])) for g in paid) == model.paid + model.paid_expiring, day
        account = wallet.get_account(customer_id, f"default:{credits}")
        assert D(str(account["available"])) == model.promo + model.bundled + model.paid + model.paid_expiring, day

    # Every daily promotion was granted exactly once (40 days), and each past one expired.
    items = grants_by_source(client, customer_id, credits)
    promos = [g for g in items if g["purpose"] == "promotion"]
    assert len(promos) == 40
    assert len({g["effective_at"] for g in promos}) == 40
    assert all(g["state"] == "expired" for g in promos if g["expires_at"] <= iso(clock.pinned))
    # The expired paid grant stays listed, auditable, with its history.
    gone = [g for g in items if g["purpose"] == "paid" and g["state"] == "expired"]
    assert len(gone) == 1 and D(str(gone[0]["expired_amount"])) == 100
    detail = http.get(f"/customers/{customer_id}/wallet/default:{credits}/grants/{gone[0]['id']}").json()
    assert [h["type"] for h in detail["history"]] == ["adjustment", "expiry"]
    # Rollover: April's grant holds 1,000 plus March's remainder, moved by a rollover transaction.
    months = sorted((g for g in items if g["purpose"] == "bundled"), key=lambda g: g["effective_at"])
    assert model.carried > 0
    assert len(months) == 2 and D(str(months[1]["amount"])) == 1000 + model.carried
    assert months[0]["state"] == "expired" and D(str(months[0]["expired_amount"])) == 0  # carried, not written off

    # The revenue report against the hand sums.
    report = http.get(
        "/reports/revenue", params={"period_from": "2026-03-01", "period_to": "2026-04-30", "customer_id": customer_id}
    ).json()
    rows = {(r["period"], r["purpose"]): r for r in report["items"] if r["asset"] == credits}
    for month in ("2026-03", "2026-04"):
        paid_units = model.consumed["paid"].get(month, D(0))
        bundled_units = model.consumed["bundled"].get(month, D(0))
        promo_units = model.consumed["promotion"].get(month, D(0))
        if paid_units:
            assert D(str(rows[(month, "paid")]["consumed"])) == paid_units
            assert D(str(rows[(month, "paid")]["revenue"])) == paid_units * D("0.02")
        assert D(str(rows[(month, "bundled")]["consumed"])) == bundled_units
        assert D(str(rows[(month, "bundled")]["revenue"])) == bundled_units * D("0.015")
        assert D(str(rows[(month, "promotion")]["consumed"])) == promo_units
        assert D(str(rows[(month, "promotion")]["cost"])) == promo_units * D("0.02")
        assert D(str(rows[(month, "promotion")]["revenue"])) == 0
    assert D(str(rows[("2026-03", "paid")]["breakage"])) == D("100") * D("0.02")
    credits_totals = next(t for t in report["totals"] if t["currency"] == "USD")
    expected_revenue = sum(model.consumed["paid"].values(), D(0)) * D("0.02") + sum(
        model.consumed["bundled"].values(), D(0)
    ) * D("0.015")
    # USD itself is also paid value consumed (the $20 plan fees: 20 x 1 per month, two months).
    assert D(str(credits_totals["revenue"])) == expected_revenue + D("40")
    assert D(str(credits_totals["breakage"])) == D("2")
