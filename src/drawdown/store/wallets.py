"""Wallet accounts, grants and the ledger: a unit of work over one database transaction.

``Books`` loads the accounts it touches (after the caller has locked the customer row), plans every
credit and debit in memory with the pure rules of ``core.grants``, and writes the result once at the
end: new grants, changed grants, account debt, transactions and balanced ledger entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, func, insert, select, update

from drawdown.core import grants as rules
from drawdown.core.errors import Invalid, NotFound
from drawdown.core.ids import GRANT, TRANSACTION, new_id
from drawdown.core.ledger import ISSUED, REFUNDS, REVENUE, Posting, check_balanced, system_account, wallet_account
from drawdown.core.money import from_scaled, to_scaled
from drawdown.store.tables import assets, credit_grants, customers, ledger_entries, transactions, wallet_accounts

DEFAULT_ACCOUNT = "default"
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


def load_grants(conn: Connection, account_id: str) -> list[rules.Grant]:
    rows = conn.execute(
        select(credit_grants).where(credit_grants.c.account_id == account_id, credit_grants.c.remaining > 0)
    )
    return [_grant(r) for r in rows]


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
    original_debt: Decimal = ZERO
    original_reserved: Decimal = ZERO
    touched: set[str] = field(default_factory=set)


@dataclass
class PendingTransaction:
    row: dict
    postings: list[Posting]


class Books:
    def __init__(self, conn: Connection, customer_id: str, now: datetime) -> None:
        self.conn = conn
        self.customer_id = customer_id
        self.now = now
        self.books: dict[str, Book] = {}
        self.new_grants: list[dict] = []
        self.pending: list[PendingTransaction] = []

    def book(self, account_id: str) -> Book:
        if account_id not in self.books:
            row = self.conn.execute(select(wallet_accounts).where(wallet_accounts.c.id == account_id)).one()
            debt = from_scaled(row.debt)
            reserved = from_scaled(row.reserved)
            self.books[account_id] = Book(
                account_id=row.id,
                customer_id=row.customer_id,
                name=row.name,
                asset=row.asset,
                debt=debt,
                overdraft_limit=None if row.overdraft_limit is None else from_scaled(row.overdraft_limit),
                grants=load_grants(self.conn, account_id),
                reserved=reserved,
                original_debt=debt,
                original_reserved=reserved,
            )
        return self.books[account_id]

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
    ) -> None:
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
    ) -> str:
        book = self.book(account_id)
        grant_id = new_id(GRANT)
        grant = rules.Grant(grant_id, amount, effective_at, expires_at, self.now, priority, purpose)
        book.grants.append(grant)
        self.new_grants.append(
            {
                "id": grant_id,
                "account_id": account_id,
                "amount": to_scaled(amount),
                "purpose": purpose,
                "priority": priority,
                "effective_at": effective_at,
                "expires_at": expires_at,
                "source_type": source_type,
                "source_id": txn["transaction_id"],
                "created_at": self.now,
            }
        )
        postings = [
            Posting(wallet_account(account_id), amount, grant_id),
            Posting(system_account(ISSUED, book.asset), -amount),
        ]
        self._settle(book, postings)
        self._record(book, amount, txn, postings)
        return grant_id

    def _record(self, book: Book, amount: Decimal, txn: dict, postings: list[Posting]) -> None:
        check_balanced(postings)
        row = {
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

    def flush(self) -> None:
        """Write everything planned, in one go, inside the caller's transaction."""
        conn = self.conn
        if self.new_grants:
            rows = []
            by_id = {g.id: g for b in self.books.values() for g in b.grants}
            for g in self.new_grants:
                rows.append({**g, "remaining": to_scaled(by_id[g["id"]].remaining)})
            conn.execute(insert(credit_grants), rows)
        new_ids = {g["id"] for g in self.new_grants}
        for book in self.books.values():
            by_id = {g.id: g for g in book.grants}
            for gid in book.touched - new_ids:
                conn.execute(
                    update(credit_grants)
                    .where(credit_grants.c.id == gid)
                    .values(remaining=to_scaled(by_id[gid].remaining))
                )
            if book.debt != book.original_debt or book.reserved != book.original_reserved:
                conn.execute(
                    update(wallet_accounts)
                    .where(wallet_accounts.c.id == book.account_id)
                    .values(debt=to_scaled(book.debt), reserved=to_scaled(book.reserved))
                )
                book.original_debt, book.original_reserved = book.debt, book.reserved
            book.touched.clear()
        if self.pending:
            conn.execute(insert(transactions), [p.row for p in self.pending])
            entries = [
                {
                    "transaction_id": p.row["id"],
                    "account": posting.account,
                    "asset": p.row["asset"],
                    "grant_id": posting.grant_id,
                    "amount": to_scaled(posting.amount),
                    "created_at": self.now,
                }
                for p in self.pending
                for posting in p.postings
            ]
            conn.execute(insert(ledger_entries), entries)
        self.new_grants.clear()
        self.pending.clear()


def counter_role_for_debit(kind: str) -> str:
    return REFUNDS if kind == "refund" else REVENUE


def balances(conn: Connection, account_id: str, now: datetime) -> dict[str, Decimal]:
    """available / pending_in / pending_out computed in SQL over exact integers."""
    live = and_(
        credit_grants.c.account_id == account_id,
        credit_grants.c.effective_at <= now,
        (credit_grants.c.expires_at.is_(None)) | (credit_grants.c.expires_at > now),
    )
    live_sum = conn.execute(select(func.coalesce(func.sum(credit_grants.c.remaining), 0)).where(live)).scalar_one()
    pending_sum = conn.execute(
        select(func.coalesce(func.sum(credit_grants.c.remaining), 0)).where(
            credit_grants.c.account_id == account_id, credit_grants.c.effective_at > now
        )
    ).scalar_one()
    account = conn.execute(
        select(wallet_accounts.c.debt, wallet_accounts.c.reserved).where(wallet_accounts.c.id == account_id)
    ).one()
    return {
        "available": from_scaled(int(live_sum) - int(account.debt) - int(account.reserved)),
        "pending_in": from_scaled(int(pending_sum)),
        "pending_out": from_scaled(int(account.reserved)),
    }


def require_asset(conn: Connection, code: str, path: str) -> None:
    if not asset_exists(conn, code):
        raise Invalid.field(path, f"unknown asset {code!r}")
