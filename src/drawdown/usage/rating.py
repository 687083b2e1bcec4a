"""Stage 3, rate: the fees one event makes under the customer's subscribed prices.

An event is priced at the tier positions it would take; nothing moves until it is booked. A recurring
price's fee accrues to its billing period (charged at the period's end by ``billing.cycle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from drawdown.core import catalog as price_rules
from drawdown.core.errors import Invalid
from drawdown.core.money import from_scaled, to_scaled
from drawdown.core.periods import Period
from drawdown.core.pricing import Rated, RatingError, choose_entry, rate
from drawdown.db.rows import LAST, RowBuffer
from drawdown.usage import repository
from drawdown.usage.cache import Priced
from drawdown.usage.models import UsageEvent

if TYPE_CHECKING:
    from drawdown.usage.group import Group

ZERO = Decimal(0)
PositionKey = tuple[str, str, int, datetime]  # customer, price, price entry, tier period start


@dataclass(frozen=True)
class RatedFee:
    """One fee an event makes: the price it came from, its rating, and where it lands."""

    priced: Priced
    rated: Rated
    position: PositionKey | None  # the tier position it moves
    period: Period | None  # the billing period a recurring fee accrues to

    @property
    def asset(self) -> str:
        return self.rated.asset

    @property
    def amount(self) -> Decimal:
        return self.rated.amount


def rate_event(group: Group, customer_id: str, prices: list[Priced], event: UsageEvent, path: str) -> list[RatedFee]:
    """Every fee the event makes, priced at the positions it would take (nothing is moved)."""
    out: list[RatedFee] = []
    data = event.data or {}
    local: dict[PositionKey, Decimal] = {}
    for priced in prices:
        price = priced.price
        if price.event_type != event.event_type or event.occurred_at < priced.started_at:
            continue
        try:
            index = choose_entry(price, data)
            if index is None:
                continue
            key, position = None, ZERO
            if price.counted:
                start = price_rules.tier_period_start(price, priced.cadence, priced.started_at, event.occurred_at)
                key = (customer_id, price.id, index, start)
                position = group.positions.get(key) + local.get(key, ZERO)
            rated = rate(price, data, position, index)
        except RatingError as exc:
            raise Invalid.field(f"{path}.{exc.field}", f"{exc.message} (price {price.name!r})") from None
        if rated is None:
            continue
        if key is not None:
            local[key] = local.get(key, ZERO) + rated.quantity
        period = None
        if price.billing == price_rules.RECURRING:
            period = open_period(group.conn, priced, event.occurred_at, group.now, group.periods)
        out.append(RatedFee(priced, rated, key, period))
    return out


def position_keys(customer_id: str, event: UsageEvent, prices: list[Priced]) -> list[PositionKey]:
    """The tier positions rating ``event`` will read (to fetch a whole group's in one query)."""
    keys = []
    data = event.data or {}
    for priced in prices:
        price = priced.price
        if not price.counted or price.event_type != event.event_type or event.occurred_at < priced.started_at:
            continue
        try:
            index = choose_entry(price, data)
            if index is not None:
                start = price_rules.tier_period_start(price, priced.cadence, priced.started_at, event.occurred_at)
                keys.append((customer_id, price.id, index, start))
        except Exception:  # noqa: BLE001 - data this cannot read is refused by rating, for that batch alone
            continue
    return keys


def open_period(
    conn: Connection,
    priced: Priced,
    occurred_at: datetime,
    now: datetime,
    seen: dict[tuple[str, str, datetime], Period],
) -> Period:
    """The recurring period a fee accrues to: the one it occurred in, unless that one has already
    been charged (a late event), in which case the period open now. ``seen`` remembers the answers
    of one transaction."""
    period = price_rules.billing_period(priced.cadence, priced.started_at, occurred_at)
    key = (priced.subscription_id, priced.price.id, period.start)
    if key not in seen:
        charged = repository.period_charged(conn, priced.subscription_id, priced.price.id, period.start)
        seen[key] = (
            period
            if not charged
            else price_rules.billing_period(priced.cadence, priced.started_at, max(now, period.end))
        )
    return seen[key]


class TierPositions:
    """Cumulative quantity per (customer, price entry, tier period), for tiered prices: read once,
    moved in memory, written with the group. The customer locks keep them exact. A batch's moves stay
    apart until ``keep`` (or ``drop``, when the batch is refused)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.values: dict[PositionKey, Decimal] = {}
        self.stored: set[PositionKey] = set()
        self.changed: set[PositionKey] = set()
        self.moving: dict[PositionKey, Decimal] = {}

    def prefetch(self, keys: set[PositionKey]) -> None:
        missing = keys - self.values.keys()
        if not missing:
            return
        rows = repository.positions(
            self.conn, sorted({k[0] for k in missing}), sorted({k[1] for k in missing}), sorted({k[3] for k in missing})
        )
        for r in rows:
            key = (r.customer_id, r.price_id, r.entry, r.period_start)
            if key in missing:
                self.values[key] = from_scaled(r.quantity)
                self.stored.add(key)
        for key in missing:
            self.values.setdefault(key, ZERO)

    def get(self, key: PositionKey) -> Decimal:
        if key in self.moving:
            return self.moving[key]
        if key not in self.values:
            found = repository.position(self.conn, *key)
            self.values[key] = ZERO if found is None else found
            if found is not None:
                self.stored.add(key)
        return self.values[key]

    def move(self, key: PositionKey, quantity: Decimal) -> None:
        self.moving[key] = self.get(key) + quantity

    def keep(self) -> None:
        self.values.update(self.moving)
        self.changed.update(self.moving)
        self.moving.clear()

    def drop(self) -> None:
        self.moving.clear()

    def collect(self, buffer: RowBuffer) -> None:
        for key in sorted(self.changed):
            customer, price, entry, start = key
            quantity = to_scaled(self.values[key])
            if key in self.stored:
                buffer.add(
                    LAST,
                    repository.UPDATE_POSITION,
                    {
                        "b_customer": customer,
                        "b_price": price,
                        "b_entry": entry,
                        "b_start": start,
                        "b_quantity": quantity,
                    },
                )
            else:
                buffer.add(
                    LAST,
                    repository.INSERT_POSITION,
                    {
                        "customer_id": customer,
                        "price_id": price,
                        "entry": entry,
                        "period_start": start,
                        "quantity": quantity,
                    },
                )
                self.stored.add(key)
        self.changed.clear()
