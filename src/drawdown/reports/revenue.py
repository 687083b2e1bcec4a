"""Revenue recognition: value consumed per period, split by the purpose of the grants it came from.

* paid value is recognised as **revenue** when consumed, at its grant's revenue basis per unit;
* bundled value (entitlements) is recognised as revenue at its revenue basis;
* promotional value is a **marketing cost** at its cost basis, never revenue;
* **breakage**: paid value that expired unused, at its revenue basis, shown apart from revenue;
* **refunds**: value taken back out of grants because its money was refunded (``external_refund``
  adjustments, net of refunds Stripe refused and put back), in units (``refunded``) and at its
  revenue basis (``refunds``). Refunded value was never consumed, so it never was revenue: a refund
  lowers what can still be recognised (or break), not what has been. It is shown so that money in
  (top-ups) less refunds reconciles with revenue, breakage and value still held.

Consumption is every draw on a grant by a fee, a charge, a debit adjustment, or the settling of an
overdraft; refunds (``external_refund``), rollovers and expiries are not consumption. Periods are UTC
days or months of the ledger entry. Sums run in SQL over exact integers, grouped by grant basis;
money = units × basis per group, rounded to nine places half-even.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.core.grants import BUNDLED, PAID, PROMOTION
from drawdown.core.money import from_scaled, quantize
from drawdown.core.scopes import Scope
from drawdown.reports import repository
from drawdown.reports.models import RevenueReport, RevenueRow, RevenueTotals

CONSUMING = ("fee", "usage", "charge", "adjustment", "entitlement")
REFUND = "external_refund"
ZERO = Decimal(0)

RowKey = tuple[str, str, str, str | None]
"""(period, asset, grant purpose, basis currency)."""


def report(
    conn: Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    granularity: str = "month",
    customer_id: str | None = None,
) -> RevenueReport:
    """Revenue recognised, marketing cost and breakage over [start, end) per ``granularity`` ("day" or
    "month"), for one of the scope's customers or all of them (another scope's customer: empty). Rows
    in (period, asset, purpose, currency) order; totals per basis currency, grants without a basis
    under ``None`` first."""
    rows: dict[RowKey, dict[str, Decimal]] = {}
    totals: dict[str, dict[str, Decimal]] = {}
    for r in repository.grant_movements(conn, scope.id, start, end, granularity, customer_id, CONSUMING, REFUND):
        units = -from_scaled(int(r.units))
        revenue_basis = from_scaled(r.revenue_basis) if r.revenue_basis is not None else None
        cost_basis = from_scaled(r.cost_basis) if r.cost_basis is not None else None
        row = rows.setdefault(
            (r.period, r.asset, r.purpose, r.basis_currency),
            {k: ZERO for k in ("consumed", "revenue", "cost", "expired", "breakage", "refunded", "refunds")},
        )
        money = totals.setdefault(
            r.basis_currency or "", {k: ZERO for k in ("revenue", "marketing_cost", "breakage", "refunds")}
        )
        if r.type == "adjustment" and r.reason == REFUND:
            row["refunded"] += units
            if revenue_basis is not None:
                amount = quantize(units * revenue_basis)
                row["refunds"] += amount
                money["refunds"] += amount
            continue
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
    return RevenueReport(
        period_from=start,
        period_to=end,
        granularity=granularity,
        items=tuple(
            RevenueRow(period=p, asset=a, purpose=purpose, currency=c, **values)
            for (p, a, purpose, c), values in sorted(rows.items(), key=lambda kv: tuple(str(x) for x in kv[0]))
        ),
        totals=tuple(RevenueTotals(currency=c or None, **values) for c, values in sorted(totals.items())),
    )
