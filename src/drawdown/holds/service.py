"""The holds room's use cases.

Writes (``place``, ``release``, and the settlement of a fee) run inside the usage pipeline, so a hold
goes through the same batching writer and the same customer lock as the events that settle it: they
take the group's ``HoldBook`` and the customer's ``Ledger`` (whose accounts count ``held`` in every
limit check, so no other spending path can take what a hold set aside). What an estimate costs is
priced by the pipeline (``usage.holding``) and handed in. Reads (``list_holds``, ``get_hold``) and the
job's ``expire_due`` take a connection.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.core import holds as rules
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.grants import available
from drawdown.core.ids import new_id
from drawdown.core.money import from_scaled
from drawdown.core.scopes import Scope
from drawdown.holds import repository
from drawdown.holds.book import HoldBook, HoldState, state_from_row
from drawdown.holds.models import Check, HoldView, InsufficientFunds, PlaceHold, Settlement
from drawdown.wallets import repository as wallet_sql
from drawdown.wallets.accounts import parse_account_key
from drawdown.wallets.ledger import Ledger

HOLD = "hld"


# ------------------------------------------------------------------------------------- writes
def replayed(book: HoldBook, customer_id: str, cmd: PlaceHold) -> HoldView | None:
    """The hold an earlier request with this ``hold_id`` made (None: none); a different body is refused."""
    if cmd.dry_run:
        return None
    found = book.find(customer_id, cmd.hold_id)
    if found is None:
        return None
    if found.request_hash != cmd.digest:
        raise Conflict(f"hold_id {cmd.hold_id!r} was already used with a different request")
    return _view_in(book, found)


def place(
    book: HoldBook, ledger: Ledger, scope_id: int, account_id: str, cmd: PlaceHold, amount: Decimal
) -> HoldView | Check:
    """Set ``amount`` aside on the account (or, for a dry run, say whether it could be)."""
    now, field = book.now, "amount" if cmd.amount is not None else "estimate"
    if amount < 0 or (amount == 0 and not cmd.dry_run):
        raise Invalid.field(field, "must be more than zero" if field == "amount" else "prices to nothing here")
    try:
        expires_at = rules.expiry(now, cmd.expires_at, cmd.ttl_seconds)
    except rules.BadExpiry as exc:
        raise Invalid.field(exc.field, str(exc)) from None
    a = ledger.account(account_id)
    short = rules.missing(amount, available(a.grants, a.debt, now) - a.set_aside, a.overdraft_limit)
    if cmd.dry_run:
        return Check(f"{a.name}:{a.asset}", a.asset, amount, short == 0, short)
    if short:
        raise InsufficientFunds(field, amount, short)
    ledger.hold(account_id, amount)
    state = HoldState(
        row_id=new_id(HOLD),
        scope_id=scope_id,
        customer_id=ledger.customer_id,
        account_id=account_id,
        account=f"{a.name}:{a.asset}",
        asset=a.asset,
        hold_id=cmd.hold_id,
        status=rules.ACTIVE,
        amount=amount,
        settled=Decimal(0),
        released=Decimal(0),
        expires_at=expires_at,
        closed_at=None,
        request_hash=cmd.digest,
        doc={
            "description": cmd.description,
            "metadata": cmd.metadata,
            "estimate": None if cmd.estimate is None else {"event_type": cmd.estimate.event_type,
                                                           "data": cmd.estimate.data},
            "created_at": now,
        },
    )
    book.add(state)
    return view(state, now, [])


def release(book: HoldBook, ledger: Ledger, account_id: str, hold_id: str) -> HoldView:
    """Close the hold, giving back what it still holds. A closed hold is answered as it is: releasing
    twice gives back nothing more."""
    now = book.now
    found = book.find(ledger.customer_id, hold_id)
    if found is None or found.account_id != account_id:
        raise NotFound(f"no hold {hold_id!r} on this account")
    if found.status == rules.ACTIVE:
        if found.is_open(now):
            ledger.unhold(account_id, book.close(found, rules.RELEASED, now))
        else:  # expired already: it stopped holding at its expiry (the ledger never counted it)
            book.close(found, rules.EXPIRED, found.expires_at)
    return _view_in(book, found)


def settle(book: HoldBook, ledger: Ledger, hold: HoldState, fee_id: str, event_id: str, fee: Decimal) -> None:
    """A fee of an event naming ``hold`` (open, in the fee's account): what the hold pays of it stops
    being held; the caller debits (or reserves) the whole fee next, its limit already checked."""
    ledger.unhold(hold.account_id, book.settle(hold, fee_id, event_id, fee))


def expire_due(conn: Connection, customer_id: str, now: datetime) -> int:
    """The job: close the customer's holds past their expiry (the caller holds the customer lock)."""
    return repository.expire_due(conn, customer_id, now)


# -------------------------------------------------------------------------------------- reads
def _account_id(conn: Connection, scope: Scope, customer_id: str, key: str) -> str:
    if not wallet_sql.customer_exists(conn, scope.id, customer_id):
        raise NotFound(f"customer {customer_id} not found")
    name, asset = parse_account_key(key)
    row = wallet_sql.account_by_key(conn, customer_id, name, asset)
    if row is None:
        raise NotFound(f"customer {customer_id} has no wallet account {key}")
    return str(row.id)


def list_holds(
    conn: Connection, scope: Scope, customer_id: str, key: str, offset: int, limit: int, now: datetime
) -> tuple[list[HoldView], int]:
    rows, total = repository.page(conn, customer_id, _account_id(conn, scope, customer_id, key), offset, limit)
    settled = repository.settlements_of(conn, [r.id for r in rows])
    return [view(state_from_row(r), now, _settlements(settled[r.id])) for r in rows], total


def get_hold(conn: Connection, scope: Scope, customer_id: str, key: str, hold_id: str, now: datetime) -> HoldView:
    row = repository.one(conn, customer_id, _account_id(conn, scope, customer_id, key), hold_id)
    if row is None:
        raise NotFound(f"no hold {hold_id!r} on this account")
    return view(state_from_row(row), now, _settlements(repository.settlements_of(conn, [row.id])[row.id]))


def _settlements(rows: list[Any]) -> list[Settlement]:
    return [
        Settlement(r.fee_id, r.event_id, from_scaled(r.amount), from_scaled(r.from_hold), r.created_at) for r in rows
    ]


def _view_in(book: HoldBook, s: HoldState) -> HoldView:
    """The hold as the unit of work sees it: its stored settlements and those planned here."""
    stored = [] if s.created else _settlements(repository.settlements_of(book.conn, [s.row_id])[s.row_id])
    planned = [
        Settlement(r["fee_id"], r["event_id"], from_scaled(r["amount"]), from_scaled(r["from_hold"]), r["created_at"])
        for r in book.settlements
        if r["hold_row_id"] == s.row_id
    ]
    return view(s, book.now, stored + planned)


def view(s: HoldState, now: datetime, settlements: list[Settlement]) -> HoldView:
    """The hold as of ``now``: an active one past its expiry reads as expired, as the job will write it."""
    status = rules.status_at(s.status, s.expires_at, now)
    lapsed = status == rules.EXPIRED and s.status == rules.ACTIVE
    return HoldView(
        hold_id=s.hold_id,
        account=s.account,
        asset=s.asset,
        status=status,
        amount=s.amount,
        settled=s.settled,
        held=s.left(now),
        released=rules.left(s.amount, s.settled) if lapsed else s.released,
        expires_at=s.expires_at,
        closed_at=s.expires_at if lapsed else s.closed_at,
        description=s.doc["description"],
        metadata=s.doc["metadata"],
        estimate=s.doc["estimate"],
        created_at=s.doc["created_at"],
        settlements=settlements,
    )
