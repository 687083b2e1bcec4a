"""The subject rollups on a real database (SQLite and PostgreSQL): upserts that add and widen, whole
months read from monthly rows and the edges from daily ones, ranking by revenue and by margin, and
one scope never seeing another's rows.

Each test runs in a transaction that is rolled back, in the 2190s, away from the session's other data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from drawdown.core.money import to_scaled
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST
from drawdown.reports import subjects
from drawdown.reports.models import FeeTotal, Figures, VendorCost


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def t(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


def event(customer: str, subject: str, day: str, revenue: str, cost: str, hour: int = 12) -> dict[Any, list[Any]]:
    """The day and month rows one event adds (as the usage pipeline does)."""
    delta = [to_scaled(D(revenue)), to_scaled(D(cost)), 0, 1, t(day, hour), t(day, hour)]
    return {(customer, subject, "day", "", "", day, ""): delta, (customer, subject, "month", "", "", day[:7], ""):
            list(delta)}


def test_upserts_add_up_and_widen_first_and_last(conn: Connection) -> None:
    c = f"cust_{uuid.uuid4().hex[:12]}"
    subjects.add_all(conn, DEFAULT_LIVE, event(c, "run", "2191-01-05", "1.5", "0.25", hour=9))
    subjects.add_all(conn, DEFAULT_LIVE, {
        **event(c, "run", "2191-01-05", "0.000000001", "0", hour=8),
        (c, "run", "vendor", "vnd_a", "inference", "", ""): [0, to_scaled(D("0.2")), 0, 0, None, None],
        (c, "run", "fee", "prp_x", "prc_y", "", "GEMS"): [0, 0, to_scaled(D("12.5")), 2, None, None],
    })
    subjects.add_all(conn, DEFAULT_LIVE, {
        **event(c, "run", "2191-02-01", "0", "0.05", hour=1),
        (c, "run", "vendor", "vnd_a", "inference", "", ""): [0, to_scaled(D("0.05")), 0, 0, None, None],
        (c, "run", "fee", "prp_x", "prc_y", "", "GEMS"): [0, 0, to_scaled(D("0.5")), 1, None, None],
    })
    s = subjects.stats(conn, DEFAULT_LIVE, c, "run")
    assert s.totals.figures == Figures(D("1.500000001"), D("0.3"), "USD")
    assert (s.totals.events, s.totals.first_at, s.totals.last_at) == (3, t("2191-01-05", 8), t("2191-02-01", 1))
    assert s.costs == (VendorCost("vnd_a", "inference", D("0.25")),)
    assert s.fees == (FeeTotal("prp_x", "prc_y", "GEMS", D("13"), 3),)
    nothing = subjects.stats(conn, DEFAULT_LIVE, c, "never")
    assert (nothing.totals.figures, nothing.totals.events, nothing.totals.first_at) == (Figures(D(0), D(0), "USD"),
                                                                                        0, None)


def test_ranges_rankings_and_scopes(conn: Connection) -> None:
    c, d = (f"cust_{uuid.uuid4().hex[:12]}" for _ in range(2))
    for rows in (
        event(c, "loss", "2192-03-10", "1", "1.5"),  # margin -50
        event(c, "loss", "2192-04-02", "1", "0"),  # with April: revenue 2, cost 1.5, margin 25
        event(c, "free", "2192-03-31", "0", "0.1"),  # no revenue: margin 0
        event(d, "big", "2192-03-15", "10", "1"),  # margin 90
    ):
        subjects.add_all(conn, DEFAULT_LIVE, rows)
    subjects.add_all(conn, DEFAULT_TEST, event(c, "hidden", "2192-03-15", "100", "0"))

    march = subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-01", "2192-03-31", "revenue", 0, 10)
    assert [(s.customer_id, s.subject) for s in march.items] == [(d, "big"), (c, "loss"), (c, "free")]
    assert (march.summary, march.events, march.total_count) == (Figures(D(11), D("2.6"), "USD"), 3, 3)
    by_margin = subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-01", "2192-03-31", "margin", 0, 10)
    assert [s.subject for s in by_margin.items] == ["loss", "free", "big"]
    assert by_margin.items[0].figures.margin == D("-50.00")
    # Edges from daily rows, April whole from its monthly row: the loss-maker recovers.
    spring = subjects.ranked(conn, DEFAULT_LIVE, c, "2192-03-10", "2192-04-30", "margin", 0, 10)
    assert [(s.subject, s.figures.margin, s.events) for s in spring.items] == [("free", 0, 1), ("loss", D("25.00"), 2)]
    assert spring.items[1].last_at == t("2192-04-02")
    page = subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-01", "2192-03-31", "revenue", 1, 1)
    assert [s.subject for s in page.items] == ["loss"] and page.total_count == 3
    assert subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-02", "2192-03-01", "revenue", 0, 10).total_count == 0
    assert subjects.ranked(conn, DEFAULT_TEST, c, None, None, "revenue", 0, 10).items[0].subject == "hidden"
    assert subjects.stats(conn, DEFAULT_LIVE, c, "hidden").totals.events == 0
