"""Holds: value set aside on a wallet account before a job whose cost is only known at its end.

A hold is an authorisation in the card networks' sense (TigerBeetle's pending transfer): it moves no
value, it only makes part of the balance unavailable. Fees settled against it draw from it first
(what they draw needs no new limit check: it was checked when the hold was made), and what is left is
released when the hold is released or expires. The rules, pure:

* a hold is *open* while its status is ``active`` and its expiry is still ahead; an active row whose
  expiry has passed is closed already, whatever the job has recorded (expiry is checked on read);
* what it still holds is ``amount - settled`` while open, and nothing once closed;
* a fee settled against an open hold takes ``min(fee, left)`` from it and the rest from the wallet;
* a hold lasts 15 minutes unless told otherwise, and never more than 7 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

ACTIVE, RELEASED, EXPIRED = "active", "released", "expired"
DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(days=7)
ZERO = Decimal(0)


class BadExpiry(ValueError):
    """An expiry the caller may not ask for; ``field`` is the body field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def expiry(now: datetime, expires_at: datetime | None, ttl_seconds: int | None) -> datetime:
    """When a hold made at ``now`` expires: ``expires_at``, or ``now + ttl_seconds``, or the default."""
    if expires_at is not None and ttl_seconds is not None:
        raise BadExpiry("ttl_seconds", "give expires_at or ttl_seconds, not both")
    if ttl_seconds is not None:
        if ttl_seconds <= 0:
            raise BadExpiry("ttl_seconds", "must be at least 1")
        if ttl_seconds > MAX_TTL.total_seconds():
            raise BadExpiry("ttl_seconds", f"must be at most {int(MAX_TTL.total_seconds())} (7 days)")
        return now + timedelta(seconds=ttl_seconds)
    if expires_at is None:
        return now + DEFAULT_TTL
    if expires_at <= now:
        raise BadExpiry("expires_at", "must be in the future")
    if expires_at - now > MAX_TTL:
        raise BadExpiry("expires_at", "must be at most 7 days ahead")
    return expires_at


def is_open(status: str, expires_at: datetime, now: datetime) -> bool:
    return status == ACTIVE and now < expires_at


def status_at(status: str, expires_at: datetime, now: datetime) -> str:
    """The status as of ``now``: an active hold past its expiry reads as expired before the job runs."""
    return EXPIRED if status == ACTIVE and now >= expires_at else status


def left(amount: Decimal, settled: Decimal) -> Decimal:
    """What an open hold still holds (never negative: settlement takes at most what is left)."""
    return max(amount - settled, ZERO)


@dataclass(frozen=True)
class Split:
    from_hold: Decimal
    from_wallet: Decimal


def split(fee: Decimal, held: Decimal) -> Split:
    """How a fee is paid by a hold with ``held`` left: from the hold first, the rest from the wallet."""
    taken = min(fee, max(held, ZERO))
    return Split(taken, fee - taken)


def missing(amount: Decimal, spendable: Decimal, overdraft_limit: Decimal | None) -> Decimal:
    """How much more the account needs for a hold of ``amount``: ``spendable`` is available less what
    is already reserved or held; a set overdraft limit counts as spendable too. With no limit set
    (unlimited, the default), a hold is covered by the balance alone: a hold answers "can this customer
    pay for this job?", and an unlimited overdraft would answer yes to every job, however many."""
    return max(amount - (spendable + (overdraft_limit or ZERO)), ZERO)
