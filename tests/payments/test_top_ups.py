"""Top-ups through Credyt's official client, paid against the real localstripe, credited by its
signed webhook: once, at the right rate, as a paid grant with its revenue basis and expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from corehttp.exceptions import HttpResponseError

from drawdown.db.engine import write
from drawdown.payments import topups
from drawdown.settings import Settings
from tests.conftest import Server, start_server
from tests.payments import paying
from tests.payments.paying import URLS, credyt, initiate, pay, settled


@pytest.fixture
def client(pay_server: Server) -> Iterator[Any]:
    with credyt(pay_server) as c:
        yield c


@pytest.fixture
def http(pay_server: Server) -> Iterator[httpx.Client]:
    with paying.http(pay_server) as c:
        yield c


def test_initiate_and_get_through_the_official_client(pay_server: Server, client: Any, http: httpx.Client) -> None:
    cid = paying.customer(http)
    made = initiate(client, cid, "12.50", description="Credits for May", metadata={"order": "42"})
    assert made.status == "initiated"
    assert made.redirect_url.startswith(f"{pay_server.url}/pay/") and len(made.redirect_url) > len(pay_server.url) + 40
    assert made.expires_at - made.created_at == timedelta(minutes=pay_server.settings.top_up_link_minutes)
    got = client.top_ups.get(made.id)
    assert (got.id, got.customer_id, got.amount, got.currency, got.status) == (
        made.id, cid, Decimal("12.5"), "USD", "initiated")
    assert got.destination.asset == "USD" and got.destination.account_name == "default"
    raw = http.get(f"/top-ups/{made.id}").json(parse_float=Decimal)
    assert raw["kind"] == "api" and raw["credited"] is None and raw["refunded"] == 0


def test_paid_fiat_top_up_is_credited_once_as_a_paid_grant(pay_server: Server, client: Any, http: httpx.Client) -> None:
    cid = paying.customer(http)
    made = initiate(client, cid, "10.50")
    assert client.top_ups.get(made.id).status == "initiated"
    intent = paying.open_intent(pay_server, made.id)
    assert client.top_ups.get(made.id).status == "pending"
    paying.confirm(pay_server, intent)
    done = settled(pay_server, made.id)  # localstripe's signed webhook settles it
    assert done.status == "succeeded" and done.payment_intent == intent
    assert client.top_ups.get(made.id).status == "succeeded"
    assert paying.available(http, cid, "default:USD") == Decimal("10.5")
    [grant] = paying.grants(http, cid, "default:USD")
    assert grant["purpose"] == "paid" and grant["amount"] == Decimal("10.5")
    detail = http.get(f"/customers/{cid}/wallet/default:USD/grants/{grant['id']}").json(parse_float=Decimal)
    assert detail["revenue_basis"] == 1 and detail["basis_currency"] == "USD"
    expires = datetime.fromisoformat(grant["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (done.settled_at + timedelta(days=365))) < timedelta(seconds=5)
    tx = http.get(f"/customers/{cid}/wallet/transactions/{made.id}").json(parse_float=Decimal)
    assert tx["amount"] == Decimal("10.5") and tx["type"] == "adjustment"


def test_custom_asset_at_the_given_exchange_rate(pay_server: Server, client: Any, http: httpx.Client) -> None:
    cid, gem = paying.customer(http), paying.asset(http, rate="0.5")
    expires = datetime.now(UTC) + timedelta(days=30)
    made = initiate(client, cid, "10", destination={"asset": gem, "account_name": "main",
                                                      "exchange_rate": Decimal("0.04")},
                    credit_expires_at=expires)
    got = client.top_ups.get(made.id)
    assert got.destination.exchange_rate == Decimal("0.04") and got.destination.account_name == "main"
    pay(pay_server, made.id)
    assert settled(pay_server, made.id).status == "succeeded"
    assert paying.available(http, cid, f"main:{gem}") == 250  # 10 USD at 0.04 USD per gem
    [grant] = paying.grants(http, cid, f"main:{gem}")
    assert grant["purpose"] == "paid" and grant["amount"] == 250
    assert abs(datetime.fromisoformat(grant["expires_at"].replace("Z", "+00:00")) - expires) < timedelta(seconds=1)
    detail = http.get(f"/customers/{cid}/wallet/main:{gem}/grants/{grant['id']}").json(parse_float=Decimal)
    assert detail["revenue_basis"] == Decimal("0.04") and detail["basis_currency"] == "USD"


def test_custom_asset_at_the_rate_in_force(pay_server: Server, client: Any, http: httpx.Client) -> None:
    cid, gem = paying.customer(http), paying.asset(http, rate="0.5")
    made = initiate(client, cid, "7.25", destination={"asset": gem})
    pay(pay_server, made.id)
    assert settled(pay_server, made.id).status == "succeeded"
    assert paying.available(http, cid, f"default:{gem}") == Decimal("14.5")
    assert http.get(f"/top-ups/{made.id}").json(parse_float=Decimal)["credited"] == Decimal("14.5")


def test_declined_card_fails_with_no_grant(pay_server: Server, client: Any, http: httpx.Client) -> None:
    cid = paying.customer(http)
    made = initiate(client, cid, "5")
    answer = paying.confirm(pay_server, paying.open_intent(pay_server, made.id, card="pm_card_chargeCustomerFail"))
    assert answer["code"] == "card_declined"
    done = settled(pay_server, made.id)  # the payment_failed webhook
    assert done.status == "failed" and "declined" in (done.failure_message or "")
    got = http.get(f"/top-ups/{made.id}").json()
    assert got["status"] == "failed" and "declined" in got["failure_message"]
    assert http.get(f"/customers/{cid}/wallet").json()["accounts"] == []  # nothing credited, not even opened


def test_unpaid_link_expires(pay_server: Server, client: Any, http: httpx.Client) -> None:
    cid = paying.customer(http)
    made = initiate(client, cid, "5")
    with write(pay_server.engine) as conn:  # the link ran out an hour ago
        from drawdown.payments.repository import set_fields

        set_fields(conn, made.id, expires_at=datetime.now(UTC) - timedelta(hours=1))
    assert settled(pay_server, made.id).status == "expired"  # the payments worker's expiry task
    assert client.top_ups.get(made.id).status == "expired"


def test_lost_webhook_is_reconciled(pay_server: Server, client: Any, http: httpx.Client) -> None:
    """The page paid, but the webhook found nothing to settle (the intent was not yet recorded and did
    not name the top-up): the worker asks Stripe about the pending top-up and credits it."""
    cid = paying.customer(http)
    made = initiate(client, cid, "3")
    intent = paying.open_intent(pay_server, made.id, metadata=False, record=False)
    paying.confirm(pay_server, intent)
    paying.wait_for(lambda: paying.event_handled(pay_server, intent), what="the webhook, ignored")
    assert paying.top_up(pay_server, made.id).status == "initiated"
    long_ago = datetime.now(UTC) - timedelta(seconds=pay_server.settings.reconcile_after_seconds + 60)
    with write(pay_server.engine) as conn:
        topups.mark_pending(conn, made.id, intent, "pm_card_visa", False, long_ago)
    done = settled(pay_server, made.id)
    assert done.status == "succeeded" and paying.available(http, cid, "default:USD") == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "10.001"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"destination": {"asset": "NOPE"}}, "destination.asset"),
        ({"destination": {"asset": "USD", "exchange_rate": "-1"}}, "destination.exchange_rate"),
        ({"customer_id": "cus_00000000000000000000000000"}, "customer_id"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
        ({"credit_expires_at": "2001-01-01T00:00:00Z"}, "credit_expires_at"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    pay_server: Server, http: httpx.Client, change: dict[str, Any], field: str
) -> None:
    body = {"customer_id": paying.customer(http), "amount": "10", "currency": "USD", **URLS, **change}
    resp = http.post("/top-ups", json=body)
    assert resp.status_code == 422, resp.text
    assert field in resp.json()["errors"], resp.json()


def test_bad_input_through_the_client(client: Any, http: httpx.Client) -> None:
    with pytest.raises(HttpResponseError) as err:
        initiate(client, paying.customer(http), "-1")
    assert err.value.status_code == 422


def test_idempotency_key_replays_the_same_top_up(http: httpx.Client) -> None:
    body = {"customer_id": paying.customer(http), "amount": "4", "currency": "USD", **URLS}
    first = http.post("/top-ups", json=body, headers={"Idempotency-Key": "k-" + body["customer_id"]})
    again = http.post("/top-ups", json=body, headers={"Idempotency-Key": "k-" + body["customer_id"]})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()


def test_foreign_or_unknown_top_up_is_404(http: httpx.Client) -> None:
    assert http.get("/top-ups/top_00000000000000000000000000").status_code == 404


def test_without_stripe_top_ups_answer_503_naming_the_setting(server: Server) -> None:
    with paying.http(server) as c:
        resp = c.post("/top-ups", json={"customer_id": paying.customer(c), "amount": "1", "currency": "USD", **URLS})
    assert resp.status_code == 503 and "DRAWDOWN_STRIPE_SECRET_KEY" in resp.json()["detail"]


def test_a_live_key_is_refused_in_a_test_environment(engine: Any, database_url: str) -> None:
    from drawdown.accounts import service as accounts
    from drawdown.apikeys import service as api_keys

    settings = Settings(database_url=database_url, stripe_secret_key="sk_live_not_a_real_key", job_interval_seconds=0)
    served, srv = start_server(engine, settings, "live-key")
    try:
        now = datetime.now(UTC)
        with write(engine) as conn:
            platform = accounts.create_platform(conn, "Live key", now)
            _, secret = api_keys.create(conn, accounts.scope_for(conn, platform.id, "test"), "t", now)
        with httpx.Client(base_url=served.url, headers={"X-CREDYT-API-KEY": secret}, timeout=30) as c:
            body = {"customer_id": paying.customer(c), "amount": "1", "currency": "USD", **URLS}
            resp = c.post("/top-ups", json=body)
        assert resp.status_code == 503 and "live key" in resp.json()["detail"]
    finally:
        srv.should_exit = True
