"""Tier positions: how far into its tiers each customer is, per price entry and tier period."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.core.money import from_scaled, to_scaled
from drawdown.db.rows import LAST, RowBuffer
from drawdown.usage import repository

ZERO = Decimal(0)
PositionKey = tuple[str, str, int, datetime]  # customer, price, price entry, tier period start


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
