"""Stage 3, rate: the fees one event makes under the customer's subscribed prices.

An event is priced by the versions in force when it occurred (a late event after a version move by the
version before it), at the tier positions it would take; nothing moves until it is booked. A recurring
price's fee accrues to its billing period (charged at the period's end by ``billing.cycle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.core import catalog as price_rules
from drawdown.core.errors import Invalid
from drawdown.core.periods import Period
from drawdown.core.pricing import Rated, RatingError, choose_entry, rate
from drawdown.usage import repository
from drawdown.usage.cache import Priced
from drawdown.usage.group import Group
from drawdown.usage.models import UsageEvent
from drawdown.usage.positions import PositionKey

ZERO = Decimal(0)


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
        if price.event_type != event.event_type or not priced.in_force(event.occurred_at):
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
        if not price.counted or price.event_type != event.event_type or not priced.in_force(event.occurred_at):
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
