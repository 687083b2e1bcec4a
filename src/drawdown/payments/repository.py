"""The payments room's SQL: top-ups, the Stripe events already handled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from drawdown.core.money import from_scaled
from drawdown.db.tables import credit_grants, stripe_events, top_ups, wallet_accounts
from drawdown.payments.models import TopUp

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
