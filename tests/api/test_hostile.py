"""A standing corpus of hostile requests: each gets a 4xx problem naming the field where there is
one, changes no row, and leaves the keep-alive connection usable for the next request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError
from sqlalchemy import func, select

from drawdown.api.app import create_app
from drawdown.api.guard import Backoff
from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db import tables
from drawdown.db.engine import write
from drawdown.settings import Settings
from tests.api.helpers import customer_on, make_asset, now_iso, token_product
from tests.conftest import _free_port, unique


@dataclass
class World:
    customer: str
    asset: str


@pytest.fixture(scope="module")
def world(server) -> World:
    from corehttp.credentials import ServiceKeyCredential
    from credytapi import CredytApiClient

    with CredytApiClient(credential=ServiceKeyCredential(server.key), endpoint=server.url) as c:
        asset = make_asset(c)
        product = token_product(c, asset)
        return World(customer_on(c, product["code"]), asset)


def _events(w: World, tokens: str = "1", occurred_at: str | None = None) -> bytes:
    stamp = json.dumps(occurred_at or now_iso())
    one = f'{{"id":"{unique("ev")}","event_type":"completion","occurred_at":{stamp},'
    one += f'"data":{{"model":"large","tokens":{tokens}}}}}'
    return f'{{"customer_id":"{w.customer}","events":[{one}]}}'.encode()


def _adjust(w: World, amount: str, extra: str = "") -> bytes:
    return (
        f'{{"transaction_id":"{unique("adj")}","asset":"{w.asset}","amount":{amount},"reason":"gift"{extra}}}'.encode()
    )


def _nested(depth: int) -> bytes:
    return b'{"customer_id":"c","events":' + b"[" * depth + b"]" * depth + b"}"


JSON = {"content-type": "application/json"}
ADJUST = "/customers/{c}/wallet/adjustments"


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: Callable[[World], bytes] | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    status: tuple[int, ...] = (400, 422)
    field: str | None = None  # the field the problem must name
    key: bool = True


CASES = [
    # Depth: refused before the parser can recurse.
    Case("nested-500", "POST", "/events", lambda w: _nested(500), status=(400,)),
    Case("nested-5000", "POST", "/events", lambda w: _nested(5000), status=(400,)),
    Case("nested-object-2000", "POST", "/events", lambda w: b'{"a":' * 2000 + b"1" + b"}" * 2000, status=(400,)),
    Case("nested-no-key", "POST", "/events", lambda w: _nested(5000), status=(401,), key=False),
    # Dates at the calendar's ends, in bodies and in query filters.
    Case(
        "occurred-max-offset",
        "POST",
        "/events",
        lambda w: _events(w, occurred_at="9999-12-31T23:59:59-01:00"),
        field="events[0].occurred_at",
    ),
    Case(
        "occurred-min-offset",
        "POST",
        "/events",
        lambda w: _events(w, occurred_at="0001-01-01T00:00:00+01:00"),
        field="events[0].occurred_at",
    ),
    Case(
        "occurred-max-utc",
        "POST",
        "/events",
        lambda w: _events(w, occurred_at="9999-12-31T23:59:59Z"),
        field="events[0].occurred_at",
    ),
    Case(
        "adjust-expires-max",
        "POST",
        ADJUST,
        lambda w: _adjust(w, "1", ',"expires_at":"9999-12-31T23:59:59-01:00"'),
        field="expires_at",
    ),
    Case("events-period-to", "GET", "/events?period_to=9999-12-31", field="period_to"),
    Case("events-period-from", "GET", "/events?period_from=0001-01-01", field="period_from"),
    Case("revenue-ends", "GET", "/reports/revenue?period_from=0001-01-01&period_to=9999-12-31", field="period_to"),
    Case("customer-stats", "GET", "/customers/stats?period_to=9999-12-31", field="period_to"),
    Case(
        "grants-effective-to",
        "GET",
        "/customers/{c}/wallet/default:{a}/grants?effective_to=9999-12-31T23:59:59-01:00",
        field="effective_to",
    ),
    Case(
        "grants-expired-from",
        "GET",
        "/customers/{c}/wallet/default:{a}/grants?expired_from=0001-01-01T00:00:00%2B01:00",
        field="expired_from",
    ),
    # Numbers the parser will not take, named by field.
    Case("volume-1e400", "POST", "/events", lambda w: _events(w, "1e400"), field="events[0].data.tokens"),
    Case("volume-1e-400", "POST", "/events", lambda w: _events(w, "1e-400"), field="events[0].data.tokens"),
    Case("volume-string-1e400", "POST", "/events", lambda w: _events(w, '"1e400"'), field="events[0].data.tokens"),
    Case("volume-1e60", "POST", "/events", lambda w: _events(w, "1e60"), field="events[0].data.tokens"),
    Case("volume-huge-int", "POST", "/events", lambda w: _events(w, "9" * 5000), field="events[0].data.tokens"),
    Case("volume-nan", "POST", "/events", lambda w: _events(w, "NaN"), field="events[0].data.tokens"),
    Case("amount-nan", "POST", ADJUST, lambda w: _adjust(w, "NaN"), field="amount"),
    Case("amount-infinity", "POST", ADJUST, lambda w: _adjust(w, "-Infinity"), field="amount"),
    Case("amount-1e400", "POST", ADJUST, lambda w: _adjust(w, "1e400"), field="amount"),
    Case("amount-5000-digits", "POST", ADJUST, lambda w: _adjust(w, "1" * 5000), field="amount"),
    Case("amount-minus-zero", "POST", ADJUST, lambda w: _adjust(w, "-0"), field="amount"),
    Case("amount-minus-zero-point", "POST", ADJUST, lambda w: _adjust(w, "-0.0"), field="amount"),
    # Repeated keys: never the last value.
    Case("duplicate-amount", "POST", ADJUST, lambda w: _adjust(w, '1,"amount":1000'), status=(400,), field="amount"),
    Case(
        "duplicate-nested",
        "POST",
        "/events",
        lambda w: _events(w, '1,"tokens":1000'),
        status=(400,),
        field="events[0].data.tokens",
    ),
    # Encoding and NULs, whatever the JSON content type.
    Case(
        "invalid-utf8", "POST", ADJUST, lambda w: _adjust(w, "1").replace(b'"gift"', b'"gi\xff\xfeft"'), status=(400,)
    ),
    Case(
        "nul-merge-patch",
        "POST",
        ADJUST,
        lambda w: _adjust(w, "1", ',"description":"a\\u0000b"'),
        headers={"content-type": "application/merge-patch+json"},
        field="description",
    ),
    Case(
        "nul-vnd",
        "POST",
        "/events",
        lambda w: _events(w).replace(b'"large"', b'"lar\\u0000ge"'),
        headers={"content-type": "application/vnd.api+json"},
        field="events[0].data.model",
    ),
    Case(
        "nul-upper",
        "POST",
        ADJUST,
        lambda w: _adjust(w, "1", ',"description":"a\\u0000b"'),
        headers={"content-type": "APPLICATION/JSON; charset=UTF-8"},
        field="description",
    ),
    Case(
        "nul-key",
        "POST",
        "/events",
        lambda w: _events(w).replace(b'"model"', b'"mo\\u0000del"'),
        field="events[0].data.mo\x00del",
    ),
    Case("nul-query", "GET", "/events?subject=a%00b", field="subject"),
    # Lone surrogate escapes: no UTF-8 form, so they can be neither hashed nor stored.
    Case(
        "surrogate-data",
        "POST",
        "/events",
        lambda w: _events(w).replace(b'"large"', b'"\\udfff"'),
        field="events[0].data.model",
    ),
    Case(
        "surrogate-description",
        "POST",
        ADJUST,
        lambda w: _adjust(w, "1", ',"description":"a\\ud800b"'),
        field="description",
    ),
    # Path and query values that int() or the database cannot take.
    Case("version-5000-digits", "GET", "/products/prod_x/" + "9" * 5000, status=(404, 422)),
    Case("version-superscript", "GET", "/products/prod_x/%C2%B2", status=(404, 422)),
    Case("limit-huge", "GET", "/events?limit=" + "9" * 5000, field="limit"),
    Case("offset-negative", "GET", "/events?offset=-1", field="offset"),
    Case("has-fees-garbage", "GET", "/events?has_fees=maybe", field="has_fees"),
    Case("period-garbage", "GET", "/reports/revenue?period_from=2026-02-30&period_to=2026-03-01", field="period_from"),
    # Media types, sizes, keys.
    Case(
        "text-plain", "POST", ADJUST, lambda w: _adjust(w, "1"), headers={"content-type": "text/plain"}, status=(415,)
    ),
    Case(
        "form",
        "POST",
        "/events",
        lambda w: b"a=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
        status=(415,),
    ),
    Case("too-many-events", "POST", "/events", lambda w: _many_events(w, 1001), status=(413, 422), field="events"),
    Case("too-large", "POST", "/events", lambda w: b'{"x":"' + b"a" * (5 << 20) + b'"}', status=(413,)),
    Case(
        "wrong-key-large",
        "POST",
        "/events",
        lambda w: b"[" * (5 << 20),
        status=(401, 413),
        headers={"content-type": "application/json", "X-CREDYT-API-KEY": "wrong"},
        key=False,
    ),
]


def _many_events(w: World, n: int) -> bytes:
    one = {"id": "", "event_type": "completion", "occurred_at": now_iso(), "data": {"tokens": 1}}
    events = [dict(one, id=unique("ev")) for _ in range(n)]
    return json.dumps({"customer_id": w.customer, "events": events}).encode()


def _rows(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(tables.events)).scalar_one()
        transactions = conn.execute(select(func.count()).select_from(tables.transactions)).scalar_one()
    return events, transactions


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request_is_refused_cleanly(server, world: World, case: Case) -> None:
    headers = dict(case.headers)
    if case.key:
        headers.setdefault("X-CREDYT-API-KEY", server.key)
    before = _rows(server.engine)
    path = case.path.format(c=world.customer, a=world.asset)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        body = case.body(world) if case.body else None
        resp = http.request(case.method, path, content=body, headers=headers)
        assert resp.status_code in case.status, (resp.status_code, resp.text[:500])
        assert resp.headers["content-type"].startswith("application/problem+json"), resp.text[:500]
        problem = resp.json()
        if case.field is not None:
            assert case.field in problem.get("errors", {}), problem
        again = http.get("/assets", headers={"X-CREDYT-API-KEY": server.key})
        assert again.status_code == 200, again.text
    assert _rows(server.engine) == before


def test_valid_requests_in_every_json_content_type_are_accepted(server, world: World) -> None:
    for content_type in ("application/json", "APPLICATION/JSON; charset=utf-8", "application/vnd.api+json"):
        headers = {"content-type": content_type, "X-CREDYT-API-KEY": server.key}
        resp = httpx.post(server.url + "/events", content=_events(world), headers=headers)
        assert resp.status_code == 204, resp.text


def test_the_edges_of_the_calendar_that_fit_are_accepted(server, world: World) -> None:
    headers = {"X-CREDYT-API-KEY": server.key}
    for query in ("period_from=0001-01-02&period_to=9999-12-30",):
        assert httpx.get(f"{server.url}/events?{query}", headers=headers).status_code == 200
        assert httpx.get(f"{server.url}/reports/revenue?{query}", headers=headers).status_code == 200


def test_chunked_bodies_are_counted_while_streaming(server) -> None:
    def chunks(n: int) -> Any:
        yield b'{"customer_id":"c","events":[],"x":"'
        for _ in range(n):
            yield b"a" * 65536
        yield b'"}'

    headers = {"X-CREDYT-API-KEY": server.key, "content-type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        resp = http.post("/events", content=chunks(100), headers=headers)
        assert resp.status_code == 413 and resp.headers["content-type"].startswith("application/problem+json")
        assert http.get("/assets", headers={"X-CREDYT-API-KEY": server.key}).status_code == 200
        small = http.post("/events", content=chunks(1), headers=headers)
        assert small.status_code == 422, small.text


@contextmanager
def _own_server(engine, database_url: str, **settings: Any) -> Iterator[tuple[str, str]]:
    """A server of its own (its back-off state and settings apart from the session's), with a key."""
    app = create_app(Settings(database_url=database_url, **settings), engine=engine)
    with write(engine) as conn:
        _, secret = api_keys.create(conn, DEFAULT_LIVE, "hostile", datetime.now(UTC))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", secret
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_wrong_keys_back_off_and_valid_keys_never_do(engine, database_url) -> None:
    # A 5 s window: wide enough that a loaded machine serving the three wrong keys and the blocked one
    # stays inside it (0.5 s did not, under a full CI run); the block's end is timed in the test below.
    with _own_server(engine, database_url, auth_failures_allowed=3, auth_backoff_seconds=5) as (url, key):
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/assets", headers={"X-CREDYT-API-KEY": key}).status_code == 200
            wrong = {"X-CREDYT-API-KEY": "wrong-" + "x" * 40}
            assert [http.get("/assets", headers=wrong).status_code for _ in range(3)] == [401, 401, 401]
            blocked = http.post("/events", headers=wrong, content=b"[" * 10_000)  # refused unread
            assert blocked.status_code == 429 and blocked.headers["content-type"].startswith("application/problem+json")
            first_wait = int(blocked.headers["Retry-After"])
            assert first_wait >= 1
            assert http.get("/assets", headers={"X-CREDYT-API-KEY": key}).status_code == 200  # never slowed
            with write(engine) as conn:  # nor a valid key this server has never seen before
                _, fresh = api_keys.create(conn, DEFAULT_LIVE, "fresh", datetime.now(UTC))
            assert http.get("/assets", headers={"X-CREDYT-API-KEY": fresh}).status_code == 200
            assert http.get("/assets").status_code == 401  # a missing key is not a guess
            later = http.get("/assets", headers=wrong)
            assert later.status_code == 429 and int(later.headers["Retry-After"]) > first_wait  # guessing on doubles it


def test_a_block_doubles_with_each_guess_and_ends_on_time() -> None:
    """The back-off rule on its own clock: three wrong keys allowed in a window, then a block of one
    window that doubles with each further guess, and nothing once it has passed."""
    now = [100.0]
    backoff = Backoff(3, 0.5, clock=lambda: now[0])
    for _ in range(3):
        assert backoff.retry_after("1.2.3.4") is None
        backoff.failed("1.2.3.4")
    assert backoff.retry_after("1.2.3.4") == 1  # 0.5 s, said in whole seconds
    assert backoff.retry_after("5.6.7.8") is None  # another client is not blocked
    backoff.failed("1.2.3.4")  # a guess during the block: 1 s
    backoff.failed("1.2.3.4")  # and another: 2 s
    now[0] += 1.9
    assert backoff.retry_after("1.2.3.4") == 1
    now[0] += 0.2
    assert backoff.retry_after("1.2.3.4") is None


def test_the_body_limit_is_a_setting(engine, database_url) -> None:
    with _own_server(engine, database_url, max_body_bytes=2048) as (url, key):
        headers = {"X-CREDYT-API-KEY": key, "content-type": "application/json"}
        resp = httpx.post(url + "/events", headers=headers, content=b'{"x":"' + b"a" * 3000 + b'"}')
        assert resp.status_code == 413 and "2048" in resp.json()["detail"]
        assert httpx.post(url + "/events", headers=headers, content=b'{"x":"a"}').status_code == 422


def test_a_short_bootstrap_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(bootstrap_api_key="short")
    assert Settings(bootstrap_api_key="k" * 32).bootstrap_api_key == "k" * 32


def _price_values(values: list[dict[str, Any]]) -> bytes:
    price = {
        "name": "P",
        "type": "usage_based",
        "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "e", "usage_type": "volume", "volume_field": "tokens"},
        "pricing": [{"asset": "USD", "values": values}],
    }
    return json.dumps({"name": "x", "code": unique("c"), "prices": [price]}).encode()


@pytest.mark.parametrize(
    "values, field",
    [
        ([{"volume_rate": -1}], "prices[0].pricing[0].values[0].volume_rate"),
        (
            [{"dimensions": {"m": "x"}, "values": [{"volume_rate": -1}]}],
            "prices[0].pricing[0].values[0].values[0].volume_rate",
        ),
    ],
)
def test_price_errors_carry_no_union_noise(server, values, field) -> None:
    headers = {"X-CREDYT-API-KEY": server.key, "content-type": "application/json"}
    resp = httpx.post(server.url + "/products", headers=headers, content=_price_values(values))
    assert resp.status_code == 422
    assert resp.json()["errors"] == {field: ["must be zero or more"]}
