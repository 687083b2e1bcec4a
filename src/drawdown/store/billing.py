"""Usage events: match to prices, rate, and debit the wallet in the same transaction.

A batch belongs to one customer. Inside one write transaction, with the customer locked:
1. events already stored under the same id are replays: identical ones are skipped (billed once),
   different ones are refused as conflicts;
2. every new event is rated against the prices of the customer's active subscriptions; an event
   whose data cannot be rated fails the whole batch (a caller error, nothing is written);
3. each event is then debited as a whole or not at all: if one of its fees would take an account
   past its overdraft limit, the event is refused and nothing of it is written, while the other
   events of the batch still bill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from drawdown.codec import fingerprint
from drawdown.core import catalog as price_rules
from drawdown.core import grants as grant_rules
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.ids import FEE, TRANSACTION, new_id
from drawdown.core.ledger import REVENUE
from drawdown.core.money import from_scaled, plain, quantize, to_scaled
from drawdown.core.periods import Period
from drawdown.core.pricing import Rated, RatingError, UsagePrice, choose_entry, rate
from drawdown.store.tables import (
    customers,
    event_costs,
    events,
    fees,
    period_charges,
    product_versions,
    products,
    subscription_products,
    subscriptions,
    tier_counters,
)
from drawdown.store import costs, entitlements
from drawdown.store.profitability import figures
from drawdown.store.wallets import DEFAULT_ACCOUNT, Books, ensure_account, lock_customer


@dataclass
class Priced:
    product_id: str
    product_code: str
    version: int
    price: UsagePrice
    cadence: price_rules.Cadence
    subscription_id: str
    started_at: datetime


@dataclass
class Outcome:
    accepted: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)


def resolve_customer(conn: Connection, customer_id: str | None, external_id: str | None) -> str:
    if customer_id:
        found = conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).scalar()
        if found is None:
            raise Invalid.field("customer_id", f"no customer has id {customer_id!r}")
        return found
    found = conn.execute(select(customers.c.id).where(customers.c.external_id == external_id)).scalar()
    if found is None:
        raise Invalid.field("customer_external_id", f"no customer has external_id {external_id!r}")
    return found


def subscribed_prices(conn: Connection, customer_id: str) -> list[Priced]:
    """Every usage price of the customer's active subscriptions."""
    rows = conn.execute(
        select(
            subscriptions.c.id.label("sub_id"),
            subscriptions.c.started_at,
            products.c.id,
            products.c.code,
            product_versions.c.version,
            product_versions.c.prices,
        )
        .select_from(subscriptions.join(subscription_products).join(product_versions).join(products))
        .where(subscriptions.c.customer_id == customer_id, subscriptions.c.status == "active")
    )
    out = []
    for r in rows:
        for doc in r.prices:
            if doc.get("type") == "usage_based":
                price, cadence = _parsed(doc)
                out.append(Priced(r.id, r.code, r.version, price, cadence, r.sub_id, r.started_at))
    return out


_PARSED: dict[str, tuple[UsagePrice, price_rules.Cadence]] = {}


def _parsed(doc: dict) -> tuple[UsagePrice, price_rules.Cadence]:
    """A price document parsed once per process: a price id's document never changes (versions are
    created with fresh price ids and only their status changes afterwards)."""
    found = _PARSED.get(doc["id"])
    if found is None:
        if len(_PARSED) > 10_000:
            _PARSED.clear()
        found = _PARSED[doc["id"]] = (price_rules.usage_price(doc), price_rules.cadence(doc))
    return found


class Positions:
    """Tier positions (cumulative quantity per customer, price entry and tier period), read once and
    written back at the end of the transaction; the customer lock keeps them exact."""

    def __init__(self, conn: Connection, customer_id: str) -> None:
        self.conn, self.customer_id = conn, customer_id
        self.values: dict[tuple, Decimal] = {}
        self.stored: set[tuple] = set()
        self.changed: set[tuple] = set()

    def get(self, key: tuple) -> Decimal:
        if key not in self.values:
            price_id, entry, period_start = key
            row = self.conn.execute(
                select(tier_counters.c.quantity).where(
                    tier_counters.c.customer_id == self.customer_id,
                    tier_counters.c.price_id == price_id,
                    tier_counters.c.entry == entry,
                    tier_counters.c.period_start == period_start,
                )
            ).first()
            self.values[key] = from_scaled(row.quantity) if row else Decimal(0)
            if row:
                self.stored.add(key)
        return self.values[key]

    def add(self, key: tuple, quantity: Decimal) -> None:
        self.values[key] = self.get(key) + quantity
        self.changed.add(key)

    def flush(self) -> None:
        for key in self.changed:
            price_id, entry, period_start = key
            quantity = to_scaled(self.values[key])
            where = (
                (tier_counters.c.customer_id == self.customer_id)
                & (tier_counters.c.price_id == price_id)
                & (tier_counters.c.entry == entry)
                & (tier_counters.c.period_start == period_start)
            )
            if key in self.stored:
                self.conn.execute(update(tier_counters).where(where).values(quantity=quantity))
            else:
                self.conn.execute(
                    insert(tier_counters).values(
                        customer_id=self.customer_id, price_id=price_id, entry=entry, period_start=period_start, quantity=quantity
                    )
                )
                self.stored.add(key)
        self.changed.clear()


def _event_doc(event: dict) -> dict:
    return {k: event.get(k) for k in ("id", "event_type", "occurred_at", "subject", "description", "data", "costs")}


@dataclass
class Charge:
    priced: Priced
    rated: Rated
    key: tuple | None
    period: Period | None  # the billing period a recurring fee accrues to


def rate_event(
    conn: Connection, event: dict, prices: list[Priced], positions: Positions, path: str, now: datetime
) -> list[Charge]:
    """Every fee the event makes, priced at the positions it would take (nothing is written)."""
    out: list[Charge] = []
    data = event.get("data") or {}
    local: dict[tuple, Decimal] = {}
    for priced in prices:
        price = priced.price
        if price.event_type != event["event_type"] or event["occurred_at"] < priced.started_at:
            continue
        index = choose_entry(price, data)
        if index is None:
            continue
        key = None
        position = Decimal(0)
        if price.counted:
            start = price_rules.tier_period_start(price, priced.cadence, priced.started_at, event["occurred_at"])
            key = (price.id, index, start)
            position = positions.get(key) + local.get(key, Decimal(0))
        try:
            rated = rate(price, data, position, index)
        except RatingError as exc:
            raise Invalid.field(f"{path}.{exc.field}", f"{exc.message} (price {price.name!r})") from None
        if key is not None:
            local[key] = local.get(key, Decimal(0)) + rated.quantity
        period = None
        if price.billing == price_rules.RECURRING:
            period = _open_period(conn, priced, event["occurred_at"], now)
        out.append(Charge(priced, rated, key, period))
    return out


def _open_period(conn: Connection, priced: Priced, occurred_at: datetime, now: datetime) -> Period:
    """The recurring period a fee accrues to: the one it occurred in, unless that one has already
    been charged (a late event), in which case the period open now."""
    period = price_rules.billing_period(priced.cadence, priced.started_at, occurred_at)
    charged = conn.execute(
        select(period_charges.c.price_id).where(
            period_charges.c.subscription_id == priced.subscription_id,
            period_charges.c.price_id == priced.price.id,
            period_charges.c.period_start == period.start,
        )
    ).first()
    if charged is None:
        return period
    return price_rules.billing_period(priced.cadence, priced.started_at, max(now, period.end))


def send_usage(
    conn: Connection,
    customer_id: str,
    batch: list[dict],
    now: datetime,
    overdraft_limit: Decimal | None,
    rollup: costs.Rollup | None = None,
) -> Outcome:
    """Bill one customer's batch. With ``rollup`` given (the batching writer), profitability is added
    to it and written by the caller; otherwise it is written here."""
    lock_customer(conn, customer_id)
    outcome = Outcome()
    hashes = [fingerprint(_event_doc(e)) for e in batch]
    stored = {
        r.id: r.request_hash
        for r in conn.execute(
            select(events.c.id, events.c.request_hash).where(
                events.c.customer_id == customer_id, events.c.id.in_({e["id"] for e in batch})
            )
        )
    }
    prices = subscribed_prices(conn, customer_id)
    positions = Positions(conn, customer_id)
    books = Books(conn, customer_id, now)
    entitlements.refresh(conn, customer_id, now, books, overdraft_limit)
    accounts: dict[str, str] = {}
    in_batch: dict[str, str] = {}
    event_rows: list[dict] = []
    fee_rows: list[tuple[int, dict]] = []
    cost_inserts: list[tuple[int, dict]] = []
    rate_cache: dict = {}
    own_rollup = rollup is None
    rollup = rollup if rollup is not None else costs.Rollup()
    for i, (event, digest) in enumerate(zip(batch, hashes)):
        earlier = stored.get(event["id"]) or in_batch.get(event["id"])
        if earlier is not None:
            if earlier == digest:
                outcome.replayed.append(event["id"])
            else:
                outcome.rejected[i] = f"event {event['id']!r} was already received with different content"
            continue
        charges = rate_event(conn, event, prices, positions, f"events[{i}]", now)
        cost_rows = costs.prepare(conn, event, f"events[{i}]")
        for c in charges:
            if c.rated.asset not in accounts:
                accounts[c.rated.asset] = ensure_account(conn, customer_id, DEFAULT_ACCOUNT, c.rated.asset, now, overdraft_limit)
        # All fees of one event must fit together (charged now or reserved for later), or the event
        # is refused whole.
        need: dict[str, Decimal] = {}
        for c in charges:
            need[c.rated.asset] = need.get(c.rated.asset, Decimal(0)) + c.rated.amount
        short = [a for a, amount in need.items() if not books.can_spend(accounts[a], amount)]
        if short:
            book = books.book(accounts[short[0]])
            left = grant_rules.available(book.grants, book.debt, now) - book.reserved
            outcome.rejected[i] = (
                f"insufficient funds in {DEFAULT_ACCOUNT}:{short[0]}: fees {plain(need[short[0]])}, available {plain(left)}, "
                f"overdraft limit {'unlimited' if book.overdraft_limit is None else book.overdraft_limit}"
            )
            continue
        in_batch[event["id"]] = digest
        slot = len(event_rows)
        event_rows.append(
            {
                "id": event["id"],
                "customer_id": customer_id,
                "event_type": event["event_type"],
                "occurred_at": event["occurred_at"],
                "subject": event.get("subject"),
                "description": event.get("description"),
                "data": event.get("data"),
                "costs": event.get("costs"),
                "request_hash": digest,
                "created_at": now,
            }
        )
        revenue = Decimal(0)
        for c in charges:
            fee_id = new_id(FEE)
            account_id = accounts[c.rated.asset]
            if c.key is not None:
                positions.add(c.key, c.rated.quantity)
            plan = None
            if c.period is not None:
                books.reserve(account_id, c.rated.amount)
            else:
                plan = books.debit(
                    account_id,
                    c.rated.amount,
                    REVENUE,
                    {"id": new_id(TRANSACTION), "transaction_id": fee_id, "type": "fee", "description": c.priced.price.name},
                )
            earned = costs.fee_revenue(conn, books, c.rated.asset, plan, c.rated.amount, event["occurred_at"], rate_cache)
            revenue += earned
            rollup.add(event["occurred_at"], customer_id, c.priced.product_id, "", "", earned, Decimal(0))
            fee_rows.append((slot, _fee_row(fee_id, customer_id, account_id, c, now)))
        # An event's costs are attributed to the product of its first fee ('' when it has none).
        product_id = charges[0].priced.product_id if charges else ""
        for row in cost_rows:
            rollup.add(event["occurred_at"], customer_id, product_id, row["vendor_id"], row["category"] or "", Decimal(0),
                       from_scaled(row["amount_usd"]))
            cost_inserts.append((slot, {**row, "customer_id": customer_id}))
        event_rows[slot]["revenue"] = to_scaled(quantize(revenue))
        event_rows[slot]["cost"] = to_scaled(costs.event_cost(cost_rows))
        outcome.accepted.append(event["id"])

    if event_rows:
        seqs = _insert_events(conn, event_rows)
        if fee_rows:
            conn.execute(insert(fees), [{**row, "event_seq": seqs[k]} for k, row in fee_rows])
        if cost_inserts:
            conn.execute(insert(event_costs), [{**row, "event_seq": seqs[k]} for k, row in cost_inserts])
    positions.flush()
    books.flush()
    if own_rollup:
        rollup.flush(conn)
    return outcome


def _insert_events(conn: Connection, rows: list[dict]) -> list[int]:
    result = conn.execute(insert(events).returning(events.c.seq, sort_by_parameter_order=True), rows)
    return [r.seq for r in result]


def _fee_row(fee_id: str, customer_id: str, account_id: str, charge: Charge, now: datetime) -> dict:
    def scaled(v: Decimal | None) -> int | None:
        return None if v is None else to_scaled(quantize(v))

    priced, r = charge.priced, charge.rated
    return {
        "id": fee_id,
        "customer_id": customer_id,
        "account_id": account_id,
        "subscription_id": priced.subscription_id,
        "billing": priced.price.billing,
        "period_start": charge.period.start if charge.period else None,
        "period_end": charge.period.end if charge.period else None,
        "product_id": priced.product_id,
        "product_code": priced.product_code,
        "product_version": priced.version,
        "price_id": priced.price.id,
        "price_name": priced.price.name,
        "asset": r.asset,
        "dimensions": r.dimensions,
        "usage_type": priced.price.usage_type,
        "volume_field": priced.price.volume_field,
        "input_volume": scaled(r.input_volume),
        "unit_price": scaled(r.value.unit_price),
        "volume_rate": scaled(r.value.volume_rate),
        "package_size": r.value.package_size,
        "description": r.description,
        "amount": to_scaled(r.amount),
        "created_at": now,
    }


def fee_doc(row: Any) -> dict:
    def dec(v: int | None) -> Decimal | None:
        return None if v is None else from_scaled(v)

    return {
        "id": row.id,
        "product_id": row.product_id,
        "product_code": row.product_code,
        "product_version": row.product_version,
        "price_id": row.price_id,
        "price_name": row.price_name,
        "currency": row.asset,
        "dimensions": row.dimensions,
        "usage_type": row.usage_type,
        "volume_field": row.volume_field,
        "input_volume": dec(row.input_volume),
        "unit_price": dec(row.unit_price),
        "volume_rate": dec(row.volume_rate),
        "package_size": row.package_size,
        "description": row.description,
        "amount": from_scaled(row.amount),
    }


def get_event(conn: Connection, event_id: str, customer_id: str | None = None) -> dict:
    q = select(events).where(events.c.id == event_id)
    if customer_id:
        q = q.where(events.c.customer_id == customer_id)
    row = conn.execute(q.order_by(events.c.seq).limit(1)).first()
    if row is None:
        raise NotFound(f"event {event_id} not found")
    fee_rows = conn.execute(select(fees).where(fees.c.event_seq == row.seq).order_by(fees.c.id))
    return {
        "id": row.id,
        "event_type": row.event_type,
        "occurred_at": row.occurred_at,
        "subject": row.subject,
        "description": row.description,
        "data": row.data,
        "costs": row.costs,
        "customer_id": row.customer_id,
        "created_at": row.created_at,
        "fees": [fee_doc(f) for f in fee_rows],
        "stats": figures(from_scaled(row.revenue), from_scaled(row.cost)),
    }


def list_events(conn: Connection, offset: int, limit: int, f: dict[str, Any]) -> tuple[list[dict], int]:
    conds = []
    if f.get("event_id"):
        conds.append(events.c.id == f["event_id"])
    if f.get("customer_id"):
        conds.append(events.c.customer_id == f["customer_id"])
    if f.get("customer_external_id"):
        conds.append(customers.c.external_id == f["customer_external_id"])
    if f.get("subject"):
        conds.append(events.c.subject == f["subject"])
    if f.get("period_from"):
        conds.append(events.c.occurred_at >= f["period_from"])
    if f.get("period_to"):
        conds.append(events.c.occurred_at < f["period_to"])
    if f.get("event_types"):
        conds.append(events.c.event_type.in_(f["event_types"]))
    fee_total = (
        select(func.sum(fees.c.amount)).where(fees.c.event_seq == events.c.seq).scalar_subquery()
    )
    fee_count = select(func.count()).where(fees.c.event_seq == events.c.seq).scalar_subquery()
    fee_asset = select(func.min(fees.c.asset)).where(fees.c.event_seq == events.c.seq).scalar_subquery()
    if f.get("has_fees") is not None:
        conds.append(fee_count > 0 if f["has_fees"] else fee_count == 0)
    where = and_(True, *conds)
    base = events.join(customers, customers.c.id == events.c.customer_id)
    total = conn.execute(select(func.count()).select_from(base).where(where)).scalar_one()
    rows = conn.execute(
        select(events, customers.c.external_id.label("external_id"), fee_total.label("total"), fee_count.label("n"), fee_asset.label("asset"))
        .select_from(base)
        .where(where)
        .order_by(events.c.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    items = [
        {
            "id": r.id,
            "customer_id": r.customer_id,
            "external_id": r.external_id,
            "event_type": r.event_type,
            "subject": r.subject,
            "description": r.description,
            "occurred_at": r.occurred_at,
            "created_at": r.created_at,
            "total_fees": from_scaled(r.total) if r.total is not None else None,
            "fee_currency": r.asset,
            "has_fees": bool(r.n),
            "stats": figures(from_scaled(r.revenue), from_scaled(r.cost)),
        }
        for r in rows
    ]
    return items, total
