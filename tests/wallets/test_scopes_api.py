"""Wallets over HTTP in two scopes: a live customer's wallet, accounts, grants and transactions answer a
test-environment key exactly like an unknown customer's, and the same transaction_id posted in each
scope makes two independent transactions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import DEFAULT_TEST
from drawdown.db.engine import write
from tests.conftest import Server, unique

UNKNOWN = "cus_" + "0" * 26


@pytest.fixture
def test_http(server: Server) -> Iterator[httpx.Client]:
    """A client holding a key of the default account's test environment."""
    with write(server.engine) as conn:
        _, secret = api_keys.create(conn, DEFAULT_TEST, unique("test-key"), datetime.now(UTC))
    with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": secret}, timeout=30) as c:
        yield c


def _customer(client: httpx.Client) -> str:
    resp = client.post("/customers", json={"name": "W", "external_id": unique("x")})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _asset(client: httpx.Client, code: str) -> None:
    body = {"code": code, "name": code, "rates": [{"source": "USD", "rate": "0.01"}]}
    assert client.post("/assets", json=body).status_code == 201


def _adjust(client: httpx.Client, cid: str, tid: str, asset: str, amount: str) -> httpx.Response:
    body = {"transaction_id": tid, "asset": asset, "amount": amount, "reason": "gift"}
    return client.post(f"/customers/{cid}/wallet/adjustments", json=body)


def test_a_live_wallet_answers_the_test_key_like_an_unknown_customer(
    http: httpx.Client, test_http: httpx.Client
) -> None:
    asset = unique("W").upper().replace("-", "")[:12]
    _asset(http, asset)
    cid = _customer(http)
    assert _adjust(http, cid, "gift-1", asset, "10").status_code == 201
    key = f"default:{asset}"
    grant_id = http.get(f"/customers/{cid}/wallet/{key}/grants").json()["items"][0]["id"]
    calls: list[tuple[str, str, dict[str, object]]] = [
        ("GET", "/customers/{c}/wallet", {}),
        ("GET", f"/customers/{{c}}/wallet/{key}", {}),
        ("GET", f"/customers/{{c}}/wallet/{key}/grants", {}),
        ("GET", f"/customers/{{c}}/wallet/{key}/grants/{grant_id}", {}),
        ("GET", "/customers/{c}/wallet/transactions/gift-1", {}),
        ("PATCH", f"/customers/{{c}}/wallet/{key}", {"json": {"overdraft_limit": "100"}}),
        ("POST", "/customers/{c}/wallet/adjustments",
         {"json": {"transaction_id": "gift-1", "asset": "USD", "amount": "10", "reason": "gift"}}),
        ("POST", "/customers/{c}/wallet/charges", {"json": {"transaction_id": "fee-1", "asset": "USD", "amount": "1"}}),
    ]
    for method, path, kw in calls:
        foreign = test_http.request(method, path.format(c=cid), **kw)  # type: ignore[arg-type]
        unknown = test_http.request(method, path.format(c=UNKNOWN), **kw)  # type: ignore[arg-type]
        assert foreign.status_code == unknown.status_code == 404, (path, foreign.text)
        assert json.loads(foreign.text.replace(cid, UNKNOWN)) == unknown.json()
    # Nothing of the live wallet moved.
    account = http.get(f"/customers/{cid}/wallet/{key}").json()
    assert (Decimal(str(account["available"])), account["overdraft_limit"]) == (Decimal(10), None)
    assert [a["asset"] for a in http.get(f"/customers/{cid}/wallet").json()["accounts"]] == [asset]


def test_the_same_transaction_id_in_each_scope_makes_two_transactions(
    http: httpx.Client, test_http: httpx.Client
) -> None:
    asset = unique("W").upper().replace("-", "")[:12]
    _asset(http, asset)
    _asset(test_http, asset)  # custom assets are per scope: the same code in each
    live, test = _customer(http), _customer(test_http)
    tid = unique("topup")
    assert _adjust(http, live, tid, asset, "10").status_code == 201
    assert _adjust(test_http, test, tid, asset, "3").status_code == 201  # not a 409: another scope's id
    assert _adjust(test_http, test, tid, asset, "3").status_code == 201  # its own replay, answered again
    assert _adjust(test_http, test, tid, asset, "4").status_code == 409  # and its own conflict
    live_txn = http.get(f"/customers/{live}/wallet/transactions/{tid}").json()
    test_txn = test_http.get(f"/customers/{test}/wallet/transactions/{tid}").json()
    assert (live_txn["id"], test_txn["id"]) == (tid, tid)
    assert (Decimal(str(live_txn["amount"])), Decimal(str(test_txn["amount"]))) == (Decimal(10), Decimal(3))
    available = test_http.get(f"/customers/{test}/wallet/default:{asset}").json()["available"]
    assert Decimal(str(available)) == Decimal(3)
    # A live-only asset is unknown to the test scope.
    only_live = unique("L").upper().replace("-", "")[:12]
    _asset(http, only_live)
    refused = _adjust(test_http, test, unique("t"), only_live, "1")
    assert (refused.status_code, refused.json()["errors"]) == (422, {"asset": [f"unknown asset {only_live!r}"]})
