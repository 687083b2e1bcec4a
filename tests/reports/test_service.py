"""The reports room on a real database (SQLite and PostgreSQL): rollup writes and range reads, margins,
and revenue recognition over a small hand-written ledger.

Each test runs in a transaction that is rolled back, in the 2190s, so the session database's other
data (2026) never shows in a range read here.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select

from drawdown.api.shapes import reports as shapes
from drawdown.core.money import to_scaled
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST, Scope
from drawdown.db import rows as row_buffer
from drawdown.db.tables import (
    assets,
    credit_grants,
    customers,
    ledger_entries,
    rollups,
    transactions,
    wallet_accounts,
)
from drawdown.reports import profitability, revenue
from drawdown.reports.models import CustomerFigures, DayFigures, Figures, KeyFigures, RevenueRow, RevenueTotals

D = Decimal


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def usd(revenue: str, cost: str) -> Figures:
    return Figures(D(revenue), D(cost), "USD")


def stored(conn: Connection, key: str, scope: Scope = DEFAULT_LIVE) -> dict[tuple[str, str, str], tuple[int, int]]:
    r = rollups.c
    q = select(r.kind, r.sub, r.period, r.revenue, r.cost).where(r.scope_id == scope.id, r.key == key)
    rows = conn.execute(q).all()
    return {(x.kind, x.sub, x.period): (x.revenue, x.cost) for x in rows}


# ------------------------------------------------------------------------------------------ add_all


def test_add_all_adds_to_existing_rows_and_creates_new_ones(conn: Connection) -> None:
    c = uid("cus")
    profitability.add_all(
        conn, DEFAULT_LIVE,
        {
            ("customer_day", c, "", "2191-01-05"): (D("1.5"), D("0.25")),
            ("customer_month", c, "", "2191-01"): (D("1.5"), D("0.25")),
        },
    )
    profitability.add_all(
        conn, DEFAULT_LIVE,
        {
            ("customer_day", c, "", "2191-01-05"): (D("2.000000001"), D("0")),
            ("customer_day", c, "", "2191-01-06"): (D("0"), D("3")),
            ("customer_month", c, "", "2191-01"): (D("2.000000001"), D("3")),
        },
    )
    profitability.add_all(conn, DEFAULT_LIVE, {})  # nothing to add: no statement, no error
    assert stored(conn, c) == {
        ("customer_day", "", "2191-01-05"): (3_500_000_001, 250_000_000),
        ("customer_day", "", "2191-01-06"): (0, 3_000_000_000),
        ("customer_month", "", "2191-01"): (3_500_000_001, 3_250_000_000),
    }


def test_add_all_keeps_each_scope_in_its_own_rows(conn: Connection) -> None:
    c = uid("cus")
    key = ("customer_day", c, "", "2191-01-05")
    profitability.add_all(conn, DEFAULT_LIVE, {key: (D(1), D(0))})
    profitability.add_all(conn, DEFAULT_TEST, {key: (D(2), D(1))})
    profitability.add_all(conn, DEFAULT_TEST, {key: (D(3), D(0))})
    assert stored(conn, c, DEFAULT_LIVE) == {("customer_day", "", "2191-01-05"): (to_scaled(D(1)), 0)}
    assert stored(conn, c, DEFAULT_TEST) == {("customer_day", "", "2191-01-05"): (to_scaled(D(5)), to_scaled(D(1)))}


def test_add_all_rounds_each_delta_to_nine_places_half_even(conn: Connection) -> None:
    v = uid("ven")
    profitability.add_all(
        conn, DEFAULT_LIVE,
        {
            ("vendor_day", v, "gpu", "2191-01-05"): (D("0"), D("0.0000000005")),  # tie: to even (0)
            ("vendor_day", v, "llm", "2191-01-05"): (D("0"), D("0.0000000015")),  # tie: to even (2)
            ("vendor_day", v, "net", "2191-01-05"): (D("0"), D("0.00000000151")),  # above the tie: up
        },
    )
    assert stored(conn, v) == {
        ("vendor_day", "gpu", "2191-01-05"): (0, 0),
        ("vendor_day", "llm", "2191-01-05"): (0, 2),
        ("vendor_day", "net", "2191-01-05"): (0, 2),
    }


def test_add_all_writes_rows_in_key_order(conn: Connection) -> None:
    """Rows shared by customers (product, vendor) are taken in one global order: no deadlocks."""
    c, p, v = uid("c"), uid("p"), uid("v")
    deltas = {
        ("vendor_month", v, "llm", "2191-01"): (D(0), D(1)),
        ("customer_day", c, "", "2191-01-05"): (D(2), D(1)),
        ("product_month", p, "", "2191-01"): (D(2), D(1)),
        ("customer_month", c, "", "2191-01"): (D(2), D(1)),
        ("product_day", p, "", "2191-01-05"): (D(2), D(1)),
        ("vendor_day", v, "llm", "2191-01-05"): (D(0), D(1)),
    }
    written: list[tuple[str, str, str, str]] = []

    def capture(statement: str, parameters: list[Any]) -> None:  # as the driver receives them
        found = re.match(r"\s*INSERT INTO rollups \(([^)]*)\)", statement)
        if found is None:
            return
        columns = [c.strip().strip('"') for c in found[1].split(",")]
        for row in parameters:
            named = dict(zip(columns, row, strict=True))
            written.append((named["kind"], named["key"], named["sub"], named["period"]))

    row_buffer.WATCHERS.append(capture)
    try:
        profitability.add_all(conn, DEFAULT_LIVE, deltas)
    finally:
        row_buffer.WATCHERS.remove(capture)
    assert written == sorted(deltas)
    assert list(deltas) != sorted(deltas)  # the test would not see a missing sort otherwise


# ----------------------------------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # one whole month, one part of a month
        ("2026-03-01", "2026-03-31", [("month", "2026-03", "2026-03")]),
        ("2026-03-05", "2026-03-20", [("day", "2026-03-05", "2026-03-20")]),
        ("2026-03-01", "2026-03-30", [("day", "2026-03-01", "2026-03-30")]),
        ("2026-03-07", "2026-03-07", [("day", "2026-03-07", "2026-03-07")]),
        # edges on both sides of whole months
        (
            "2026-01-15",
            "2026-04-10",
            [("day", "2026-01-15", "2026-01-31"), ("day", "2026-04-01", "2026-04-10"), ("month", "2026-02", "2026-03")],
        ),
        ("2026-01-01", "2026-03-15", [("day", "2026-03-01", "2026-03-15"), ("month", "2026-01", "2026-02")]),
        ("2026-01-20", "2026-03-31", [("day", "2026-01-20", "2026-01-31"), ("month", "2026-02", "2026-03")]),
        # neighbouring months with no whole month between them
        ("2026-01-31", "2026-02-01", [("day", "2026-01-31", "2026-01-31"), ("day", "2026-02-01", "2026-02-01")]),
        # across a year end, both ways
        ("2026-12-15", "2027-01-01", [("day", "2026-12-15", "2026-12-31"), ("day", "2027-01-01", "2027-01-01")]),
        (
            "2026-11-15",
            "2027-02-10",
            [("day", "2026-11-15", "2026-11-30"), ("day", "2027-02-01", "2027-02-10"), ("month", "2026-12", "2027-01")],
        ),
        ("2026-12-01", "2027-01-31", [("month", "2026-12", "2027-01")]),
        # February: 29 days in leap years (2028, 2000), 28 otherwise (2027, 1900)
        ("2028-02-01", "2028-02-29", [("month", "2028-02", "2028-02")]),
        ("2028-02-01", "2028-02-28", [("day", "2028-02-01", "2028-02-28")]),
        ("2027-02-01", "2027-02-28", [("month", "2027-02", "2027-02")]),
        ("2000-02-01", "2000-02-29", [("month", "2000-02", "2000-02")]),
        ("1900-02-01", "1900-02-28", [("month", "1900-02", "1900-02")]),
        (
            "2028-01-31",
            "2028-03-01",
            [("day", "2028-01-31", "2028-01-31"), ("day", "2028-03-01", "2028-03-01"), ("month", "2028-02", "2028-02")],
        ),
        ("2026-02-01", "2028-02-29", [("month", "2026-02", "2028-02")]),
        # open ends and an empty range
        (None, None, [("month", "0001-01", "9999-12")]),
        (None, "2026-03-31", [("month", "0001-01", "2026-03")]),
        ("2026-03-02", None, [("day", "2026-03-02", "2026-03-31"), ("month", "2026-04", "9999-12")]),
        ("2026-05-02", "2026-05-01", []),
    ],
)
def test_segments(start: str | None, end: str | None, expected: list[tuple[str, str, str]]) -> None:
    assert profitability.segments(start, end) == expected


# ------------------------------------------------------------------------------------------ figures


@pytest.mark.parametrize(
    ("revenue", "cost", "net", "margin"),
    [
        ("3", "2", "1", "33.33"),
        ("3", "1", "2", "66.67"),
        ("800", "799", "1", "0.12"),  # 0.125: half to even, down
        ("800", "797", "3", "0.38"),  # 0.375: half to even, up
        ("800", "801", "-1", "-0.12"),  # -0.125
        ("0.6", "0.11", "0.49", "81.67"),
        ("1", "3", "-2", "-200.00"),
        ("0", "0.12", "-0.12", "0"),  # no revenue: margin 0, not a division by zero
        ("0", "0", "0", "0"),
    ],
)
def test_figures_net_and_margin(revenue: str, cost: str, net: str, margin: str) -> None:
    f = profitability.of(D(revenue), D(cost))
    assert (f.revenue, f.cost, f.net, f.margin, f.currency) == (D(revenue), D(cost), D(net), D(margin), "USD")
    assert f.margin.as_tuple().exponent == (0 if D(revenue) == 0 else -2)
    assert shapes.stats(f) == {
        "gross_revenue": D(revenue),
        "total_costs": D(cost),
        "net_revenue": D(net),
        "margin": D(margin),
        "currency": "USD",
    }
    assert list(shapes.stats(f)) == [
        "gross_revenue",
        "total_costs",
        "net_revenue",
        "margin",
        "currency",
    ]


# ------------------------------------------------------------------------------------ rollup reads


def rollup(
    conn: Connection, kind: str, key: str, period: str, revenue: str, cost: str, sub: str = "",
    scope: Scope = DEFAULT_LIVE,
) -> None:
    conn.execute(
        insert(rollups).values(
            scope_id=scope.id, kind=kind, key=key, sub=sub, period=period, revenue=to_scaled(D(revenue)),
            cost=to_scaled(D(cost)),
        )
    )


@pytest.fixture
def world(conn: Connection) -> dict[str, str]:
    """Rollups whose month rows deliberately differ from the sum of their days, so a read shows which
    rows it took. The range 2191-01-31 .. 2191-03-01 must read: day 01-31, month 02, day 03-01."""
    ids = {"a": uid("cus_a"), "b": uid("cus_b"), "c": uid("cus_c"), "p": uid("prd"), "v": uid("ven")}
    now = datetime(2191, 1, 1, tzinfo=UTC)
    for key, name, external in (("a", "Alpha", uid("ext")), ("c", "Gamma", None)):
        conn.execute(
            insert(customers).values(
                id=ids[key], scope_id=DEFAULT_LIVE.id, name=name, external_id=external, created_at=now
            )
        )
    a, b, c, p, v = ids["a"], ids["b"], ids["c"], ids["p"], ids["v"]
    for kind, key in (("customer", a), ("product", p)):
        rollup(conn, f"{kind}_month", key, "2191-01", "9999", "9999")  # January is not whole: never read
        rollup(conn, f"{kind}_day", key, "2191-01-30", "8888", "8888")  # before the range
        rollup(conn, f"{kind}_day", key, "2191-01-31", "5", "1.5")
        rollup(conn, f"{kind}_day", key, "2191-02-10", "7777", "7777")  # inside a whole month: month row read
        rollup(conn, f"{kind}_month", key, "2191-02", "100", "30")
        rollup(conn, f"{kind}_day", key, "2191-03-01", "7", "0.5")
        rollup(conn, f"{kind}_month", key, "2191-03", "6666", "6666")  # March is not whole: never read
        rollup(conn, f"{kind}_day", key, "2191-03-02", "5555", "5555")  # after the range
    rollup(conn, "customer_month", b, "2191-02", "112", "10")  # ties with a on revenue; no customers row
    rollup(conn, "customer_day", c, "2191-03-01", "0.5", "1")
    rollup(conn, "vendor_day", v, "2191-01-31", "0", "2", sub="llm")
    rollup(conn, "vendor_month", v, "2191-02", "0", "3", sub="llm")
    rollup(conn, "vendor_month", v, "2191-02", "0", "4", sub="gpu")
    rollup(conn, "vendor_day", v, "2191-03-02", "0", "5555", sub="gpu")  # after the range
    return ids


START, END = "2191-01-31", "2191-03-01"


def test_customer_reads_edge_days_and_whole_months(conn: Connection, world: dict[str, str]) -> None:
    a = world["a"]
    assert profitability.customer(conn, DEFAULT_LIVE, a, START, END) == usd("112", "32")
    assert profitability.customer(conn, DEFAULT_LIVE, a, "2191-02-01", "2191-02-28") == usd("100", "30")  # month row
    assert profitability.customer(conn, DEFAULT_LIVE, a, "2191-02-10", "2191-02-10") == usd("7777", "7777")  # a day row
    assert profitability.customer(conn, DEFAULT_LIVE, a, "2191-01-30", "2191-01-31") == usd("8893", "8889.5")
    assert profitability.customer(conn, DEFAULT_LIVE, a, START, END).margin == D("71.43")  # 80 / 112
    assert profitability.customer(conn, DEFAULT_LIVE, a, "2191-05-01", "2191-05-31") == usd("0", "0")
    assert profitability.customer(conn, DEFAULT_LIVE, uid("nobody"), START, END) == usd("0", "0")
    assert profitability.customer(conn, DEFAULT_LIVE, a, END, START) == usd("0", "0")  # an empty range


def test_product_and_by(conn: Connection, world: dict[str, str]) -> None:
    a, b, c, p, v = (world[k] for k in "abcpv")
    assert profitability.product(conn, DEFAULT_LIVE, p, START, END) == usd("112", "32")
    assert profitability.product(conn, DEFAULT_LIVE, uid("prd"), START, END) == usd("0", "0")
    assert profitability.by(conn, DEFAULT_LIVE, "product", START, END, p) == [KeyFigures(p, usd("112", "32"))]
    assert profitability.by(conn, DEFAULT_LIVE, "product", START, END, uid("prd")) == []
    customers_by = [x for x in profitability.by(conn, DEFAULT_LIVE, "customer", START, END) if x.key in (a, b, c)]
    assert customers_by == sorted(
        [KeyFigures(a, usd("112", "32")), KeyFigures(b, usd("112", "10")), KeyFigures(c, usd("0.5", "1"))],
        key=lambda x: x.key,
    )
    assert profitability.by(conn, DEFAULT_LIVE, "vendor", START, END, v) == [KeyFigures(v, usd("0", "9"))]


def test_vendor_costs_per_category(conn: Connection, world: dict[str, str]) -> None:
    v = world["v"]
    assert profitability.vendor(conn, DEFAULT_LIVE, v, START, END, None) == [("gpu", D(4)), ("llm", D(5))]
    assert profitability.vendor(conn, DEFAULT_LIVE, v, START, END, "llm") == [("llm", D(5))]
    assert profitability.vendor(conn, DEFAULT_LIVE, v, START, END, "nope") == []
    assert profitability.vendor(conn, DEFAULT_LIVE, v, None, None, "gpu") == [("gpu", D(4))]  # month rows, all time


def test_customers_page_ranks_totals_and_names(conn: Connection, world: dict[str, str]) -> None:
    a, b, c = world["a"], world["b"], world["c"]
    page = profitability.customers_page(conn, DEFAULT_LIVE, START, END, 0, 10)
    assert page.total_count == 3
    assert page.summary == usd("224.5", "43")
    first, second = sorted([a, b])  # equal revenue: by id
    alpha = next(x for x in page.items if x.id == a)
    assert [x.id for x in page.items] == [first, second, c]
    assert alpha == CustomerFigures(a, alpha.external_id, "Alpha", usd("112", "32"))
    assert alpha.external_id is not None and alpha.external_id.startswith("ext_")
    assert next(x for x in page.items if x.id == b) == CustomerFigures(b, None, "", usd("112", "10"))  # no row
    assert page.items[2] == CustomerFigures(c, None, "Gamma", usd("0.5", "1"))
    one = profitability.customers_page(conn, DEFAULT_LIVE, START, END, 1, 1)
    assert ([x.id for x in one.items], one.total_count, one.summary) == ([second], 3, page.summary)
    assert profitability.customers_page(conn, DEFAULT_LIVE, START, END, 5, 10).items == ()
    march = profitability.customers_page(conn, DEFAULT_LIVE, "2191-03-01", "2191-03-01", 0, 10)
    assert [(x.id, x.figures) for x in march.items] == [(a, usd("7", "0.5")), (c, usd("0.5", "1"))]
    assert march.summary == usd("7.5", "1.5")


def test_over_time_reads_day_rows(conn: Connection, world: dict[str, str]) -> None:
    assert profitability.over_time(conn, DEFAULT_LIVE, "2191-03-01", "2191-03-02") == [
        DayFigures("2191-03-01", usd("7.5", "1.5")),
        DayFigures("2191-03-02", usd("5555", "5555")),
    ]
    assert profitability.over_time(conn, DEFAULT_LIVE, "2191-02-11", "2191-02-28") == []


def test_another_scope_sees_none_of_the_figures(conn: Connection, world: dict[str, str]) -> None:
    """The world is live; the test environment of the same account has its own customer and rows."""
    a, b, c, p, v = (world[k] for k in "abcpv")
    test = DEFAULT_TEST
    own = uid("cus_t")
    conn.execute(insert(customers).values(id=own, scope_id=test.id, name="Tess", created_at=at(1, 1)))
    rollup(conn, "customer_day", own, "2191-03-01", "2", "1", scope=test)
    rollup(conn, "customer_month", a, "2191-02", "1", "0", scope=test)  # a live id in test rows: not a's name
    assert profitability.customer(conn, test, c, START, END) == usd("0", "0")
    assert profitability.product(conn, test, p, START, END) == usd("0", "0")
    assert profitability.vendor(conn, test, v, START, END, None) == []
    assert [x.key for x in profitability.by(conn, test, "customer", START, END) if x.key in (a, b, c, own)] == sorted(
        [a, own]
    )
    assert profitability.by(conn, test, "vendor", START, END, v) == []
    page = profitability.customers_page(conn, test, START, END, 0, 10)
    mine = {x.id: x for x in page.items if x.id in (a, b, c, own)}
    assert mine[own] == CustomerFigures(own, None, "Tess", usd("2", "1"))
    assert mine[a] == CustomerFigures(a, None, "", usd("1", "0"))  # the live customer's name stays hidden
    assert set(mine) == {a, own}
    assert profitability.over_time(conn, test, "2191-03-01", "2191-03-02") == [DayFigures("2191-03-01", usd("2", "1"))]
    live = profitability.customers_page(conn, DEFAULT_LIVE, START, END, 0, 10)
    assert own not in {x.id for x in live.items}
    assert next(x for x in live.items if x.id == a).figures == usd("112", "32")  # test rows not added


# ------------------------------------------------------------------------------------------ revenue


def at(month: int, day: int) -> datetime:
    return datetime(2191, month, day, 12, tzinfo=UTC)


@pytest.fixture
def ledger(conn: Connection) -> dict[str, str]:
    """One customer's wallet: a paid grant (0.01 USD a unit), a promotional one (costs 0.002 USD), a
    bundled one valued in EUR (0.005) and a paid one without a basis; draws, refunds, expiries."""
    code = "R" + uuid.uuid4().hex[:8].upper()
    customer, account = uid("cus"), uid("acc")
    conn.execute(
        insert(assets).values(
            scope_id=DEFAULT_LIVE.id,
            code=code,
            name="Report credits",
            precision=2,
            label="credits",
            symbol=None,
            is_fiat=False,
            created_at=at(1, 1),
        )
    )
    conn.execute(
        insert(customers).values(id=customer, scope_id=DEFAULT_LIVE.id, name="Ledger Ltd", created_at=at(1, 1))
    )
    conn.execute(
        insert(wallet_accounts).values(
            id=account, customer_id=customer, name="default", asset=code, debt=0, created_at=at(1, 1)
        )
    )
    grants = {
        "paid": ("paid", "0.01", None, "USD"),
        "promo": ("promotion", None, "0.002", "USD"),
        "bundled": ("bundled", "0.005", None, "EUR"),
        "bare": ("paid", None, None, None),
    }
    ids = {name: uid("grt") for name in grants}
    for name, (purpose, revenue_basis, cost_basis, currency) in grants.items():
        conn.execute(
            insert(credit_grants).values(
                id=ids[name],
                account_id=account,
                amount=to_scaled(D(100)),
                remaining=to_scaled(D(100)),
                purpose=purpose,
                priority=100,
                effective_at=at(1, 1),
                source_type="test",
                source_id=name,
                created_at=at(1, 1),
                revenue_basis=to_scaled(D(revenue_basis)) if revenue_basis else None,
                cost_basis=to_scaled(D(cost_basis)) if cost_basis else None,
                basis_currency=currency,
            )
        )

    def tx(kind: str, when: datetime, draws: dict[str, str], reason: str | None = None) -> None:
        tx_id = uid("txn")
        total = sum((D(v) for v in draws.values()), D(0))
        conn.execute(
            insert(transactions).values(
                id=tx_id,
                customer_id=customer,
                transaction_id=tx_id,
                type=kind,
                account_id=account,
                asset=code,
                amount=to_scaled(total),
                reason=reason,
                created_at=when,
            )
        )
        for grant, amount in draws.items():
            conn.execute(
                insert(ledger_entries).values(
                    transaction_id=tx_id,
                    account=f"wallet:{account}",
                    asset=code,
                    grant_id=ids[grant],
                    amount=to_scaled(D(amount)),
                    created_at=when,
                )
            )
        conn.execute(
            insert(ledger_entries).values(  # the other side: never counted
                transaction_id=tx_id,
                account=f"system:revenue:{code}",
                asset=code,
                grant_id=None,
                amount=-to_scaled(total),
                created_at=when,
            )
        )

    tx("adjustment", at(1, 2), {"paid": "100", "promo": "100", "bundled": "100", "bare": "100"})  # value in
    tx("fee", at(1, 10), {"paid": "-30", "promo": "-20"})
    tx("adjustment", at(1, 20), {"paid": "-5"}, reason="external_refund")  # a refund is not consumption
    tx("adjustment", at(1, 25), {"paid": "-2.5"}, reason="gift")
    tx("expiry", at(2, 3), {"paid": "-10", "promo": "-4"})
    tx("entitlement", at(2, 5), {"bundled": "-8"})
    tx("charge", at(2, 6), {"bare": "-1"})
    tx("rollover", at(2, 7), {"paid": "-3"})  # not consumption
    tx("fee", datetime(2191, 3, 1, tzinfo=UTC), {"paid": "-50"})  # the end is exclusive
    tx("fee", datetime(2190, 12, 31, 23, 59, 59, tzinfo=UTC), {"paid": "-50"})  # before the start
    return {"customer": customer, "asset": code}


def row(period: str, asset: str, purpose: str, currency: str | None, **values: str) -> RevenueRow:
    keys = ("consumed", "revenue", "cost", "expired", "breakage", "refunded", "refunds")
    amounts = {k: D(values.get(k, "0")) for k in keys}
    return RevenueRow(period=period, asset=asset, purpose=purpose, currency=currency, **amounts)


def test_revenue_recognition_by_month(conn: Connection, ledger: dict[str, str]) -> None:
    a = ledger["asset"]
    start, end = datetime(2191, 1, 1, tzinfo=UTC), datetime(2191, 3, 1, tzinfo=UTC)
    report = revenue.report(conn, DEFAULT_LIVE, start, end, "month", ledger["customer"])
    assert (report.period_from, report.period_to, report.granularity) == (start, end, "month")
    assert list(report.items) == [
        row("2191-01", a, "paid", "USD", consumed="32.5", revenue="0.325", refunded="5", refunds="0.05"),
        row("2191-01", a, "promotion", "USD", consumed="20", cost="0.04"),
        row("2191-02", a, "bundled", "EUR", consumed="8", revenue="0.04"),
        row("2191-02", a, "paid", None, consumed="1"),
        row("2191-02", a, "paid", "USD", expired="10", breakage="0.1"),
        row("2191-02", a, "promotion", "USD", expired="4"),
    ]
    assert list(report.totals) == [
        RevenueTotals(None, D(0), D(0), D(0)),
        RevenueTotals("EUR", D("0.04"), D(0), D(0)),
        RevenueTotals("USD", D("0.325"), D("0.04"), D("0.1"), refunds=D("0.05")),  # the refund: shown apart
    ]


def test_revenue_recognition_by_day_and_for_nobody(conn: Connection, ledger: dict[str, str]) -> None:
    start, end = datetime(2191, 1, 1, tzinfo=UTC), datetime(2191, 2, 1, tzinfo=UTC)
    report = revenue.report(conn, DEFAULT_LIVE, start, end, "day", ledger["customer"])
    assert [(r.period, r.purpose, r.consumed) for r in report.items] == [
        ("2191-01-10", "paid", D(30)),
        ("2191-01-10", "promotion", D(20)),
        ("2191-01-20", "paid", D(0)),  # the refund's day: refunded, nothing consumed
        ("2191-01-25", "paid", D("2.5")),
    ]
    empty = revenue.report(conn, DEFAULT_LIVE, start, end, "day", uid("cus"))
    assert (empty.items, empty.totals) == ((), ())


def test_revenue_recognition_of_another_scope_is_empty(conn: Connection, ledger: dict[str, str]) -> None:
    start, end = datetime(2191, 1, 1, tzinfo=UTC), datetime(2191, 3, 1, tzinfo=UTC)
    assert revenue.report(conn, DEFAULT_LIVE, start, end, "month").items  # the live ledger counts in live
    for customer in (ledger["customer"], None):
        report = revenue.report(conn, DEFAULT_TEST, start, end, "month", customer)
        assert [r for r in report.items if r.asset == ledger["asset"]] == []
