"""The wallet operations of the API: adjustments, charges, balances, grants and transactions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from drawdown.codec import fingerprint
from drawdown.core import grants as grant_rules
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.ledger import REFUNDS, REVENUE
from drawdown.core.money import from_scaled, plain, to_scaled
from drawdown.store import entitlements
from drawdown.store.tables import credit_grants, customers, transactions, wallet_accounts
from drawdown.store.wallets import (
    DEFAULT_ACCOUNT,
    Books,
    account_key,
    balances,
    ensure_account,
    lock_customer,
    parse_account_key,
    require_asset,
)

# Which grant purpose each adjustment reason creates (docs/ledger.md). Only money the platform
# received (an external top-up) is paid value; gifts and other credits are promotional.
PURPOSE_BY_REASON = {"external_topup": grant_rules.PAID, "gift": grant_rules.PROMOTION, "other": grant_rules.PROMOTION}


def _replay(conn: Connection, customer_id: str, transaction_id: str, digest: str, kind: str) -> Any | None:
    row = conn.execute(
        select(transactions).where(transactions.c.customer_id == customer_id, transactions.c.transaction_id == transaction_id)
    ).first()
    if row is None:
        return None
    if row.type != kind or row.request_hash != digest:
        raise Conflict(f"transaction_id {transaction_id!r} was already used with a different request")
    return row


def _begin(conn: Connection, customer_id: str, body: dict[str, Any], kind: str) -> tuple[str, Any | None]:
    """Lock the customer, then find an earlier request with this transaction_id (or refuse a changed one)."""
    lock_customer(conn, customer_id)
    digest = fingerprint(body)
    return digest, _replay(conn, customer_id, body["transaction_id"], digest, kind)


def _open_account(
    conn: Connection, customer_id: str, body: dict[str, Any], now: datetime, overdraft_limit: Decimal | None
) -> tuple[str, Books]:
    asset = body["asset"].upper()
    require_asset(conn, asset, "asset")
    account_id = ensure_account(conn, customer_id, body.get("account_name") or DEFAULT_ACCOUNT, asset, now, overdraft_limit)
    books = Books(conn, customer_id, now)
    entitlements.refresh(conn, customer_id, now, books, overdraft_limit)
    return account_id, books


def _debit(books: Books, account_id: str, amount: Decimal, role: str, txn: dict, path: str) -> None:
    try:
        books.debit(account_id, amount, role, txn)
    except grant_rules.InsufficientFunds as exc:
        limit = "unlimited" if exc.overdraft_limit is None else exc.overdraft_limit
        raise Invalid.field(path, f"insufficient funds: needs {plain(exc.needed)}, available {plain(exc.available)}, overdraft limit {limit}") from None


def create_adjustment(
    conn: Connection, customer_id: str, body: dict[str, Any], now: datetime, overdraft_limit: Decimal | None
) -> dict:
    digest, prior = _begin(conn, customer_id, body, "adjustment")
    if prior is not None:
        return {"id": prior.transaction_id, "created_at": prior.created_at}
    account_id, books = _open_account(conn, customer_id, body, now, overdraft_limit)
    txn = {
        "transaction_id": body["transaction_id"],
        "type": "adjustment",
        "reason": body["reason"],
        "description": body.get("description"),
        "metadata": body.get("metadata"),
        "request_hash": digest,
    }
    amount: Decimal = body["amount"]
    if amount > 0:
        effective = body.get("effective_at") or now
        expires = body.get("expires_at")
        if expires is not None and expires <= now:
            raise Invalid.field("expires_at", "must be in the future")
        books.credit(
            account_id, amount, txn, purpose=PURPOSE_BY_REASON.get(body["reason"], grant_rules.PAID),
            effective_at=effective, expires_at=expires, source_type="adjustment",
        )
    else:
        role = REFUNDS if body["reason"] == "external_refund" else REVENUE
        _debit(books, account_id, -amount, role, txn, "amount")
    books.flush()
    return {"id": body["transaction_id"], "created_at": now}


def create_charge(
    conn: Connection, customer_id: str, body: dict[str, Any], now: datetime, overdraft_limit: Decimal | None
) -> dict:
    digest, prior = _begin(conn, customer_id, body, "charge")
    if prior is not None:
        return {}
    account_id, books = _open_account(conn, customer_id, body, now, overdraft_limit)
    txn = {
        "transaction_id": body["transaction_id"],
        "type": "charge",
        "description": body.get("description"),
        "metadata": body.get("metadata"),
        "request_hash": digest,
    }
    _debit(books, account_id, body["amount"], REVENUE, txn, "amount")
    books.flush()
    return {}


def _customer_exists(conn: Connection, customer_id: str) -> None:
    if conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first() is None:
        raise NotFound(f"customer {customer_id} not found")


def get_wallet(conn: Connection, customer_id: str, now: datetime) -> dict:
    _customer_exists(conn, customer_id)
    rows = conn.execute(
        select(wallet_accounts).where(wallet_accounts.c.customer_id == customer_id).order_by(wallet_accounts.c.name, wallet_accounts.c.asset)
    ).all()
    return {
        "accounts": [
            {"id": account_key(r.name, r.asset), "name": r.name, "asset": r.asset, "available": balances(conn, r.id, now)["available"]}
            for r in rows
        ]
    }


def _account(conn: Connection, customer_id: str, key: str) -> Any:
    _customer_exists(conn, customer_id)
    name, asset = parse_account_key(key)
    row = conn.execute(
        select(wallet_accounts).where(
            wallet_accounts.c.customer_id == customer_id, wallet_accounts.c.name == name, wallet_accounts.c.asset == asset
        )
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} has no wallet account {key}")
    return row


def get_account(conn: Connection, customer_id: str, key: str, now: datetime) -> dict:
    row = _account(conn, customer_id, key)
    return {
        "id": account_key(row.name, row.asset),
        "name": row.name,
        "asset": row.asset,
        **balances(conn, row.id, now),
        "overdraft_limit": None if row.overdraft_limit is None else from_scaled(row.overdraft_limit),
    }


def set_overdraft_limit(conn: Connection, customer_id: str, key: str, limit: Decimal | None) -> None:
    lock_customer(conn, customer_id)
    row = _account(conn, customer_id, key)
    conn.execute(
        update(wallet_accounts)
        .where(wallet_accounts.c.id == row.id)
        .values(overdraft_limit=None if limit is None else to_scaled(limit))
    )


def list_grants(conn: Connection, customer_id: str, key: str, offset: int, limit: int, f: dict, now: datetime) -> tuple[list[dict], int]:
    row = _account(conn, customer_id, key)
    g = credit_grants.c
    conds = [g.account_id == row.id]
    if f.get("purpose"):
        conds.append(g.purpose == f["purpose"])
    if f.get("exclude_expired"):
        conds.append(g.expires_at.is_(None) | (g.expires_at > now))
    if f.get("effective_from"):
        conds.append(g.effective_at >= f["effective_from"])
    if f.get("effective_to"):
        conds.append(g.effective_at <= f["effective_to"])
    if f.get("expired_from"):
        conds.append(g.expires_at >= f["expired_from"])
    if f.get("expired_to"):
        conds.append(g.expires_at <= f["expired_to"])
    total = conn.execute(select(func.count()).select_from(credit_grants).where(*conds)).scalar_one()
    rows = conn.execute(select(credit_grants).where(*conds).order_by(g.created_at, g.id).offset(offset).limit(limit))
    items = [
        {
            "id": r.id,
            "available": from_scaled(r.remaining),
            "amount": from_scaled(r.amount),
            "effective_at": r.effective_at,
            "expires_at": r.expires_at,
            "purpose": r.purpose,
            "priority": r.priority,
            "created_at": r.created_at,
        }
        for r in rows
    ]
    return items, total


def get_transaction(conn: Connection, customer_id: str, transaction_id: str) -> dict:
    _customer_exists(conn, customer_id)
    row = conn.execute(
        select(transactions, wallet_accounts.c.name)
        .select_from(transactions.join(wallet_accounts))
        .where(transactions.c.customer_id == customer_id, transactions.c.transaction_id == transaction_id)
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} has no transaction {transaction_id}")
    return {
        "id": row.transaction_id,
        "type": "fee" if row.type == "charge" else row.type,
        "account_id": account_key(row.name, row.asset),
        "asset": row.asset,
        "amount": from_scaled(row.amount),
        "description": row.description,
        "metadata": row.metadata,
        "created_at": row.created_at,
        "executed_at": row.executed_at,
    }
