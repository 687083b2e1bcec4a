"""The catalog in scopes: codes are unique per scope, an asset, rate or product of another scope is
answered exactly like an unknown one, and the fiat currencies exist in every scope. Through the
services (SQLite and PostgreSQL) and over HTTP with a live and a test key."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from drawdown.apikeys import service as api_keys
from drawdown.catalog import rates
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, NewRate, NewVersion, QuoteRequest, StartingRate, VersionUpdate
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.scopes import DEFAULT_LIVE as LIVE
from drawdown.core.scopes import DEFAULT_TEST as TEST
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write
from tests.conftest import Server
from tests.worlds import volume_world

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FIAT = {"USD", "EUR", "GBP"}


def _code(prefix: str = "S") -> str:
    return prefix + uuid.uuid4().hex[:8].upper()


def _price(asset: str) -> dict[str, Any]:
    return {
        "name": "use", "type": "usage_based", "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "use", "usage_type": "volume", "volume_field": "n"},
        "pricing": [{"asset": asset, "values": [{"volume_rate": 0.5}]}],
    }


def _asset(engine: Engine, scope: Scope, code: str, name: str = "A", *starting: StartingRate) -> None:
    with write(engine) as conn:
        catalog.create_asset(conn, scope, NewAsset(code=code, name=name, rates=starting), T0)


def _product(engine: Engine, scope: Scope, code: str, asset: str = "USD") -> str:
    with write(engine) as conn:
        command = NewProduct(code=code, name=code, prices=[_price(asset)], publish=True)
        return catalog.create_product(conn, scope, command, T0).product_id


def _refusal(engine: Engine, call: Callable[[Any, str], object], ref: str) -> str:
    """The NotFound message ``call(conn, ref)`` raises (rolled back)."""
    with pytest.raises(NotFound) as seen:
        with write(engine) as conn:
            call(conn, ref)
    return str(seen.value.detail)


# ---------------------------------------------------------------------------------------- services
def test_the_same_asset_and_product_codes_live_in_each_scope(engine: Engine) -> None:
    asset, product = _code(), _code("p").lower()
    _asset(engine, LIVE, asset, "Live credits")
    _asset(engine, TEST, asset, "Test credits")
    live_id, test_id = _product(engine, LIVE, product, asset), _product(engine, TEST, product, asset)
    assert live_id != test_id
    with read(engine) as conn:
        assert catalog.get_asset(conn, LIVE, asset).name == "Live credits"
        assert catalog.get_asset(conn, TEST, asset).name == "Test credits"
        assert catalog.get_product(conn, LIVE, product).id == live_id  # by code, in its own scope
        assert catalog.get_product(conn, TEST, product).id == test_id
        assert [p.id for p in catalog.list_products(conn, TEST, 0, 10, product)[0]] == [test_id]


def test_an_asset_of_another_scope_is_unknown(engine: Engine) -> None:
    asset, unknown = _code(), _code()
    _asset(engine, LIVE, asset, "A", StartingRate("USD", D("0.01")))
    calls: list[Callable[[Any, str], object]] = [
        lambda c, a: catalog.get_asset(c, TEST, a),
        lambda c, a: rates.add_rate(c, TEST, a, NewRate("USD", D(1)), T0),
        lambda c, a: rates.quote(c, TEST, a, QuoteRequest("USD", D(1)), T0),
    ]
    for call in calls:
        for code in (asset, unknown):  # answered alike
            assert _refusal(engine, call, code) == f"asset {code} not found"
    with read(engine) as conn:
        assert asset not in {a.code for a in catalog.list_assets(conn, TEST, 0, 500)[0]}
        assert rates.rate_in_force(conn, TEST, asset, "USD", T0) is None
        assert catalog.get_asset(conn, LIVE, asset).schedules[0].periods[0].rate == D("0.01")  # untouched
    # A product in the test scope cannot price in the live scope's asset.
    with pytest.raises(Invalid) as seen:
        _product(engine, TEST, _code("p"), asset)
    assert seen.value.errors == {"prices[0].pricing[0].asset": [f"unknown asset {asset!r}"]}


def test_a_product_of_another_scope_is_unknown(engine: Engine) -> None:
    code, _ = volume_world(engine, T0, D("0.01"), 1, D(0), funded=0)  # a live product with a subscriber
    with read(engine) as conn:
        product_id = catalog.get_product(conn, LIVE, code).id
    calls: list[Callable[[Any, str], object]] = [
        lambda c, p: catalog.get_product(c, TEST, p),
        lambda c, p: catalog.get_version(c, TEST, p, 1),
        lambda c, p: catalog.version_row(c, TEST, p, "default"),
        lambda c, p: catalog.create_version(c, TEST, p, NewVersion(prices=[_price("USD")]), T0),
        lambda c, p: catalog.update_version(c, TEST, p, 1, VersionUpdate(make_default=True)),
        lambda c, p: catalog.archive_version(c, TEST, p, 1),
        lambda c, p: catalog.delete_product(c, TEST, p),
        lambda c, p: catalog.subscribers(c, TEST, p, 0, 10, T0),
    ]
    unknown = "prd_" + uuid.uuid4().hex
    for call in calls:
        for ref in (product_id, code, unknown):  # answered alike
            assert _refusal(engine, call, ref) == f"product {ref} not found"
    with read(engine) as conn:
        assert catalog.list_products(conn, TEST, 0, 10, code) == ([], 0)
        assert product_id not in {p.id for p in catalog.list_products(conn, TEST, 0, 500, None)[0]}
        live = catalog.get_product(conn, LIVE, code)
        assert [(v.version, v.status, v.is_default) for v in live.versions] == [(1, "published", True)]
        assert catalog.subscribers(conn, LIVE, code, 0, 10, T0)[1] == 1


def test_fiat_currencies_exist_in_every_scope(engine: Engine) -> None:
    with read(engine) as conn:
        for scope in (LIVE, TEST):
            assert FIAT <= {a.code for a in catalog.list_assets(conn, scope, 0, 500)[0]}
            assert catalog.get_asset(conn, scope, "usd").code == "USD"
    # Either scope can use them as a rate source and in prices.
    asset = _code()
    _asset(engine, TEST, asset, "T", StartingRate("EUR", D("0.5")))
    _product(engine, TEST, _code("p"), "USD")


def test_a_rate_stays_in_the_scope_it_was_added_in(engine: Engine) -> None:
    asset = _code()
    _asset(engine, LIVE, asset)
    _asset(engine, TEST, asset)
    with write(engine) as conn:
        rates.add_rate(conn, LIVE, asset, NewRate("USD", D("0.02"), valid_from=T0), T0)
    with read(engine) as conn:
        assert catalog.get_asset(conn, TEST, asset).schedules == ()
        assert rates.rate_in_force(conn, TEST, asset, "USD", T0) is None
        assert rates.rate_in_force(conn, LIVE, asset, "USD", T0) is not None
        with pytest.raises(Invalid, match="no rate from USD"):
            rates.convert(conn, TEST, asset, "USD", D(1), T0)
    # A fiat currency's rate too: the copies of EUR in each scope have their own schedules.
    start = datetime(2090, 1, 1, tzinfo=UTC) + timedelta(microseconds=uuid.uuid4().int % 1_000_000)
    with write(engine) as conn:
        rates.add_rate(conn, TEST, "EUR", NewRate("USD", D("1.2345"), start, start + timedelta(days=1)), T0)
    with read(engine) as conn:
        found = rates.rate_in_force(conn, TEST, "EUR", "USD", start)
        live = rates.rate_in_force(conn, LIVE, "EUR", "USD", start)
        live_periods = [p.valid_from for s in catalog.get_asset(conn, LIVE, "EUR").schedules for p in s.periods]
    assert found is not None and found.rate == D("1.2345")
    assert (live is None or live.valid_from != start) and start not in live_periods


# -------------------------------------------------------------------------------------------- HTTP
def _client(server: Server, scope: Scope) -> httpx.Client:
    with write(server.engine) as conn:
        secret = server.key if scope == LIVE else api_keys.create(conn, scope, "catalog scopes", T0)[1]
    return httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": secret}, timeout=30)


@pytest.fixture
def live(server: Server) -> Iterator[httpx.Client]:
    with _client(server, LIVE) as c:
        yield c


@pytest.fixture
def test(server: Server) -> Iterator[httpx.Client]:
    with _client(server, TEST) as c:
        yield c


def _event() -> dict[str, Any]:
    return {"id": _code("e"), "event_type": "use", "occurred_at": "2026-03-01T00:00:00Z", "data": {"n": 1}}


def _same_404(client: httpx.Client, method: str, path: str, unknown_path: str, **body: Any) -> None:
    """``path`` (another scope's object) answers exactly as ``unknown_path`` does, bar the id in the detail."""
    known, unknown = client.request(method, path, **body), client.request(method, unknown_path, **body)
    assert known.status_code == unknown.status_code == 404, (path, known.text)
    seen, expected = known.json(), unknown.json()
    assert set(seen) == set(expected) and seen["title"] == expected["title"]


def test_over_http_codes_are_per_scope_and_assets_do_not_leak(live: httpx.Client, test: httpx.Client) -> None:
    shared, live_only = _code(), _code()
    for client, name in ((live, "Live"), (test, "Test")):
        assert client.post("/assets", json={"code": shared, "name": name}).status_code == 201
    assert live.post("/assets", json={"code": live_only, "name": "L"}).status_code == 201
    assert test.get(f"/assets/{shared}").json()["name"] == "Test"
    assert live.post(f"/assets/{shared}/rates", json={"source": "USD", "rate": 0.25}).status_code == 204
    assert live.get(f"/assets/{shared}").json()["rates"] != []
    assert test.get(f"/assets/{shared}").json()["rates"] == []  # the live rate is not the test asset's
    missing = _code()
    _same_404(test, "GET", f"/assets/{live_only}", f"/assets/{missing}")
    for action, body in (("rates", {"source": "USD", "rate": 1}), ("quote", {"source": "USD", "amount": 1})):
        _same_404(test, "POST", f"/assets/{live_only}/{action}", f"/assets/{missing}/{action}", json=body)
    listed = {a["code"] for a in test.get("/assets", params={"limit": 500}).json()["items"]}
    assert FIAT <= listed and shared in listed and live_only not in listed
    assert test.get("/assets/USD").status_code == 200 and live.get("/assets/USD").status_code == 200


def test_over_http_a_product_of_another_scope_is_unknown(live: httpx.Client, test: httpx.Client) -> None:
    code = _code("p").lower()
    body = {"code": code, "name": "P", "prices": [_price("USD")], "publish": True}
    made = live.post("/products", json=body)
    again = test.post("/products", json=body)  # the same code in the other scope
    assert made.status_code == again.status_code == 201
    pid, test_pid = made.json()["id"], again.json()["id"]
    assert pid != test_pid
    assert test.get("/products", params={"code": code}).json()["total_count"] == 1
    assert test.get(f"/products/{code}").json()["id"] == test_pid
    other = live.post("/products", json={**body, "code": _code("p").lower()}).json()["id"]
    unknown = "prd_" + uuid.uuid4().hex
    checks: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/products/{}", {}),
        ("GET", "/products/{}/1", {}),
        ("GET", "/products/{}/default", {}),
        ("GET", "/products/{}/subscribers", {}),
        ("GET", "/products/{}/stats", {}),
        ("POST", "/products/{}", {"json": {"prices": [_price("USD")]}}),
        ("PATCH", "/products/{}/1", {"json": {"make_default": True}}),
        ("POST", "/products/{}/1/simulate-usage", {"json": {"events": [_event()]}}),
        ("DELETE", "/products/{}/1", {}),
        ("DELETE", "/products/{}", {}),
    ]
    for method, path, extra in checks:
        _same_404(test, method, path.format(other), path.format(unknown), **extra)
    assert other not in {p["id"] for p in test.get("/products", params={"limit": 500}).json()["items"]}
    got = live.get(f"/products/{other}").json()
    assert [(v["version"], v["status"]) for v in got["versions"]] == [(1, "published")]  # nothing moved
