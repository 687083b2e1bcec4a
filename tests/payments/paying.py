"""Building blocks for the payment tests: a customer, a top-up through the official client, and paying
it against the real localstripe the way the payment page does (a Stripe customer, a PaymentIntent
carrying ``metadata.top_up_id`` recorded with ``mark_pending``, then confirmed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import stripe
from sqlalchemy import select

from drawdown.db.engine import read, write
from drawdown.db.tables import stripe_events
from drawdown.payments import topups
from drawdown.payments.gateway import Gateway, StripeConfig
from drawdown.payments.models import TopUp
from drawdown.payments.repository import top_up_any_scope
from tests.conftest import Server, unique

T = TypeVar("T")
URLS = {"return_url": "https://platform.example/done", "failure_url": "https://platform.example/failed"}


@contextmanager
def credyt(server: Server) -> Iterator[Any]:
    from corehttp.credentials import ServiceKeyCredential
    from credytapi import CredytApiClient

    with CredytApiClient(credential=ServiceKeyCredential(server.key), endpoint=server.url) as c:
        yield c


@contextmanager
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=30) as c:
        yield c


def customer(c: httpx.Client) -> str:
    resp = c.post("/customers", json={"name": "Payer", "external_id": unique("payer")})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def asset(c: httpx.Client, rate: str = "0.5", precision: int = 2) -> str:
    code = unique("GEM").upper().replace("-", "")[:14]
    resp = c.post("/assets", json={"code": code, "name": "Gems", "precision": precision,
                                   "rates": [{"source": "USD", "rate": rate}]})
    assert resp.status_code == 201, resp.text
    return code


def initiate(client: Any, customer_id: str, amount: str, currency: str = "USD", **more: Any) -> Any:
    return client.top_ups.initiate({"customer_id": customer_id, "amount": Decimal(amount), "currency": currency,
                                    **URLS, **more})


def gateway(server: Server) -> Gateway:
    s = server.settings
    return Gateway(StripeConfig(s.stripe_secret_key, s.stripe_publishable_key, s.stripe_webhook_secret,
                                s.stripe_api_base, s.stripe_js_url, s.stripe_setup_future_usage))


def top_up(server: Server, top_up_id: str) -> TopUp:
    with read(server.engine) as conn:
        found = top_up_any_scope(conn, top_up_id)
    assert found is not None
    return found


def open_intent(server: Server, top_up_id: str, card: str = "pm_card_visa", metadata: bool = True,
                record: bool = True) -> str:
    """What the page does before the customer confirms: a PaymentIntent for the top-up, recorded."""
    gw = gateway(server)
    found = top_up(server, top_up_id)
    with read(server.engine) as conn:
        minor = topups.minor_amount(conn, found)
    stripe_customer = gw.create_customer(None, "Payer", {"drawdown_customer": found.customer_id})
    intent = gw.create_payment_intent(
        amount_minor=minor, currency=found.currency, customer=stripe_customer,
        metadata={"top_up_id": top_up_id} if metadata else {"purpose": "elsewhere"},
        idempotency_key=f"page:{top_up_id}", payment_method=card,
    )
    if record:
        with write(server.engine) as conn:
            topups.mark_pending(conn, top_up_id, intent["id"], card, False, datetime.now(UTC))
    return str(intent["id"])


def confirm(server: Server, payment_intent: str) -> dict[str, Any]:
    """What Stripe.js does in the browser: confirm the payment (a declined card answers its error)."""
    try:
        return gateway(server).client.v1.payment_intents.confirm(payment_intent).to_dict()
    except stripe.CardError as exc:
        return {"error": exc.user_message, "code": exc.code}


def pay(server: Server, top_up_id: str, card: str = "pm_card_visa") -> str:
    intent = open_intent(server, top_up_id, card)
    confirm(server, intent)
    return intent


def wait_for(check: Callable[[], T | None], timeout: float = 15, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def settled(server: Server, top_up_id: str, timeout: float = 15) -> TopUp:
    return wait_for(lambda: (t := top_up(server, top_up_id)).status not in ("initiated", "pending") and t,
                    timeout, f"top-up {top_up_id} to settle")


def grants(c: httpx.Client, customer_id: str, account: str) -> list[dict[str, Any]]:
    resp = c.get(f"/customers/{customer_id}/wallet/{account}/grants")
    assert resp.status_code == 200, resp.text
    return list(resp.json(parse_float=Decimal)["items"])


def available(c: httpx.Client, customer_id: str, account: str) -> Decimal:
    resp = c.get(f"/customers/{customer_id}/wallet/{account}")
    if resp.status_code == 404:
        return Decimal(0)
    assert resp.status_code == 200, resp.text
    return Decimal(resp.json(parse_float=Decimal)["available"])


def stripe_event(server: Server, payment_intent: str, kind: str = "payment_intent.succeeded") -> dict[str, Any] | None:
    """The event localstripe made for this PaymentIntent, if any yet."""
    events = gateway(server).client.v1.events.list(params={"type": kind, "limit": 100}).auto_paging_iter()
    return next((e.to_dict() for e in events if e.data.object.id == payment_intent), None)


def event_handled(server: Server, payment_intent: str, kind: str = "payment_intent.succeeded") -> bool:
    """Drawdown has received (and recorded) localstripe's event for this PaymentIntent."""
    event = stripe_event(server, payment_intent, kind)
    if event is None:
        return False
    with read(server.engine) as conn:
        return conn.execute(select(stripe_events.c.id).where(stripe_events.c.id == event["id"])).first() is not None


def sign(server: Server, payload: bytes, at: int | None = None, secret: str | None = None) -> str:
    """A Stripe-Signature header, as Stripe makes it (HMAC-SHA256 of ``t.payload`` with the endpoint secret)."""
    at = int(time.time()) if at is None else at
    key = (secret or server.settings.stripe_webhook_secret or "").encode()
    digest = hmac.new(key, f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def deliver(server: Server, event: dict[str, Any], signature: str | None = None) -> httpx.Response:
    payload = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    headers["Stripe-Signature"] = signature if signature is not None else sign(server, payload)
    return httpx.post(f"{server.url}/stripe/webhook", content=payload, headers=headers, timeout=30)


def event_for(intent: dict[str, Any], kind: str = "payment_intent.succeeded") -> dict[str, Any]:
    return {"id": unique("evt").replace("-", "_"), "object": "event", "type": kind, "created": int(time.time()),
            "livemode": False, "data": {"object": intent}}
