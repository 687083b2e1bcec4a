"""What a group of batches carries through the pipeline: the locked customers, the rows planned, and
the answers. Nothing here touches the database; the stages do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.core.periods import Period
from drawdown.core.scopes import Scope
from drawdown.holds.book import HoldBook
from drawdown.usage.cache import HotCache, Priced, Rates
from drawdown.usage.models import Answer, Outcome, UsageBatch
from drawdown.usage.positions import TierPositions
from drawdown.usage.rollup import Rollup
from drawdown.wallets.ledger import Ledger


@dataclass
class Customer:
    """A customer of the group, locked for the transaction (its batches are all in its scope)."""

    id: str
    scope_id: int
    revision: int
    ledger: Ledger
    revised: bool = False  # the group moves ``revision`` (it issued entitlement grants): written at commit
    prices: list[Priced] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # event id -> content digest: stored, or accepted here


@dataclass
class Turn:
    """One batch being billed: its events are judged one by one, and the batch as a whole is taken
    back if one of them cannot be billed at all (data that cannot be rated, a bad cost)."""

    index: int
    batch: UsageBatch
    customer: Customer
    outcome: Outcome = field(default_factory=Outcome)
    added: dict[str, str] = field(default_factory=dict)  # event id -> digest, accepted in this batch
    rollup: Rollup = field(default_factory=Rollup)

    @property
    def scope(self) -> Scope:
        return self.batch.scope


@dataclass
class Rows:
    """The event, fee and cost rows planned for the group; fees and costs name their event by slot."""

    events: list[dict[str, Any]] = field(default_factory=list)
    fees: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    costs: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def sizes(self) -> tuple[int, int, int]:
        return len(self.events), len(self.fees), len(self.costs)

    def truncate(self, sizes: tuple[int, int, int]) -> None:
        del self.events[sizes[0] :], self.fees[sizes[1] :], self.costs[sizes[2] :]


@dataclass
class Fetched:
    """What ``receive`` read with the lock, for the whole group, for ``prefetch`` and ``commit``: read for
    every customer the batches name (``prefetch`` keeps those the lock found in their batch's scope)."""

    stored: list[tuple[Any, ...]] = field(default_factory=list)  # (customer id, event id, digest) of stored events
    wallets: list[tuple[Any, list[Any], int]] = field(default_factory=list)  # (account, its grants, held)
    versions: dict[int, tuple[int, int]] = field(default_factory=dict)  # scope id -> its rates' version
    seqs: list[int] = field(default_factory=list)  # sequence numbers for the group's new event rows


@dataclass
class Group:
    conn: Connection
    now: datetime
    default_limit: Decimal | None  # the overdraft limit an account opened here gets
    cache: HotCache
    batches: list[UsageBatch]
    answers: list[Answer | None]
    customers: dict[str, Customer] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    positions: TierPositions = field(init=False)
    holds: HoldBook = field(init=False)  # the holds the group's events name and its hold commands touch
    rates: dict[int, Rates] = field(init=False)  # scope id -> its rates, for every scope of the group
    periods: dict[tuple[str, str, datetime], Period] = field(default_factory=dict)
    rows: Rows = field(default_factory=Rows)
    rollup: Rollup = field(default_factory=Rollup)
    fetched: Fetched = field(default_factory=Fetched)

    def __post_init__(self) -> None:
        self.positions = TierPositions(self.conn)
        self.holds = HoldBook(self.conn, self.now)

    def scopes(self) -> dict[int, Scope]:
        """scope id -> scope, for every batch of the group."""
        return {b.scope.id: b.scope for b in self.batches}
