"""Stripe's webhook: signed deliveries only, each event acted on once, whatever the order or the
concurrency. Events are localstripe's own PaymentIntents, delivered by localstripe or re-sent here
signed with the endpoint's secret (as Stripe signs them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from drawdown.db.engine import read, write
from drawdown.db.tables import credit_grants, stripe_events, wallet_accounts
from drawdown.payments import topups
from tests.conftest import Server
from tests.payments import paying
from tests.payments.paying import credyt, initiate


@pytest.fixture
def http(pay_server: Server) -> Iterator[httpx.Client]:
    with paying.http(pay_server) as c:
        yield c


def _paid_unnoticed(server: Server, http: httpx.Client, amount: str) -> tuple[str, str, dict[str, Any]]:
    """A top-up paid at Stripe whose own webhook found nothing to settle (the intent carried no top-up
    id and was recorded only afterwards): (customer, top-up id, the PaymentIntent as Stripe has it)."""
    cid = paying.customer(http)
    with credyt(server) as client:
        made = initiate(client, cid, amount)
    intent_id = paying.open_intent(server, made.id, metadata=False, record=False)
    paying.confirm(server, intent_id)
    paying.wait_for(lambda: paying.event_handled(server, intent_id), what="localstripe's webhook, ignored")
    with write(server.engine) as conn:
        topups.mark_pending(conn, made.id, intent_id, "pm_card_visa", False, datetime.now(UTC))
    return cid, made.id, paying.gateway(server).payment_intent(intent_id)


def _grants(server: Server, customer_id: str) -> list[Any]:
    with read(server.engine) as conn:
        return list(conn.execute(
            select(credit_grants.c.id, credit_grants.c.amount)
            .join(wallet_accounts, wallet_accounts.c.id == credit_grants.c.account_id)
            .where(wallet_accounts.c.customer_id == customer_id)
        ))


def _declined(intent: dict[str, Any]) -> dict[str, Any]:
    """The PaymentIntent as Stripe shows it after a declined attempt."""
    return {**intent, "status": "requires_payment_method", "last_payment_error": {"message": "Your card was declined."}}


def _recorded(server: Server, event_id: str) -> int:
    with read(server.engine) as conn:
        return int(conn.execute(select(func.count()).where(stripe_events.c.id == event_id)).scalar_one())


def test_the_same_event_three_times_at_once_credits_once(pay_server: Server, http: httpx.Client) -> None:
    cid, top_up_id, intent = _paid_unnoticed(pay_server, http, "8.40")
    assert paying.top_up(pay_server, top_up_id).status == "pending"
    event = paying.event_for(intent)
    start, answers = threading.Barrier(3), []

    def send() -> None:
        start.wait()
        answers.append(paying.deliver(pay_server, event))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert sorted(a.json()["outcome"] for a in answers) == ["repeated", "repeated", "succeeded"]
    assert paying.top_up(pay_server, top_up_id).status == "succeeded"
    assert paying.available(http, cid, "default:USD") == Decimal("8.4")
    assert len(_grants(pay_server, cid)) == 1 and _recorded(pay_server, event["id"]) == 1
    # Later: Stripe's retry of the same event, and another event saying the same, change nothing.
    assert paying.deliver(pay_server, event).json()["outcome"] == "repeated"
    assert paying.deliver(pay_server, paying.event_for(intent)).json()["outcome"] == "succeeded"
    assert paying.available(http, cid, "default:USD") == Decimal("8.4") and len(_grants(pay_server, cid)) == 1


def test_different_events_at_once_credit_once(pay_server: Server, http: httpx.Client) -> None:
    """Six distinct events for one payment, concurrently: still one credit."""
    cid, top_up_id, intent = _paid_unnoticed(pay_server, http, "2")
    events = [paying.event_for(intent) for _ in range(6)]
    start = threading.Barrier(len(events))
    codes: list[int] = []

    def send(e: dict[str, Any]) -> None:
        start.wait()
        codes.append(paying.deliver(pay_server, e).status_code)

    threads = [threading.Thread(target=send, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 6
    assert paying.available(http, cid, "default:USD") == 2 and len(_grants(pay_server, cid)) == 1


@pytest.mark.parametrize("fault", ["forged", "stale", "missing", "tampered"])
def test_a_bad_signature_is_400_and_changes_nothing(pay_server: Server, http: httpx.Client, fault: str) -> None:
    cid, top_up_id, intent = _paid_unnoticed(pay_server, http, "1")
    event = paying.event_for(intent)
    payload = paying.json.dumps(event).encode()
    signature = {
        "forged": paying.sign(pay_server, payload, secret="whsec_not_the_secret"),
        "stale": paying.sign(pay_server, payload, at=int(time.time()) - 3600),
        "missing": "",
        "tampered": paying.sign(pay_server, payload),  # signed, then changed below
    }[fault]
    if fault == "tampered":
        event = {**event, "type": "payment_intent.succeeded", "data": {"object": {**intent, "amount": 100000}}}
    resp = paying.deliver(pay_server, event, signature=signature)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/problem+json")
    assert paying.top_up(pay_server, top_up_id).status == "pending"
    assert _grants(pay_server, cid) == [] and _recorded(pay_server, event["id"]) == 0


def test_failed_after_succeeded_stays_succeeded(pay_server: Server, http: httpx.Client) -> None:
    cid, top_up_id, intent = _paid_unnoticed(pay_server, http, "3")
    assert paying.deliver(pay_server, paying.event_for(intent)).json()["outcome"] == "succeeded"
    failed = _declined(intent)
    assert paying.deliver(pay_server, paying.event_for(failed, "payment_intent.payment_failed")).status_code == 200
    assert paying.top_up(pay_server, top_up_id).status == "succeeded"
    assert paying.available(http, cid, "default:USD") == 3


def test_succeeded_after_failed_credits(pay_server: Server, http: httpx.Client) -> None:
    """Out of order: Stripe's failure of a first attempt arrives, then the success of a second one."""
    cid, top_up_id, intent = _paid_unnoticed(pay_server, http, "4")
    failed = _declined(intent)
    paying.deliver(pay_server, paying.event_for(failed, "payment_intent.payment_failed"))
    done = paying.top_up(pay_server, top_up_id)
    assert done.status == "failed" and done.failure_message == "Your card was declined."
    assert paying.deliver(pay_server, paying.event_for(intent)).json()["outcome"] == "succeeded"
    assert paying.top_up(pay_server, top_up_id).status == "succeeded"
    assert paying.available(http, cid, "default:USD") == 4


def test_an_intent_that_does_not_pay_its_top_up_is_refused(pay_server: Server, http: httpx.Client) -> None:
    cid, top_up_id, intent = _paid_unnoticed(pay_server, http, "5")
    cheaper = {**intent, "amount": 1, "amount_received": 1}
    assert paying.deliver(pay_server, paying.event_for(cheaper)).json()["outcome"] == "refused"
    assert paying.top_up(pay_server, top_up_id).status == "pending" and _grants(pay_server, cid) == []


def test_other_events_are_acknowledged_and_ignored(pay_server: Server) -> None:
    resp = paying.deliver(pay_server, paying.event_for({"id": "cus_x", "object": "customer"}, "customer.created"))
    assert resp.status_code == 200 and resp.json()["outcome"] == "ignored"


def test_the_webhook_needs_no_api_key_and_is_not_in_the_api_document(pay_server: Server, http: httpx.Client) -> None:
    assert "/stripe/webhook" not in http.get("/openapi.json").json()["paths"]
    assert httpx.post(f"{pay_server.url}/stripe/webhook", content=b"{}", timeout=10).status_code == 400
