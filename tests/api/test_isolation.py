"""Isolation, proven over every operation the application declares.

A platform (scope A, live) builds a world: an asset, a product, a vendor, a customer with a
subscription, a wallet adjustment, an event with a cost, a connected account. Then every operation in
the app's own OpenAPI document is called from other scopes: A's test environment, another platform,
and a connected account of A (A's key with ``X-CREDYT-ACCOUNT``), each with A's ids in the path, the
query and the body. Each call is made twice, once with A's ids and once with ids that never existed
(same shapes); the two answers must be the same once the ids are swapped, so a foreign id answers
exactly like an unknown one and nothing of A is read or counted. Finally every read of A, made with
A's key before and after, must be unchanged: nothing of A was changed.

The operations are generated, not listed: a new path parameter or request body fails this test until
it says what A's value for it is, so a new endpoint cannot be forgotten.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from drawdown.accounts import service as accounts
from drawdown.apikeys import service as api_keys
from drawdown.core.ids import new_id
from drawdown.db.engine import write
from tests.conftest import Server
from tests.payments import paying
from tests.webhooks.receiver import Receiver

OCCURRED = "2026-11-20T10:00:00Z"
_URLS = {"return_url": "https://platform.example/ok", "failure_url": "https://platform.example/failed"}


@dataclass(frozen=True)
class Ids:
    """What a scope's world is named by; ``unknown`` makes the same shapes that never existed."""

    asset: str
    product: str
    product_code: str
    customer: str
    external_id: str
    email: str
    subscription: str
    transaction: str
    transaction_ref: str
    grant: str
    event: str
    vendor: str
    vendor_external: str
    connected: str
    connected_external: str
    key: str
    payment_method: str  # a Stripe card id (no card of A's: nobody's card is found)
    top_up: str
    webhook: str  # a webhook destination of A's (its receiver is the test's)
    webhook_event: str  # an event delivered to it
    hold: str  # the hold_id of a hold on A's customer's account

    def unknown(self) -> Ids:
        def fresh(value: str) -> str:
            if re.fullmatch(r"[a-z]+_[0-9a-z]{26}", value):
                return new_id(value.split("_")[0])
            marker = secrets.token_hex(8)
            return (value[: -len(marker)] + (marker.upper() if value.isupper() else marker))[: len(value)]

        made: dict[str, str] = {}  # equal values stay equal (an adjustment's id is its transaction_id)
        return Ids(**{f.name: made.setdefault(v, fresh(v)) for f in fields(self) for v in [getattr(self, f.name)]})

    def swap(self, other: Ids) -> dict[str, str]:
        return {getattr(self, f.name): getattr(other, f.name) for f in fields(self)}


# ------------------------------------------------------------------------------------------ the world
def _client(server: Server, secret: str, account: str | None = None) -> httpx.Client:
    headers = {"X-CREDYT-API-KEY": secret} | ({"X-CREDYT-ACCOUNT": account} if account else {})
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code < 300, (resp.request.method, resp.request.url, resp.status_code, resp.text)
    return resp.json() if resp.content else None


def _product(code: str, asset: str) -> dict[str, Any]:
    return {
        "name": "Isolated tokens",
        "code": code,
        "publish": True,
        "prices": [
            {
                "name": "Tokens",
                "type": "usage_based",
                "billing_model": {"type": "real_time"},
                "usage_calculation": {"event_type": "completion", "usage_type": "volume", "volume_field": "tokens",
                                      "billable_dimensions": ["model"]},
                "pricing": [{"asset": asset, "values": [
                    {"dimensions": {"model": "*"}, "values": [{"volume_rate": "0.01"}]}]}],
            }
        ],
    }


def _webhook(c: httpx.Client, url: str) -> tuple[str, str]:
    """A destination of A's for a topic nothing here emits, and one test event, waited for until delivered
    (so A's delivery log no longer changes)."""
    webhook = _ok(c.post("/webhooks", json={"url": url, "topics": ["grant.expired"]}))["id"]
    event = _ok(c.post(f"/webhooks/{webhook}/test/grant.expired", json={"probe": True}))["id"]
    deadline = time.monotonic() + 15
    while not any(m["successful_at"] for m in _ok(c.get("/webhooks/events"))["models"]):
        assert time.monotonic() < deadline, "A's test webhook was not delivered"
        time.sleep(0.05)
    return webhook, event


def _build(c: httpx.Client, key_id: str, hook_url: str) -> Ids:
    mark = secrets.token_hex(6)
    asset = f"GEM{mark.upper()}"
    _ok(c.post("/assets", json={"code": asset, "name": "Gems", "precision": 2,
                                "rates": [{"source": "USD", "rate": "0.5"}]}))
    code = f"iso-{mark}"
    product = _ok(c.post("/products", json=_product(code, asset)))["id"]
    vendor_external = f"vendor-{mark}"
    vendor = _ok(c.post("/vendors", json={"name": "Model host", "external_id": vendor_external}))["id"]
    external_id, email = f"cust-{mark}", f"{mark}@example.com"
    customer = _ok(c.post("/customers", json={
        "name": "Isolated", "external_id": external_id, "email": email,
        "subscriptions": [{"products": [{"code": code, "version": "default"}]}],
    }))
    transaction_ref = f"adj-{mark}"
    adjustment = _ok(c.post(f"/customers/{customer['id']}/wallet/adjustments", json={
        "transaction_id": transaction_ref, "asset": asset, "amount": "100", "reason": "gift"}))
    _ok(c.put(f"/customers/{customer['id']}/wallet/default:{asset}/alerts", json={"thresholds": [{"amount": "5"}]}))
    event = f"evt-{mark}"
    _ok(c.post("/events", json={"customer_id": customer["id"], "events": [{
        "id": event, "event_type": "completion", "occurred_at": OCCURRED, "data": {"tokens": 10, "model": "m"},
        "subject": external_id,
        "costs": [{"id": f"cost-{mark}", "vendor_id": vendor, "amount": "0.02", "currency": "USD"}]}]}))
    grants = _ok(c.get(f"/customers/{customer['id']}/wallet/default:{asset}/grants"))["items"]
    connected_external = f"tenant-{mark}"
    connected = _ok(c.post("/accounts", json={"name": "Tenant", "external_id": connected_external}))["id"]
    hold = f"hold-{mark}"
    _ok(c.post(f"/customers/{customer['id']}/wallet/default:{asset}/holds", json={
        "hold_id": hold, "amount": "1", "ttl_seconds": 86400}))
    top_up = _ok(c.post("/top-ups", json={"customer_id": customer["id"], "amount": "5", "currency": "USD",
                                          **_URLS}))["id"]
    webhook, webhook_event = _webhook(c, hook_url)
    return Ids(asset, product, code, customer["id"], external_id, email, customer["subscriptions"][0]["id"],
               adjustment["id"], transaction_ref, grants[0]["id"], event, vendor, vendor_external, connected,
               connected_external, key_id, f"pm_{mark}{mark}", top_up, webhook, webhook_event, hold)


# ------------------------------------------------------------------------------- the operations
@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    query: tuple[str, ...]
    body: str | None  # the request model's name


def _operations(openapi: dict[str, Any]) -> Iterator[Operation]:
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if not op.get("security"):  # health: no key, no data
                continue
            query = tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "query")
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            yield Operation(method.upper(), path, query, ref.get("$ref", "").rsplit("/", 1)[-1] or None)


def _path_value(path: str, name: str, ids: Ids) -> str:
    if name == "accountId":
        return f"default:{ids.asset}" if path.startswith("/customers/") else ids.connected
    values = {
        "assetCode": ids.asset, "productId": ids.product, "version": "1", "customerId": ids.customer,
        "subscriptionId": ids.subscription, "transactionId": ids.transaction, "grantId": ids.grant,
        "eventId": ids.event, "vendorId": ids.vendor, "keyId": ids.key, "paymentMethodId": ids.payment_method,
        "topUpId": ids.top_up, "webhookId": ids.webhook, "webhookEventId": ids.webhook_event,
        "topic": "grant.expired", "connectedAccountId": ids.connected,
        "holdId": ids.hold,
        "subject": ids.external_id,  # A's event names its customer's external id
    }
    if name not in values:
        pytest.fail(f"{path}: path parameter {name!r} is new; say which of scope A's ids it takes")
    return values[name]


def _query_value(path: str, name: str, ids: Ids) -> str | None:
    external = {"/vendors": ids.vendor_external, "/accounts": ids.connected_external}.get(path, ids.external_id)
    return {
        "customer_id": ids.customer, "external_id": external, "customer_external_id": ids.external_id,
        "event_id": ids.event, "product_id": ids.product, "vendor_id": ids.vendor, "asset": ids.asset,
        "source": ids.asset, "subject": ids.external_id, "code": ids.product_code, "email": ids.email,
        "destination_id": ids.webhook,
    }.get(name)


BODIES: dict[str, Callable[[Ids], dict[str, Any]]] = {
    "CreateAssetRequest": lambda i: {"code": i.asset, "name": "Gems", "precision": 2,
                                     "rates": [{"source": "USD", "rate": "0.5"}]},
    "AddAssetRateRequest": lambda i: {"source": "USD", "rate": "2"},
    "CreateProductRequest": lambda i: _product(i.product_code, i.asset),
    "CreateProductVersionRequest": lambda i: {"prices": _product(i.product_code, i.asset)["prices"], "publish": True},
    "UpdateProductVersionRequest": lambda i: {"status": "archived"},
    "UpdateProductRequest": lambda i: {"name": "Renamed"},
    "SimulateUsageRequest": lambda i: {"customer_id": i.customer, "events": [
        {"event_type": "completion", "data": {"tokens": 10}}]},
    "CreateCustomerRequest": lambda i: {"name": "Intruder", "external_id": i.external_id, "subscriptions": [
        {"products": [{"id": i.product, "version": "default"}]}]},
    "UpdateCustomerRequest": lambda i: {"name": "Renamed", "external_id": i.external_id},
    "CreateSubscription": lambda i: {"products": [{"code": i.product_code, "version": "default"}]},
    "UpdateSubscriptionRequest": lambda i: {"status": "inactive"},
    "UpdateSubscriptionProductRequest": lambda i: {"version": 1},
    "CreateAdjustmentRequest": lambda i: {"transaction_id": i.transaction_ref, "asset": i.asset, "amount": "5",
                                          "reason": "gift"},
    "CreateChargeRequest": lambda i: {"transaction_id": i.transaction_ref, "asset": i.asset, "amount": "5"},
    "UpdateAccountRequest": lambda i: {"overdraft_limit": "0"},
    "QuoteAssetRequest": lambda i: {"source": "USD", "amount": "3"},
    "UsageRequest": lambda i: {"customer_id": i.customer, "events": [
        {"id": i.event, "event_type": "completion", "occurred_at": OCCURRED, "data": {"tokens": 10},
         "costs": [{"id": "c", "vendor_id": i.vendor, "amount": "0.01", "currency": "USD"}]}]},
    "CreateVendorRequest": lambda i: {"name": "Model host", "external_id": i.vendor_external},
    "CreateAccountRequest": lambda i: {"name": "Tenant", "external_id": i.connected_external},
    "CreateApiKeyRequest": lambda i: {"name": "intruder"},
    "AddPaymentMethodRequest": lambda i: {"payment_method_id": i.payment_method},
    "InitiateTopUpRequest": lambda i: {"customer_id": i.customer, "amount": "5", "currency": "USD", **_URLS},
    "CreateRefundRequest": lambda i: {"amount": "1"},
    "AutoTopUpRequest": lambda i: {"enabled": True, "threshold": "5", "amount": "10", "monthly_limit": "100"},
    "CreateSessionRequest": lambda i: {"customer_id": i.customer, **_URLS},
    "PortalSettings": lambda i: {"display_name": "Intruder", "primary_color": "#000000"},
    "AlertsRequest": lambda i: {"thresholds": [{"amount": "5"}, {"percent": "20"}]},
    "CreateWebhookDestinationRequest": lambda i: {"url": "http://127.0.0.1:9/intruder", "topics": ["*"]},
    "UpdateWebhookDestinationRequest": lambda i: {"enabled": False, "topics": ["balance.low"]},
    "CreateHoldRequest": lambda i: {"hold_id": i.hold, "amount": "0.1", "ttl_seconds": 3600},
}


def _body(op: Operation, ids: Ids) -> dict[str, Any] | None:
    if op.body is None:
        return None
    if op.body not in BODIES:
        pytest.fail(f"{op.method} {op.path}: request model {op.body!r} is new; give it a body naming A's ids")
    return BODIES[op.body](ids)


def _calls(op: Operation, ids: Ids) -> Iterator[tuple[str, dict[str, str], dict[str, Any] | None]]:
    """The calls of one operation with ``ids``: plain, then with each query parameter naming an id."""
    path = re.sub(r"\{(\w+)\}", lambda m: _path_value(op.path, m.group(1), ids), op.path)
    body = _body(op, ids)
    yield path, {}, body
    for name in op.query:
        value = _query_value(op.path, name, ids)
        if value is not None:
            yield path, {name: value}, body


# ------------------------------------------------------------------------------------ comparing
_TYPEID = re.compile(r"\b[a-z]{2,5}_[0-9a-z]{26}\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_SECRET = re.compile(r"(key_(live|test)|whsec)_[A-Za-z0-9_\-]+…?")  # secrets and their hints


def _seen(resp: httpx.Response, swap: dict[str, str] | None = None) -> tuple[int, str, str]:
    text, location = resp.text, resp.headers.get("location", "")
    for old, new in (swap or {}).items():
        text, location = text.replace(old, new), location.replace(old, new)
    text = _SECRET.sub("<secret>", _TIME.sub("<t>", _TYPEID.sub("<id>", text)))
    return resp.status_code, text, _TYPEID.sub("<id>", location)


def _send(c: httpx.Client, method: str, path: str, query: dict[str, str], body: Any) -> httpx.Response:
    return c.request(method, path, params=query, json=body, follow_redirects=False)


def _snapshot(c: httpx.Client, ops: list[Operation], ids: Ids) -> dict[str, tuple[int, str, str]]:
    """Every read of A, by A: what must not change while others call."""
    seen = {}
    for op in ops:
        if op.method == "GET":
            for path, query, _ in _calls(op, ids):
                resp = _send(c, "GET", path, query, None)
                seen[f"{path}?{query}"] = _seen(resp)
    return seen


@pytest.fixture
def platform(pay_server: Server) -> tuple[str, str, Any, Any, Any]:
    """A fresh platform A: its live key id and secret, its live and test scopes, and another platform."""
    now = datetime.now(UTC)
    with write(pay_server.engine) as conn:
        a = accounts.create_platform(conn, "Platform A", now)
        live, test = accounts.scope_for(conn, a.id, "live"), accounts.scope_for(conn, a.id, "test")
        other = accounts.scope_for(conn, accounts.create_platform(conn, "Platform B", now).id, "live")
        key_id, secret = api_keys.create(conn, live, "A", now)
    return key_id, secret, live, test, other


def test_no_operation_reaches_another_scope(pay_server: Server, platform: Any, receiver: Receiver) -> None:
    """On the server with Stripe (localstripe): top-ups and cards are operations like any other."""
    server = pay_server
    key_id, secret, _, test_scope, other_scope = platform
    with _client(server, secret) as a:
        ids = _build(a, key_id, receiver.url)
        # A's top-up is paid (localstripe, its webhook): a refund by anyone else would move real money.
        paying.pay(server, ids.top_up)
        assert paying.settled(server, ids.top_up).status == "succeeded"
        ops = list(_operations(_ok(a.get("/openapi.json"))))
        ops.sort(key=lambda o: {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 2, "DELETE": 3}[o.method])
        assert len(ops) >= 40 and {o.body for o in ops} - {None} <= set(BODIES)
        before = _snapshot(a, ops, ids)
    with write(server.engine) as conn:
        now = datetime.now(UTC)
        outsiders = {
            "A's test environment": (api_keys.create(conn, test_scope, "t", now)[1], None),
            "another platform": (api_keys.create(conn, other_scope, "o", now)[1], None),
            "A's connected account": (secret, ids.connected),
        }
    checked = 0
    for who, (outsider, account) in outsiders.items():
        with _client(server, outsider, account) as b:
            # One set of never-seen ids per outsider: what it creates under A's names, it also
            # creates under these, so both runs of every later call find the same things.
            unknown = ids.unknown()
            for op in ops:
                checked += _compare(b, who, op, ids, unknown)
            # Then the routes that find a child (a subscription, an account, a grant, a transaction, a
            # card) under a customer: the outsider's own customer, holding accounts named like A's
            # (its scope now has assets with A's and the unknown codes, made above), with A's child ids.
            own = _ok(b.post("/customers", json={"name": "Outsider"}))["id"]
            for code in (ids.asset, unknown.asset):
                _ok(b.post(f"/customers/{own}/wallet/adjustments", json={
                    "transaction_id": f"own-{code}", "asset": code, "amount": "1", "reason": "gift"}))
            for op in ops:
                if "{customerId}" in op.path and op.path.count("{") > 1:
                    checked += _compare(b, who, op, replace(ids, customer=own), replace(unknown, customer=own))
    with _client(server, secret) as a:
        after = _snapshot(a, ops, ids)
    changed = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
    assert not changed, f"A changed while others called: {changed}"
    assert checked > 150


def _compare(b: httpx.Client, who: str, op: Operation, mine: Ids, never: Ids) -> int:
    """Each call of ``op`` twice, with ``mine`` and with ``never``: the same answer once ids are swapped."""
    count = 0
    for (path, query, body), (upath, uquery, ubody) in zip(_calls(op, mine), _calls(op, never), strict=True):
        theirs = _seen(_send(b, op.method, path, query, body), mine.swap(never))
        nobody = _seen(_send(b, op.method, upath, uquery, ubody))
        assert theirs == nobody, (f"{who}: {op.method} {path} {query} tells A's ids from unknown ones", theirs, nobody)
        assert theirs[0] < 500, (who, op.method, path, theirs)
        count += 1
    return count


def test_the_operation_list_is_the_apps_own(server: Server, http: httpx.Client) -> None:
    """The test above covers whatever the app declares: a route added tomorrow is in its list."""
    ops = list(_operations(http.get("/openapi.json").json()))
    paths = {o.path for o in ops}
    assert {"/customers/{customerId}", "/events", "/accounts/{accountId}", "/api-keys/{keyId}"} <= paths
