"""The subject rollups on a real database (SQLite and PostgreSQL): upserts that add and widen, whole
months read from monthly rows and the edges from daily ones, ranking by revenue and by margin, and
one scope never seeing another's rows.

Each test runs in a transaction that is rolled back, in the 2190s, away from the session's other data.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

from sqlalchemy import Connection

from drawdown.core.money import to_scaled
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST, Scope
from drawdown.reports import subjects
from drawdown.reports.models import FeeTotal, Figures, VendorCost
from drawdown.usage.subject_rollup import SubjectRollup


def t(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


def send(conn: Connection, *events: tuple, scope: Scope = DEFAULT_LIVE) -> None:
    """Events as the usage pipeline adds them up and commits them: (customer, subject, day, revenue,
    cost[, hour[, costs[, fees]]])."""
    rollup = SubjectRollup()
    for customer, subject, day, revenue, cost, *more in events:
        hour, costs, fees = (list(more) + [12, [], []][len(more):])[:3]
        at = t(day, hour)
        rollup.add_event(scope.id, customer, subject, at, to_scaled(D(revenue)), to_scaled(D(cost)), costs, fees)
    rollup.flush(conn, {scope.id: scope})


def test_upserts_add_up_and_widen_first_and_last(conn: Connection) -> None:
    c = f"cust_{uuid.uuid4().hex[:12]}"
    llm = {"vendor_id": "vnd_a", "category": "inference", "amount_usd": to_scaled(D("0.2"))}
    send(conn, (c, "run", "2191-01-05", "1.5", "0.25", 9))
    fee = ("prp_x", "prc_y", "GEMS", to_scaled(D("12.5")))
    send(conn, (c, "run", "2191-01-05", "0.000000001", "0", 8, [llm], [fee]))
    send(conn, (c, "run", "2191-02-01", "0", "0.05", 1, [{**llm, "amount_usd": to_scaled(D("0.05"))}],
                [("prp_x", "prc_y", "GEMS", to_scaled(D("0.5")))]))
    s = subjects.stats(conn, DEFAULT_LIVE, c, "run")
    assert s.totals.figures == Figures(D("1.500000001"), D("0.3"), "USD")
    assert (s.totals.events, s.totals.first_at, s.totals.last_at) == (3, t("2191-01-05", 8), t("2191-02-01", 1))
    assert s.costs == (VendorCost("vnd_a", "inference", D("0.25")),)
    assert s.fees == (FeeTotal("prp_x", "prc_y", "GEMS", D("13"), 2),)
    nothing = subjects.stats(conn, DEFAULT_LIVE, c, "never")
    assert (nothing.totals.figures, nothing.totals.events, nothing.totals.first_at) == (Figures(D(0), D(0), "USD"),
                                                                                        0, None)


def test_ranges_rankings_and_scopes(conn: Connection) -> None:
    c, d = (f"cust_{uuid.uuid4().hex[:12]}" for _ in range(2))
    send(conn,
         (c, "loss", "2192-03-10", "1", "1.5"),  # margin -50
         (c, "loss", "2192-04-02", "1", "0"),  # with April: revenue 2, cost 1.5, margin 25
         (c, "free", "2192-03-31", "0", "0.1"),  # no revenue: margin 0
         (d, "big", "2192-03-15", "10", "1"))  # margin 90
    send(conn, (c, "hidden", "2192-03-15", "100", "0"), scope=DEFAULT_TEST)

    # A period holds the subjects that started in it, each with its whole life's figures: "loss" started
    # in March, so its April event counts too.
    march = subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-01", "2192-03-31", "revenue", 0, 10)
    assert [(s.customer_id, s.subject) for s in march.items] == [(d, "big"), (c, "loss"), (c, "free")]
    assert (march.summary, march.events, march.total_count) == (Figures(D(12), D("2.6"), "USD"), 4, 3)
    assert march.items[1].last_at == t("2192-04-02") and march.items[1].events == 2
    by_margin = subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-01", "2192-03-31", "margin", 0, 10)
    assert [(s.subject, s.figures.margin) for s in by_margin.items] == [("free", 0), ("loss", D("25.00")),
                                                                       ("big", D("90.00"))]
    april = subjects.ranked(conn, DEFAULT_LIVE, None, "2192-04-01", "2192-04-30", "revenue", 0, 10)
    assert (april.items, april.total_count, april.events) == ((), 0, 0)
    spring = subjects.ranked(conn, DEFAULT_LIVE, c, "2192-03-10", "2192-04-30", "margin", 0, 10)
    assert [(s.subject, s.figures.margin, s.events) for s in spring.items] == [("free", 0, 1), ("loss", D("25.00"), 2)]
    assert subjects.ranked(conn, DEFAULT_LIVE, c, "2192-03-11", "2192-04-30", "margin", 0, 10).total_count == 1
    page = subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-01", "2192-03-31", "revenue", 1, 1)
    assert [s.subject for s in page.items] == ["loss"] and page.total_count == 3
    assert subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-01", "2192-03-31", "revenue", 3, 1).items == ()
    assert subjects.ranked(conn, DEFAULT_LIVE, None, "2192-03-02", "2192-03-01", "revenue", 0, 10).total_count == 0
    assert subjects.ranked(conn, DEFAULT_TEST, c, None, None, "revenue", 0, 10).items[0].subject == "hidden"
    assert subjects.stats(conn, DEFAULT_LIVE, c, "hidden").totals.events == 0
    # Whole lives: from the total rows, in rank order (the session database holds other subjects too).
    everyone = subjects.ranked(conn, DEFAULT_LIVE, None, None, None, "margin", 0, 500)
    mine = [x for x in everyone.items if x.customer_id in (c, d)]
    # The scope's count and sums are its own total row, kept as subjects first appear.
    assert everyone.total_count == len(everyone.items) if everyone.total_count <= 500 else True
    assert everyone.summary.revenue == sum((x.figures.revenue for x in everyone.items), D(0))
    assert [(x.subject, x.figures.margin) for x in mine] == [("free", 0), ("loss", D("25.00")), ("big", D("90.00"))]
    whole = subjects.ranked(conn, DEFAULT_LIVE, c, None, None, "revenue", 0, 10)
    assert [x.subject for x in whole.items] == ["loss", "free"] and whole.total_count == 2
    assert (whole.summary, whole.events) == (Figures(D(2), D("1.6"), "USD"), 3)


def test_a_period_holds_the_subjects_started_in_it_ranked_exactly(conn: Connection) -> None:
    """Per-day walks merged into one page equal ranking every subject in Python, for both orders and
    any page; an event earlier than a subject's first moves it, whole, to the earlier day."""
    rng = random.Random(5)
    days = [f"2193-05-{d:02d}" for d in range(1, 6)]
    customers = [f"cust_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    truth: dict[tuple[str, str], list[Any]] = {}
    for n in range(40):
        key = (rng.choice(customers), f"run-{n}")
        day = rng.choice(days)
        revenue, cost = D(rng.randrange(0, 500)) / 100, D(rng.randrange(0, 300)) / 100
        send(conn, (*key, day, str(revenue), str(cost)))
        truth[key] = [revenue, cost, day, 1]
    for key in rng.sample(sorted(truth), 10):  # later steps, some a day earlier than the run's first
        day = min(days[max(days.index(truth[key][2]) - rng.randrange(0, 2), 0)], truth[key][2])
        send(conn, (*key, day, "0.5", "0.25", 3))
        truth[key] = [truth[key][0] + D("0.5"), truth[key][1] + D("0.25"), day, truth[key][3] + 1]

    def margin(v: list[Any]) -> Any:
        return (v[0] - v[1]) / v[0] if v[0] else D(0)

    for first, last in ((days[0], days[-1]), (days[1], days[3]), (days[2], days[2])):
        inside = {k: v for k, v in truth.items() if first <= v[2] <= last}
        expected = {
            "revenue": sorted(inside, key=lambda k: (-inside[k][0], *k)),
            "margin": sorted(inside, key=lambda k: (margin(inside[k]), -inside[k][0], *k)),
        }
        for order, ranking in expected.items():
            for offset, limit in ((0, 100), (0, 3), (4, 5), (len(inside) - 1, 10)):
                page = subjects.ranked(conn, DEFAULT_LIVE, None, first, last, order, offset, limit)
                assert [(x.customer_id, x.subject) for x in page.items] == ranking[offset:offset + limit]
                assert page.total_count == len(inside)
                assert page.summary.revenue == sum((v[0] for v in inside.values()), D(0))
                assert page.events == sum(v[3] for v in inside.values())
        for c in customers:
            mine = subjects.ranked(conn, DEFAULT_LIVE, c, first, last, "revenue", 0, 100)
            assert [x.subject for x in mine.items] == [k[1] for k in expected["revenue"] if k[0] == c]
