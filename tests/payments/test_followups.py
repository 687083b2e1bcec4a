"""What the payments worker and the webhook do after a payment, whichever way its answer arrives: a
blocked subscription paid without its page (the webhook alone) is reactivated at once, and a card
attempt that died before recording its PaymentIntent is settled or expired by reconciliation, never
left pending for ever and never credited without a payment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from drawdown.db.engine import write
from drawdown.payments import reconcile, subscriptions
from drawdown.payments import repository as repo
from drawdown.payments.models import PENDING
from tests.conftest import Server, unique
from tests.payments import paying


def _blocked_subscription(client: Any, c: httpx.Client) -> tuple[str, str]:
    """5 USD in the wallet, no overdraft, a 20 USD monthly plan: the subscription waits for a payment."""
    product = client.products.create({
        "name": "Plan", "code": unique("plan"), "publish": True,
        "prices": [{
            "name": "Plan (monthly)", "type": "fixed",
            "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
            "pricing": [{"asset": "USD", "values": [{"unit_price": Decimal("20")}]}],
        }],
    })
    customer_id = paying.customer(c)
    client.wallets.customer_wallet_ops.create_adjustment(
        customer_id, {"transaction_id": unique(), "asset": "USD", "amount": Decimal("5"), "reason": "gift"}
    )
    assert c.patch(f"/customers/{customer_id}/wallet/default:USD", json={"overdraft_limit": "0"}).status_code == 204
    sub = client.customers.create_subscription(customer_id, {"products": [{"code": product["code"]}]})
    assert sub["status"] == "action_required"
    return customer_id, sub["id"]


def test_a_subscription_paid_through_its_webhook_alone_is_reactivated(pay_server: Server) -> None:
    with paying.credyt(pay_server) as client, paying.http(pay_server) as c:
        customer_id, sub_id = _blocked_subscription(client, c)
        now = datetime.now(UTC)
        top_up = subscriptions.start_payment(
            pay_server.engine, subscriptions.due(pay_server.engine, sub_id, now), now, pay_server.settings
        )
        assert top_up.amount == Decimal("15")
        paying.pay(pay_server, top_up.id)  # Stripe says yes; only its webhook tells Drawdown

        def active() -> bool:
            subs = client.customers.get(customer_id)["subscriptions"]
            return next(s for s in subs if s["id"] == sub_id)["status"] == "active"

        paying.wait_for(active, what="the subscription to be reactivated by the webhook")
        assert paying.available(c, customer_id, "default:USD") == 0  # 5 + 15 paid, 20 collected


def test_a_card_attempt_that_died_unrecorded_expires_once_its_link_is_over(pay_server: Server) -> None:
    with paying.credyt(pay_server) as client, paying.http(pay_server) as c:
        customer_id = paying.customer(c)
        made = paying.initiate(client, customer_id, "12")
    now = datetime.now(UTC)
    with write(pay_server.engine) as conn:  # what a page's claim leaves when its process dies mid-way
        repo.set_fields(conn, made.id, status=PENDING, updated_at=now)
    found = paying.top_up(pay_server, made.id)
    gateway, settings = paying.gateway(pay_server), pay_server.settings
    # Before the link is over it is left to the page (which may take the claim over).
    soon = now + timedelta(seconds=settings.reconcile_after_seconds + 1)
    reconcile.reconcile(pay_server.engine, gateway, settings, soon)
    assert paying.top_up(pay_server, made.id).status == PENDING
    later = found.expires_at + timedelta(minutes=3)
    reconcile.reconcile(pay_server.engine, gateway, settings, later)
    ended = paying.top_up(pay_server, made.id)
    assert ended.status == "expired" and ended.credited is None
