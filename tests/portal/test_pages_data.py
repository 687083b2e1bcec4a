"""The usage, transactions and credits pages over real HTTP, on both backends: filters by UTC day and
product, pages of 20 (newer, older), the CSV download (headers, every line, the same filters), the
ledger with each transaction's grant, credits with their phrase; and another customer's data never
shows, even with its product's id in the URL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import write
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment
from tests.conftest import Server
from tests.portal.test_sessions_pages import link
from tests.worlds import new_code, new_product, usage_price

DAY0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _price(rate: str, event_type: str) -> dict[str, object]:
    doc = usage_price("USD", [{"volume_rate": rate}])
    doc["usage_calculation"] = {"event_type": event_type, "usage_type": "volume", "volume_field": "n"}
    return doc


def _customer(server: Server, kinds: list[str]) -> tuple[str, str, str, list[str]]:
    """(customer, product a, product b, event ids): 100 USD expiring 1 Dec, then one event a day from
    DAY0 per kind ("a" costs 0.25, "b" costs 2.00)."""
    with write(server.engine) as conn:
        a, a_code = new_product(conn, DAY0 - timedelta(days=5), [_price("0.25", "a")])
        b, b_code = new_product(conn, DAY0 - timedelta(days=5), [_price("2", "b")])
        subs = (NewSubscription(products=(ProductRef(code=a_code), ProductRef(code=b_code))),)
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name="Ada", subscriptions=subs),
                                        DAY0 - timedelta(days=5), Decimal(0)).id
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment(new_code("gift"), "USD", Decimal(100), "gift",
                       expires_at=datetime(2026, 12, 1, tzinfo=UTC)), DAY0 - timedelta(days=4), Decimal(0))
    ids = []
    for i, kind in enumerate(kinds):
        at, eid = DAY0 + timedelta(days=i), new_code(f"ev{i:02d}")
        with write(server.engine) as conn:
            (answer,) = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, [
                UsageEvent(eid, kind, at, data={"n": 1}, description=f"call {i}")])], at, None, HotCache())
        assert not isinstance(answer, Exception), answer
        ids.append(eid)
    return cid, a, b, ids


@contextmanager
def _session(server: Server, http: httpx.Client, customer: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get(httpx.URL(link(http, customer)).path).status_code == 303
        yield c


def _rows(page: str) -> int:
    return page.count("<tr data-")


@pytest.fixture(scope="module")
def world(server: Server) -> tuple[str, str, str, list[str]]:
    return _customer(server, ["a"] * 22 + ["b"] * 3)  # 25 events, the newest three of b


def test_usage_pages_filters_and_empty_states(server: Server, http: httpx.Client, world: tuple) -> None:
    cid, a, b, ids = world
    with _session(server, http, cid) as me:
        first = me.get("/portal/usage")
        assert first.status_code == 200 and "1–20 of 25" in first.text and _rows(first.text) == 20
        assert ids[-1] in first.text and ids[0] not in first.text  # newest first
        assert "2.00 USD" in first.text and "0.25 USD" in first.text
        assert '<time datetime="2026-11-25T12:00:00Z">25 Nov 2026, 12:00 UTC</time>' in first.text
        assert 'href="/portal/usage?page=2"' in first.text and "Usage</a>" in first.text
        second = me.get("/portal/usage?page=2")
        assert "21–25 of 25" in second.text and _rows(second.text) == 5 and ids[0] in second.text
        assert 'href="/portal/usage?page=1"' in second.text
        only_b = me.get("/portal/usage", params={"product": b})
        assert _rows(only_b.text) == 3 and "of 3" in only_b.text and "selected>" in only_b.text
        days = me.get("/portal/usage", params={"from": "2026-11-03", "to": "2026-11-05", "product": a})
        assert _rows(days.text) == 3 and all(ids[i] in days.text for i in (2, 3, 4))
        assert "from=2026-11-03" in days.text  # the CSV link and pages keep the filters
        bad = me.get("/portal/usage", params={"from": "yesterday", "to": "2026-10-01"})
        assert bad.status_code == 200 and "Use a date like" in bad.text and 'aria-invalid="true"' in bad.text
        none = me.get("/portal/usage", params={"from": "2027-01-01"})
        assert "No usage matches these filters" in none.text and "Download CSV" not in none.text


def test_the_csv_download(server: Server, http: httpx.Client, world: tuple) -> None:
    cid, a, b, ids = world
    with _session(server, http, cid) as me:
        got = me.get("/portal/usage.csv")
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert got.headers["content-disposition"].startswith('attachment; filename="usage-')
        assert got.headers["cache-control"] == "no-store"
        rows = list(csv.DictReader(io.StringIO(got.text)))
        assert [r["event_id"] for r in rows] == list(reversed(ids))
        assert rows[0]["amount"] == "2" and rows[0]["asset"] == "USD" and rows[-1]["description"] == "call 0"
        filtered = me.get("/portal/usage.csv", params={"product": b, "from": "2026-11-23"})  # days 23 to 25
        assert [r["event_id"] for r in csv.DictReader(io.StringIO(filtered.text))] == [ids[24], ids[23], ids[22]]
    assert httpx.get(f"{server.url}/portal/usage.csv").status_code == 401  # no session, no file


def test_transactions_and_credits(server: Server, http: httpx.Client, world: tuple) -> None:
    cid, _, _, _ = world
    with _session(server, http, cid) as me:
        page = me.get("/portal/transactions")
        assert page.status_code == 200 and "1–20 of 26" in page.text  # the gift and 25 fees
        assert "−" not in page.text and "-2.00 USD" in page.text and 'class="strong">Usage</td>' in page.text
        last = me.get("/portal/transactions?page=2")
        assert "+100.00 USD" in last.text and 'data-kind="adjustment"' in last.text
        assert 'class="grant"' in last.text
        credits = me.get("/portal/credits")
        # 100 - 22 x 0.25 - 3 x 2 = 88.50
        assert "88.50 USD expire on 1 Dec" in credits.text
        assert '88.50</span> of <span class="amount">100.00' in credits.text
        assert '<time datetime="2026-12-01T00:00:00Z">' in credits.text


def test_another_customers_data_never_shows(server: Server, http: httpx.Client, world: tuple) -> None:
    cid, a, b, ids = world
    other, _, other_b, other_ids = _customer(server, ["b"])
    fresh, *_ = _customer(server, [])
    with _session(server, http, other) as them:
        page = them.get("/portal/usage")
        assert other_ids[0] in page.text and not any(i in page.text for i in ids)
        foreign = them.get("/portal/usage", params={"product": b})  # my product's id in their URL
        assert "Choose one of your products" in foreign.text and not any(i in foreign.text for i in ids)
        assert not any(i in them.get("/portal/usage.csv", params={"product": b}).text for i in ids)
        assert "88.50" not in them.get("/portal/credits").text
        assert "1–2 of 2" in them.get("/portal/transactions").text  # its gift and its one fee
    with _session(server, http, fresh) as empty:
        assert "No usage yet" in empty.get("/portal/usage").text
        assert "1–1 of 1" in empty.get("/portal/transactions").text  # the gift only
        lines = empty.get("/portal/usage.csv").text.splitlines()
        assert lines == [lines[0]] and lines[0].startswith("event_id,")
