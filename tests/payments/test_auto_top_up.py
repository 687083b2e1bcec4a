"""Auto top-up against a real localstripe, on both backends: the settings and their validation, a debit
crossing the threshold charged once by the payments worker (running in ``pay_server``) as a ``paid``
grant, the next recharge following up to the monthly limit, a failing card paused after three
failures, concurrent usage crossing the threshold charged once (the Lago bug), and a worker killed
between Stripe's success and the credit, whose successor credits once without charging again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, select

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer
from drawdown.db.engine import make_engine, read, write
from drawdown.db.migrate import upgrade
from drawdown.db.tables import top_ups, wallet_accounts
from drawdown.payments import auto, auto_settings, cards
from drawdown.payments.gateway import Gateway, StripeConfig
from drawdown.payments.models import AutoTopUpSetting
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment, Charge
from tests.conftest import Server, postgres_database, unique
from tests.payments.conftest import LOCALSTRIPE, SECRET_KEY, _free_port, stripe_settings
from tests.payments.paying import credyt, customer
from tests.payments.paying import http as http_client

T = TypeVar("T")


@pytest.fixture
def http(pay_server: Server) -> Iterator[httpx.Client]:
    with http_client(pay_server) as c:
        yield c


@pytest.fixture
def client(pay_server: Server) -> Iterator[Any]:
    with credyt(pay_server) as c:
        yield c


def _until(check: Callable[[], T], what: str, seconds: float = 20) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------------- helpers
def _funded(client: Any, http: httpx.Client, amount: str, card: str | None = "pm_card_visa") -> str:
    customer_id = customer(http)
    client.wallets.customer_wallet_ops.create_adjustment(customer_id, {
        "transaction_id": unique("gift"), "asset": "USD", "amount": Decimal(amount), "reason": "gift"})
    if card:
        resp = http.post(f"/customers/{customer_id}/payment-methods", json={"payment_method_id": card})
        assert resp.status_code == 201, resp.text
    return customer_id


def _put(http: httpx.Client, customer_id: str, **body: Any) -> httpx.Response:
    doc = {"enabled": True, "threshold": "5", "amount": "20", **body}
    return http.put(f"/customers/{customer_id}/wallet/default:USD/auto-top-up", json=doc)


def _setting(http: httpx.Client, customer_id: str) -> dict[str, Any]:
    resp = http.get(f"/customers/{customer_id}/wallet/default:USD/auto-top-up")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _spend(client: Any, customer_id: str, amount: str) -> None:
    client.wallets.customer_wallet_ops.create_charge(customer_id, {
        "transaction_id": unique("chg"), "asset": "USD", "amount": Decimal(amount)})


def _available(client: Any, customer_id: str) -> Decimal:
    return Decimal(str(client.wallets.customer_wallet_ops.get_account(customer_id, "default:USD")["available"]))


def _settled(http: httpx.Client, customer_id: str, count: int) -> list[dict[str, Any]]:
    """The account's attempts once ``count`` of them have ended and none is in flight."""
    def done() -> list[dict[str, Any]] | None:
        attempts = _setting(http, customer_id)["attempts"]
        ended = [a for a in attempts if a["status"] in ("succeeded", "failed")]
        return attempts if len(ended) >= count and len(ended) == len(attempts) else None
    return _until(done, f"{count} auto top-up(s) settled")


def _stripe_id(engine: Engine, customer_id: str) -> str:
    found = cards.recorded_customer(engine, DEFAULT_LIVE, customer_id)
    assert found is not None
    return found


def _charges(localstripe: str, stripe_id: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{localstripe}/v1/charges", params={"customer": stripe_id, "limit": 100}, auth=(SECRET_KEY, ""))
    resp.raise_for_status()
    return [c for c in resp.json()["data"] if c["status"] == "succeeded"]


def _threshold(engine: Engine, customer_id: str) -> int | None:
    w = wallet_accounts.c
    with read(engine) as conn:
        return conn.execute(select(w.auto_threshold).where(w.customer_id == customer_id, w.asset == "USD")).scalar()


# ------------------------------------------------------------------------------------ settings
def test_settings_are_validated_naming_the_field(pay_server: Server, client: Any, http: httpx.Client) -> None:
    customer_id = _funded(client, http, "10")
    stranger = _funded(client, http, "10")
    strangers_card = http.get(f"/customers/{stranger}/payment-methods").json()["items"][0]["id"]
    for body, field in (
        ({"threshold": "-1"}, "threshold"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "1.001"}, "amount"),  # USD has 2 decimal places
        ({"threshold": "0.005"}, "threshold"),
        ({"monthly_limit": "10"}, "monthly_limit"),  # below amount: nothing could ever be bought
        ({"monthly_limit": "0"}, "monthly_limit"),
        ({"payment_method_id": strangers_card}, "payment_method_id"),
        ({"payment_method_id": "pm_unknown"}, "payment_method_id"),
        ({"amount": "NaN"}, "amount"),
        ({"threshold": None}, "threshold"),
    ):
        resp = _put(http, customer_id, **body)
        assert resp.status_code == 422, (body, resp.text)
        assert field in resp.text, (body, resp.text)
    cardless = _funded(client, http, "10", card=None)
    resp = _put(http, cardless)
    assert resp.status_code == 422 and "payment_method_id" in resp.text
    assert _put(http, "cus_nobody").status_code == 404
    assert http.get(f"/customers/{customer_id}/wallet/default:USD/auto-top-up").status_code == 404
    assert _threshold(pay_server.engine, customer_id) is None


def test_settings_put_get_delete(pay_server: Server, client: Any, http: httpx.Client) -> None:
    customer_id = _funded(client, http, "10")
    resp = _put(http, customer_id, threshold="5", amount="20", monthly_limit="100")
    assert resp.status_code == 200, resp.text
    got = _setting(http, customer_id)
    assert (got["account_id"], got["enabled"], got["threshold"], got["amount"], got["monthly_limit"]) == (
        "default:USD", True, 5, 20, 100)
    assert got["paused"] is False and got["failures"] == 0 and got["attempts"] == []
    assert got["payment_method_id"] is None  # the default card, whichever it is when charged
    assert _threshold(pay_server.engine, customer_id) == 5 * 10**9
    assert _put(http, customer_id, enabled=False).status_code == 200
    assert _threshold(pay_server.engine, customer_id) is None  # off: the debit path does not look
    assert http.delete(f"/customers/{customer_id}/wallet/default:USD/auto-top-up").status_code == 204
    assert http.get(f"/customers/{customer_id}/wallet/default:USD/auto-top-up").status_code == 404
    assert http.delete(f"/customers/{customer_id}/wallet/default:USD/auto-top-up").status_code == 404


# ------------------------------------------------------------------------------------ charging
def test_crossing_the_threshold_charges_once_as_a_paid_grant(
    pay_server: Server, client: Any, http: httpx.Client, localstripe: str
) -> None:
    customer_id = _funded(client, http, "10")
    assert _put(http, customer_id, threshold="5", amount="20").status_code == 200
    _spend(client, customer_id, "4")  # 6 left: above the threshold, nothing happens
    _spend(client, customer_id, "2")  # 4 left: below
    attempts = _settled(http, customer_id, 1)
    assert [(a["status"], a["amount"], a["currency"], a["credited"]) for a in attempts] == [
        ("succeeded", 20, "USD", 20)]
    assert _available(client, customer_id) == Decimal("24")
    grants = http.get(f"/customers/{customer_id}/wallet/default:USD/grants").json()["items"]
    paid = [g for g in grants if g["purpose"] == "paid"]
    assert len(paid) == 1 and Decimal(str(paid[0]["amount"])) == 20
    charged = _charges(localstripe, _stripe_id(pay_server.engine, customer_id))
    assert [c["amount"] for c in charged] == [2000]
    # Through the official client too: the auto top-up is a top-up like any other.
    assert client.top_ups.get(attempts[0]["id"])["status"] == "succeeded"


def test_the_next_recharge_follows_up_to_the_monthly_limit(
    pay_server: Server, client: Any, http: httpx.Client, localstripe: str
) -> None:
    customer_id = _funded(client, http, "1")
    # Already below the threshold when turned on: the first recharge starts at once; each one of 10
    # leaves the balance below 50, so the next follows, until the monthly limit of 30 is reached.
    assert _put(http, customer_id, threshold="50", amount="10", monthly_limit="30").status_code == 200
    attempts = _settled(http, customer_id, 3)
    time.sleep(1)  # several worker ticks: nothing more may come
    attempts = _setting(http, customer_id)["attempts"]
    assert [a["status"] for a in attempts] == ["succeeded"] * 3
    assert _available(client, customer_id) == Decimal("31")
    assert len(_charges(localstripe, _stripe_id(pay_server.engine, customer_id))) == 3


def test_a_failing_card_fails_three_times_then_pauses(
    pay_server: Server, client: Any, http: httpx.Client, localstripe: str
) -> None:
    customer_id = _funded(client, http, "10", card="pm_card_chargeCustomerFail")
    assert _put(http, customer_id, threshold="5", amount="20").status_code == 200
    for n, spend in enumerate(("6", "1", "1"), start=1):
        _spend(client, customer_id, spend)
        attempts = _settled(http, customer_id, n)
    got = _setting(http, customer_id)
    assert [a["status"] for a in got["attempts"]] == ["failed"] * 3
    assert all(a["message"] and "declined" in a["message"].lower() for a in got["attempts"]), got["attempts"]
    assert got["paused"] is True and got["failures"] == 3 and got["paused_at"]
    assert _threshold(pay_server.engine, customer_id) is None
    _spend(client, customer_id, "1")  # paused: no new attempt
    time.sleep(0.6)
    assert len(_setting(http, customer_id)["attempts"]) == 3
    assert _available(client, customer_id) == Decimal("1")
    assert not http.get(f"/customers/{customer_id}/wallet/default:USD/grants").json()["items"][1:]  # no paid grant
    # The customer saves a good card and turns it on again: it resumes, and the shortfall is bought.
    good = http.post(f"/customers/{customer_id}/payment-methods", json={"payment_method_id": "pm_card_visa"}).json()
    assert _put(http, customer_id, threshold="5", amount="20", payment_method_id=good["id"]).status_code == 200
    attempts = _settled(http, customer_id, 4)
    assert attempts[0]["status"] == "succeeded" and _setting(http, customer_id)["paused"] is False
    assert _available(client, customer_id) == Decimal("21")
    assert len(_charges(localstripe, _stripe_id(pay_server.engine, customer_id))) == 1


def _usage_product(http: httpx.Client) -> str:
    code = unique("auto")
    resp = http.post("/products", json={"name": "Calls", "code": code, "publish": True, "prices": [{
        "name": "Call", "type": "usage_based", "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "call", "usage_type": "volume", "volume_field": "units",
                              "billable_dimensions": ["model"]},
        "pricing": [{"asset": "USD", "values": [{"dimensions": {"model": "*"}, "values": [{"volume_rate": "1"}]}]}],
    }]})
    assert resp.status_code == 201, resp.text
    return code


def test_concurrent_usage_crossing_the_threshold_is_charged_once(
    pay_server: Server, client: Any, http: httpx.Client, localstripe: str
) -> None:
    """The Lago bug: many debits crossing the threshold at once must not each start a charge."""
    code = _usage_product(http)
    for _round in range(2):
        resp = http.post("/customers", json={"name": "Busy", "external_id": unique("busy"),
                                             "subscriptions": [{"products": [{"code": code, "version": "default"}]}]})
        customer_id = resp.json()["id"]
        client.wallets.customer_wallet_ops.create_adjustment(customer_id, {
            "transaction_id": unique("gift"), "asset": "USD", "amount": Decimal("20"), "reason": "gift"})
        http.post(f"/customers/{customer_id}/payment-methods", json={"payment_method_id": "pm_card_visa"})
        assert _put(http, customer_id, threshold="10", amount="50").status_code == 200
        # 16 events of 1 USD from 16 threads at once: 20 -> 4 crosses 10 once; whenever the recharge
        # of 50 lands, the balance never falls below 10 again.
        barrier = threading.Barrier(16)
        answers: list[int] = []

        def send(i: int, customer_id: str = customer_id, barrier: threading.Barrier = barrier,
                 answers: list[int] = answers) -> None:
            event = {"id": unique("ev"), "event_type": "call", "occurred_at": datetime.now(UTC).isoformat(),
                     "data": {"units": 1, "model": "m"}}
            with http_client(pay_server) as c:
                barrier.wait()
                answers.append(c.post("/events", json={"customer_id": customer_id, "events": [event]}).status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(answers) == 16 and all(200 <= a < 300 for a in answers), answers
        attempts = _settled(http, customer_id, 1)
        time.sleep(0.6)
        attempts = _setting(http, customer_id)["attempts"]
        assert [a["status"] for a in attempts] == ["succeeded"], attempts
        assert len(_charges(localstripe, _stripe_id(pay_server.engine, customer_id))) == 1
        assert _available(client, customer_id) == Decimal("54")


# --------------------------------------------------------------------------------- crash safety
@contextmanager
def _private_localstripe(tmp: Path) -> Iterator[str]:
    """A localstripe no webhook is configured on: the webhook that would settle the payment is lost."""
    port = _free_port()
    with (tmp / "localstripe.log").open("w") as log:
        process = subprocess.Popen([LOCALSTRIPE, "--port", str(port), "--from-scratch"], stdout=log,
                                   stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _until(lambda: _answers(url), "localstripe to start")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/v1/customers", auth=(SECRET_KEY, ""), timeout=1)
    except httpx.HTTPError:
        return False
    return True


@contextmanager
def _private_database(backend: str, tmp: Path) -> Iterator[str]:
    """A database no running worker watches, so only this test's workers charge."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'crash.db'}"
        return
    with postgres_database("drawdown_crash") as url:
        yield url


KILL_AFTER_CHARGE = """
import os, signal, sys
from datetime import datetime
from drawdown.payments.gateway import StripeConfig
from drawdown.db.engine import make_engine
from drawdown.payments import auto
from drawdown.payments.gateway import Gateway
from drawdown.settings import Settings

url, api_base, top_up_id, now = sys.argv[1:]
settings = Settings(database_url=url, stripe_secret_key="sk_test_drawdown", stripe_api_base=api_base)
auto.charge_one(make_engine(url), Gateway(StripeConfig.from_settings(settings)), settings, top_up_id,
                datetime.fromisoformat(now), after_charge=lambda intent: os.kill(os.getpid(), signal.SIGKILL))
raise SystemExit("not killed")
"""


def test_a_worker_killed_between_stripe_and_the_credit_is_credited_once_on_restart(
    backend: str, tmp_path: Path
) -> None:
    with _private_localstripe(tmp_path) as stripe_url, _private_database(backend, tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            _crash_and_resume(engine, url, stripe_url)
        finally:
            engine.dispose()


def _crash_and_resume(engine: Engine, url: str, stripe_url: str) -> None:
    settings = stripe_settings(url, stripe_url, "whsec_unused", "http://127.0.0.1:0")
    gw = Gateway(StripeConfig.from_settings(settings))
    now = datetime.now(UTC)
    with write(engine) as conn:
        customer_id = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer("Crash"), now, None).id
        wallets.adjust(conn, DEFAULT_LIVE, customer_id, Adjustment(unique("gift"), "USD", Decimal(10), "gift"), now,
                       None)
    cards.add_card(engine, gw, DEFAULT_LIVE, customer_id, "pm_card_visa")
    auto_settings.put(engine, gw, DEFAULT_LIVE, customer_id, "default:USD",
                      AutoTopUpSetting(True, Decimal(5), Decimal(20)), now, None)
    with write(engine) as conn:
        wallets.charge(conn, DEFAULT_LIVE, customer_id, Charge(unique("chg"), "USD", Decimal(6)), now, None)
        top_up_id = conn.execute(select(top_ups.c.id).where(top_ups.c.customer_id == customer_id)).scalar_one()

    # The worker charges the card, and dies the moment Stripe has said yes: nothing recorded.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    done = subprocess.run([sys.executable, "-c", KILL_AFTER_CHARGE, url, stripe_url, top_up_id, now.isoformat()],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    stripe_id = _stripe_id(engine, customer_id)
    assert [c["amount"] for c in _charges(stripe_url, stripe_id)] == [2000]  # Stripe took the money...
    row = _top_up_row(engine, top_up_id)
    assert (row.status, row.payment_intent, row.credited) == ("pending", None, None)  # ...we recorded nothing
    with read(engine) as conn:
        assert wallets.balance(conn, DEFAULT_LIVE, customer_id, "default:USD", now).available == Decimal(4)

    # Restarted, the worker first leaves a recent claim alone (its owner may still be working)...
    assert auto.charge_due(engine, gw, settings, now + timedelta(seconds=5)) == 0
    # ...then takes the stalled one back, finds the payment at Stripe and settles by it.
    later = now + timedelta(seconds=settings.reconcile_after_seconds + 1)
    assert auto.charge_due(engine, gw, settings, later) == 1
    assert auto.charge_due(engine, gw, settings, later + timedelta(minutes=10)) == 0
    row = _top_up_row(engine, top_up_id)
    assert row.status == "succeeded" and row.payment_intent and row.credited == 20 * 10**9
    with read(engine) as conn:
        assert wallets.balance(conn, DEFAULT_LIVE, customer_id, "default:USD", later).available == Decimal(24)
    assert [c["amount"] for c in _charges(stripe_url, stripe_id)] == [2000]  # charged once


def _top_up_row(engine: Engine, top_up_id: str) -> Any:
    with read(engine) as conn:
        return conn.execute(select(top_ups).where(top_ups.c.id == top_up_id)).one()
