"""Credit grants and how value is drawn from them.

A wallet account holds discrete grants of value plus, when it has gone below zero, an overdraft
(``debt``). The account's book balance is ``sum(grant.remaining) - debt``; its available balance
counts only live grants (effective, not expired). Rules (docs/ledger.md):

* A debit draws from live grants in this order: lowest ``priority`` value first, then the earliest
  ``expires_at`` (never-expiring last), then the oldest, then by id. A grant that is not yet effective
  or already expired is never drawn.
* What the live grants cannot cover becomes debt, allowed only while debt stays within the account's
  overdraft limit (None = unlimited). Otherwise the whole debit is refused and nothing changes.
* Debt is settled from live grants, in the same order, before anything else touches the account.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)
PAID = "paid"
PROMOTION = "promotion"
BUNDLED = "bundled"
PURPOSES = (PAID, PROMOTION, BUNDLED)
DEFAULT_PRIORITY = 100


@dataclass(frozen=True)
class Grant:
    id: str
    remaining: Decimal
    effective_at: datetime
    expires_at: datetime | None
    created_at: datetime
    priority: int = DEFAULT_PRIORITY
    purpose: str = PAID


@dataclass(frozen=True)
class Draw:
    grant_id: str
    amount: Decimal


@dataclass(frozen=True)
class DebitPlan:
    draws: tuple[Draw, ...]
    debt_added: Decimal

    @property
    def drawn(self) -> Decimal:
        return sum((d.amount for d in self.draws), ZERO)


class InsufficientFunds(Exception):
    def __init__(self, needed: Decimal, available: Decimal, overdraft_limit: Decimal | None) -> None:
        super().__init__(f"needs {needed}, available {available}, overdraft limit {overdraft_limit}")
        self.needed = needed
        self.available = available
        self.overdraft_limit = overdraft_limit


def is_live(grant: Grant, now: datetime) -> bool:
    return grant.effective_at <= now and (grant.expires_at is None or now < grant.expires_at)


def is_pending(grant: Grant, now: datetime) -> bool:
    return grant.effective_at > now


# Stands in for "no expiry" after the flag that puts such grants last: it is only ever compared with
# itself (two never-expiring grants), so its lack of a time zone never meets an aware datetime.
_NEVER = datetime.min


def _order(g: Grant) -> tuple[int, bool, datetime, datetime, str]:
    return (g.priority, g.expires_at is None, g.expires_at or _NEVER, g.created_at, g.id)


def in_consumption_order(grants: Iterable[Grant]) -> list[Grant]:
    """The grants in the order they are drawn, live or not (whether each is live is judged when drawing):
    the order depends on nothing that a draw changes, so a caller that keeps its list in it can pass
    ``ordered=True`` to ``plan_debit`` and ``plan_settlement`` and save a sort per debit."""
    return sorted(grants, key=_order)


def consumption_order(grants: Iterable[Grant], now: datetime, ordered: bool = False) -> list[Grant]:
    # is_live inlined and the sort skipped for one grant: this runs for every debit of every event.
    live = [
        g
        for g in grants
        if g.remaining > 0 and g.effective_at <= now and (g.expires_at is None or now < g.expires_at)
    ]
    if ordered or len(live) < 2:
        return live
    return sorted(live, key=_order)


def available(grants: Iterable[Grant], debt: Decimal, now: datetime) -> Decimal:
    return sum((g.remaining for g in grants if is_live(g, now)), ZERO) - debt


def pending_in(grants: Iterable[Grant], now: datetime) -> Decimal:
    return sum((g.remaining for g in grants if is_pending(g, now)), ZERO)


def _draw(grants: Sequence[Grant], amount: Decimal, now: datetime, ordered: bool) -> tuple[list[Draw], Decimal]:
    draws: list[Draw] = []
    left = amount
    for grant in consumption_order(grants, now, ordered):
        if left <= 0:
            break
        take = min(grant.remaining, left)
        draws.append(Draw(grant.id, take))
        left -= take
    return draws, left


def check_limit(
    grants: Sequence[Grant],
    debt: Decimal,
    reserved: Decimal,
    overdraft_limit: Decimal | None,
    amount: Decimal,
    now: datetime,
) -> None:
    """Refuse ``amount`` if spending it would take the account below minus its overdraft limit.

    ``reserved`` is value already promised to accrued (not yet charged) fees; it counts as spent.
    """
    if overdraft_limit is None:
        return
    left = available(grants, debt, now) - reserved
    if left - amount < -overdraft_limit:
        raise InsufficientFunds(amount, left, overdraft_limit)


def plan_debit(
    grants: Sequence[Grant],
    debt: Decimal,
    overdraft_limit: Decimal | None,
    amount: Decimal,
    now: datetime,
    reserved: Decimal = ZERO,
    enforce_limit: bool = True,
    ordered: bool = False,
) -> DebitPlan:
    """How ``amount`` is drawn; raises InsufficientFunds (changing nothing) past the overdraft limit.

    ``enforce_limit`` is False only when collecting value reserved earlier (the limit was checked
    when it was reserved). ``ordered``: ``grants`` are ``in_consumption_order`` already.
    """
    if amount < 0:
        raise ValueError("a debit is not negative")
    if enforce_limit:
        check_limit(grants, debt, reserved, overdraft_limit, amount, now)
    draws, short = _draw(grants, amount, now, ordered)
    return DebitPlan(tuple(draws), short)


def plan_settlement(grants: Sequence[Grant], debt: Decimal, now: datetime, ordered: bool = False) -> DebitPlan:
    """Draws that pay off as much debt as live grants allow (``debt_added`` is negative or zero)."""
    if debt <= 0:
        return DebitPlan((), ZERO)
    draws, short = _draw(grants, debt, now, ordered)
    return DebitPlan(tuple(draws), -(debt - short))


def apply(grants: Sequence[Grant], draws: Iterable[Draw]) -> list[Grant]:
    """The grants after the draws (for pure tests and in-memory planning of several debits)."""
    taken: dict[str, Decimal] = {}
    for d in draws:
        taken[d.grant_id] = taken.get(d.grant_id, ZERO) + d.amount
    out = []
    for g in grants:
        if g.id in taken:
            remaining = g.remaining - taken[g.id]
            g = Grant(g.id, remaining, g.effective_at, g.expires_at, g.created_at, g.priority, g.purpose)
        out.append(g)
    return out
