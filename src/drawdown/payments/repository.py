"""The payments room's SQL: top-ups, the Stripe events already handled, refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from drawdown.core.money import from_scaled
from drawdown.db.tables import credit_grants, refunds, stripe_events, top_ups, wallet_accounts
from drawdown.payments.models import INITIATED, PENDING, Refund, TopUp

_t = top_ups.c


def _top_up(r: Any) -> TopUp:
    def money(v: int | None) -> Any:
        return None if v is None else from_scaled(v)

    return TopUp(
        r.id, r.scope_id, r.customer_id, r.kind, r.status, from_scaled(r.amount), r.currency, r.asset,
        r.account_name, money(r.exchange_rate), r.credit_expires_at, r.description, r.metadata, r.return_url,
        r.failure_url, r.subscription_id, r.page_token, r.payment_intent, r.payment_method, bool(r.save_card),
        r.failure_message, money(r.credited), r.grant_id, from_scaled(r.refunded), r.expires_at, r.created_at,
        r.updated_at, r.settled_at,
    )


def insert_top_up(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(top_ups).values(**values))


def top_up(conn: Connection, scope_id: int, top_up_id: str) -> TopUp | None:
    row = conn.execute(select(top_ups).where(_t.scope_id == scope_id, _t.id == top_up_id)).first()
    return None if row is None else _top_up(row)


def top_up_any_scope(conn: Connection, top_up_id: str) -> TopUp | None:
    """For work done for every scope (webhooks, the worker): the row names its own scope."""
    row = conn.execute(select(top_ups).where(_t.id == top_up_id)).first()
    return None if row is None else _top_up(row)


def by_token(conn: Connection, token: str) -> TopUp | None:
    row = conn.execute(select(top_ups).where(_t.page_token == token)).first()
    return None if row is None else _top_up(row)


def by_payment_intent(conn: Connection, payment_intent: str) -> TopUp | None:
    row = conn.execute(select(top_ups).where(_t.payment_intent == payment_intent)).first()
    return None if row is None else _top_up(row)


def set_fields(conn: Connection, top_up_id: str, **values: Any) -> None:
    conn.execute(update(top_ups).where(_t.id == top_up_id).values(**values))


def open_older_than(conn: Connection, statuses: tuple[str, ...], before: datetime, limit: int) -> list[TopUp]:
    rows = conn.execute(
        select(top_ups).where(_t.status.in_(statuses), _t.updated_at < before).order_by(_t.updated_at).limit(limit)
    )
    return [_top_up(r) for r in rows]


def grant_of(conn: Connection, customer_id: str, transaction_id: str) -> tuple[str | None, int | None]:
    """The grant a customer's adjustment made, and its amount (its source is the adjustment's transaction_id)."""
    g = credit_grants.c
    row = conn.execute(
        select(g.id, g.amount)
        .join(wallet_accounts, wallet_accounts.c.id == g.account_id)
        .where(wallet_accounts.c.customer_id == customer_id, g.source_id == transaction_id)
    ).first()
    return (None, None) if row is None else (row.id, row.amount)


def first_time(conn: Connection, event_id: str, event_type: str, now: datetime) -> bool:
    """Records a Stripe event as handled; False when it already was (a repeated delivery).
    Callers run this in the transaction that acts on the event, so both happen or neither."""
    try:
        with conn.begin_nested():
            conn.execute(insert(stripe_events).values(id=event_id, type=event_type, received_at=now))
    except IntegrityError:
        return False
    return True


# ------------------------------------------------------------------------------ the worker's finds
def pending_due(conn: Connection, asked_before: datetime, now: datetime, limit: int) -> list[TopUp]:
    """Pending top-ups to ask Stripe about: untouched since ``asked_before``, or past their link's expiry
    and not asked since (each is touched when asked, so one still processing waits its turn again)."""
    stale = _t.updated_at < asked_before
    expired = (_t.expires_at < now) & (_t.updated_at < _t.expires_at)
    rows = conn.execute(
        select(top_ups).where(_t.status == PENDING, stale | expired).order_by(_t.updated_at).limit(limit)
    )
    return [_top_up(r) for r in rows]


def initiated_expired(conn: Connection, now: datetime, limit: int) -> list[str]:
    rows = conn.execute(
        select(_t.id).where(_t.status == INITIATED, _t.expires_at <= now).order_by(_t.expires_at).limit(limit)
    )
    return [r.id for r in rows]


def touch_pending(conn: Connection, top_up_id: str, now: datetime) -> None:
    """Stripe was asked and the payment is still in progress: ask again after another wait."""
    conn.execute(update(top_ups).where(_t.id == top_up_id, _t.status == PENDING).values(updated_at=now))


# ---------------------------------------------------------------------------------------- refunds
_r = refunds.c


def _refund(r: Any) -> Refund:
    return Refund(
        r.id, r.top_up_id, from_scaled(r.amount), from_scaled(r.units), r.status, r.stripe_refund, r.transaction_id,
        r.failure_message, r.created_at, r.settled_at,
    )


def insert_refund(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(refunds).values(**values))


def refund(conn: Connection, refund_id: str) -> Refund | None:
    row = conn.execute(select(refunds).where(_r.id == refund_id)).first()
    return None if row is None else _refund(row)


def refunds_of(conn: Connection, top_up_id: str) -> list[Refund]:
    return [_refund(r) for r in conn.execute(select(refunds).where(_r.top_up_id == top_up_id).order_by(_r.created_at))]


def refunds_pending(conn: Connection, created_before: datetime, limit: int) -> list[Refund]:
    rows = conn.execute(
        select(refunds)
        .where(_r.status == "pending", _r.created_at < created_before)
        .order_by(_r.created_at)
        .limit(limit)
    )
    return [_refund(r) for r in rows]


def settle_refund(conn: Connection, refund_id: str, values: dict[str, Any]) -> bool:
    """Move a pending refund to its end; False when something else already did (only one may)."""
    done = conn.execute(update(refunds).where(_r.id == refund_id, _r.status == "pending").values(**values))
    return done.rowcount == 1


def add_refunded(conn: Connection, top_up_id: str, amount: int, now: datetime) -> None:
    conn.execute(update(top_ups).where(_t.id == top_up_id).values(refunded=_t.refunded + amount, updated_at=now))
