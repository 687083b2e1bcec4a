"""Stage 5, fund: the limit, checked once. All fees of one event must fit together (charged now or
reserved for a recurring charge), or the event is refused whole and nothing of it is booked.

An event may name a hold (``hold_id``): while the hold is open, what it still holds pays the event's
fees in its account first, and needs no new check (it was checked when the hold was placed); only
the rest is checked against the limit. A hold that is closed, unknown or on another account leaves
the event billed as usual, and the event's outcome says so (``notes``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from drawdown.core.grants import available
from drawdown.core.holds import status_at
from drawdown.core.money import plain
from drawdown.holds.book import HoldState
from drawdown.usage.group import Group, Turn
from drawdown.usage.models import UsageEvent
from drawdown.usage.rating import RatedFee
from drawdown.wallets.accounts import DEFAULT_ACCOUNT

ZERO = Decimal(0)


@dataclass(frozen=True)
class Funded:
    accounts: dict[str, str]  # asset -> the default account its fees are drawn from (opened if new)
    hold: HoldState | None  # the open hold the fees in its account settle against first


def fund(group: Group, turn: Turn, index: int, event: UsageEvent, fees: list[RatedFee]) -> Funded | None:
    """Where each fee is drawn from, or None when the event is refused (the refusal is recorded in
    the turn's outcome)."""
    ledger = turn.customer.ledger
    accounts = {}
    need: dict[str, Decimal] = {}
    for fee in fees:
        if fee.asset not in accounts:
            accounts[fee.asset] = ledger.find(DEFAULT_ACCOUNT, fee.asset) or ledger.open(
                DEFAULT_ACCOUNT, fee.asset, group.default_limit
            )
        need[fee.asset] = need.get(fee.asset, ZERO) + fee.amount
    hold, note = _hold(group, turn, event, set(accounts.values())) if fees else (None, None)
    for asset, amount in need.items():
        covered = min(hold.left(group.now), amount) if hold is not None and hold.account_id == accounts[asset] else ZERO
        if ledger.shortfall(accounts[asset], amount - covered) is not None:
            state = ledger.account(accounts[asset])
            left = available(state.grants, state.debt, group.now) - state.set_aside
            from_hold = f", of which the hold pays {plain(covered)}" if covered else ""
            turn.outcome.rejected[index] = (
                f"insufficient funds in {DEFAULT_ACCOUNT}:{asset}: fees {plain(amount)}{from_hold}, "
                f"available {plain(left)}, overdraft limit {state.limit_text()}"
            )
            return None
    if note is not None:
        turn.outcome.notes[index] = note
    return Funded(accounts, hold)


def _hold(group: Group, turn: Turn, event: UsageEvent, accounts: set[str]) -> tuple[HoldState | None, str | None]:
    """(the open hold the event's fees settle against, or None with why not; None, None: it names none)."""
    named = event.named_hold
    if named is None:
        return None, None
    found = group.holds.find(turn.customer.id, named)
    usual = "billed from the wallet as usual"
    if found is None:
        return None, f"no hold {named!r}: {usual}"
    if not found.is_open(group.now):
        return None, f"hold {named!r} is {status_at(found.status, found.expires_at, group.now)}: {usual}"
    if found.account_id not in accounts:
        return None, f"hold {named!r} is on {found.account}, which no fee of this event is drawn from: {usual}"
    return found, None
