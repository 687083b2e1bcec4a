"""The usage room's SQL: customers locked for a group, stored events, subscribed prices, tier
positions, recurring periods, and the rows a group writes.

Statements on the hot path are built once, here. Lists of ids go in chunks of ``CHUNK`` (SQLite
allows 32,766 bound parameters; a pair takes two).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, any_, bindparam, func, select, true, update

from drawdown.core.money import from_scaled
from drawdown.db.driver import DriverSelect, Read, fetch_together
from drawdown.db.rows import Bulk, Prepared
from drawdown.db.tables import (
    asset_rates,
    customers,
    event_costs,
    events,
    fees,
    period_charges,
    product_versions,
    products,
    subscription_product_versions,
    subscriptions,
    tier_counters,
)
from drawdown.db.types import AnyRow
from drawdown.usage.models import EventFilter

CHUNK = 2000
T = TypeVar("T")

_LOCKING = select(customers.c.id, customers.c.revision, customers.c.scope_id)
_LOCK = DriverSelect(
    _LOCKING.where(customers.c.id.in_(bindparam("ids", expanding=True))).order_by(customers.c.id).with_for_update(),
    _LOCKING.where(customers.c.id == any_(bindparam("ids"))).order_by(customers.c.id).with_for_update(),
)
_BY_EXTERNAL = select(customers.c.external_id, customers.c.id).where(
    customers.c.scope_id == bindparam("scope"), customers.c.external_id.in_(bindparam("ids", expanding=True))
)
_h = subscription_product_versions.c
# Every version each product of the customers' active subscriptions has been on, with its window: a late
# event is priced by the one in force when it occurred (usage.rating), so all are read, not only the current.
_PRICES = (
    select(
        subscriptions.c.customer_id,
        subscriptions.c.id.label("sub_id"),
        subscriptions.c.started_at,
        products.c.id,
        products.c.code,
        product_versions.c.version,
        product_versions.c.id.label("version_id"),  # its prices: ``catalog.documents``, read once per process
        _h.valid_from,
        _h.valid_until,
    )
    .select_from(
        subscriptions.join(subscription_product_versions)
        .join(product_versions, product_versions.c.id == _h.version_id)
        .join(products, products.c.id == _h.product_id)
    )
    .where(subscriptions.c.customer_id.in_(bindparam("customers", expanding=True)), subscriptions.c.status == "active")
)
_t = tier_counters.c
_POSITION = select(_t.quantity).where(
    _t.customer_id == bindparam("customer"),
    _t.price_id == bindparam("price"),
    _t.entry == bindparam("entry"),
    _t.period_start == bindparam("start"),
)
_POSITIONS = select(tier_counters).where(
    _t.customer_id.in_(bindparam("customers", expanding=True)),
    _t.price_id.in_(bindparam("prices", expanding=True)),
    _t.period_start.in_(bindparam("starts", expanding=True)),
)
UPDATE_POSITION = Prepared(
    update(tier_counters)
    .where(
        _t.customer_id == bindparam("b_customer"),
        _t.price_id == bindparam("b_price"),
        _t.entry == bindparam("b_entry"),
        _t.period_start == bindparam("b_start"),
    )
    .values(quantity=bindparam("b_quantity"))
)
INSERT_POSITION = Bulk(tier_counters)
# A customer's revision moved on by the group itself (usage/receive.py:_entitlements_due says why); by one
# in SQL, so that it can only ever move forward, even if a trigger moved it in the same transaction.
MOVE_REVISION = Prepared(
    update(customers).where(customers.c.id == bindparam("b_id")).values(revision=customers.c.revision + 1)
)
_CHARGED = select(period_charges.c.price_id).where(
    period_charges.c.subscription_id == bindparam("sub"),
    period_charges.c.price_id == bindparam("price"),
    period_charges.c.period_start == bindparam("start"),
)
# No RETURNING: SQLAlchemy sends an INSERT … RETURNING executemany to SQLite one row at a time.
INSERT_EVENTS = Bulk(events)
INSERT_FEES = Bulk(fees)
INSERT_COSTS = Bulk(event_costs)
_VERSIONS = select(asset_rates.c.scope_id, func.max(asset_rates.c.id).label("top"), func.count().label("n"))
_RATES_VERSION = DriverSelect(
    _VERSIONS.where(asset_rates.c.scope_id.in_(bindparam("scopes", expanding=True))).group_by(asset_rates.c.scope_id),
    _VERSIONS.where(asset_rates.c.scope_id == any_(bindparam("scopes"))).group_by(asset_rates.c.scope_id),
)
_RATES = (
    select(asset_rates)
    .where(asset_rates.c.scope_id == bindparam("scope"))
    .order_by(asset_rates.c.valid_from.desc(), asset_rates.c.id.desc())
)


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for k in range(0, len(values), CHUNK):
        yield values[k : k + CHUNK]


# ------------------------------------------------------------------------------------ customers
def customer_ids_by_external(conn: Connection, scope_id: int, external_ids: Sequence[str]) -> dict[str, str]:
    """external id -> customer id, for the customers of the scope among ``external_ids``."""
    found: dict[str, str] = {}
    for chunk in chunks(external_ids):
        rows = conn.execute(_BY_EXTERNAL, {"scope": scope_id, "ids": list(chunk)})
        found.update({row.external_id: row.id for row in rows})
    return found


def lock_reads(customer_ids: Sequence[str]) -> list[Read]:
    """Lock the customers in id order (PostgreSQL row locks always taken in the same order, so several
    writers never deadlock; SQLite holds its write lock already), as reads to send first with others
    (``db.driver.fetch_together``); ``locked_from`` their answers: (revision, scope id) by id.

    Not filtered by scope: a group mixes scopes, and ids are unique across them; the caller compares
    each customer's scope with its batch's."""
    return [(_LOCK, {"ids": list(chunk)}) for chunk in chunks(customer_ids)]


def locked_from(answers: list[list[tuple[Any, ...]]]) -> dict[str, tuple[int, int]]:
    return {cid: (revision, scope_id) for rows in answers for cid, revision, scope_id in rows}


# --------------------------------------------------------------------------------------- events
_NEXT_SEQS_PG = "SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, %s)"


def seqs_read(dialect: str, k: int) -> Read:
    """Sequence numbers for ``k`` new event rows (``seqs_from`` its answer), taken before the insert so
    that the rows (and their fees and costs) carry them and nothing is read back. SQLite: the rowids
    after the largest, which is what it would give; the write lock is held from ``BEGIN IMMEDIATE``, so
    no one else inserts. PostgreSQL: the column's own sequence, as an insert would take it (numbers a
    group does not use, for events it refuses or replays, are gaps, as a rolled-back insert leaves)."""
    return ("SELECT coalesce(max(seq), 0) FROM events", ()) if dialect == "sqlite" else (_NEXT_SEQS_PG, (k,))


def seqs_from(dialect: str, rows: list[tuple[Any, ...]], k: int) -> list[int]:
    if dialect == "sqlite":
        top = rows[0][0]
        return list(range(top + 1, top + 1 + k))
    return sorted(seq for (seq,) in rows)


def stored_events(conn: Connection, column: str, pairs: Sequence[tuple[str, str]]) -> list[Any]:
    """(customer, event id, ``column``) of the stored events among ``pairs``, one index probe per pair,
    planned afresh on PostgreSQL (``db.engine.fetch_planned_afresh`` says why).

    Measured alternatives: two IN lists make PostgreSQL read every event of the listed customers
    (3,000 -> 130 events/s by 450,000 stored) and SQLite probe every customer x id combination;
    a row-value IN is a full scan on SQLite. A join with a VALUES list probes each pair once on both.

    The SQL goes to the driver as it is, one statement per list length, padded to a power of two
    with a pair that names no customer: building a ``text()`` and its cache key for every group cost
    5% of the engine's time on the ingestion bench.
    """
    return [row for rows in fetch_together(conn, stored_events_reads(conn.dialect.paramstyle, column, pairs))
            for row in rows]


def stored_events_reads(paramstyle: str, column: str, pairs: Sequence[tuple[str, str]]) -> list[Read]:
    """``stored_events`` as reads to send with others, one per chunk of pairs."""
    reads: list[Read] = []
    for chunk in chunks(pairs):
        size = max(16, 1 << (len(chunk) - 1).bit_length())
        params = [v for pair in chunk for v in pair] + ["", ""] * (size - len(chunk))
        reads.append((_stored_events_sql(paramstyle, column, size), tuple(params)))
    return reads


@lru_cache(maxsize=64)
def _stored_events_sql(paramstyle: str, column: str, size: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    rows = ", ".join([f"({mark}, {mark})"] * size)
    return (
        f"WITH wanted (c, e) AS (VALUES {rows}) "
        f"SELECT events.customer_id, events.id, events.{column} FROM wanted "
        "JOIN events ON events.customer_id = wanted.c AND events.id = wanted.e"
    )


# ---------------------------------------------------------------------------------------- prices
def subscribed_price_rows(conn: Connection, customer_ids: Sequence[str]) -> list[AnyRow]:
    """Each version the products of the customers' active subscriptions have been on, with the window it
    was in force (its price documents: ``catalog.documents``)."""
    return [r for chunk in chunks(customer_ids) for r in conn.execute(_PRICES, {"customers": list(chunk)})]


def rates_versions(conn: Connection, scope_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Each scope's rates version, one query for all: it moves with every change to the scope's exchange
    rates (each one inserts a rate row; rows are never deleted). A scope without rates is (0, 0)."""
    return versions_from(_RATES_VERSION.fetch(conn, {"scopes": list(scope_ids)}), scope_ids)


def versions_read(scope_ids: Sequence[int]) -> Read:
    """``rates_versions`` as a read to send with others."""
    return _RATES_VERSION, {"scopes": list(scope_ids)}


def versions_from(rows: list[tuple[Any, ...]], scope_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    found = {scope_id: (int(top), int(n)) for scope_id, top, n in rows}
    return {s: found.get(s, (0, 0)) for s in scope_ids}


def all_rates(conn: Connection, scope_id: int) -> list[tuple[str, str, Decimal, datetime, datetime | None]]:
    """Every rate of the scope (asset, source, rate, valid_from, valid_to), latest start first (ties: newest)."""
    rows = conn.execute(_RATES, {"scope": scope_id})
    return [(r.asset_code, r.source, from_scaled(r.rate), r.valid_from, r.valid_to) for r in rows]


# -------------------------------------------------------------------------------- tier positions
def positions(
    conn: Connection, customer_ids: Sequence[str], price_ids: Sequence[str], starts: Sequence[datetime]
) -> list[AnyRow]:
    params = {"customers": list(customer_ids), "prices": list(price_ids), "starts": list(starts)}
    return list(conn.execute(_POSITIONS, params))


def position(conn: Connection, customer: str, price: str, entry: int, start: datetime) -> Decimal | None:
    row = conn.execute(_POSITION, {"customer": customer, "price": price, "entry": entry, "start": start}).first()
    return None if row is None else from_scaled(row.quantity)


def period_charged(conn: Connection, subscription_id: str, price_id: str, start: datetime) -> bool:
    return conn.execute(_CHARGED, {"sub": subscription_id, "price": price_id, "start": start}).first() is not None


# ------------------------------------------------------------------------------- events read back
def event(conn: Connection, scope_id: int, event_id: str, customer_id: str | None) -> AnyRow | None:
    q = select(events).where(events.c.scope_id == scope_id, events.c.id == event_id)
    if customer_id:
        q = q.where(events.c.customer_id == customer_id)
    return conn.execute(q.order_by(events.c.seq).limit(1)).first()


def event_fees(conn: Connection, seq: int) -> list[AnyRow]:
    return list(conn.execute(select(fees).where(fees.c.event_seq == seq).order_by(fees.c.id)))


def events_page(
    conn: Connection, scope_id: int, f: EventFilter, offset: int, limit: int
) -> tuple[list[AnyRow], int]:
    """The scope's events newest first, with their customer's external id (fee totals: ``fee_totals``)."""
    e = events.c
    conds: list[Any] = [e.scope_id == scope_id]
    for column, value in (
        (e.id, f.event_id),
        (e.customer_id, f.customer_id),
        (customers.c.external_id, f.customer_external_id),
        (e.subject, f.subject),
    ):
        if value:
            conds.append(column == value)
    if f.occurred_from:
        conds.append(e.occurred_at >= f.occurred_from)
    if f.occurred_before:
        conds.append(e.occurred_at < f.occurred_before)
    if f.event_types:
        conds.append(e.event_type.in_(f.event_types))
    fee_count = select(func.count()).where(fees.c.event_seq == e.seq).scalar_subquery()
    if f.has_fees is not None:
        conds.append(fee_count > 0 if f.has_fees else fee_count == 0)
    where = and_(true(), *conds)
    base = events.join(customers, customers.c.id == e.customer_id)
    total = conn.execute(select(func.count()).select_from(base).where(where)).scalar_one()
    rows = conn.execute(
        select(
            events,
            customers.c.external_id.label("external_id"),
        )
        .select_from(base)
        .where(where)
        .order_by(e.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)


def fee_totals(conn: Connection, seqs: Sequence[int]) -> dict[int, dict[str, int]]:
    """event seq -> {asset: scaled total of its fees in that asset} (exact integer sums)."""
    out: dict[int, dict[str, int]] = {}
    for chunk in chunks(seqs):
        q = (
            select(fees.c.event_seq, fees.c.asset, func.sum(fees.c.amount).label("total"))
            .where(fees.c.event_seq.in_(list(chunk)))
            .group_by(fees.c.event_seq, fees.c.asset)
        )
        for r in conn.execute(q):
            out.setdefault(r.event_seq, {})[r.asset] = int(r.total)
    return out
