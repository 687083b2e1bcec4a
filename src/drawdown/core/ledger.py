"""Double-entry postings. Every transaction's postings sum to zero, per asset.

Ledger accounts are named strings: ``wallet:<account id>`` for a customer's wallet account and
``system:<role>:<ASSET>`` for the platform side (``issued`` for value brought in by adjustments,
``revenue`` for fees and charges, ``refunds`` for value taken back by negative adjustments, ``expired`` for
value written off when a grant expires).
Money drawn from a grant names the grant; overdraft postings name none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ISSUED = "issued"
REVENUE = "revenue"
REFUNDS = "refunds"
EXPIRED = "expired"


@dataclass(frozen=True)
class Posting:
    account: str
    amount: Decimal
    grant_id: str | None = None


class UnbalancedTransaction(AssertionError):
    pass


def wallet_account(account_id: str) -> str:
    return f"wallet:{account_id}"


def system_account(role: str, asset: str) -> str:
    return f"system:{role}:{asset}"


def check_balanced(postings: Iterable[Posting]) -> None:
    total = sum((p.amount for p in postings), Decimal(0))
    if total != 0:
        raise UnbalancedTransaction(f"postings sum to {total}, not 0")


def merge(postings: Iterable[Posting]) -> list[Posting]:
    """The postings summed per (account, grant), in the order each pair first appears, zero sums left
    out: many fees' movements booked as one transaction (``wallets.ledger.Ledger.book_usage``) keep what
    each grant gave, what went on overdraft and what revenue took, and still balance."""
    sums: dict[tuple[str, str | None], Decimal] = {}
    for p in postings:
        key = (p.account, p.grant_id)
        sums[key] = sums.get(key, Decimal(0)) + p.amount
    return [Posting(account, amount, grant_id) for (account, grant_id), amount in sums.items() if amount]
