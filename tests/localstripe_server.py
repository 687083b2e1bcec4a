"""Stripe for real, as far as it can be: localstripe runs as a server (``localstripe --port N
--from-scratch``), Drawdown talks to it through the stripe library, and it delivers signed webhooks to
Drawdown's ``/stripe/webhook``. A server with Stripe configured runs beside the plain ``server``.

A plugin of the root conftest (``pytest_plugins``), so that every test folder can use ``pay_server``:
the payment tests, and the isolation test (its operations include top-ups, which need Stripe)."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from drawdown.payments.worker import start as start_worker
from drawdown.settings import Settings
from drawdown.webhooks.worker import start as start_webhooks
from tests.conftest import Server, start_server

LOCALSTRIPE = str(Path(sys.executable).parent / "localstripe")
SECRET_KEY = "sk_test_drawdown"
PUBLISHABLE_KEY = "pk_test_drawdown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh localstripe per backend; it listens on all interfaces, we only talk to 127.0.0.1."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("localstripe") / "localstripe.log").open("w")
    process = subprocess.Popen(
        [LOCALSTRIPE, "--port", str(port), "--from-scratch"], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/v1/customers", auth=(SECRET_KEY, ""), timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"localstripe did not start (log: {log.name})") from None
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)
    log.close()


def stripe_settings(database_url: str, localstripe: str, webhook_secret: str, public_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        stripe_secret_key=SECRET_KEY,
        stripe_publishable_key=PUBLISHABLE_KEY,
        stripe_webhook_secret=webhook_secret,
        stripe_api_base=localstripe,
        stripe_js_url=f"{localstripe}/js.stripe.com/v3/",
        stripe_setup_future_usage=False,  # localstripe refuses the parameter (docs/payments.md)
        public_url=public_url,
        payments_interval_seconds=0.2,
        webhooks_allow_private=True,
        webhooks_interval_seconds=0.25,
        job_interval_seconds=0,
    )


@pytest.fixture(scope="session")
def pay_server(engine: Engine, database_url: str, localstripe: str) -> Iterator[Server]:
    """Drawdown with Stripe pointed at localstripe, which delivers its signed webhooks to it."""
    secret = "whsec_" + secrets.token_hex(16)
    settings = stripe_settings(database_url, localstripe, secret, "http://127.0.0.1:0")
    served, srv = start_server(engine, settings, "payments")
    # The public URL is the server's own, known once it listens.
    served.settings.public_url = served.url
    name = "drawdown-" + secrets.token_hex(4)
    httpx.post(
        f"{localstripe}/_config/webhooks/{name}",
        data={"url": f"{served.url}/stripe/webhook", "secret": secret},
        auth=(SECRET_KEY, ""),
        timeout=10,
    ).raise_for_status()
    # The payments worker (reconciliation, expiry, refunds left pending, auto top-ups), as ``serve`` runs it.
    worker = start_worker(engine, served.settings, served.clock)
    # And the webhook delivery worker (docs/webhooks.md).
    hooks = start_webhooks(engine, served.settings, served.clock)
    yield served
    hooks.stop()
    worker.stop()
    srv.should_exit = True
