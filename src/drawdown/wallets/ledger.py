"""The ledger of one customer inside one unit of work: credits, debits and reservations planned in
memory with the pure rules of ``core.grants``, written once at the end by ``ledger_rows``.

The caller holds the customer lock. An account is read the first time it is touched (or adopted
from rows the caller already read for a whole group). Every planned transaction carries balanced
postings (``core.ledger``); nothing reaches the database until ``flush`` (or a caller's
``RowBuffer``), so a refused request is taken back with ``mark``/``undo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table

from drawdown.core import grants as grant_rules
from drawdown.core.ids import GRANT, TRANSACTION, new_id
from drawdown.core.ledger import (
    EXPIRED,
    ISSUED,
    REVENUE,
    Posting,
    check_balanced,
    merge,
    system_account,
    wallet_account,
)
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.db.rows import RowBuffer
from drawdown.wallets import autotopup, notices, repository
from drawdown.wallets.accounts import ZERO, AccountState, GrantBasis, basis_from_row
from drawdown.wallets.ledger_rows import collect
from drawdown.wallets.notices import Notice


@dataclass
class PlannedTransaction:
    row: dict[str, Any]
    postings: list[Posting]


@dataclass
class UsageLine:
    """A real-time fee drawn in this unit of work: booked with the other fees of its account in one
    ``usage`` transaction (``book_usage``)."""

    account_id: str
    amount: Decimal
    description: str
    postings: list[Posting]


@dataclass
class Mark:
    """Where a ledger stood, so that a refused request can be taken back (see ``undo``)."""

    sizes: tuple[int, int, int, int, int]
    accounts: dict[str, tuple[list[grant_rules.Grant], Decimal, Decimal, Decimal, set[str]]]


class Ledger:
    def __init__(self, conn: Connection, customer_id: str, now: datetime) -> None:
        self.conn = conn
        self.customer_id = customer_id
        self.now = now
        self.accounts: dict[str, AccountState] = {}
        self.new_grants: list[dict[str, Any]] = []
        self.planned: list[PlannedTransaction] = []
        self.expired: dict[str, Decimal] = {}
        self.dependents: list[tuple[Table, dict[str, Any]]] = []
        self.bases: dict[str, GrantBasis] = {}
        self.notices: list[Notice] = []  # for the platform (webhooks), published by whoever writes the rows
        self.expires_at: dict[str, datetime] = {}  # of the grants in ``expired``
        self.usage: list[UsageLine] = []
        self.usage_ids: dict[str, str] = {}  # account id -> its usage transaction in this unit of work

    # ------------------------------------------------------------------------ accounts in memory
    def adopt(self, row: Any, grant_rows: list[Any], held: int = 0) -> AccountState:
        """Take an account (its changeable grants, what its open holds set aside) the caller already
        read, e.g. for a group."""
        for r in grant_rows:
            self.bases[r.id] = basis_from_row(r)
        state = self.accounts[row.id] = AccountState.from_rows(row, grant_rows, from_scaled(held))
        return state

    def account(self, account_id: str) -> AccountState:
        if account_id not in self.accounts:
            row = repository.account(self.conn, account_id)
            held = repository.held_totals(self.conn, [account_id], self.now).get(account_id, 0)
            self.adopt(row, repository.changeable_grants(self.conn, [account_id], self.now), held)
        return self.accounts[account_id]

    def find(self, name: str, asset: str) -> str | None:
        """The id of an account already held here."""
        return next((a.account_id for a in self.accounts.values() if a.name == name and a.asset == asset), None)

    def open(self, name: str, asset: str, overdraft_limit: Decimal | None) -> str:
        """A new, empty account, inserted when written (the caller knows it does not exist yet)."""
        account_id = new_id("wac")
        self.accounts[account_id] = AccountState(
            account_id, self.customer_id, name, asset, ZERO, overdraft_limit, [], created=True
        )
        return account_id

    def basis(self, grant_id: str) -> GrantBasis | None:
        return self.bases.get(grant_id)

    def grant(self, account_id: str, grant_id: str) -> grant_rules.Grant | None:
        return next((g for g in self.account(account_id).grants if g.id == grant_id), None)

    def after_grants(self, table: Table, row: dict[str, Any]) -> None:
        """A row that refers to a grant planned here: written after the grants."""
        self.dependents.append((table, row))

    # ----------------------------------------------------------------------------- take back
    def mark(self) -> Mark:
        return Mark(
            (len(self.new_grants), len(self.planned), len(self.dependents), len(self.notices), len(self.usage)),
            {aid: (list(a.grants), a.debt, a.reserved, a.held, set(a.touched)) for aid, a in self.accounts.items()},
        )

    def undo(self, mark: Mark) -> None:
        """Forget everything planned since ``mark`` (nothing has been written yet)."""
        grants, planned, dependents, notices, usage = mark.sizes
        del self.new_grants[grants:], self.planned[planned:], self.dependents[dependents:], self.notices[notices:]
        del self.usage[usage:]
        for account_id in list(self.accounts):
            if account_id not in mark.accounts:
                # Read (or opened) after the mark: read again when touched again.
                del self.accounts[account_id]
                continue
            state = self.accounts[account_id]
            state.grants, state.debt, state.reserved, state.held, state.touched = mark.accounts[account_id]

    # --------------------------------------------------------------------------------- spending
    def shortfall(self, account_id: str, amount: Decimal) -> grant_rules.InsufficientFunds | None:
        """Why ``amount`` cannot be spent from the account (None: it can, within its overdraft limit)."""
        a = self.account(account_id)
        try:
            grant_rules.check_limit(a.grants, a.debt, a.set_aside, a.overdraft_limit, amount, self.now)
        except grant_rules.InsufficientFunds as exc:
            return exc
        return None

    def reserve(self, account_id: str, amount: Decimal, *, funded: bool = False) -> None:
        """Hold ``amount`` for a fee charged later (recurring usage); raises InsufficientFunds unless
        the caller has already checked the limit (``funded``)."""
        a = self.account(account_id)
        if not funded:
            grant_rules.check_limit(a.grants, a.debt, a.set_aside, a.overdraft_limit, amount, self.now)
        a.reserved += amount

    def hold(self, account_id: str, amount: Decimal) -> None:
        """Set ``amount`` aside for a hold; raises InsufficientFunds (changing nothing) past the limit."""
        a = self.account(account_id)
        grant_rules.check_limit(a.grants, a.debt, a.set_aside, a.overdraft_limit, amount, self.now)
        a.held += amount

    def unhold(self, account_id: str, amount: Decimal) -> None:
        """Give back ``amount`` a hold set aside: released, or drawn by a fee settled against it (the
        caller debits that fee next, its limit already checked)."""
        self.account(account_id).held -= amount

    def debit(
        self,
        account_id: str,
        amount: Decimal,
        counter_role: str,
        txn: dict[str, Any],
        *,
        release: Decimal = ZERO,
        funded: bool = False,
    ) -> grant_rules.DebitPlan:
        """Draw ``amount``; raises InsufficientFunds before changing anything.

        ``release`` collects value reserved earlier: the reservation ends and the limit is not checked
        again for it. ``funded``: the caller has checked the limit for this amount already.
        """
        a = self.account(account_id)
        postings: list[Posting] = []
        plan = self._take(a, amount, postings, release, enforce_limit=not (release or funded))
        postings.append(Posting(system_account(counter_role, a.asset), amount))
        self._record(a, -amount, txn, postings)
        return plan

    def spend(self, account_id: str, amount: Decimal, description: str) -> tuple[str, grant_rules.DebitPlan]:
        """A real-time usage fee, its limit already checked (``usage.funding``): drawn now by the rules
        of ``debit``, and booked with the account's other fees of this unit of work in one ``usage``
        transaction, written at the end (``book_usage``). Answers that transaction's id, which the fee
        row names (its ``charge_id``), and how the fee was drawn."""
        a = self.account(account_id)
        postings: list[Posting] = []
        plan = self._take(a, amount, postings, ZERO, enforce_limit=False)
        postings.append(Posting(system_account(REVENUE, a.asset), amount))
        self.usage.append(UsageLine(account_id, amount, description, postings))
        txn_id = self.usage_ids.get(account_id)
        if txn_id is None:
            txn_id = self.usage_ids[account_id] = new_id(TRANSACTION)
        return txn_id, plan

    def book_usage(self) -> None:
        """One ``usage`` transaction per account for the fees ``spend`` drew: its amount is theirs
        together, its entries what each grant gave, what went on overdraft and what revenue took. One
        transaction and a few entries per account and commit, not one and three or four per fee, is
        most of what a leaner write path saves (docs/performance.md); each fee stays on its event and
        names this transaction."""
        lines: dict[str, list[UsageLine]] = {}
        for line in self.usage:
            lines.setdefault(line.account_id, []).append(line)
        for account_id, mine in lines.items():
            txn_id = self.usage_ids[account_id]
            description = mine[0].description if len(mine) == 1 else f"{len(mine)} usage fees"
            txn = {"id": txn_id, "transaction_id": txn_id, "type": "usage", "description": description}
            total = sum((line.amount for line in mine), ZERO)
            self._record(self.accounts[account_id], -total, txn, merge(p for line in mine for p in line.postings))
        self.usage.clear()
        self.usage_ids.clear()

    def withdraw(self, account_id: str, grant_id: str, amount: Decimal, counter_role: str, txn: dict[str, Any]) -> None:
        """Move ``amount`` out of one named grant (a negative amount puts it back): a refund takes the
        units a payment bought from that payment's own grant, never from whichever grant comes first."""
        a = self.account(account_id)
        postings: list[Posting] = []
        self._settle(a, postings)
        held = self.grant(account_id, grant_id)
        if held is None or held.remaining < amount:
            raise ValueError(f"grant {grant_id} holds less than {amount}")
        self._draw(a, (grant_rules.Draw(grant_id, amount),), postings)
        postings.append(Posting(system_account(counter_role, a.asset), amount))
        self._record(a, -amount, txn, postings)

    # -------------------------------------------------------------------------------- crediting
    def credit(
        self,
        account_id: str,
        amount: Decimal,
        txn: dict[str, Any],
        *,
        purpose: str,
        effective_at: datetime,
        expires_at: datetime | None,
        source_type: str,
        priority: int = grant_rules.DEFAULT_PRIORITY,
        basis: tuple[Decimal | None, Decimal | None, str | None] = (None, None, None),
        carry_from: str | None = None,
    ) -> str:
        """A new grant of ``amount`` (plus, for a rollover, the remainder of grant ``carry_from``)."""
        a = self.account(account_id)
        postings = [Posting(system_account(ISSUED, a.asset), -amount)]
        grant_id = new_id(GRANT)
        carried = self._carry(a, carry_from, grant_id) if carry_from is not None else ZERO
        total = amount + carried
        new = grant_rules.Grant(grant_id, total, effective_at, expires_at, self.now, priority, purpose)
        a.grants = grant_rules.in_consumption_order([*a.grants, new])
        revenue, cost, currency = basis
        self.bases[grant_id] = GrantBasis(purpose, revenue, currency)
        self.new_grants.append(
            {
                "id": grant_id,
                "account_id": account_id,
                "amount": to_scaled(total),
                "purpose": purpose,
                "priority": priority,
                "effective_at": effective_at,
                "expires_at": expires_at,
                "source_type": source_type,
                "source_id": txn["transaction_id"],
                "created_at": self.now,
                "revenue_basis": None if revenue is None else to_scaled(quantize(revenue)),
                "cost_basis": None if cost is None else to_scaled(quantize(cost)),
                "basis_currency": currency,
            }
        )
        postings.append(Posting(wallet_account(account_id), amount, grant_id))
        self._settle(a, postings)
        self._record(a, amount, txn, postings)
        return grant_id

    def _carry(self, a: AccountState, carry_from: str, grant_id: str) -> Decimal:
        """Move what is left of grant ``carry_from`` into the new grant: its own ``rollover``
        transaction, since value moves between grants and nothing is spent."""
        old = self.grant(a.account_id, carry_from)
        carried = old.remaining if old is not None else ZERO
        if carried:
            moved: list[Posting] = []
            self._draw(a, (grant_rules.Draw(carry_from, carried),), moved)
            moved.append(Posting(wallet_account(a.account_id), carried, grant_id))
            self._record(
                a,
                ZERO,
                {
                    "transaction_id": f"rollover:{carry_from}",
                    "type": "rollover",
                    "description": "Unused entitlement carried into the new period",
                },
                moved,
            )
        return carried

    # ------------------------------------------------------------------------------ the passage
    def pass_time(self, a: AccountState) -> None:
        """Write off what has expired (an expiry transaction per grant with value left)."""
        keep = []
        for g in a.grants:
            if g.expires_at is None or g.expires_at > self.now:
                keep.append(g)
                continue
            self.expired[g.id] = g.remaining
            self.expires_at[g.id] = g.expires_at
            if g.remaining > 0:
                postings = [
                    Posting(wallet_account(a.account_id), -g.remaining, g.id),
                    Posting(system_account(EXPIRED, a.asset), g.remaining),
                ]
                # Booked at the moment of expiry, whenever the write-off is recorded.
                self._record(
                    a,
                    -g.remaining,
                    {
                        "transaction_id": f"expiry:{g.id}",
                        "type": "expiry",
                        "description": "Credit grant expired",
                        "created_at": g.expires_at,
                        "executed_at": g.expires_at,
                    },
                    postings,
                )
        a.grants = keep

    def flush(self) -> None:
        """Write everything planned, in one go, inside the caller's transaction."""
        buffer = RowBuffer()
        short = collect(self, buffer)
        buffer.execute(self.conn)
        if short:
            # In this same transaction: the shortfall and its auto top-up commit together or not at all.
            autotopup.queue(self.conn, short, self.now)
        self.publish()

    def publish(self) -> None:
        """The notices gathered so far, into the webhooks outbox (this transaction), then forgotten."""
        if self.notices:
            notices.publish(self.conn, self.notices, self.now)
            self.notices.clear()

    # ---------------------------------------------------------------------------------- helpers
    def _take(
        self, a: AccountState, amount: Decimal, postings: list[Posting], release: Decimal, *, enforce_limit: bool
    ) -> grant_rules.DebitPlan:
        """Draw ``amount`` from the account's grants by priority, the rest on overdraft (its postings
        onto ``postings``); ``release`` ends a reservation it collects."""
        self._settle(a, postings)
        if release:
            a.reserved -= release
        plan = grant_rules.plan_debit(a.grants, a.debt, a.overdraft_limit, amount, self.now, a.set_aside,
                                      enforce_limit=enforce_limit, ordered=True)
        self._draw(a, plan.draws, postings)
        if plan.debt_added:
            a.debt += plan.debt_added
            postings.append(Posting(wallet_account(a.account_id), -plan.debt_added))
        return plan

    def _settle(self, a: AccountState, postings: list[Posting]) -> None:
        if a.debt <= 0:  # nothing owed, the usual case: no plan to make (this runs for every fee)
            return
        plan = grant_rules.plan_settlement(a.grants, a.debt, self.now, ordered=True)
        if not plan.draws:
            return
        self._draw(a, plan.draws, postings)
        a.debt += plan.debt_added
        postings.append(Posting(wallet_account(a.account_id), -plan.debt_added))

    def _draw(self, a: AccountState, draws: tuple[grant_rules.Draw, ...], postings: list[Posting]) -> None:
        a.grants = grant_rules.apply(a.grants, draws)
        for d in draws:
            a.touched.add(d.grant_id)
            postings.append(Posting(wallet_account(a.account_id), -d.amount, d.grant_id))

    def _record(self, a: AccountState, amount: Decimal, txn: dict[str, Any], postings: list[Posting]) -> None:
        check_balanced(postings)
        row = {
            # Every row carries every column: one executemany needs the same keys throughout.
            "reason": None,
            "description": None,
            "metadata": None,
            "request_hash": None,
            "id": txn.get("id") or new_id(TRANSACTION),
            "customer_id": self.customer_id,
            "account_id": a.account_id,
            "asset": a.asset,
            "amount": to_scaled(amount),
            "created_at": self.now,
            "executed_at": self.now,
            **{k: v for k, v in txn.items() if k != "id"},
        }
        self.planned.append(PlannedTransaction(row, postings))
