"""The holds of one unit of work, in memory: read once, changed in place, written once at the end.

The usage pipeline bills a group of batches in one transaction; its holds (those its events name and
those its hold commands make or release) live here between ``load`` and ``flush``, and a batch refused
whole is taken back with ``mark``/``undo``, like the ledger. The caller holds the customers' locks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.core import holds as rules
from drawdown.core.money import from_scaled, to_scaled
from drawdown.holds import repository

ZERO = Decimal(0)


@dataclass
class HoldState:
    row_id: str
    scope_id: int
    customer_id: str
    account_id: str
    account: str  # name:ASSET
    asset: str
    hold_id: str
    status: str
    amount: Decimal
    settled: Decimal
    released: Decimal
    expires_at: datetime
    closed_at: datetime | None
    request_hash: str
    doc: dict[str, Any]  # description, metadata, estimate, created_at: as stored, for views
    created: bool = False  # made in this unit of work: inserted at flush
    changed: bool = False  # settled or closed here: updated at flush

    def is_open(self, now: datetime) -> bool:
        return rules.is_open(self.status, self.expires_at, now)

    def left(self, now: datetime) -> Decimal:
        """What it still sets aside at ``now`` (nothing once closed or past its expiry)."""
        return rules.left(self.amount, self.settled) if self.is_open(now) else ZERO


def state_from_row(r: Any) -> HoldState:
    return HoldState(
        row_id=r.id,
        scope_id=r.scope_id,
        customer_id=r.customer_id,
        account_id=r.account_id,
        account=f"{r.account_name}:{r.asset}",
        asset=r.asset,
        hold_id=r.hold_id,
        status=r.status,
        amount=from_scaled(r.amount),
        settled=from_scaled(r.settled),
        released=from_scaled(r.released),
        expires_at=r.expires_at,
        closed_at=r.closed_at,
        request_hash=r.request_hash,
        doc={"description": r.description, "metadata": r.metadata, "estimate": r.estimate, "created_at": r.created_at},
    )


@dataclass(frozen=True)
class Mark:
    customer_id: str
    holds: dict[tuple[str, str], HoldState]
    settlements: int


class HoldBook:
    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn, self.now = conn, now
        self.holds: dict[tuple[str, str], HoldState] = {}  # (customer id, hold id) -> hold
        self.settlements: list[dict[str, Any]] = []

    def load(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Read the holds named by (customer id, hold id) pairs, in one query."""
        wanted = set(pairs) - set(self.holds)
        if not wanted:
            return
        rows = repository.named(self.conn, [c for c, _ in wanted], [h for _, h in wanted])
        for r in rows:
            if (r.customer_id, r.hold_id) in wanted:
                self.holds[(r.customer_id, r.hold_id)] = state_from_row(r)

    def find(self, customer_id: str, hold_id: str) -> HoldState | None:
        return self.holds.get((customer_id, hold_id))

    def add(self, state: HoldState) -> None:
        state.created = True
        self.holds[(state.customer_id, state.hold_id)] = state

    def settle(self, state: HoldState, fee_id: str, event_id: str, fee: Decimal) -> Decimal:
        """Settle a fee against an open hold: answers what the hold pays of it (the wallet pays the rest)."""
        part = rules.split(fee, state.left(self.now))
        state.settled += part.from_hold
        state.changed = True
        self.settlements.append(
            {
                "fee_id": fee_id,
                "hold_row_id": state.row_id,
                "event_id": event_id,
                "amount": to_scaled(fee),
                "from_hold": to_scaled(part.from_hold),
                "created_at": self.now,
            }
        )
        return part.from_hold

    def close(self, state: HoldState, status: str, at: datetime) -> Decimal:
        """Close the hold (released, or expired at its expiry): answers what it gave back."""
        given = rules.left(state.amount, state.settled)
        state.status, state.released, state.closed_at, state.changed = status, given, at, True
        return given

    # ----------------------------------------------------------------------------- take back
    def mark(self, customer_id: str) -> Mark:
        """Where one customer's holds stood (a batch touches its own customer's holds only)."""
        copies = {k: dataclasses.replace(v) for k, v in self.holds.items() if k[0] == customer_id}
        return Mark(customer_id, copies, len(self.settlements))

    def undo(self, mark: Mark) -> None:
        """Forget what was planned for the customer since ``mark`` (nothing has been written yet)."""
        for key in [k for k in self.holds if k[0] == mark.customer_id]:
            del self.holds[key]
        self.holds.update(mark.holds)
        del self.settlements[mark.settlements :]

    # ---------------------------------------------------------------------------------- write
    def flush(self) -> None:
        """Write new holds, changed holds, then settlements (after the fees they name exist)."""
        new = [_insert_row(s) for s in self.holds.values() if s.created]
        changed = [_update_row(s) for s in self.holds.values() if s.changed and not s.created]
        if new:
            self.conn.execute(repository.INSERT_HOLD, new)
        if changed:
            self.conn.execute(repository.UPDATE_HOLD, changed)
        if self.settlements:
            self.conn.execute(repository.INSERT_SETTLEMENT, self.settlements)
        for s in self.holds.values():
            s.created = s.changed = False
        self.settlements = []


def _insert_row(s: HoldState) -> dict[str, Any]:
    return {
        "id": s.row_id,
        "scope_id": s.scope_id,
        "customer_id": s.customer_id,
        "account_id": s.account_id,
        "hold_id": s.hold_id,
        "status": s.status,
        "amount": to_scaled(s.amount),
        "settled": to_scaled(s.settled),
        "released": to_scaled(s.released),
        "expires_at": s.expires_at,
        "closed_at": s.closed_at,
        "description": s.doc["description"],
        "metadata": s.doc["metadata"],
        "estimate": s.doc["estimate"],
        "request_hash": s.request_hash,
        "created_at": s.doc["created_at"],
    }


def _update_row(s: HoldState) -> dict[str, Any]:
    return {
        "b_id": s.row_id,
        "b_settled": to_scaled(s.settled),
        "b_status": s.status,
        "b_released": to_scaled(s.released),
        "b_closed_at": s.closed_at,
    }
