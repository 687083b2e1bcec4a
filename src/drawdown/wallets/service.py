"""The wallet's use cases: adjustments, charges, balances, grants and transactions.

Every use case takes the caller's scope: the customer is found in it (another scope's answers like an
unknown one), and what hangs off the customer (accounts, grants, transactions) follows from it; an
asset named must exist in the scope too. Writes lock the customer, then look for an earlier request
with the same ``transaction_id`` (per customer, hence per scope): the same request answers as before,
a different one is refused (409). Reads go through the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.catalog import rates
from drawdown.core import grants as grant_rules
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.ledger import REFUNDS, REVENUE
from drawdown.core.money import from_scaled, plain
from drawdown.core.scopes import Scope
from drawdown.wallets import entitlements, repository
from drawdown.wallets.accounts import DEFAULT_ACCOUNT, account_key, parse_account_key
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.models import (
    Adjustment,
    Balance,
    Charge,
    FeeShare,
    GrantFilter,
    GrantHistory,
    GrantView,
    Movement,
    Recorded,
    TransactionView,
)

# Which grant purpose each adjustment reason creates (docs/ledger.md). Only money the platform
# received (an external top-up) is paid value; gifts and other credits are promotional.
PURPOSE_BY_REASON = {"external_topup": grant_rules.PAID, "gift": grant_rules.PROMOTION, "other": grant_rules.PROMOTION}
Basis = tuple[Decimal | None, Decimal | None, str | None]


# ------------------------------------------------------------------------------------- writes
def adjust(
    conn: Connection, scope: Scope, customer_id: str, cmd: Adjustment, now: datetime, default_limit: Decimal | None
) -> Recorded:
    _check(cmd)
    digest = cmd.request_hash()
    prior = _replay(conn, scope, customer_id, cmd.transaction_id, digest, "adjustment")
    if prior is not None:
        return Recorded(prior.transaction_id, prior.created_at)
    account_id, ledger = _open(conn, scope, customer_id, cmd.asset, cmd.account_name, now, default_limit)
    txn = {
        "transaction_id": cmd.transaction_id,
        "type": "adjustment",
        "reason": cmd.reason,
        "description": cmd.description,
        "metadata": cmd.metadata,
        "request_hash": digest,
    }
    if cmd.amount > 0:
        _credit(conn, scope, ledger, account_id, cmd, txn, now)
    else:
        role = REFUNDS if cmd.reason == "external_refund" else REVENUE
        _debit(ledger, account_id, -cmd.amount, role, txn, "amount")
    ledger.flush()
    return Recorded(cmd.transaction_id, now)


def withdraw_grant(
    conn: Connection,
    scope: Scope,
    customer_id: str,
    account: tuple[str, str],
    grant_id: str,
    units: Callable[[Decimal | None], Decimal],
    txn: tuple[str, str],
    now: datetime,
    default_limit: Decimal | None,
) -> Decimal:
    """Take units out of one grant of ``account`` (name, asset), or put them back (negative), as an
    adjustment with reason ``external_refund`` (``txn``: its transaction_id and description), once per
    transaction_id. ``units`` is told what the grant holds now (None once it has expired or is not this
    account's) and answers how many to take; it may refuse by raising. Answers the units moved (a
    replay, or 0 asked: 0)."""
    transaction_id, description = txn
    repository.lock_customer_in(conn, scope.id, customer_id)
    if repository.transaction_by_key(conn, customer_id, transaction_id) is not None:
        return Decimal(0)
    account_id, ledger = _open(conn, scope, customer_id, account[1], account[0], now, default_limit)
    held = ledger.grant(account_id, grant_id)
    left = held.remaining if held is not None and grant_rules.is_live(held, now) else None
    amount = units(left)
    if amount == 0:
        return amount
    row = {"transaction_id": transaction_id, "type": "adjustment", "reason": "external_refund",
           "description": description, "request_hash": transaction_id}
    try:
        ledger.withdraw(account_id, grant_id, amount, REFUNDS, row)
    except ValueError as exc:
        raise Invalid.field("amount", str(exc)) from None
    ledger.flush()
    return amount


def _check(cmd: Adjustment) -> None:
    """What every caller must respect, whichever door it came in by (the API checks the same first)."""
    if cmd.amount == 0:
        raise Invalid.field("amount", "must not be zero")
    if cmd.amount < 0 and (cmd.currency or cmd.effective_at or cmd.expires_at):
        field = "currency" if cmd.currency else "effective_at" if cmd.effective_at else "expires_at"
        raise Invalid.field(field, "applies to credits (positive amounts) only")


def charge(
    conn: Connection, scope: Scope, customer_id: str, cmd: Charge, now: datetime, default_limit: Decimal | None
) -> None:
    digest = cmd.request_hash()
    if _replay(conn, scope, customer_id, cmd.transaction_id, digest, "charge") is not None:
        return
    account_id, ledger = _open(conn, scope, customer_id, cmd.asset, cmd.account_name, now, default_limit)
    txn = {
        "transaction_id": cmd.transaction_id,
        "type": "charge",
        "description": cmd.description,
        "metadata": cmd.metadata,
        "request_hash": digest,
    }
    _debit(ledger, account_id, cmd.amount, REVENUE, txn, "amount")
    ledger.flush()


def set_overdraft_limit(conn: Connection, scope: Scope, customer_id: str, key: str, limit: Decimal | None) -> None:
    repository.lock_customer_in(conn, scope.id, customer_id)
    repository.set_overdraft_limit(conn, _account_row(conn, scope, customer_id, key).id, limit)


def _replay(
    conn: Connection, scope: Scope, customer_id: str, transaction_id: str, digest: str, kind: str
) -> Any | None:
    """Lock the customer, then find an earlier request with this transaction_id (or refuse a changed one)."""
    repository.lock_customer_in(conn, scope.id, customer_id)
    row = repository.transaction_by_key(conn, customer_id, transaction_id)
    if row is not None and (row.type != kind or row.request_hash != digest):
        raise Conflict(f"transaction_id {transaction_id!r} was already used with a different request")
    return row


def _open(
    conn: Connection,
    scope: Scope,
    customer_id: str,
    asset: str,
    name: str | None,
    now: datetime,
    limit: Decimal | None,
) -> tuple[str, Ledger]:
    """The account written to (opened if new) and a ledger with the entitlements due issued first.
    The asset must be the scope's: accounts no longer refer to assets by foreign key (their key is
    per scope), so this check is what keeps another scope's custom asset out."""
    asset = asset.upper()
    if not repository.asset_exists(conn, scope.id, asset):
        raise Invalid.field("asset", f"unknown asset {asset!r}")
    account_id = repository.ensure_account(conn, customer_id, name or DEFAULT_ACCOUNT, asset, now, limit)
    ledger = Ledger(conn, customer_id, now)
    entitlements.refresh(conn, customer_id, now, ledger, limit)
    return account_id, ledger


def _credit(
    conn: Connection,
    scope: Scope,
    ledger: Ledger,
    account_id: str,
    cmd: Adjustment,
    txn: dict[str, Any],
    now: datetime,
) -> None:
    effective = cmd.effective_at or now
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise Invalid.field("expires_at", "must be in the future")
    purpose = PURPOSE_BY_REASON.get(cmd.reason, grant_rules.PAID)
    asset = ledger.account(account_id).asset
    amount = cmd.amount
    basis: Basis
    if cmd.currency:
        # Paid in fiat, credited in the asset at the price given (a top-up's exchange_rate) or else at
        # the rate in force (Drawdown extension); what a unit cost is its revenue basis.
        if cmd.exchange_rate is not None:
            price, source = cmd.exchange_rate, cmd.currency.upper()
            units = rates.units_at(conn, scope, asset, amount, price)
        else:
            units, found = rates.convert(conn, scope, asset, cmd.currency, amount, effective, "currency")
            price, source = found.rate, found.source
        if units <= 0:
            raise Invalid.field("amount", f"buys no whole {asset} at {plain(price)} {source} each")
        amount, basis = units, (price, price, source)
    else:
        basis = unit_basis(conn, scope, asset, effective)
    revenue, cost, currency = basis
    ledger.credit(
        account_id,
        amount,
        txn,
        purpose=purpose,
        effective_at=effective,
        expires_at=cmd.expires_at,
        source_type="adjustment",
        basis=(revenue if purpose == grant_rules.PAID else None, cost, currency),
    )


def _debit(ledger: Ledger, account_id: str, amount: Decimal, role: str, txn: dict[str, Any], path: str) -> None:
    try:
        ledger.debit(account_id, amount, role, txn)
    except grant_rules.InsufficientFunds as exc:
        limit = "unlimited" if exc.overdraft_limit is None else exc.overdraft_limit
        raise Invalid.field(
            path,
            f"insufficient funds: needs {plain(exc.needed)}, available {plain(exc.available)}, overdraft limit {limit}",
        ) from None


def unit_basis(conn: Connection, scope: Scope, asset: str, at: datetime) -> Basis:
    """What one unit of ``asset`` is worth: 1 of itself for fiat, else its rate in force (from its
    first rate source)."""
    if repository.asset_is_fiat(conn, scope.id, asset):
        return Decimal(1), Decimal(1), asset
    source = repository.first_rate_source(conn, scope.id, asset)
    found = rates.rate_in_force(conn, scope, asset, source, at) if source else None
    return (found.rate, found.rate, found.source) if found else (None, None, None)


# -------------------------------------------------------------------------------------- reads
def _customer(conn: Connection, scope: Scope, customer_id: str) -> None:
    if not repository.customer_exists(conn, scope.id, customer_id):
        raise NotFound(f"customer {customer_id} not found")


def _account_row(conn: Connection, scope: Scope, customer_id: str, key: str) -> Any:
    _customer(conn, scope, customer_id)
    name, asset = parse_account_key(key)
    row = repository.account_by_key(conn, customer_id, name, asset)
    if row is None:
        raise NotFound(f"customer {customer_id} has no wallet account {key}")
    return row


def _balance(conn: Connection, row: Any, now: datetime) -> Balance:
    b = repository.balances(conn, row.id, now)
    limit = None if row.overdraft_limit is None else from_scaled(row.overdraft_limit)
    return Balance(
        account_key(row.name, row.asset),
        row.name,
        row.asset,
        b["available"],
        b["pending_in"],
        b["pending_out"],
        limit,
        b["held"],
    )


def wallet(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> list[Balance]:
    _customer(conn, scope, customer_id)
    return [_balance(conn, r, now) for r in repository.customer_accounts(conn, customer_id)]


def balance(conn: Connection, scope: Scope, customer_id: str, key: str, now: datetime) -> Balance:
    return _balance(conn, _account_row(conn, scope, customer_id, key), now)


def grants(
    conn: Connection,
    scope: Scope,
    customer_id: str,
    key: str,
    f: GrantFilter,
    offset: int,
    limit: int,
    now: datetime,
) -> tuple[list[GrantView], int]:
    row = _account_row(conn, scope, customer_id, key)
    rows, total = repository.grants_page(conn, row.id, f, now, offset, limit)
    return [grant_view(r, now) for r in rows], total


def grant_history(
    conn: Connection, scope: Scope, customer_id: str, key: str, grant_id: str, now: datetime
) -> GrantHistory:
    """One grant with every ledger movement of its value (Drawdown extension)."""
    account = _account_row(conn, scope, customer_id, key)
    row = repository.grant(conn, account.id, grant_id)
    if row is None:
        raise NotFound(f"wallet account {key} has no grant {grant_id}")
    moves = [
        Movement(h.transaction_id, h.type, from_scaled(h.amount), h.created_at)
        for h in repository.grant_history(conn, grant_id)
    ]
    return GrantHistory(grant_view(row, now), moves)


def grant_view(r: Any, now: datetime) -> GrantView:
    def dec(v: int | None) -> Decimal | None:
        return None if v is None else from_scaled(v)

    state, remaining, expired, expired_at = r.state, r.remaining, r.expired_amount, r.expired_at
    if state == "pending" and r.effective_at <= now:
        state = "live"
    if state == "live" and r.expires_at is not None and r.expires_at <= now:
        state, remaining, expired, expired_at = "expired", 0, expired + remaining, r.expires_at
    return GrantView(
        id=r.id,
        available=from_scaled(remaining) if state == "live" else Decimal(0),
        amount=from_scaled(r.amount),
        expired_amount=from_scaled(expired),
        state=state,
        effective_at=r.effective_at,
        expires_at=r.expires_at,
        expired_at=expired_at,
        purpose=r.purpose,
        priority=r.priority,
        source_type=r.source_type,
        source_id=r.source_id,
        revenue_basis=dec(r.revenue_basis),
        cost_basis=dec(r.cost_basis),
        basis_currency=r.basis_currency,
        created_at=r.created_at,
    )


def transaction(conn: Connection, scope: Scope, customer_id: str, transaction_id: str) -> TransactionView:
    _customer(conn, scope, customer_id)
    row = repository.transaction(conn, customer_id, transaction_id)
    if row is None:
        return _fee_as_transaction(conn, customer_id, transaction_id)
    taken = None
    if row.type == "usage":
        taken = tuple(FeeShare(f.id, f.event_id, -from_scaled(f.amount))
                      for f in repository.fees_taken(conn, customer_id, row.transaction_id))
    return TransactionView(
        transaction_id=row.transaction_id,
        # The API knows adjustments and fees: a charge, and many fees booked together, are fees.
        type="fee" if row.type in ("charge", "usage") else row.type,
        account_key=account_key(row.name, row.asset),
        asset=row.asset,
        amount=from_scaled(row.amount),
        description=row.description,
        metadata=row.metadata,
        created_at=row.created_at,
        executed_at=row.executed_at,
        fees=taken,
    )


def _fee_as_transaction(conn: Connection, customer_id: str, fee_id: str) -> TransactionView:
    """A real-time fee read as the transaction it was in Credyt's model: its value left the wallet in
    its account's ``usage`` transaction of the commit, together with the other fees of that commit
    (``wallets.ledger.Ledger.spend``), and the fee itself says how much of it was this fee's."""
    fee = repository.real_time_fee(conn, customer_id, fee_id)
    if fee is None:
        raise NotFound(f"customer {customer_id} has no transaction {fee_id}")
    return TransactionView(
        transaction_id=fee.id,
        type="fee",
        account_key=account_key(fee.name, fee.asset),
        asset=fee.asset,
        amount=-from_scaled(fee.amount),
        description=fee.price_name,
        metadata=None,
        created_at=fee.created_at,
        executed_at=fee.created_at,
        booked_in=fee.charge_id,
    )
