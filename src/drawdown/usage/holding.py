"""A hold command in the pipeline: placed or released inside the group's transaction, under the
customer's lock, like an event. ``holds.service`` has the rules; this stage finds the account and
prices an estimate exactly as the event would be priced now, for this customer's subscriptions and
at the tier positions it would take, without moving them (``rating.rate_event`` never moves them;
only ``booking`` does, and an estimate is never booked)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from drawdown.core.errors import Invalid, NotFound
from drawdown.holds import service as holds
from drawdown.holds.models import Estimate, PlaceHold, ReleaseHold
from drawdown.usage.group import Group, Turn
from drawdown.usage.models import UsageEvent
from drawdown.usage.rating import rate_event
from drawdown.wallets.accounts import parse_account_key
from drawdown.wallets.ledger import Ledger

ZERO = Decimal(0)
ESTIMATE_ID = "estimate"  # never stored: an estimate is rated, not booked


def estimate_event(estimate: Estimate, now: datetime) -> UsageEvent:
    return UsageEvent(ESTIMATE_ID, estimate.event_type, now, data=estimate.data)


def take_hold(group: Group, turn: Turn) -> None:
    """Answer the batch's hold command in its outcome; raises why it is refused (nothing is kept)."""
    cmd, ledger = turn.batch.hold, turn.customer.ledger
    if isinstance(cmd, ReleaseHold):
        turn.outcome.hold = holds.release(group.holds, ledger, _account(ledger, cmd.account), cmd.hold_id)
        return
    assert isinstance(cmd, PlaceHold)
    prior = holds.replayed(group.holds, ledger.customer_id, cmd)
    if prior is not None:
        turn.outcome.hold = prior
        return
    account_id = _account(ledger, cmd.account)
    amount = cmd.amount if cmd.amount is not None else _price(group, turn, ledger.account(account_id).asset)
    turn.outcome.hold = holds.place(group.holds, ledger, turn.scope.id, account_id, cmd, amount)


def _account(ledger: Ledger, key: str) -> str:
    """The customer's account named ``name:ASSET`` (read for the group); an unknown one is the caller's
    mistake, named like a field."""
    try:
        name, asset = parse_account_key(key)
    except NotFound as exc:
        raise Invalid.field("account_id", exc.detail) from None
    found = ledger.find(name, asset)
    if found is None:
        raise Invalid.field("account_id", f"the customer has no wallet account {key!r}")
    return found


def _price(group: Group, turn: Turn, asset: str) -> Decimal:
    """What the estimate's event would cost in ``asset`` now (fees in other assets are not this hold's)."""
    cmd = turn.batch.hold
    assert isinstance(cmd, PlaceHold) and cmd.estimate is not None
    event = estimate_event(cmd.estimate, group.now)
    fees = rate_event(group, turn.customer.id, turn.customer.prices, event, "estimate")
    return sum((f.amount for f in fees if f.asset == asset), ZERO)
