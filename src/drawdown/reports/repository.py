"""The reports' SQL: the profitability rollups (upserts and range reads) and the ledger reads of revenue
recognition.

Amounts come back as the stored scaled integers (``drawdown.core.money``): sums run over integer
columns only, exact on both backends. Ranges of rollups are read as segments, ``(grain, first,
last)`` with grain "day" (periods ``YYYY-MM-DD``) or "month" (``YYYY-MM``), inclusive.

Every read and write is within one scope: rollups are keyed by ``scope_id`` first, and the ledger reads
reach transactions through their scoped customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Subquery, and_, false, func, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from drawdown.db.rows import Bulk
from drawdown.db.tables import credit_grants, customers, ledger_entries, rollups, transactions, wallet_accounts

Segment = tuple[str, str, str]
"""(grain, first period, last period): "day" or "month" rollup rows over an inclusive period range."""

# ------------------------------------------------------------------------------------ rollup writes

_UPSERTS: dict[str, Bulk] = {}


def rollup_upsert(conn: Connection) -> Bulk:
    """INSERT … ON CONFLICT DO UPDATE adding to the row, built once per dialect (hot path), its rows
    bound as a ``Bulk``'s. Each row carries its ``scope_id``."""
    name = conn.dialect.name
    if name not in _UPSERTS:
        stmt = postgresql.insert(rollups) if name == "postgresql" else sqlite.insert(rollups)
        _UPSERTS[name] = Bulk(rollups, stmt.on_conflict_do_update(
            index_elements=["scope_id", "kind", "key", "sub", "period"],
            set_={"revenue": rollups.c.revenue + stmt.excluded.revenue, "cost": rollups.c.cost + stmt.excluded.cost},
        ))
    return _UPSERTS[name]


def add_to_rollups(conn: Connection, scope_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """Add each row's scaled ``revenue`` and ``cost`` to its (kind, key, sub, period) row of the scope,
    creating it if needed. One executemany: the rows are written in the order given."""
    rollup_upsert(conn).execute(conn, [{**row, "scope_id": scope_id} for row in rows])


# ------------------------------------------------------------------------------------- rollup reads


def _per_key(scope_id: int, kind: str, segments: Sequence[Segment], *conds: ColumnElement[bool]) -> Subquery:
    """The scope's rows of one kind over the segments: one index range scan per segment (the index
    starts with scope_id, kind, period), combined with UNION ALL."""
    r = rollups.c
    parts = [
        select(r.key, r.sub, r.revenue, r.cost).where(
            r.scope_id == scope_id, r.kind == f"{kind}_{grain}", r.period >= lo, r.period <= hi, *conds
        )
        for grain, lo, hi in segments
    ]
    if not parts:
        parts = [select(r.key, r.sub, r.revenue, r.cost).where(false())]
    return union_all(*parts).subquery()


def total(conn: Connection, scope_id: int, kind: str, segments: Sequence[Segment], key: str) -> tuple[int, int]:
    """Scaled (revenue, cost) of one key over the segments; zeros when it has no rows."""
    u = _per_key(scope_id, kind, segments, rollups.c.key == key)
    row = conn.execute(select(func.coalesce(func.sum(u.c.revenue), 0), func.coalesce(func.sum(u.c.cost), 0))).one()
    return int(row[0]), int(row[1])


def totals_per_key(
    conn: Connection, scope_id: int, kind: str, segments: Sequence[Segment], key: str | None = None
) -> list[tuple[str, int, int]]:
    """Scaled (key, revenue, cost) per key over the segments, in key order; only ``key`` if given."""
    u = _per_key(scope_id, kind, segments, *([rollups.c.key == key] if key is not None else []))
    rows = conn.execute(
        select(u.c.key, func.sum(u.c.revenue).label("revenue"), func.sum(u.c.cost).label("cost"))
        .group_by(u.c.key)
        .order_by(u.c.key)
    ).all()
    return [(x.key, int(x.revenue), int(x.cost)) for x in rows]


def costs_per_category(
    conn: Connection, scope_id: int, vendor_id: str, segments: Sequence[Segment], category: str | None
) -> list[tuple[str, int]]:
    """Scaled cost per category of one vendor over the segments, in category order; only ``category``
    if given."""
    r = rollups.c
    conds = [r.key == vendor_id] + ([r.sub == category] if category is not None else [])
    u = _per_key(scope_id, "vendor", segments, *conds)
    rows = conn.execute(select(u.c.sub, func.sum(u.c.cost).label("cost")).group_by(u.c.sub).order_by(u.c.sub)).all()
    return [(x.sub, int(x.cost)) for x in rows]


def daily_totals(conn: Connection, scope_id: int, first: str | None, last: str | None) -> list[tuple[str, int, int]]:
    """Scaled (day, revenue, cost) over the scope's customers per UTC day in [first, last], in day order."""
    r = rollups.c
    conds = [r.scope_id == scope_id, r.kind == "customer_day"]
    if first:
        conds.append(r.period >= first)
    if last:
        conds.append(r.period <= last)
    rows = conn.execute(
        select(r.period, func.sum(r.revenue).label("revenue"), func.sum(r.cost).label("cost"))
        .where(*conds)
        .group_by(r.period)
        .order_by(r.period)
    ).all()
    return [(x.period, int(x.revenue), int(x.cost)) for x in rows]


def customer_names(conn: Connection, scope_id: int, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """(name, external_id) of the scope's customers among ``ids`` that exist, by id."""
    c = customers.c
    rows = conn.execute(select(c.id, c.name, c.external_id).where(c.scope_id == scope_id, c.id.in_(list(ids))))
    return {x.id: (x.name, x.external_id) for x in rows}


# -------------------------------------------------------------------------------- grant consumption


def _bucket(conn: Connection, column: Any, granularity: str) -> Any:
    """A UTC timestamp column as its period text: ``YYYY-MM-DD`` by day, ``YYYY-MM`` by month."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD" if granularity == "day" else "YYYY-MM")
    return func.substr(column, 1, 10 if granularity == "day" else 7)


def grant_movements(
    conn: Connection,
    scope_id: int,
    start: datetime,
    end: datetime,
    granularity: str,
    customer_id: str | None,
    consuming: Sequence[str],
    not_consuming_reason: str,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """Value leaving the scope's grants through wallet ledger entries in [start, end), summed per period,
    transaction type, grant purpose, asset and grant basis.

    Counted: transactions of a ``consuming`` type whose reason is not ``not_consuming_reason``, and
    expiries (value leaving only); and the ``not_consuming_reason`` adjustments themselves (refunds), in
    both directions, so that a refund put back nets out. Each row: period, type, reason, purpose, asset,
    revenue_basis, cost_basis, basis_currency (the grant's), units (scaled, negative: value leaving).
    """
    le, t, g, a = ledger_entries.c, transactions.c, credit_grants.c, wallet_accounts.c
    period = _bucket(conn, le.created_at, granularity).label("period")
    conds = [
        customers.c.scope_id == scope_id,  # transactions have no scope: their customer has
        le.grant_id.is_not(None),
        le.account.like("wallet:%"),
        le.created_at >= start,
        le.created_at < end,
    ]
    if customer_id:
        conds.append(t.customer_id == customer_id)
    consumed = and_(t.type.in_(consuming), or_(t.reason.is_(None), t.reason != not_consuming_reason))
    refunded = and_(t.type == "adjustment", t.reason == not_consuming_reason)
    grouping = (period, t.type, t.reason, g.purpose, a.asset, g.revenue_basis, g.cost_basis, g.basis_currency)
    return (
        conn.execute(
            select(*grouping, func.sum(le.amount).label("units"))
            .select_from(
                ledger_entries.join(transactions, t.id == le.transaction_id)
                .join(credit_grants, g.id == le.grant_id)
                .join(wallet_accounts, a.id == g.account_id)
                .join(customers, customers.c.id == t.customer_id)
            )
            .where(*conds, or_(and_(le.amount < 0, or_(consumed, t.type == "expiry")), refunded))
            .group_by(*grouping)
        ).all()
    )
