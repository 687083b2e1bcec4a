"""The holds room's SQL: holds and their settlements. No rules here (``core.holds`` has them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, select, update

from drawdown.core.holds import ACTIVE, EXPIRED
from drawdown.db.tables import hold_settlements, holds, wallet_accounts
from drawdown.db.types import AnyRow

_h = holds.c
_s = hold_settlements.c
_a = wallet_accounts.c

# A hold with its account's name and asset (what its views are named by).
_WITH_ACCOUNT = select(holds, _a.name.label("account_name"), _a.asset).select_from(
    holds.join(wallet_accounts, _a.id == _h.account_id)
)
INSERT_HOLD = insert(holds)
INSERT_SETTLEMENT = insert(hold_settlements)
UPDATE_HOLD = (
    update(holds)
    .where(_h.id == bindparam("b_id"))
    .values(
        settled=bindparam("b_settled"),
        status=bindparam("b_status"),
        released=bindparam("b_released"),
        closed_at=bindparam("b_closed_at"),
    )
)


def named(conn: Connection, customer_ids: Sequence[str], hold_ids: Sequence[str]) -> list[AnyRow]:
    """The holds of these customers named by these hold ids (the caller keeps the pairs it asked for)."""
    if not customer_ids or not hold_ids:
        return []
    q = _WITH_ACCOUNT.where(_h.customer_id.in_(sorted(set(customer_ids))), _h.hold_id.in_(sorted(set(hold_ids))))
    return list(conn.execute(q))


def one(conn: Connection, customer_id: str, account_id: str, hold_id: str) -> AnyRow | None:
    q = _WITH_ACCOUNT.where(_h.customer_id == customer_id, _h.account_id == account_id, _h.hold_id == hold_id)
    return conn.execute(q).first()


def page(conn: Connection, customer_id: str, account_id: str, offset: int, limit: int) -> tuple[list[AnyRow], int]:
    where = (_h.customer_id == customer_id, _h.account_id == account_id)
    total = conn.execute(select(func.count()).select_from(holds).where(*where)).scalar_one()
    rows = conn.execute(_WITH_ACCOUNT.where(*where).order_by(_h.created_at, _h.id).offset(offset).limit(limit))
    return list(rows), int(total)


def settlements_of(conn: Connection, row_ids: Sequence[str]) -> dict[str, list[AnyRow]]:
    """hold row id -> its settlements, oldest first."""
    out: dict[str, list[AnyRow]] = {i: [] for i in row_ids}
    if row_ids:
        q = select(hold_settlements).where(_s.hold_row_id.in_(list(row_ids))).order_by(_s.created_at, _s.fee_id)
        for r in conn.execute(q):
            out[r.hold_row_id].append(r)
    return out


def customers_with_expired(conn: Connection, now: datetime) -> set[str]:
    """Customers with an active hold past its expiry (for the job to close)."""
    q = select(_h.customer_id).where(_h.status == ACTIVE, _h.expires_at <= now).distinct()
    return {r.customer_id for r in conn.execute(q)}


def expire_due(conn: Connection, customer_id: str, now: datetime) -> int:
    """Close the customer's active holds past their expiry, at their expiry, returning what they still
    held (the caller holds the customer lock, so no settlement runs alongside). Answers how many."""
    q = (
        update(holds)
        .where(_h.customer_id == customer_id, _h.status == ACTIVE, _h.expires_at <= now)
        .values(status=EXPIRED, released=_h.amount - _h.settled, closed_at=_h.expires_at)
    )
    return conn.execute(q).rowcount or 0
