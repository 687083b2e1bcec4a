"""The SQL of the subject rollups (``db.subject_tables``): the upsert the usage pipeline commits with,
and the reads of one subject and of ranked pages of subjects.

Amounts come back as stored scaled integers; every read and write is within one scope (rows are keyed
by ``scope_id`` first). Ranges are segments as in ``reports.repository``: ("day" | "month", first,
last), inclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Subquery, case, false, func, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from drawdown.db.subject_tables import subject_rollups as s
from drawdown.reports.repository import Segment

_UPSERTS: dict[str, Any] = {}
KEY = ("scope_id", "customer_id", "subject", "kind", "key", "sub", "period", "asset")


def upsert(conn: Connection) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding to the row and widening its first/last times, built once
    per dialect (hot path)."""
    name = conn.dialect.name
    if name not in _UPSERTS:
        pg = name == "postgresql"
        stmt = postgresql.insert(s) if pg else sqlite.insert(s)
        x = stmt.excluded
        # SQLite's two-argument min/max are scalar (NULL if either is: only day/month rows carry times,
        # and they always do); PostgreSQL's are LEAST/GREATEST.
        least, greatest = (func.least, func.greatest) if pg else (func.min, func.max)
        _UPSERTS[name] = stmt.on_conflict_do_update(
            index_elements=list(KEY),
            set_={
                "revenue": s.c.revenue + x.revenue, "cost": s.c.cost + x.cost, "amount": s.c.amount + x.amount,
                "events": s.c.events + x.events,
                "first_at": least(s.c.first_at, x.first_at), "last_at": greatest(s.c.last_at, x.last_at),
            },
        )
    return _UPSERTS[name]


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany, in the order given (the caller sorts by key: concurrent writers never deadlock)."""
    if rows:
        conn.execute(upsert(conn), list(rows))


# -------------------------------------------------------------------------------------------- reads


def of_subject(conn: Connection, scope_id: int, customer_id: str, subject: str) -> Sequence[Row[*tuple[Any, ...]]]:
    """The subject's month, vendor and fee rows (a primary-key range: a handful of rows)."""
    return conn.execute(
        select(s.c.kind, s.c.key, s.c.sub, s.c.asset, s.c.revenue, s.c.cost, s.c.amount, s.c.events,
               s.c.first_at, s.c.last_at)
        .where(s.c.scope_id == scope_id, s.c.customer_id == customer_id, s.c.subject == subject,
               s.c.kind.in_(("month", "vendor", "fee")))
        .order_by(s.c.kind, s.c.key, s.c.sub, s.c.asset)
    ).all()


def _in_range(scope_id: int, customer_id: str | None, segments: Sequence[Segment]) -> Subquery:
    """Per (customer, subject): revenue, cost, events, first and last over the segments' day and month rows."""
    conds: list[ColumnElement[bool]] = [s.c.scope_id == scope_id]
    if customer_id is not None:
        conds.append(s.c.customer_id == customer_id)
    cols = (s.c.customer_id, s.c.subject, s.c.revenue, s.c.cost, s.c.events, s.c.first_at, s.c.last_at)
    parts = [select(*cols).where(*conds, s.c.kind == grain, s.c.period >= lo, s.c.period <= hi)
             for grain, lo, hi in segments] or [select(*cols).where(false())]
    u = union_all(*parts).subquery()
    return (
        select(u.c.customer_id, u.c.subject, func.sum(u.c.revenue).label("revenue"),
               func.sum(u.c.cost).label("cost"), func.sum(u.c.events).label("events"),
               func.min(u.c.first_at).label("first_at"), func.max(u.c.last_at).label("last_at"))
        .group_by(u.c.customer_id, u.c.subject)
        .subquery()
    )


def page(
    conn: Connection, scope_id: int, customer_id: str | None, segments: Sequence[Segment], order: str,
    offset: int, limit: int,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """One page of subjects ranked in the database: by revenue (highest first) or by margin (lowest first,
    then by revenue); ties by customer and subject."""
    g = _in_range(scope_id, customer_id, segments)
    ordering: tuple[Any, ...]
    if order == "margin":
        # Only the order is taken from this ratio (NUMERIC on PostgreSQL, REAL on SQLite); the margins
        # shown are computed exactly from the integer sums. No revenue: margin 0, as Figures.margin.
        ratio = case((g.c.revenue == 0, literal(0)), else_=(g.c.revenue - g.c.cost) * literal(1.0) / g.c.revenue)
        ordering = (ratio.asc(), g.c.revenue.desc())
    else:
        ordering = (g.c.revenue.desc(),)
    return conn.execute(
        select(g).order_by(*ordering, g.c.customer_id, g.c.subject).offset(offset).limit(limit)
    ).all()


def summary(
    conn: Connection, scope_id: int, customer_id: str | None, segments: Sequence[Segment]
) -> tuple[int, int, int, int]:
    """(subjects, revenue, cost, events) over all the subjects in range."""
    g = _in_range(scope_id, customer_id, segments)
    row = conn.execute(select(func.count(), func.coalesce(func.sum(g.c.revenue), 0),
                              func.coalesce(func.sum(g.c.cost), 0), func.coalesce(func.sum(g.c.events), 0))).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])
