"""One wallet account as held in memory during a unit of work, and the names accounts go by.

An account is addressed by its customer and ``name:ASSET`` key (``default:USD``); inside the database
it has an id (``wac_…``). Its value is a list of grants plus, below zero, ``debt``; ``reserved`` is
value promised to recurring fees not yet charged; ``held`` is value set aside by open holds
(``core.holds``), read with the account and never stored on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from drawdown.core import grants as grant_rules
from drawdown.core.errors import NotFound
from drawdown.core.money import from_scaled
from drawdown.wallets.notices import levels

DEFAULT_ACCOUNT = "default"
PENDING, LIVE, GONE = "pending", "live", "expired"  # grant states as stored
ZERO = Decimal(0)


def account_key(name: str, asset: str) -> str:
    return f"{name}:{asset}"


def parse_account_key(value: str) -> tuple[str, str]:
    name, sep, asset = value.partition(":")
    if not sep or not name or not asset:
        raise NotFound(f"no wallet account {value!r}; account ids look like 'default:USD'")
    return name, asset.upper()


@dataclass(frozen=True)
class GrantBasis:
    """What value drawn from a grant is worth: its purpose and revenue basis (per unit, in ``currency``)."""

    purpose: str
    revenue: Decimal | None
    currency: str | None


@dataclass
class AccountState:
    account_id: str
    customer_id: str
    name: str
    asset: str
    debt: Decimal
    overdraft_limit: Decimal | None
    grants: list[grant_rules.Grant]
    reserved: Decimal = ZERO
    held: Decimal = ZERO  # the open holds' remainder: unavailable to anything but their own fees
    held_seen: Decimal = ZERO  # ``held`` as of the last write (read or collected): balance notices compare it
    touched: set[str] = field(default_factory=set)  # grants drawn since the last write
    stored_pending: set[str] = field(default_factory=set)  # grants stored as pending
    created: bool = False  # opened in this unit of work: inserted when written
    stored: tuple[int, int, int, int] = (0, 0, 0, 0)  # debt, reserved, live and pending totals as last written
    # Auto top-up: buy more when ``available`` falls below this (nano units); None while it is off or
    # paused. Read with the account row, so accounts without it cost the debit path nothing.
    auto_threshold: int | None = None
    # Balance alerts' thresholds in nano units (with the percentage each came from), highest first;
    # () without alerts. Read with the account row (``wallet_accounts.alert_levels``), like the above.
    alert_levels: tuple[tuple[int, Decimal | None], ...] = ()

    @property
    def set_aside(self) -> Decimal:
        """Value that counts as spent for the limit: reserved for recurring fees, or held."""
        return self.reserved + self.held

    @classmethod
    def from_rows(cls, row: Any, grant_rows: list[Any], held: Decimal = ZERO) -> AccountState:
        return cls(
            account_id=row.id,
            customer_id=row.customer_id,
            name=row.name,
            asset=row.asset,
            debt=from_scaled(row.debt),
            overdraft_limit=None if row.overdraft_limit is None else from_scaled(row.overdraft_limit),
            # Kept in the order they are drawn (``Ledger`` passes ``ordered=True``): a sort per debit saved.
            grants=grant_rules.in_consumption_order(grant_from_row(r) for r in grant_rows),
            reserved=from_scaled(row.reserved),
            held=held,
            held_seen=held,
            stored_pending={r.id for r in grant_rows if r.state == PENDING},
            stored=(row.debt, row.reserved, row.live_total, row.pending_total),
            auto_threshold=row.auto_threshold,
            alert_levels=levels(row.alert_levels),
        )

    def limit_text(self) -> str:
        return "unlimited" if self.overdraft_limit is None else str(self.overdraft_limit)


def grant_from_row(row: Any) -> grant_rules.Grant:
    return grant_rules.Grant(
        id=row.id,
        remaining=from_scaled(row.remaining),
        effective_at=row.effective_at,
        expires_at=row.expires_at,
        created_at=row.created_at,
        priority=row.priority,
        purpose=row.purpose,
    )


def basis_from_row(row: Any) -> GrantBasis:
    revenue = None if row.revenue_basis is None else from_scaled(row.revenue_basis)
    return GrantBasis(row.purpose, revenue, row.basis_currency)
