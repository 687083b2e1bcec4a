"""The SQL of the subject rollups (``db.subject_tables``): the upsert the usage pipeline commits with,
and the reads of one subject and of ranked pages of subjects.

Amounts come back as stored scaled integers; every read and write is within one scope (rows are keyed
by ``scope_id`` first). Ranges are of UTC days, ``YYYY-MM-DD``, inclusive. What each read costs does
not grow with the number of events: one subject is a few key lookups, one customer's subjects a key
range, all subjects over all time a walk of an index in rank order that stops at the page, and all
subjects over a period the day rows in it (about one per subject active in the period).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Select, Subquery, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from drawdown.db.subject_tables import IS_DAY, IS_TOTAL, margin_order
from drawdown.db.subject_tables import subject_rollups as t

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


def _grouped(scope_id: int, customer_id: str | None, first: str | None, last: str | None) -> Subquery:
    """Per (customer, subject): revenue, cost, events, first and last over the days [first, last] (open
    ends: all time). One customer over all time: its total rows (a key range); over days: its day rows
    (a key range); all customers: the day rows of the period (the covering partial index)."""
    if customer_id is not None and first is None and last is None:
        source = select(*_COLUMNS).where(s.scope_id == scope_id, s.customer_id == customer_id, s.kind == "total")
    else:
        who = s.customer_id == customer_id if customer_id is not None else s.customer_id != ""
        source = select(*_COLUMNS).where(s.scope_id == scope_id, IS_DAY, who, s.period >= (first or "0001-01-01"),
                                         s.period <= (last or "9999-12-31"))
    u = source.subquery()
    return (
        select(u.c.customer_id, u.c.subject, *(func.sum(u.c[k]).label(k) for k in _FIGURES),
               func.min(u.c.first_at).label("first_at"), func.max(u.c.last_at).label("last_at"))
        .group_by(u.c.customer_id, u.c.subject)
        .subquery()
    )


def _ranked(query: Select[Any], g: Any, order: str) -> Select[Any]:
    if order == "margin":  # lowest first (the loss-makers), then by revenue
        return query.order_by(margin_order(g.revenue, g.cost), g.revenue.desc(), g.customer_id, g.subject)
    return query.order_by(g.revenue.desc(), g.customer_id, g.subject)


def page_in_range(
    conn: Connection, scope_id: int, customer_id: str | None, first: str | None, last: str | None, order: str,
    offset: int, limit: int,
) -> Rows:
    """One page of subjects with figures in the days, ranked; each row also carries the count and the
    sums over all of them (``n``, ``all_revenue``, ``all_cost``, ``all_events``: one pass)."""
    g = _grouped(scope_id, customer_id, first, last)
    totals = [func.count().over().label("n"), *(func.sum(g.c[k]).over().label(f"all_{k}") for k in _FIGURES)]
    return conn.execute(_ranked(select(g, *totals), g.c, order).offset(offset).limit(limit)).all()


def summary_in_range(
    conn: Connection, scope_id: int, customer_id: str | None, first: str | None, last: str | None
) -> tuple[int, int, int, int]:
    """(subjects, revenue, cost, events) over all the subjects with figures in the days."""
    g = _grouped(scope_id, customer_id, first, last)
    row = conn.execute(select(func.count(), *(func.coalesce(func.sum(g.c[k]), 0) for k in _FIGURES))).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def page_of_totals(conn: Connection, scope_id: int, order: str, offset: int, limit: int) -> Rows:
    """One page of all the scope's subjects over their whole lives, ranked: the rank-ordered partial
    index over the total rows, read only as far as the page (``kind = 'total'`` written as a literal, so
    the planner matches it to the indexes' predicate)."""
    query = select(s.customer_id, s.subject, s.revenue, s.cost, s.events, s.first_at, s.last_at).where(
        s.scope_id == scope_id, IS_TOTAL, s.customer_id != "")  # not the scope's own total row
    return conn.execute(_ranked(query, s, order).offset(offset).limit(limit)).all()


def scope_total(conn: Connection, scope_id: int) -> tuple[int, int, int, int]:
    """(revenue, cost, events, subjects) of all the scope's subjects over all time: its own total row."""
    row = conn.execute(select(s.revenue, s.cost, s.events, s.subjects).where(
        s.scope_id == scope_id, s.customer_id == "", s.kind == "total", s.period == "", s.subject == "")).first()
    return (0, 0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def known_subjects(conn: Connection, scope_id: int, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (customer, subject) pairs among ``pairs`` that already have a total row: one key probe per
    pair, through a VALUES list joined on the key (as ``usage.repository.stored_events``)."""
    found: set[tuple[str, str]] = set()
    for k in range(0, len(pairs), 400):
        chunk = pairs[k:k + 400]
        values = ", ".join(f"(:c{i}, :s{i})" for i in range(len(chunk)))
        params: dict[str, Any] = {f"{p}{i}": v for i, pair in enumerate(chunk) for p, v in zip("cs", pair, strict=True)}
        rows = conn.execute(text(
            f"WITH wanted (c, s) AS (VALUES {values}) SELECT r.customer_id, r.subject FROM wanted "
            "JOIN subject_rollups r ON r.scope_id = :scope AND r.customer_id = wanted.c AND r.kind = 'total' "
            "AND r.period = '' AND r.subject = wanted.s AND r.key = '' AND r.sub = '' AND r.asset = ''"),
            {**params, "scope": scope_id})
        found.update((r.customer_id, r.subject) for r in rows)
    return found
