"""The portal's data services on both backends, on data made through the services themselves: usage
pages and filters, the CSV (quoting, exact amounts, UTC times, paged reading), transactions of every
kind with their grants, credits and their phrases, the spend figures; and isolation (another scope's
or another customer's data is never answered)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine

from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset
from drawdown.core.errors import NotFound
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST, Scope
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import read, write
from drawdown.portal import ledger, usage
from drawdown.portal.data_models import CreditItem, UsageFilter, format_amount
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import UsageBatch, UsageEvent
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment, Charge
from tests.worlds import new_code, new_product, usage_price

D = Decimal
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
UNKNOWN = "cust_" + "0" * 26
TRICKY = 'Say "hi", then, bye'


def _price(asset: str, rate: str, event_type: str) -> dict[str, object]:
    doc = usage_price(asset, [{"volume_rate": rate}])
    doc["usage_calculation"] = {"event_type": event_type, "usage_type": "volume", "volume_field": "n"}
    return doc


def _world(engine: Engine, start: datetime = T0) -> tuple[str, str, str, str]:
    """(asset, product a id, product b id, customer): a (rate 0.000000001 on events "a") and b (rate 2 on
    events "b"), the customer subscribed to both and given 1000."""
    with write(engine) as conn:
        asset = new_code()
        catalog.create_asset(conn, DEFAULT_LIVE, NewAsset(code=asset, name=asset, precision=2, label="credits"), start)
        a, a_code = new_product(conn, start, [_price(asset, "0.000000001", "a")])
        b, b_code = new_product(conn, start, [_price(asset, "2", "b")])
        subs = (NewSubscription(products=(ProductRef(code=a_code), ProductRef(code=b_code))),)
        cid = customers.create_customer(
            conn, DEFAULT_LIVE, NewCustomer(name=new_code("C"), subscriptions=subs), start, D(0)
        ).id
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("gift-1", asset, D(1000), "gift"), start, D(0))
    return asset, a, b, cid


def _bill(engine: Engine, cid: str, events: list[UsageEvent], now: datetime) -> None:
    with write(engine) as conn:
        (answer,) = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, events)], now, None, HotCache())
    assert not isinstance(answer, Exception), answer


def _ev(eid: str, kind: str, at: datetime, n: int = 1, description: str | None = None) -> UsageEvent:
    return UsageEvent(eid, kind, at, data={"n": n}, description=description)


def _usage_world(engine: Engine) -> tuple[str, str, str, str]:
    """Five events, one per hour from T0 + 1h: e1 (a, with the tricky description), e2 (b), e3 (a),
    e4 (b), e5 (of no product: no fees)."""
    asset, a, b, cid = _world(engine)
    for i, kind in enumerate(["a", "b", "a", "b", "none"], start=1):
        at = T0 + timedelta(hours=i)
        _bill(engine, cid, [_ev(f"e{i}", kind, at, description=TRICKY if i == 1 else None)], at)
    return asset, a, b, cid


def test_usage_pages_newest_first_with_fees_filters_and_totals(engine: Engine) -> None:
    asset, a, b, cid = _usage_world(engine)
    with read(engine) as conn:
        first, total = usage.usage_page(conn, DEFAULT_LIVE, cid, UsageFilter(), 0, 2)
        second, _ = usage.usage_page(conn, DEFAULT_LIVE, cid, UsageFilter(), 2, 2)
        third, _ = usage.usage_page(conn, DEFAULT_LIVE, cid, UsageFilter(), 4, 2)
        assert total == 5
        assert [e.id for e in first + second + third] == ["e5", "e4", "e3", "e2", "e1"]
        e4 = first[1]
        assert [(f.product_id, f.price_name, f.amount, f.asset) for f in e4.fees] == [(b, "u", D(2), asset)]
        assert first[0].fees == ()
        assert third[0].fees[0].amount == D("0.000000001") and third[0].description == TRICKY
        only_a, n_a = usage.usage_page(conn, DEFAULT_LIVE, cid, UsageFilter(product_id=a), 0, 10)
        assert ([e.id for e in only_a], n_a) == (["e3", "e1"], 2)
        window = UsageFilter(date_from=T0 + timedelta(hours=2), date_to=T0 + timedelta(hours=4))
        between, n = usage.usage_page(conn, DEFAULT_LIVE, cid, window, 0, 10)
        assert ([e.id for e in between], n) == (["e3", "e2"], 2)
        both = UsageFilter(date_from=T0 + timedelta(hours=2), product_id=b)
        assert [e.id for e in usage.usage_page(conn, DEFAULT_LIVE, cid, both, 0, 10)[0]] == ["e4", "e2"]
        assert usage.usage_page(conn, DEFAULT_LIVE, cid, UsageFilter(product_id="prod_nothing"), 0, 10) == ([], 0)


def test_the_csv_quotes_text_keeps_amounts_exact_times_utc_and_reads_in_pages(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset, a, b, cid = _usage_world(engine)
    _bill(engine, cid, [_ev("e6", "a", T0 + timedelta(hours=6), description="=1+1")], T0 + timedelta(hours=6))
    monkeypatch.setattr(usage, "CSV_PAGE", 2)  # three pages and a short one: the keyset walk is exercised
    with read(engine) as conn:
        lines = list(usage.usage_csv(conn, DEFAULT_LIVE, cid, UsageFilter()))
        only_b = list(usage.usage_csv(conn, DEFAULT_LIVE, cid, UsageFilter(product_id=b)))
    assert all(line.endswith("\r\n") for line in lines)
    assert lines[0] == ",".join(usage.CSV_HEADER) + "\r\n"
    assert '"Say ""hi"", then, bye"' in lines[-1]  # quoted, its quotes doubled
    rows = list(csv.DictReader(io.StringIO("".join(lines))))
    assert [r["event_id"] for r in rows] == ["e6", "e5", "e4", "e3", "e2", "e1"]
    e1 = rows[-1]
    assert (e1["description"], e1["amount"], e1["asset"], e1["price_name"]) == (TRICKY, "0.000000001", asset, "u")
    assert e1["recorded_at"] == "2026-11-20T10:00:00Z" and e1["occurred_at"] == "2026-11-20T10:00:00Z"
    assert rows[0]["description"] == "'=1+1"  # not a formula in a spreadsheet
    assert rows[1]["amount"] == "" and rows[2]["amount"] == "2"
    assert [r["event_id"] for r in csv.DictReader(io.StringIO("".join(only_b)))] == ["e4", "e2"]


def test_transactions_of_every_kind_newest_first_with_their_grants(engine: Engine) -> None:
    asset, a, b, cid = _world(engine)  # gift-1: 1000, no expiry
    t = T0 + timedelta(minutes=1)
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("topup-1", asset, D(50), "external_topup",
                                                           description="Top-up, card"), t, D(0))
    _bill(engine, cid, [_ev("fee-1", "b", t + timedelta(minutes=2))], t + timedelta(minutes=2))
    with write(engine) as conn:
        wallets.charge(conn, DEFAULT_LIVE, cid, Charge("charge-1", asset, D(3)), t + timedelta(minutes=3), D(0))
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("refund-1", asset, D(-7), "external_refund"),
                       t + timedelta(minutes=4), D(0))
        short = Adjustment("short", asset, D(5), "gift", expires_at=t + timedelta(hours=1))
        wallets.adjust(conn, DEFAULT_LIVE, cid, short, t + timedelta(minutes=5), D(0))
        # Two hours on, the next write passes time: the short gift's expiry is recorded, at its expiry.
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("later", asset, D(1), "other"), t + timedelta(hours=2), D(0))
    with read(engine) as conn:
        items, total = ledger.transactions_page(conn, DEFAULT_LIVE, cid, 0, 50)
        page, _ = ledger.transactions_page(conn, DEFAULT_LIVE, cid, 1, 2)
    kinds = [(i.kind, i.amount) for i in items]
    assert total == 8
    assert kinds == [
        ("adjustment", D(1)), ("expiry", D(-5)), ("adjustment", D(5)), ("refund", D(-7)), ("charge", D(-3)),
        ("usage", D(-2)), ("top_up", D(50)), ("adjustment", D(1000)),
    ]
    assert [i.kind for i in page] == ["expiry", "adjustment"]
    by_kind = {i.kind: i for i in items}
    expiry, top_up = by_kind["expiry"], by_kind["top_up"]
    assert expiry.at == t + timedelta(hours=1) and expiry.transaction_id.startswith("expiry:")
    assert [g.purpose for g in expiry.grants] == ["promotion"]
    assert expiry.grants[0].grant_id == items[2].grants[0].grant_id  # the short gift it wrote off
    assert (top_up.description, top_up.asset, top_up.account) == ("Top-up, card", asset, "default")
    assert [g.purpose for g in top_up.grants] == ["paid"]
    assert by_kind["usage"].grants and by_kind["charge"].grants  # drawn from a grant


def _asset(conn: Connection, precision: int, label: str | None) -> str:
    code = new_code()
    catalog.create_asset(conn, DEFAULT_LIVE, NewAsset(code=code, name=code, precision=precision, label=label), T0)
    return code


def test_credits_soonest_expiry_first_with_phrases_in_the_assets_precision(engine: Engine) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    dec1, dec5 = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)
    with write(engine) as conn:
        credits_, usd = _asset(conn, 0, "credits"), "USD"
        cid = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name=new_code("C")), now, D(0)).id
        grants = [
            ("forever", credits_, D(7), None, None),
            ("late", credits_, D(100), dec5, None),
            ("soon", usd, D("12.5"), dec1, None),
            ("later-start", credits_, D(40), dec5 + timedelta(days=30), now + timedelta(days=2)),
            ("gone", credits_, D(9), now - timedelta(days=1), None),
        ]
        for tid, asset, amount, expires, effective in grants:
            at = now - timedelta(days=3)
            cmd = Adjustment(tid, asset, amount, "gift", expires_at=expires, effective_at=effective)
            wallets.adjust(conn, DEFAULT_LIVE, cid, cmd, at, D(0))
    with read(engine) as conn:
        found = ledger.credits(conn, DEFAULT_LIVE, cid, now)
    assert [(c.asset, c.remaining, c.state) for c in found] == [
        (usd, D("12.5"), "live"), (credits_, D(100), "live"), (credits_, D(40), "pending"), (credits_, D(7), "live"),
    ]
    assert [c.phrase() for c in found] == [
        "12.50 USD expire on 1 Dec",
        "100 credits expire on 5 Dec",
        "40 credits become available on 27 Nov",
        "7 credits, no expiry",
    ]
    assert all(c.account == "default" for c in found) and found[0].purpose == "promotion"
    tiny = CreditItem("g", "paid", "live", D("0.000000001"), D(1), "USD", None, 2, "default", now, dec1)
    assert tiny.phrase() == "0.000000001 USD expire on 1 Dec"
    assert format_amount(D(1234567), 2) == "1,234,567.00"


def test_overview_month_to_date_and_thirty_days_of_spend(engine: Engine) -> None:
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    asset, a, b, cid = _world(engine, now - timedelta(days=60))
    spent = [  # (when, events of b: 2 each)
        (now - timedelta(days=40), 1),  # before the series
        (now - timedelta(days=29, hours=1), 2),  # the series' first day (4 Nov)
        (datetime(2026, 11, 30, 23, 59, tzinfo=UTC), 1),  # last month
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 3),  # this month
        (now - timedelta(hours=1), 1),  # today
    ]
    n = 0
    for at, count in spent:
        events = []
        for _ in range(count):
            n += 1
            events.append(_ev(f"s{n}", "b", at))
        _bill(engine, cid, events, at)
    _bill(engine, cid, [_ev("tiny", "a", now - timedelta(hours=1))], now - timedelta(hours=1))
    with read(engine) as conn:
        figures = ledger.overview_figures(conn, DEFAULT_LIVE, cid, now)
    (series,) = figures.spend
    assert figures.month_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert (series.asset, series.precision) == (asset, 2)
    assert series.month_to_date == D("8.000000001")
    days = {d.day.isoformat(): d.amount for d in series.daily}
    assert len(series.daily) == 30 and series.daily[0].day.isoformat() == "2026-11-04"
    assert series.daily[-1].day.isoformat() == "2026-12-03"
    assert {k: v for k, v in days.items() if v} == {
        "2026-11-04": D(4), "2026-11-30": D(2), "2026-12-01": D(6), "2026-12-03": D("2.000000001"),
    }
    with read(engine) as conn:  # a customer with no fees: no series
        other = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name=new_code("C")), now, D(0)).id
        assert ledger.overview_figures(conn, DEFAULT_LIVE, other, now).spend == ()


def test_another_scopes_customer_answers_like_an_unknown_one_and_others_data_never_shows(engine: Engine) -> None:
    asset, a, b, cid = _usage_world(engine)
    with write(engine) as conn:
        other = customers.create_customer(conn, DEFAULT_LIVE, NewCustomer(name=new_code("C")), T0, D(0)).id
    now = T0 + timedelta(days=1)
    calls: list[Callable[[Connection, Scope, str], object]] = [
        lambda c, s, x: usage.usage_page(c, s, x, UsageFilter(), 0, 10),
        lambda c, s, x: usage.usage_csv(c, s, x, UsageFilter()),
        lambda c, s, x: ledger.transactions_page(c, s, x, 0, 10),
        lambda c, s, x: ledger.credits(c, s, x, now),
        lambda c, s, x: ledger.overview_figures(c, s, x, now),
    ]
    with read(engine) as conn:
        for call in calls:
            messages = []
            for customer_id in (cid, UNKNOWN):
                with pytest.raises(NotFound) as refused:
                    call(conn, DEFAULT_TEST, customer_id)
                messages.append(str(refused.value).replace(customer_id, "?"))
            assert messages[0] == messages[1]
        # Another customer of the same scope sees none of the first one's data.
        assert usage.usage_page(conn, DEFAULT_LIVE, other, UsageFilter(), 0, 10) == ([], 0)
        assert list(usage.usage_csv(conn, DEFAULT_LIVE, other, UsageFilter())) == [",".join(usage.CSV_HEADER) + "\r\n"]
        assert ledger.transactions_page(conn, DEFAULT_LIVE, other, 0, 10) == ([], 0)
        assert ledger.credits(conn, DEFAULT_LIVE, other, now) == []
        assert ledger.overview_figures(conn, DEFAULT_LIVE, other, now).spend == ()
        assert usage.usage_page(conn, DEFAULT_LIVE, cid, UsageFilter(), 0, 10)[1] == 5


def test_the_csv_walks_events_recorded_at_the_same_instant_once_each(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset, a, b, cid = _world(engine)
    at = T0 + timedelta(hours=1)
    _bill(engine, cid, [_ev(f"same-{i}", "b", at) for i in range(5)], at)  # one batch: one recorded time
    monkeypatch.setattr(usage, "CSV_PAGE", 2)
    with read(engine) as conn:
        rows = list(csv.DictReader(io.StringIO("".join(usage.usage_csv(conn, DEFAULT_LIVE, cid, UsageFilter())))))
        page = [e.id for e in usage.usage_page(conn, DEFAULT_LIVE, cid, UsageFilter(), 0, 10)[0]]
    assert [r["event_id"] for r in rows] == page == [f"same-{i}" for i in reversed(range(5))]
