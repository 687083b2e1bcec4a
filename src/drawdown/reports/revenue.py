"""Revenue recognition: value consumed per period, split by the purpose of the grants it came from.

* paid value is recognised as **revenue** when consumed, at its grant's revenue basis per unit;
* bundled value (entitlements) is recognised as revenue at its revenue basis;
* promotional value is a **marketing cost** at its cost basis, never revenue;
* **breakage**: paid value that expired unused, at its revenue basis, shown apart from revenue.

Consumption is every draw on a grant by a fee, a charge, a debit adjustment, or the settling of an
overdraft; refunds (``external_refund``), rollovers and expiries are not consumption. Periods are UTC
days or months of the ledger entry. Sums run in SQL over exact integers, grouped by grant basis;
money = units × basis per group, rounded to nine places half-even.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from drawdown.core.grants import BUNDLED, PAID, PROMOTION
from drawdown.core.money import from_scaled, quantize
from drawdown.db.tables import credit_grants, ledger_entries, transactions, wallet_accounts

CONSUMING = ("fee", "charge", "adjustment", "entitlement")


def _bucket(conn: Connection, column: Any, granularity: str) -> Any:
    width = 10 if granularity == "day" else 7
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD" if granularity == "day" else "YYYY-MM")
    return func.substr(column, 1, width)


def revenue(
    conn: Connection, start: datetime, end: datetime, granularity: str = "month", customer_id: str | None = None
) -> dict:
    le, t, g = ledger_entries.c, transactions.c, credit_grants.c
    period = _bucket(conn, le.created_at, granularity).label("period")
    conds = [
        le.grant_id.is_not(None),
        le.amount < 0,
        le.account.like("wallet:%"),
        le.created_at >= start,
        le.created_at < end,
    ]
    if customer_id:
        conds.append(t.customer_id == customer_id)
    consumed_kind = and_(t.type.in_(CONSUMING), or_(t.reason.is_(None), t.reason != "external_refund"))
    rows = conn.execute(
        select(
            period, t.type, g.purpose, wallet_accounts.c.asset, g.revenue_basis, g.cost_basis, g.basis_currency,
            func.sum(le.amount).label("units"),
        )
        .select_from(
            ledger_entries.join(transactions, t.id == le.transaction_id)
            .join(credit_grants, g.id == le.grant_id)
            .join(wallet_accounts, wallet_accounts.c.id == g.account_id)
        )
        .where(*conds, or_(consumed_kind, t.type == "expiry"))
        .group_by(period, t.type, g.purpose, wallet_accounts.c.asset, g.revenue_basis, g.cost_basis, g.basis_currency)
    ).all()
    table: dict[tuple, dict[str, Decimal]] = {}
    totals: dict[str, dict[str, Decimal]] = {}
    for r in rows:
        units = -from_scaled(int(r.units))
        revenue_basis = from_scaled(r.revenue_basis) if r.revenue_basis is not None else None
        cost_basis = from_scaled(r.cost_basis) if r.cost_basis is not None else None
        key = (r.period, r.asset, r.purpose, r.basis_currency)
        row = table.setdefault(key, {k: Decimal(0) for k in ("consumed", "revenue", "cost", "expired", "breakage")})
        money = totals.setdefault(r.basis_currency or "", {k: Decimal(0) for k in ("revenue", "marketing_cost", "breakage")})
        if r.type == "expiry":
            row["expired"] += units
            if r.purpose == PAID and revenue_basis is not None:
                amount = quantize(units * revenue_basis)
                row["breakage"] += amount
                money["breakage"] += amount
            continue
        row["consumed"] += units
        if r.purpose in (PAID, BUNDLED) and revenue_basis is not None:
            amount = quantize(units * revenue_basis)
            row["revenue"] += amount
            money["revenue"] += amount
        if r.purpose == PROMOTION and cost_basis is not None:
            amount = quantize(units * cost_basis)
            row["cost"] += amount
            money["marketing_cost"] += amount
    return {
        "period_from": start,
        "period_to": end,
        "granularity": granularity,
        "items": [
            {"period": p, "asset": a, "purpose": purpose, "currency": c, **values}
            for (p, a, purpose, c), values in sorted(table.items(), key=lambda kv: tuple(str(x) for x in kv[0]))
        ],
        "totals": [{"currency": c or None, **values} for c, values in sorted(totals.items())],
    }
