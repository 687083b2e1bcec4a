"""What an event costs: the customer's subscribed prices, tier positions, and the fees an event makes.

Reads here are built for the hot path: statements are built once, the subscribed prices of a
customer are cached under the customer's ``revision`` (moved by every subscription change and read
under the customer lock, so no process ever uses a stale list), and tier positions are read for a
whole group of customers in one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, insert, select, update

from drawdown.core import catalog as price_rules
from drawdown.core.errors import Invalid
from drawdown.core.money import from_scaled, to_scaled
from drawdown.core.periods import Period
from drawdown.core.pricing import Rated, RatingError, UsagePrice, choose_entry, rate
from drawdown.db.tables import period_charges, product_versions, products, subscription_products, subscriptions, tier_counters
from drawdown.db.rows import LAST, Writes

ZERO = Decimal(0)
CACHE_LIMIT = 100_000  # entries per process cache; cleared whole when exceeded (memory stays flat)


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
class Charge:
    priced: Priced
    rated: Rated
    key: tuple | None  # the tier position it moves
    period: Period | None  # the billing period a recurring fee accrues to


_PRICES_QUERY = (
    select(
        subscriptions.c.customer_id,
        subscriptions.c.id.label("sub_id"),
        subscriptions.c.started_at,
        products.c.id,
        products.c.code,
        product_versions.c.version,
        product_versions.c.prices,
    )
    .select_from(subscriptions.join(subscription_products).join(product_versions).join(products))
    .where(subscriptions.c.customer_id.in_(bindparam("customers", expanding=True)), subscriptions.c.status == "active")
)
_prices: dict[str, tuple[int, list[Priced]]] = {}
_parsed_docs: dict[str, tuple[UsagePrice, price_rules.Cadence]] = {}


def subscribed_prices_of(conn: Connection, revisions: dict[str, int]) -> dict[str, list[Priced]]:
    """Every usage price of each customer's active subscriptions (customer -> revision read under its
    lock): cached per revision, and the customers not cached are read in one query."""
    out: dict[str, list[Priced]] = {}
    missing = []
    for customer_id, revision in revisions.items():
        cached = _prices.get(customer_id)
        if cached is not None and cached[0] == revision:
            out[customer_id] = cached[1]
        else:
            missing.append(customer_id)
    if missing:
        if len(_prices) + len(missing) > CACHE_LIMIT:
            _prices.clear()
        for customer_id, found in _read_prices(conn, missing).items():
            out[customer_id] = found
            _prices[customer_id] = (revisions[customer_id], found)
    return out


def _read_prices(conn: Connection, customer_ids: list[str]) -> dict[str, list[Priced]]:
    out: dict[str, list[Priced]] = {c: [] for c in customer_ids}
    for k in range(0, len(customer_ids), 2000):
        for r in conn.execute(_PRICES_QUERY, {"customers": customer_ids[k:k + 2000]}):
            for doc in r.prices:
                if doc.get("type") == "usage_based":
                    price, cadence = _parsed(doc)
                    out[r.customer_id].append(Priced(r.id, r.code, r.version, price, cadence, r.sub_id, r.started_at))
    return out


def _parsed(doc: dict) -> tuple[UsagePrice, price_rules.Cadence]:
    """A price document parsed once per process: a price id's document never changes (versions are
    created with fresh price ids and only their status changes afterwards)."""
    found = _parsed_docs.get(doc["id"])
    if found is None:
        if len(_parsed_docs) >= CACHE_LIMIT:
            _parsed_docs.clear()
        found = _parsed_docs[doc["id"]] = (price_rules.usage_price(doc), price_rules.cadence(doc))
    return found


def position_keys(customer_id: str, event: dict, prices: list[Priced]) -> list[tuple]:
    """The tier positions rating ``event`` will read (to fetch a whole group's in one query)."""
    keys = []
    data = event.get("data") or {}
    for priced in prices:
        price = priced.price
        if not price.counted or price.event_type != event["event_type"] or event["occurred_at"] < priced.started_at:
            continue
        try:
            index = choose_entry(price, data)
            if index is not None:
                start = price_rules.tier_period_start(price, priced.cadence, priced.started_at, event["occurred_at"])
                keys.append((customer_id, price.id, index, start))
        except Exception:  # noqa: BLE001 - rating meets the same data later and refuses that request alone
            continue
    return keys


_t = tier_counters.c
_POSITION = select(_t.quantity).where(
    _t.customer_id == bindparam("customer"), _t.price_id == bindparam("price"), _t.entry == bindparam("entry"),
    _t.period_start == bindparam("start"),
)
_POSITIONS = select(tier_counters).where(
    _t.customer_id.in_(bindparam("customers", expanding=True)),
    _t.price_id.in_(bindparam("prices", expanding=True)),
    _t.period_start.in_(bindparam("starts", expanding=True)),
)
_UPDATE_POSITION = (
    update(tier_counters)
    .where(_t.customer_id == bindparam("b_customer"), _t.price_id == bindparam("b_price"), _t.entry == bindparam("b_entry"),
           _t.period_start == bindparam("b_start"))
    .values(quantity=bindparam("b_quantity"))
)
_INSERT_POSITION = insert(tier_counters)


class Positions:
    """Tier positions (cumulative quantity per customer, price entry and tier period), keyed
    (customer, price, entry, period start). Read once, moved in memory, written at the end; the
    customer locks keep them exact. A request's moves stay apart until ``keep`` (or ``drop``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.values: dict[tuple, Decimal] = {}
        self.stored: set[tuple] = set()
        self.changed: set[tuple] = set()
        self.request: dict[tuple, Decimal] = {}

    def prefetch(self, keys: set[tuple]) -> None:
        missing = keys - self.values.keys()
        if not missing:
            return
        params = {"customers": sorted({k[0] for k in missing}), "prices": sorted({k[1] for k in missing}),
                  "starts": sorted({k[3] for k in missing})}
        for r in self.conn.execute(_POSITIONS, params):
            key = (r.customer_id, r.price_id, r.entry, r.period_start)
            if key in missing:
                self.values[key] = from_scaled(r.quantity)
                self.stored.add(key)
        for key in missing:
            self.values.setdefault(key, ZERO)

    def get(self, key: tuple) -> Decimal:
        if key in self.request:
            return self.request[key]
        if key not in self.values:
            customer, price, entry, start = key
            row = self.conn.execute(_POSITION, {"customer": customer, "price": price, "entry": entry, "start": start}).first()
            self.values[key] = from_scaled(row.quantity) if row else ZERO
            if row:
                self.stored.add(key)
        return self.values[key]

    def add(self, key: tuple, quantity: Decimal) -> None:
        self.request[key] = self.get(key) + quantity

    def keep(self) -> None:
        self.values.update(self.request)
        self.changed.update(self.request)
        self.request.clear()

    def drop(self) -> None:
        self.request.clear()

    def collect(self, writes: Writes) -> None:
        for key in sorted(self.changed):
            customer, price, entry, start = key
            quantity = to_scaled(self.values[key])
            if key in self.stored:
                writes.add(LAST, _UPDATE_POSITION, {"b_customer": customer, "b_price": price, "b_entry": entry, "b_start": start,
                                                    "b_quantity": quantity})
            else:
                writes.add(LAST, _INSERT_POSITION, {"customer_id": customer, "price_id": price, "entry": entry, "period_start": start,
                                                    "quantity": quantity})
                self.stored.add(key)
        self.changed.clear()


def rate_event(
    conn: Connection, customer_id: str, event: dict, prices: list[Priced], positions: Positions, path: str, now: datetime,
    periods: dict,
) -> list[Charge]:
    """Every fee the event makes, priced at the positions it would take (nothing is moved)."""
    out: list[Charge] = []
    data = event.get("data") or {}
    local: dict[tuple, Decimal] = {}
    for priced in prices:
        price = priced.price
        if price.event_type != event["event_type"] or event["occurred_at"] < priced.started_at:
            continue
        try:
            index = choose_entry(price, data)
        except RatingError as exc:
            raise Invalid.field(f"{path}.{exc.field}", f"{exc.message} (price {price.name!r})") from None
        if index is None:
            continue
        key = None
        position = ZERO
        if price.counted:
            start = price_rules.tier_period_start(price, priced.cadence, priced.started_at, event["occurred_at"])
            key = (customer_id, price.id, index, start)
            position = positions.get(key) + local.get(key, ZERO)
        try:
            rated = rate(price, data, position, index)
        except RatingError as exc:
            raise Invalid.field(f"{path}.{exc.field}", f"{exc.message} (price {price.name!r})") from None
        if key is not None:
            local[key] = local.get(key, ZERO) + rated.quantity
        period = None
        if price.billing == price_rules.RECURRING:
            period = open_period(conn, priced, event["occurred_at"], now, periods)
        out.append(Charge(priced, rated, key, period))
    return out


_CHARGED = select(period_charges.c.price_id).where(
    period_charges.c.subscription_id == bindparam("sub"), period_charges.c.price_id == bindparam("price"),
    period_charges.c.period_start == bindparam("start"),
)


def open_period(conn: Connection, priced: Priced, occurred_at: datetime, now: datetime, seen: dict) -> Period:
    """The recurring period a fee accrues to: the one it occurred in, unless that one has already
    been charged (a late event), in which case the period open now. ``seen`` caches the answers of
    one transaction."""
    period = price_rules.billing_period(priced.cadence, priced.started_at, occurred_at)
    key = (priced.subscription_id, priced.price.id, period.start)
    if key not in seen:
        charged = conn.execute(_CHARGED, {"sub": priced.subscription_id, "price": priced.price.id, "start": period.start}).first()
        seen[key] = period if charged is None else price_rules.billing_period(priced.cadence, priced.started_at, max(now, period.end))
    return seen[key]
