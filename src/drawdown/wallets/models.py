"""What the wallet room is asked to do (commands) and what it answers (results)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from drawdown.codec import fingerprint


@dataclass(frozen=True)
class Adjustment:
    """Credit (positive ``amount``) or debit an account, once per ``transaction_id``."""

    transaction_id: str
    asset: str
    amount: Decimal
    reason: str  # gift | external_topup | external_refund | other
    account_name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    currency: str | None = None  # the amount is in this fiat currency, credited in ``asset`` at the rate in force
    exchange_rate: Decimal | None = None  # ...or at this price (``currency`` per unit of ``asset``): a top-up's own
    digest: str = ""  # the request's fingerprint where it was received (replays are compared by it)

    def request_hash(self) -> str:
        return self.digest or _fingerprint(self)


@dataclass(frozen=True)
class Charge:
    """Debit an account for something the platform priced itself, once per ``transaction_id``."""

    transaction_id: str
    asset: str
    amount: Decimal
    account_name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    digest: str = ""

    def request_hash(self) -> str:
        return self.digest or _fingerprint(self)


def _fingerprint(command: Any) -> str:
    return fingerprint({k: v for k, v in dataclasses.asdict(command).items() if k != "digest"})


@dataclass(frozen=True)
class Recorded:
    """A transaction recorded (or found already recorded under the same id)."""

    transaction_id: str
    created_at: datetime


@dataclass(frozen=True)
class Balance:
    key: str  # name:ASSET
    name: str
    asset: str
    available: Decimal
    pending_in: Decimal
    pending_out: Decimal
    overdraft_limit: Decimal | None
    held: Decimal = Decimal(0)  # set aside by open holds (already out of ``available``)


@dataclass(frozen=True)
class GrantFilter:
    purpose: str | None = None
    exclude_expired: bool = False
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    expired_from: datetime | None = None
    expired_to: datetime | None = None


@dataclass(frozen=True)
class GrantView:
    """A grant as of now: one whose time has come reads as it will once the job records it."""

    id: str
    available: Decimal
    amount: Decimal
    expired_amount: Decimal
    state: str
    effective_at: datetime
    expires_at: datetime | None
    expired_at: datetime | None
    purpose: str
    priority: int
    source_type: str
    source_id: str
    revenue_basis: Decimal | None
    cost_basis: Decimal | None
    basis_currency: str | None
    created_at: datetime


@dataclass(frozen=True)
class Movement:
    transaction_id: str
    type: str
    amount: Decimal
    at: datetime


@dataclass(frozen=True)
class GrantHistory:
    grant: GrantView
    movements: list[Movement]


@dataclass(frozen=True)
class FeeShare:
    """A fee booked in a usage transaction: its id, its event's, and how much it took."""

    id: str
    event_id: str
    amount: Decimal


@dataclass(frozen=True)
class TransactionView:
    transaction_id: str
    type: str
    account_key: str
    asset: str
    amount: Decimal
    description: str | None
    metadata: dict[str, str] | None
    created_at: datetime
    executed_at: datetime | None
    booked_in: str | None = None  # a fee read by its id: the usage transaction that took it
    fees: tuple[FeeShare, ...] | None = None  # a usage transaction: the fees it took
