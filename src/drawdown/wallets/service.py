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
from drawdown.wallets import entitlements
from drawdown.catalog import rates
from drawdown.db.tables import asset_rates, assets, credit_grants, customers, ledger_entries, transactions, wallet_accounts
from drawdown.wallets.books import (
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
        purpose = PURPOSE_BY_REASON.get(body["reason"], grant_rules.PAID)
        asset = books.book(account_id).asset
        if body.get("currency"):
            # Paid in fiat, credited in the asset at the rate in force (Drawdown extension).
            units, found = rates.convert(conn, asset, body["currency"], amount, effective, "currency")
            if units <= 0:
                raise Invalid.field("amount", f"buys no whole {asset} at the rate in force ({plain(found.rate)})")
            amount, basis = units, (found.rate, found.rate, found.source)
        else:
            basis = unit_basis(conn, asset, effective)
        revenue, cost, currency = basis
        books.credit(
            account_id, amount, txn, purpose=purpose,
            effective_at=effective, expires_at=expires, source_type="adjustment",
            basis=(revenue if purpose == grant_rules.PAID else None, cost, currency),
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


def unit_basis(conn: Connection, asset: str, at: datetime) -> tuple[Decimal | None, Decimal | None, str | None]:
    """What one unit of ``asset`` is worth: 1 of itself for fiat, else its rate in force (from its
    first rate source)."""
    row = conn.execute(select(assets.c.is_fiat).where(assets.c.code == asset)).first()
    if row is not None and row.is_fiat:
        return Decimal(1), Decimal(1), asset
    source = conn.execute(
        select(asset_rates.c.source).where(asset_rates.c.asset_code == asset).order_by(asset_rates.c.id).limit(1)
    ).scalar()
    found = rates.rate_in_force(conn, asset, source, at) if source else None
    return (found.rate, found.rate, found.source) if found else (None, None, None)


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
    items = [grant_doc(r, now) for r in rows]
    return items, total


def grant_doc(r: Any, now: datetime) -> dict:
    """A grant as of ``now``: one whose time has come reads as it will once the job records it."""

    def dec(v: int | None) -> Decimal | None:
        return None if v is None else from_scaled(v)

    state, remaining, expired, expired_at = r.state, r.remaining, r.expired_amount, r.expired_at
    if state == "pending" and r.effective_at <= now:
        state = "live"
    if state == "live" and r.expires_at is not None and r.expires_at <= now:
        state, remaining, expired, expired_at = "expired", 0, expired + remaining, r.expires_at
    return {
        "id": r.id,
        "available": from_scaled(remaining) if state == "live" else Decimal(0),
        "amount": from_scaled(r.amount),
        "expired_amount": from_scaled(expired),
        "state": state,
        "effective_at": r.effective_at,
        "expires_at": r.expires_at,
        "expired_at": expired_at,
        "purpose": r.purpose,
        "priority": r.priority,
        "source": {"type": r.source_type, "id": r.source_id},
        "revenue_basis": dec(r.revenue_basis),
        "cost_basis": dec(r.cost_basis),
        "basis_currency": r.basis_currency,
        "created_at": r.created_at,
    }


def get_grant(conn: Connection, customer_id: str, key: str, grant_id: str, now: datetime) -> dict:
    """One grant with its history: every ledger movement of its value (Drawdown extension)."""
    account = _account(conn, customer_id, key)
    row = conn.execute(
        select(credit_grants).where(credit_grants.c.id == grant_id, credit_grants.c.account_id == account.id)
    ).first()
    if row is None:
        raise NotFound(f"wallet account {key} has no grant {grant_id}")
    history = conn.execute(
        select(ledger_entries.c.amount, ledger_entries.c.created_at, transactions.c.transaction_id, transactions.c.type)
        .select_from(ledger_entries.join(transactions, transactions.c.id == ledger_entries.c.transaction_id))
        .where(ledger_entries.c.grant_id == grant_id)
        .order_by(ledger_entries.c.id)
    )
    return {
        **grant_doc(row, now),
        "history": [
            {"transaction_id": h.transaction_id, "type": h.type, "amount": from_scaled(h.amount), "at": h.created_at}
            for h in history
        ],
    }


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
