"""Wallet accounts, grants and the ledger: a unit of work over one database transaction.

``Books`` loads the accounts it touches (after the caller has locked the customer row), plans every
credit and debit in memory with the pure rules of ``core.grants``, and writes the result once at the
end: new grants, changed grants, account debt, transactions and balanced ledger entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, select, update

from drawdown.core import grants as rules
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.ids import GRANT, TRANSACTION, new_id
from drawdown.core.ledger import EXPIRED, ISSUED, Posting, check_balanced, system_account, wallet_account
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.db.tables import assets, credit_grants, customers, ledger_entries, transactions, wallet_accounts
from drawdown.db.rows import (
    ACCOUNT_CHANGES,
    ACCOUNTS,
    ENTRIES,
    EXPIRIES,
    GRANT_CHANGES,
    GRANT_DEPENDENTS,
    GRANTS,
    TRANSACTIONS,
    Writes,
)

DEFAULT_ACCOUNT = "default"
PENDING, LIVE, GONE = "pending", "live", "expired"  # grant states
ZERO = Decimal(0)


def account_key(name: str, asset: str) -> str:
    return f"{name}:{asset}"


def parse_account_key(value: str) -> tuple[str, str]:
    name, sep, asset = value.partition(":")
    if not sep or not name or not asset:
        raise NotFound(f"no wallet account {value!r}; account ids look like 'default:USD'")
    return name, asset.upper()


def lock_customer(conn: Connection, customer_id: str) -> None:
    """Serialise wallet writes per customer (PostgreSQL row lock; SQLite holds the write lock already)."""
    row = conn.execute(select(customers.c.id).where(customers.c.id == customer_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found")


def subscriptions_changed(conn: Connection, customer_id: str) -> None:
    """Every write to a customer's subscriptions calls this: it moves the revision the event hot path
    keys its caches on (see usage.pipeline)."""
    conn.execute(update(customers).where(customers.c.id == customer_id).values(revision=customers.c.revision + 1))


def asset_exists(conn: Connection, code: str) -> bool:
    return conn.execute(select(assets.c.code).where(assets.c.code == code)).first() is not None


def ensure_account(
    conn: Connection, customer_id: str, name: str, asset: str, now: datetime, overdraft_limit: Decimal | None
) -> str:
    """The account's id, creating it if needed (idempotent; the caller holds the customer lock)."""
    row = conn.execute(
        select(wallet_accounts.c.id).where(
            wallet_accounts.c.customer_id == customer_id,
            wallet_accounts.c.name == name,
            wallet_accounts.c.asset == asset,
        )
    ).first()
    if row:
        return row.id
    account_id = new_id("wac")
    conn.execute(
        insert(wallet_accounts).values(
            id=account_id,
            customer_id=customer_id,
            name=name,
            asset=asset,
            debt=0,
            overdraft_limit=None if overdraft_limit is None else to_scaled(overdraft_limit),
            created_at=now,
        )
    )
    return account_id


def _grant(row) -> rules.Grant:  # noqa: ANN001
    return rules.Grant(
        id=row.id,
        remaining=from_scaled(row.remaining),
        effective_at=row.effective_at,
        expires_at=row.expires_at,
        created_at=row.created_at,
        priority=row.priority,
        purpose=row.purpose,
    )


_g = credit_grants.c
# Grants that can still change: pending ones, live ones with value left, and used-up ones whose
# expiry has come (to be marked expired). Built once: the hot path runs it for every group.
_LOAD_GRANTS = select(credit_grants).where(
    _g.account_id.in_(bindparam("accounts", expanding=True)),
    (_g.state == PENDING) | ((_g.state == LIVE) & ((_g.remaining > 0) | (_g.expires_at <= bindparam("now")))),
)
_UPDATE_GRANT = (
    update(credit_grants).where(_g.id == bindparam("b_id")).values(remaining=bindparam("b_remaining"), state=bindparam("b_state"))
)
_EXPIRE_GRANT = (
    update(credit_grants)
    .where(_g.id == bindparam("b_id"))
    .values(remaining=0, state=GONE, expired_amount=bindparam("b_amount"), expired_at=bindparam("b_at"))
)
_inserts: dict[Any, Any] = {}
_INSERT_GRANT = insert(credit_grants)
_INSERT_ACCOUNT = insert(wallet_accounts)
_INSERT_TRANSACTION = insert(transactions)
_INSERT_ENTRY = insert(ledger_entries)
_UPDATE_ACCOUNT = (
    update(wallet_accounts)
    .where(wallet_accounts.c.id == bindparam("b_id"))
    .values(debt=bindparam("b_debt"), reserved=bindparam("b_reserved"), live_total=bindparam("b_live"),
            pending_total=bindparam("b_pending"))
)


def load_grants(conn: Connection, account_ids: list[str], now: datetime) -> list[Any]:
    return conn.execute(_LOAD_GRANTS, {"accounts": account_ids, "now": now}).all()


@dataclass
class Book:
    account_id: str
    customer_id: str
    name: str
    asset: str
    debt: Decimal
    overdraft_limit: Decimal | None
    grants: list[rules.Grant]
    reserved: Decimal = ZERO
    touched: set[str] = field(default_factory=set)
    stored_pending: set[str] = field(default_factory=set)
    created: bool = False  # opened in this unit of work: inserted at flush
    stored: tuple[int, int, int, int] = (0, 0, 0, 0)  # debt, reserved, live and pending totals as last written


@dataclass
class PendingTransaction:
    row: dict
    postings: list[Posting]


@dataclass
class Mark:
    """Where a unit of work stood, so that a refused request can be taken back (see ``undo``)."""

    sizes: tuple[int, int, int]
    books: dict[str, tuple[list[rules.Grant], Decimal, Decimal, set[str]]]


class Books:
    """Every change to a customer's wallet inside one transaction (the caller holds the customer lock).

    Time moves grants along at ``flush``: a pending grant whose ``effective_at`` has come becomes live,
    and a live grant whose ``expires_at`` has come is written off (an ``expiry`` transaction moves its
    remainder to ``system:expired``), so it stays listed, with its history, after expiry.
    """

    def __init__(self, conn: Connection, customer_id: str, now: datetime) -> None:
        self.conn = conn
        self.customer_id = customer_id
        self.now = now
        self.books: dict[str, Book] = {}
        self.new_grants: list[dict] = []
        self.pending: list[PendingTransaction] = []
        self.expired: dict[str, Decimal] = {}
        self.dependents: list[tuple[Any, dict]] = []
        # grant id -> (purpose, revenue basis, basis currency): what value drawn from it earns.
        self.meta: dict[str, tuple[str, Decimal | None, str | None]] = {}

    def after_grants(self, table: Any, row: dict) -> None:
        """A row that refers to a grant planned here: written at flush, after the grants."""
        self.dependents.append((table, row))

    def adopt(self, row: Any, grant_rows: list[Any]) -> Book:
        """Take an account (and its changeable grants) already read by the caller, e.g. for a whole
        group of customers in one query."""
        for r in grant_rows:
            self.meta[r.id] = (r.purpose, None if r.revenue_basis is None else from_scaled(r.revenue_basis), r.basis_currency)
        book = self.books[row.id] = Book(
            account_id=row.id,
            customer_id=row.customer_id,
            name=row.name,
            asset=row.asset,
            debt=from_scaled(row.debt),
            overdraft_limit=None if row.overdraft_limit is None else from_scaled(row.overdraft_limit),
            grants=[_grant(r) for r in grant_rows],
            reserved=from_scaled(row.reserved),
            stored_pending={r.id for r in grant_rows if r.state == PENDING},
            stored=(row.debt, row.reserved, row.live_total, row.pending_total),
        )
        return book

    def book(self, account_id: str) -> Book:
        if account_id not in self.books:
            row = self.conn.execute(select(wallet_accounts).where(wallet_accounts.c.id == account_id)).one()
            self.adopt(row, load_grants(self.conn, [account_id], self.now))
        return self.books[account_id]

    def find(self, name: str, asset: str) -> str | None:
        """The id of an account already in these books."""
        return next((b.account_id for b in self.books.values() if b.name == name and b.asset == asset), None)

    def open_account(self, name: str, asset: str, overdraft_limit: Decimal | None) -> str:
        """A new, empty account, written at flush (the caller knows it does not exist yet)."""
        account_id = new_id("wac")
        self.books[account_id] = Book(account_id, self.customer_id, name, asset, ZERO, overdraft_limit, [], created=True)
        return account_id

    def mark(self) -> Mark:
        return Mark(
            (len(self.new_grants), len(self.pending), len(self.dependents)),
            {aid: (list(b.grants), b.debt, b.reserved, set(b.touched)) for aid, b in self.books.items()},
        )

    def undo(self, mark: Mark) -> None:
        """Forget everything planned since ``mark`` (nothing has been written yet)."""
        grants, pending, dependents = mark.sizes
        del self.new_grants[grants:], self.pending[pending:], self.dependents[dependents:]
        for account_id in list(self.books):
            if account_id not in mark.books:
                # Loaded (or opened) after the mark: reloaded from the database when needed again.
                del self.books[account_id]
                continue
            book = self.books[account_id]
            book.grants, book.debt, book.reserved, book.touched = mark.books[account_id]

    def grant(self, account_id: str, grant_id: str) -> rules.Grant | None:
        return next((g for g in self.book(account_id).grants if g.id == grant_id), None)

    def _settle(self, book: Book, postings: list[Posting]) -> None:
        plan = rules.plan_settlement(book.grants, book.debt, self.now)
        if not plan.draws:
            return
        self._draw(book, plan.draws, postings)
        book.debt += plan.debt_added
        postings.append(Posting(wallet_account(book.account_id), -plan.debt_added))

    def _draw(self, book: Book, draws: tuple[rules.Draw, ...], postings: list[Posting]) -> None:
        book.grants = rules.apply(book.grants, draws)
        for d in draws:
            book.touched.add(d.grant_id)
            postings.append(Posting(wallet_account(book.account_id), -d.amount, d.grant_id))

    def can_spend(self, account_id: str, amount: Decimal) -> bool:
        book = self.book(account_id)
        try:
            rules.check_limit(book.grants, book.debt, book.reserved, book.overdraft_limit, amount, self.now)
        except rules.InsufficientFunds:
            return False
        return True

    def reserve(self, account_id: str, amount: Decimal) -> None:
        """Hold ``amount`` for a fee charged later (recurring usage); raises InsufficientFunds."""
        book = self.book(account_id)
        rules.check_limit(book.grants, book.debt, book.reserved, book.overdraft_limit, amount, self.now)
        book.reserved += amount

    def debit(
        self, account_id: str, amount: Decimal, counter_role: str, txn: dict, *, release: Decimal = ZERO
    ) -> rules.DebitPlan:
        """Draw ``amount``; raises core.grants.InsufficientFunds before changing anything.

        ``release`` collects value reserved earlier: the reservation ends and the limit is not
        checked again for it.
        """
        book = self.book(account_id)
        postings: list[Posting] = []
        self._settle(book, postings)
        if release:
            book.reserved -= release
        plan = rules.plan_debit(
            book.grants, book.debt, book.overdraft_limit, amount, self.now, book.reserved, enforce_limit=not release
        )
        self._draw(book, plan.draws, postings)
        if plan.debt_added:
            book.debt += plan.debt_added
            postings.append(Posting(wallet_account(account_id), -plan.debt_added))
        postings.append(Posting(system_account(counter_role, book.asset), amount))
        self._record(book, -amount, txn, postings)
        return plan

    def credit(
        self,
        account_id: str,
        amount: Decimal,
        txn: dict,
        *,
        purpose: str,
        effective_at: datetime,
        expires_at: datetime | None,
        source_type: str,
        priority: int = rules.DEFAULT_PRIORITY,
        basis: tuple[Decimal | None, Decimal | None, str | None] = (None, None, None),
        carry_from: str | None = None,
    ) -> str:
        """A new grant of ``amount`` (plus, for a rollover, the remainder of grant ``carry_from``)."""
        book = self.book(account_id)
        postings = [Posting(system_account(ISSUED, book.asset), -amount)]
        carried = ZERO
        grant_id = new_id(GRANT)
        if carry_from is not None:
            old = self.grant(account_id, carry_from)
            carried = old.remaining if old is not None else ZERO
            if carried:
                # The rollover is its own transaction: value moves between grants, nothing is spent.
                moved: list[Posting] = []
                self._draw(book, (rules.Draw(carry_from, carried),), moved)
                moved.append(Posting(wallet_account(account_id), carried, grant_id))
                self._record(book, ZERO, {"transaction_id": f"rollover:{carry_from}", "type": "rollover",
                                          "description": "Unused entitlement carried into the new period"}, moved)
        total = amount + carried
        book.grants.append(rules.Grant(grant_id, total, effective_at, expires_at, self.now, priority, purpose))
        revenue, cost, currency = basis
        self.meta[grant_id] = (purpose, revenue, currency)
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
        self._settle(book, postings)
        self._record(book, amount, txn, postings)
        return grant_id

    def _record(self, book: Book, amount: Decimal, txn: dict, postings: list[Posting]) -> None:
        check_balanced(postings)
        row = {
            # Every row carries every column: one executemany needs the same keys throughout.
            "reason": None,
            "description": None,
            "metadata": None,
            "request_hash": None,
            "id": txn.get("id") or new_id(TRANSACTION),
            "customer_id": self.customer_id,
            "account_id": book.account_id,
            "asset": book.asset,
            "amount": to_scaled(amount),
            "created_at": self.now,
            "executed_at": self.now,
            **{k: v for k, v in txn.items() if k != "id"},
        }
        self.pending.append(PendingTransaction(row, postings))

    def _pass_time(self, book: Book) -> None:
        """Write off what has expired (an expiry transaction per grant with value left)."""
        keep = []
        for g in book.grants:
            if g.expires_at is not None and g.expires_at <= self.now:
                self.expired[g.id] = g.remaining
                if g.remaining > 0:
                    postings = [
                        Posting(wallet_account(book.account_id), -g.remaining, g.id),
                        Posting(system_account(EXPIRED, book.asset), g.remaining),
                    ]
                    # Booked at the moment of expiry, whenever the write-off is recorded.
                    self._record(book, -g.remaining, {"transaction_id": f"expiry:{g.id}", "type": "expiry",
                                                      "description": "Credit grant expired", "created_at": g.expires_at,
                                                      "executed_at": g.expires_at}, postings)
                continue
            keep.append(g)
        book.grants = keep

    def flush(self) -> None:
        """Write everything planned, in one go, inside the caller's transaction."""
        writes = Writes()
        self.collect(writes)
        writes.execute(self.conn)

    def collect(self, writes: Writes) -> None:
        """Hand every row planned here to ``writes`` (for the caller to execute, possibly together
        with other customers' rows)."""
        for book in self.books.values():
            self._pass_time(book)
        final = {g.id: g for b in self.books.values() for g in b.grants}
        for g in self.new_grants:
            remaining = final[g["id"]].remaining if g["id"] in final else ZERO
            state = GONE if g["id"] in self.expired else PENDING if g["effective_at"] > self.now else LIVE
            writes.add(GRANTS, _INSERT_GRANT, {**g, "remaining": to_scaled(remaining), "state": state,
                                               "expired_amount": to_scaled(self.expired.get(g["id"], ZERO)),
                                               "expired_at": self.now if g["id"] in self.expired else None})
        for table, row in self.dependents:
            writes.add(GRANT_DEPENDENTS, _inserts.setdefault(table, insert(table)), row)
        self.dependents.clear()
        new_ids = {g["id"] for g in self.new_grants}
        for book in self.books.values():
            # Pending grants whose time has come are rewritten as live.
            changed = (book.touched | {g.id for g in book.grants if g.id in book.stored_pending and g.effective_at <= self.now}) - new_ids
            for gid in changed - set(self.expired):
                g = final[gid]
                writes.add(GRANT_CHANGES, _UPDATE_GRANT,
                           {"b_id": gid, "b_remaining": to_scaled(g.remaining), "b_state": PENDING if g.effective_at > self.now else LIVE})
            book.stored_pending = {g.id for g in book.grants if g.effective_at > self.now}
            book.touched.clear()
            live = sum((g.remaining for g in book.grants if g.effective_at <= self.now), ZERO)
            pending = sum((g.remaining for g in book.grants if g.effective_at > self.now), ZERO)
            totals = {"debt": to_scaled(book.debt), "reserved": to_scaled(book.reserved), "live_total": to_scaled(live),
                      "pending_total": to_scaled(pending)}
            unchanged = book.stored == tuple(totals.values())
            book.stored = tuple(totals.values())  # type: ignore[assignment]
            if book.created:
                writes.add(ACCOUNTS, _INSERT_ACCOUNT, {
                    "id": book.account_id, "customer_id": book.customer_id, "name": book.name, "asset": book.asset,
                    "overdraft_limit": None if book.overdraft_limit is None else to_scaled(book.overdraft_limit),
                    "created_at": self.now, **totals})
                book.created = False
            elif not unchanged:
                writes.add(ACCOUNT_CHANGES, _UPDATE_ACCOUNT, {
                    "b_id": book.account_id, "b_debt": totals["debt"], "b_reserved": totals["reserved"],
                    "b_live": totals["live_total"], "b_pending": totals["pending_total"]})
        for gid, amount in self.expired.items():
            if gid not in new_ids:
                writes.add(EXPIRIES, _EXPIRE_GRANT, {"b_id": gid, "b_amount": to_scaled(amount), "b_at": self.now})
        for p in self.pending:
            writes.add(TRANSACTIONS, _INSERT_TRANSACTION, p.row)
            for posting in p.postings:
                writes.add(ENTRIES, _INSERT_ENTRY, {
                    "transaction_id": p.row["id"], "account": posting.account, "asset": p.row["asset"],
                    "grant_id": posting.grant_id, "amount": to_scaled(posting.amount), "created_at": p.row["created_at"]})
        self.new_grants.clear()
        self.pending.clear()
        self.expired.clear()


def balances(conn: Connection, account_id: str, now: datetime) -> dict[str, Decimal]:
    """available / pending_in / pending_out from the maintained totals, corrected only by the grants
    whose effective or expiry time has passed since the account was last written (an indexed look
    at due grants, never a scan of history)."""
    account = conn.execute(select(wallet_accounts).where(wallet_accounts.c.id == account_id)).one()
    g = credit_grants.c
    expired_since = conn.execute(
        select(func.coalesce(func.sum(g.remaining), 0)).where(
            g.account_id == account_id, g.state == LIVE, g.expires_at <= now
        )
    ).scalar_one()
    due = conn.execute(
        select(
            func.coalesce(func.sum(g.remaining), 0).label("all"),
            func.coalesce(func.sum(case(((g.expires_at.is_(None)) | (g.expires_at > now), g.remaining), else_=0)), 0).label("live"),
        ).where(g.account_id == account_id, g.state == PENDING, g.effective_at <= now)
    ).one()
    live = int(account.live_total) - int(expired_since) + int(due.live)
    return {
        "available": from_scaled(live - int(account.debt) - int(account.reserved)),
        "pending_in": from_scaled(int(account.pending_total) - int(due.all)),
        "pending_out": from_scaled(int(account.reserved)),
    }


def require_asset(conn: Connection, code: str, path: str) -> None:
    if not asset_exists(conn, code):
        raise Invalid.field(path, f"unknown asset {code!r}")


def accounts_due(conn: Connection, now: datetime, customer_id: str | None = None) -> set[tuple[str, str]]:
    """(customer, account) pairs with a grant whose effective or expiry time has passed unrecorded."""
    g = credit_grants.c
    due = ((g.state == LIVE) & (g.expires_at <= now)) | ((g.state == PENDING) & (g.effective_at <= now))
    q = select(wallet_accounts.c.customer_id, g.account_id).select_from(credit_grants.join(wallet_accounts)).where(due).distinct()
    if customer_id is not None:
        q = q.where(wallet_accounts.c.customer_id == customer_id)
    return {(r.customer_id, r.account_id) for r in conn.execute(q)}
