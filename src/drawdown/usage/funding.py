"""Stage 5, fund: the limit, checked once. All fees of one event must fit together (charged now or
reserved for a recurring charge), or the event is refused whole and nothing of it is booked."""

from __future__ import annotations

from decimal import Decimal

from drawdown.core.grants import available
from drawdown.core.money import plain
from drawdown.usage.group import Group, Turn
from drawdown.usage.rating import RatedFee
from drawdown.wallets.accounts import DEFAULT_ACCOUNT

ZERO = Decimal(0)


def fund(group: Group, turn: Turn, index: int, fees: list[RatedFee]) -> dict[str, str] | None:
    """asset -> the default account each fee is drawn from (opened if new), or None when the event
    is refused (the refusal is recorded in the turn's outcome)."""
    ledger = turn.customer.ledger
    accounts = {}
    need: dict[str, Decimal] = {}
    for fee in fees:
        if fee.asset not in accounts:
            accounts[fee.asset] = ledger.find(DEFAULT_ACCOUNT, fee.asset) or ledger.open(
                DEFAULT_ACCOUNT, fee.asset, group.default_limit
            )
        need[fee.asset] = need.get(fee.asset, ZERO) + fee.amount
    for asset, amount in need.items():
        if ledger.shortfall(accounts[asset], amount) is not None:
            state = ledger.account(accounts[asset])
            left = available(state.grants, state.debt, group.now) - state.reserved
            turn.outcome.rejected[index] = (
                f"insufficient funds in {DEFAULT_ACCOUNT}:{asset}: fees {plain(amount)}, available {plain(left)}, "
                f"overdraft limit {state.limit_text()}"
            )
            return None
    return accounts
