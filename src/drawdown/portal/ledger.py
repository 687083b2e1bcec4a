"""The portal's reads of one customer's money: transactions with the grants they touched, open credits
and spend figures. Every use case takes the portal session's scope and customer: a customer not in the
scope answers NotFound, exactly like an unknown one."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.core.errors import NotFound
from drawdown.core.money import from_scaled
from drawdown.core.scopes import Scope
from drawdown.portal import data_repository as repository
from drawdown.portal.data_models import (
    CreditItem,
    DaySpend,
    GrantTouch,
    OverviewFigures,
    SpendSeries,
    TransactionItem,
)

SERIES_DAYS = 30


def require_customer(conn: Connection, scope: Scope, customer_id: str) -> None:
    if not repository.customer_exists(conn, scope.id, customer_id):
        raise NotFound(f"customer {customer_id} not found")


def places(conn: Connection, scope: Scope, assets: set[str]) -> dict[str, int]:
    """Each asset's precision in the scope (2 for one it does not define)."""
    found = repository.precisions(conn, scope.id, sorted(assets)) if assets else {}
    return {a: found.get(a, 2) for a in assets}


def kind(txn_type: str, reason: str | None) -> str:
    """What the customer calls a ledger transaction: top_up, refund, adjustment, fee, usage, charge, expiry,
    entitlement or rollover."""
    if txn_type == "adjustment":
        return {"external_topup": "top_up", "external_refund": "refund"}.get(reason or "", "adjustment")
    return txn_type


def transactions_page(
    conn: Connection, scope: Scope, customer_id: str, offset: int, limit: int
) -> tuple[list[TransactionItem], int]:
    """The customer's ledger transactions, newest first, each with the grants it moved. Expiries are
    ``expiry`` transactions dated at the grant's expiry, written when the account is next touched or by
    the billing job (``wallets.ledger.Ledger.pass_time``)."""
    require_customer(conn, scope, customer_id)
    rows, total = repository.transactions_page(conn, customer_id, offset, limit)
    touched: dict[str, list[GrantTouch]] = defaultdict(list)
    for g in repository.grants_touched(conn, [r.id for r in rows]):
        touched[g.transaction_id].append(GrantTouch(g.grant_id, g.purpose))
    items = [
        TransactionItem(
            id=r.id,
            transaction_id=r.transaction_id,
            kind=kind(r.type, r.reason),
            amount=from_scaled(r.amount),
            asset=r.asset,
            account=r.account_name,
            description=r.description,
            at=r.created_at,
            grants=tuple(touched.get(r.id, ())),
        )
        for r in rows
    ]
    return items, total


def credits(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> list[CreditItem]:
    """Live and pending grants not expired at ``now``, soonest expiry first (never-expiring last)."""
    require_customer(conn, scope, customer_id)
    return [
        CreditItem(
            grant_id=g.id,
            purpose=g.purpose,
            state="live" if g.state == "live" or g.effective_at <= now else "pending",
            remaining=from_scaled(g.remaining),
            amount=from_scaled(g.amount),
            asset=a.asset,
            asset_label=a.label,
            precision=int(a.precision),
            account=a.name,
            effective_at=g.effective_at,
            expires_at=g.expires_at,
        )
        for g, a in ((o.grant, o.account) for o in repository.open_grants(conn, scope.id, customer_id, now))
    ]


def overview_figures(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> OverviewFigures:
    """Spend per asset from the customer's fees: this month (UTC) to ``now``, and per UTC day over the
    last 30 days (today included), summed exactly in SQL."""
    require_customer(conn, scope, customer_id)
    now = now.astimezone(UTC)
    today = now.date()
    first_day = today - timedelta(days=SERIES_DAYS - 1)
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
    since = min(month_start, datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC))
    by_asset: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for r in repository.spend_by_day(conn, customer_id, since, now):
        by_asset[r.asset][date.fromisoformat(r.day)] = from_scaled(int(r.total))
    places = repository.precisions(conn, scope.id, sorted(by_asset))
    days = [first_day + timedelta(days=i) for i in range(SERIES_DAYS)]
    spend = tuple(
        SpendSeries(
            asset=asset,
            precision=places.get(asset, 2),
            month_to_date=sum((v for d, v in totals.items() if d >= month_start.date()), Decimal(0)),
            daily=tuple(DaySpend(d, totals.get(d, Decimal(0))) for d in days),
        )
        for asset, totals in sorted(by_asset.items())
    )
    return OverviewFigures(month_start, spend)
