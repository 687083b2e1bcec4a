"""Isolation in the billing portal, proven over every route the application serves under /portal.

Customer A (with a custom-asset wallet, a saved card, a SetupIntent of its own, a product it uses) is
the target. Three outsiders, each signed in to the portal as a customer of their own, try to reach A's
things by editing the address, the query or a form field: another customer of A's platform, a customer
of A's test environment, and a customer of another platform. Every route is called twice by each, once
with A's values and once with values that never existed; the two answers must be the same once the
values are swapped, and A's own pages, read before and after, must be unchanged.

The routes are generated from the app, not listed: a new portal route fails this test until it says
which of A's values it takes. The bearer addresses, whose secret in the address is the credential by
design (docs/payments.md, docs/portal.md), are listed apart with the reason."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from drawdown.accounts import service as accounts
from drawdown.api.app import create_app
from drawdown.apikeys import service as api_keys
from drawdown.db.engine import write
from tests.api.test_isolation import _product
from tests.conftest import Server, unique
from tests.portal.test_money_pages import _saved, csrf

URLS = {"return_url": "https://platform.example/app", "failure_url": "https://platform.example/portal-failed"}

# The secret is in the address: whoever holds it is let in, by design, so "another customer" has no meaning.
BEARER = {
    "/portal/open/{token}": "the single-use link is the credential (docs/portal.md)",
    "/pay/{token}": "a top-up's payment page: the address is the credential (docs/payments.md)",
    "/pay/{token}/card": "a top-up's payment page: the address is the credential (docs/payments.md)",
    "/pay/{token}/complete": "a top-up's payment page: the address is the credential (docs/payments.md)",
    "/portal/subscriptions/{subscription_id}/payment": "the payment link Credyt sends for a blocked subscription",
    "/portal/assets/{name}": "static files",
    "/pay/assets/{name}": "static files",
}


@dataclass(frozen=True)
class Mine:
    """What A is named by in the portal; ``unknown`` makes the same shapes that never existed."""

    account: str  # a wallet account key of A's: default:<A's asset>
    card: str  # A's saved card (a Stripe PaymentMethod id)
    setup_intent: str  # a SetupIntent A confirmed
    product: str  # a product A's usage names

    def unknown(self) -> Mine:
        def fresh(value: str) -> str:
            marker = secrets.token_hex(4)
            return value[: -len(marker)] + (marker.upper() if value[-1].isupper() else marker)

        return Mine(**{f.name: fresh(getattr(self, f.name)) for f in fields(self)})

    def swap(self, other: Mine) -> dict[str, str]:
        return {getattr(self, f.name): getattr(other, f.name) for f in fields(self)}


# What each route is sent: (query or form fields, naming A's values). A new route must be added here.
def _gets(m: Mine) -> dict[str, list[dict[str, str]]]:
    return {
        "/portal/overview": [{}],
        "/portal/usage": [{}, {"product": m.product}, {"product": m.product, "page": "2"}],
        "/portal/usage.csv": [{}, {"product": m.product}],
        "/portal/transactions": [{}],
        "/portal/credits": [{}],
        "/portal/top-up": [{}],
        "/portal/top-up/quote": [{"account": m.account, "amount": "10"}],
        "/portal/cards": [{}],
        "/portal/auto-top-up": [{}],
    }


def _posts(m: Mine) -> dict[str, list[dict[str, str]]]:
    return {
        "/portal/top-up": [{"account": m.account, "amount": "10"}],
        "/portal/cards/setup": [{}],
        "/portal/cards/add": [{"setup_intent": m.setup_intent}],
        "/portal/cards/{action}": [{"card": m.card, "_action": "default"}, {"card": m.card, "_action": "remove"}],
        "/portal/auto-top-up": [{"account": m.account, "enabled": "on", "threshold": "5", "amount": "10",
                                 "monthly_limit": "100", "card": m.card}],
        "/portal/logout": [],  # ends the caller's own session only; called last, below
    }


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route of the app, through the routers it includes (none is included under a prefix)."""
    for route in routes:
        router = getattr(route, "original_router", None)
        yield from _routes(router.routes) if router is not None else [route]


def _portal_routes(server: Server) -> Iterator[tuple[str, str]]:
    """(method, path) of every page route the application serves, from the app itself."""
    app = create_app(server.settings, engine=server.engine)
    for route in _routes(app.routes):
        path = getattr(route, "path", "")
        if path.startswith(("/portal", "/pay")):
            for method in sorted(getattr(route, "methods", None) or ()):
                if method in ("GET", "POST"):
                    yield method, path


# ------------------------------------------------------------------------------------------ the world
def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code < 300, (resp.request.url, resp.status_code, resp.text)
    return resp.json() if resp.content else None


def _client(server: Server, secret: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": secret}, timeout=30)


@contextmanager
def _signed_in(server: Server, api: httpx.Client, customer: str) -> Iterator[httpx.Client]:
    """A browser signed in to the portal as ``customer`` (its link followed, the cookie kept)."""
    link = _ok(api.post("/billing-portal/sessions", json={"customer_id": customer, **URLS}))["redirect_url"]
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as browser:
        assert browser.get(urlsplit(link).path).status_code == 303
        yield browser


def _a_world(server: Server, a: httpx.Client) -> tuple[str, Mine]:
    mark = secrets.token_hex(4).upper()
    asset = f"GEM{mark}"
    _ok(a.post("/assets", json={"code": asset, "name": "Gems", "precision": 0,
                                "rates": [{"source": "USD", "rate": "0.25"}]}))
    product = _ok(a.post("/products", json=_product(f"tok-{mark.lower()}", asset)))["id"]
    customer = _ok(a.post("/customers", json={"name": "A", "external_id": unique("a"),
                                              "subscriptions": [{"products": [{"id": product}]}]}))["id"]
    _ok(a.post(f"/customers/{customer}/wallet/adjustments", json={
        "transaction_id": unique("gift"), "asset": asset, "amount": "30", "reason": "gift"}))
    _ok(a.post("/events", json={"customer_id": customer, "events": [{
        "id": unique("e"), "event_type": "completion", "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"tokens": 10, "model": "m"}}]}))
    card = _ok(a.post(f"/customers/{customer}/payment-methods", json={"payment_method_id": "pm_card_visa"}))["id"]
    with _signed_in(server, a, customer) as mine:
        setup = _saved(server, mine, csrf(mine.get("/portal/cards").text), "5555555555554444")
        assert mine.post("/portal/cards/add", data={"csrf_token": csrf(mine.get("/portal/cards").text),
                                                    "setup_intent": setup}).status_code == 200
    return customer, Mine(f"default:{asset}", card, setup, product)


# ------------------------------------------------------------------------------------------ comparing
_VOLATILE = [
    (re.compile(r'nonce="[^"]+"'), 'nonce=""'),
    (re.compile(r'name="csrf_token" value="[^"]+"'), 'name="csrf_token" value=""'),
    (re.compile(r'data-csrf="[^"]+"'), 'data-csrf=""'),
    (re.compile(r'"X-CSRF-Token": "[^"]+"'), '"X-CSRF-Token": ""'),
    (re.compile(r"\b(seti|pm|card|cus|tok)_[A-Za-z0-9_]+"), r"\1_<id>"),
    (re.compile(r"\b[a-z]{2,5}_[0-9a-z]{26}\b"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d| UTC)?"), "<t>"),
    (re.compile(r"/pay/[A-Za-z0-9_\-]{20,}"), "/pay/<token>"),
]


def _seen(resp: httpx.Response, swap: dict[str, str] | None = None) -> tuple[int, str, str]:
    text, location = resp.text, resp.headers.get("location", "")
    for old, new in (swap or {}).items():
        text, location = text.replace(old, new), location.replace(old, new)
    for pattern, plain in _VOLATILE:
        text, location = pattern.sub(plain, text), pattern.sub(plain, location)
    return resp.status_code, text, location


def _call(b: httpx.Client, method: str, path: str, values: dict[str, str]) -> httpx.Response:
    values = dict(values)
    path = path.replace("{action}", values.pop("_action", ""))
    if method == "GET":
        return b.get(path, params=values)
    token = csrf(b.get("/portal/overview").text)
    return b.post(path, data={"csrf_token": token, **values})


def _a_reads(a_portal: httpx.Client, mine: Mine) -> dict[str, tuple[int, str, str]]:
    return {f"{path}?{q}": _seen(_call(a_portal, "GET", path, q)) for path, qs in _gets(mine).items() for q in qs}


@pytest.fixture
def platforms(pay_server: Server) -> tuple[str, str, str]:
    """Keys of a fresh platform A (live), of A's test environment, and of another platform."""
    now = datetime.now(UTC)
    with write(pay_server.engine) as conn:
        a = accounts.create_platform(conn, "Platform A", now)
        live, test = accounts.scope_for(conn, a.id, "live"), accounts.scope_for(conn, a.id, "test")
        other = accounts.scope_for(conn, accounts.create_platform(conn, "Platform B", now).id, "live")
        return tuple(api_keys.create(conn, s, "k", now)[1] for s in (live, test, other))  # type: ignore[return-value]


def test_no_portal_route_reaches_another_customer(pay_server: Server, platforms: tuple[str, str, str]) -> None:
    a_key, test_key, other_key = platforms
    served = {(m, p) for m, p in _portal_routes(pay_server)}
    covered = {("GET", p) for p in _gets(Mine("", "", "", ""))} | {("POST", p) for p in _posts(Mine("", "", "", ""))}
    new = {r for r in served if r not in covered and r[1] not in BEARER}
    assert not new, f"portal routes new to this test: say which of A's values they take: {sorted(new)}"
    with _client(pay_server, a_key) as a:
        customer, mine = _a_world(pay_server, a)
    with _client(pay_server, a_key) as a, _signed_in(pay_server, a, customer) as a_portal:
        before = _a_reads(a_portal, mine)
        assert before["/portal/cards?{}"][1].count("saved-card") == 2  # A's world is there to be reached
        checked = _outsiders_try(pay_server, (a_key, test_key, other_key), mine)
        after = _a_reads(a_portal, mine)
    changed = {k: (before[k][:2], after[k][:2]) for k in before if before[k] != after[k]}
    assert not changed, f"A's portal changed while others called: {changed}"
    assert checked >= 3 * 16


def _outsiders_try(pay_server: Server, keys: tuple[str, str, str], mine: Mine) -> int:
    a_key, test_key, other_key = keys
    checked = 0
    for who, key in (("another customer of A", a_key), ("a customer of A's test environment", test_key),
                     ("a customer of another platform", other_key)):
        with _client(pay_server, key) as api:
            own = _ok(api.post("/customers", json={"name": "Outsider", "external_id": unique("out")}))["id"]
            never = mine.unknown()
            with _signed_in(pay_server, api, own) as b:
                for method, table in (("GET", _gets), ("POST", _posts)):
                    for path, calls in table(mine).items():
                        for theirs, nobody in zip(calls, table(never)[path], strict=True):
                            seen = _seen(_call(b, method, path, theirs), mine.swap(never))
                            unknown = _seen(_call(b, method, path, nobody))
                            assert seen == unknown, (f"{who}: {method} {path} {theirs} tells A's values from "
                                                     "unknown ones", seen, unknown)
                            assert seen[0] < 500, (who, method, path, seen)
                            checked += 1
                assert b.post("/portal/logout", data={"csrf_token": csrf(b.get("/portal/overview").text)}
                              ).status_code == 303
    return checked
