"""The SQL of the subject rollups (``db.subject_tables``): the upsert the usage pipeline commits with,
and the reads of one subject and of ranked pages of subjects.

Amounts come back as stored scaled integers; every read and write is within one scope (rows are keyed
by ``scope_id`` first). Ranges are of UTC days, ``YYYY-MM-DD``, inclusive, and hold the subjects that
started in them. What each read costs does not grow with the number of events: one subject is a few
key lookups, one customer's subjects a key range, all subjects over all time a walk of an index in rank
order that stops at the page, and all subjects over a period the same walk on each day of it, merged,
with the count and summary from the period's ``started`` rows (one per day).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, Row, Select, String, bindparam, case, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from drawdown.db.subject_tables import IS_TOTAL, margin_order
from drawdown.db.subject_tables import subject_rollups as t
from drawdown.db.types import UTCDateTime

s = t.c
_UPSERTS: dict[str, Any] = {}
KEY = ("scope_id", "customer_id", "kind", "period", "subject", "key", "sub", "asset")
Rows = Sequence[Row[*tuple[Any, ...]]]


def upsert(conn: Connection) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding to the row and widening its first/last times, built once
    per dialect (hot path)."""
    name = conn.dialect.name
    if name not in _UPSERTS:
        pg = name == "postgresql"
        stmt = postgresql.insert(t) if pg else sqlite.insert(t)
        x = stmt.excluded
        # SQLite's two-argument min/max are scalar (NULL if either is: only day, month and total rows
        # carry times, and they always do); PostgreSQL's are LEAST/GREATEST.
        least, greatest = (func.least, func.greatest) if pg else (func.min, func.max)
        _UPSERTS[name] = stmt.on_conflict_do_update(
            index_elements=list(KEY),
            set_={
                "revenue": s.revenue + x.revenue, "cost": s.cost + x.cost, "amount": s.amount + x.amount,
                "events": s.events + x.events, "subjects": s.subjects + x.subjects,
                "first_at": least(s.first_at, x.first_at), "last_at": greatest(s.last_at, x.last_at),
                # An event earlier than the subject's first moves it to the day of that event.
                "first_day": case((x.first_at < s.first_at, x.first_day), else_=s.first_day),
            },
        )
    return _UPSERTS[name]


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany, in the order given (the caller sorts by key: concurrent writers never deadlock)."""
    if rows:
        conn.execute(upsert(conn), list(rows))


# -------------------------------------------------------------------------------------- one subject


def of_subject(conn: Connection, scope_id: int, customer_id: str, subject: str) -> Rows:
    """The subject's total, vendor and fee rows (key lookups: a handful of rows)."""
    return conn.execute(
        select(s.kind, s.key, s.sub, s.asset, s.revenue, s.cost, s.amount, s.events, s.first_at, s.last_at)
        .where(s.scope_id == scope_id, s.customer_id == customer_id, s.kind.in_(("total", "vendor", "fee")),
               s.period == "", s.subject == subject)
        .order_by(s.kind, s.key, s.sub, s.asset)
    ).all()


# ------------------------------------------------------------------------------------- ranked pages

_FIGURES = ("revenue", "cost", "events")
_COLUMNS = (s.customer_id, s.subject, s.revenue, s.cost, s.events, s.first_at, s.last_at)
# SQLite caps a compound SELECT at 500 terms: a long period is read in runs of days.
_DAYS_PER_QUERY = 200


def _ranked(query: Select[Any], g: Any, order: str) -> Select[Any]:
    if order == "margin":  # lowest first (the loss-makers), then by revenue
        return query.order_by(margin_order(g.revenue, g.cost), g.revenue.desc(), g.customer_id, g.subject)
    return query.order_by(g.revenue.desc(), g.customer_id, g.subject)


def _started_in(first: str | None, last: str | None) -> list[Any]:
    """Bounds on a customer's total rows, written so that no index serves them: without statistics,
    SQLite would rather walk every customer's subjects of the days than one customer's key range."""
    day = func.coalesce(s.first_day, "")
    bounds = []
    if first is not None:
        bounds.append(day >= first)
    if last is not None:
        bounds.append(day <= last)
    return bounds


def page_of_customer(
    conn: Connection, scope_id: int, customer_id: str, first: str | None, last: str | None, order: str,
    offset: int, limit: int,
) -> Rows:
    """One page of one customer's subjects that started in the days (open ends: all time), ranked; each
    row also carries the count and the sums over all of them (``n``, ``all_revenue``, ``all_cost``,
    ``all_events``: one pass over the customer's total rows, a key range)."""
    # The customer's rows first, materialised: ranked straight from the table, PostgreSQL would walk the
    # scope's rank-ordered index over every customer's subjects to skip the sort (75 ms against 5 ms for
    # 841 subjects among 833,334).
    mine = select(*_COLUMNS).where(
        s.scope_id == scope_id, s.customer_id == customer_id, s.kind == "total", *_started_in(first, last)
    ).cte("mine").prefix_with("MATERIALIZED")
    m = mine.c
    totals = [func.count().over().label("n"), *(func.sum(m[k]).over().label(f"all_{k}") for k in _FIGURES)]
    query = select(*m, *totals)
    return conn.execute(_ranked(query, m, order).offset(offset).limit(limit)).all()


def summary_of_customer(
    conn: Connection, scope_id: int, customer_id: str, first: str | None, last: str | None
) -> tuple[int, int, int, int]:
    """(subjects, revenue, cost, events) of the customer's subjects that started in the days."""
    row = conn.execute(select(func.count(), *(func.coalesce(func.sum(s[k]), 0) for k in _FIGURES)).where(
        s.scope_id == scope_id, s.customer_id == customer_id, s.kind == "total", *_started_in(first, last))).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def best_started(conn: Connection, scope_id: int, days: Sequence[str], order: str, n: int) -> Rows:
    """(customer_id, subject, revenue, cost) of the ``n`` best subjects of all customers started on each
    of ``days``, by ``order``: a walk of the rank-ordered covering partial index per day, stopped after
    ``n`` (the caller merges them; the page is among them)."""
    found: list[Any] = []
    for k in range(0, len(days), _DAYS_PER_QUERY):
        chunk = days[k:k + _DAYS_PER_QUERY]
        params: dict[str, Any] = {f"d{i}": day for i, day in enumerate(chunk)}
        found.extend(conn.execute(_walks(order, len(chunk)), {**params, "scope": scope_id, "n": n}).all())
    return found


_WALKS: dict[tuple[str, int], Any] = {}


def _walks(order: str, days: int) -> Any:
    """The statement of ``days`` walks, built once per shape (building it costs more than running it).
    ``kind = 'total'`` is a literal, so the planner matches the indexes' predicate; the scope's own
    total row has no day. Each walk is a subquery: SQLite allows no ORDER BY or LIMIT on a compound's
    own terms."""
    if (order, days) not in _WALKS:
        parts = [
            select(_ranked(select(s.customer_id, s.subject, s.revenue, s.cost).where(
                s.scope_id == bindparam("scope"), IS_TOTAL, s.first_day == bindparam(f"d{i}")), s, order)
                .limit(bindparam("n", type_=Integer)).subquery())
            for i in range(days)
        ]
        _WALKS[(order, days)] = parts[0].union_all(*parts[1:]) if days > 1 else parts[0]
    return _WALKS[(order, days)]


def started_summary(conn: Connection, scope_id: int, first: str, last: str) -> tuple[int, int, int, int]:
    """(subjects, revenue, cost, events) of all the subjects that started in the days: the ``started``
    rows of those days (a key range)."""
    row = conn.execute(select(*(func.coalesce(func.sum(s[k]), 0) for k in ("subjects", *_FIGURES))).where(
        s.scope_id == scope_id, s.customer_id == "", s.kind == "started", s.period >= first,
        s.period <= last)).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def page_of_totals(conn: Connection, scope_id: int, order: str, offset: int, limit: int) -> Rows:
    """One page of all the scope's subjects over their whole lives, ranked: the rank-ordered partial
    index over the total rows, read only as far as the page (``kind = 'total'`` written as a literal, so
    the planner matches it to the indexes' predicate)."""
    query = select(s.customer_id, s.subject, s.revenue, s.cost, s.events, s.first_at, s.last_at).where(
        s.scope_id == scope_id, IS_TOTAL, s.customer_id != "")  # not the scope's own total row
    return conn.execute(_ranked(query, s, order).offset(offset).limit(limit)).all()


def scope_total(conn: Connection, scope_id: int) -> tuple[int, int, int, int, Any, Any]:
    """(revenue, cost, events, subjects, first_at, last_at) of all the scope's subjects over all time:
    its own total row."""
    row = conn.execute(select(s.revenue, s.cost, s.events, s.subjects, s.first_at, s.last_at).where(
        s.scope_id == scope_id, s.customer_id == "", s.kind == "total", s.period == "", s.subject == "")).first()
    if row is None:
        return 0, 0, 0, 0, None, None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), row[4], row[5]


def known_totals(
    conn: Connection, scope_id: int, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Row[Any]]:
    """The total rows (revenue, cost, events, first_at, last_at) of the (customer, subject) pairs among ``pairs``
    that have one: one key probe per pair, through a VALUES list joined on the key (as
    ``usage.repository.stored_events``)."""
    found: dict[tuple[str, str], Row[Any]] = {}
    for k in range(0, len(pairs), 400):
        chunk = pairs[k:k + 400]
        values = ", ".join(f"(:c{i}, :s{i})" for i in range(len(chunk)))
        params: dict[str, Any] = {f"{p}{i}": v for i, pair in enumerate(chunk) for p, v in zip("cs", pair, strict=True)}
        rows = conn.execute(text(
            f"WITH wanted (c, s) AS (VALUES {values}) SELECT r.customer_id, r.subject, r.revenue, r.cost, "
            "r.events, r.first_at, r.last_at FROM wanted "
            "JOIN subject_rollups r ON r.scope_id = :scope AND r.customer_id = wanted.c AND r.kind = 'total' "
            "AND r.period = '' AND r.subject = wanted.s AND r.key = '' AND r.sub = '' AND r.asset = ''"
        ).columns(customer_id=String(), subject=String(), revenue=BigInteger(), cost=BigInteger(),
                  events=BigInteger(), first_at=UTCDateTime(), last_at=UTCDateTime()), {**params, "scope": scope_id})
        found.update(((r.customer_id, r.subject), r) for r in rows)
    return found
