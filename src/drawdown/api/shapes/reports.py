"""Reports results shaped as Credyt's JSON: profitability stats and the revenue recognition report.

Decimals stay Decimal: ExactJSONResponse writes them exactly.
"""

from __future__ import annotations

from typing import Any

from drawdown.reports.models import CustomerFiguresPage, Figures, RevenueReport

JSON = dict[str, Any]


def stats(f: Figures) -> JSON:
    """Credyt's profitability object."""
    return {"gross_revenue": f.revenue, "total_costs": f.cost, "net_revenue": f.net, "margin": f.margin,
            "currency": f.currency}


def customers_stats(page: CustomerFiguresPage) -> JSON:
    """The summary, items and total_count of ``GET /customers/stats`` (the router adds the paging)."""
    return {
        "summary": stats(page.summary),
        "items": [
            {"id": c.id, "external_id": c.external_id, "name": c.name, "stats": stats(c.figures)} for c in page.items
        ],
        "total_count": page.total_count,
    }


def revenue_report(r: RevenueReport) -> JSON:
    return {
        "period_from": r.period_from,
        "period_to": r.period_to,
        "granularity": r.granularity,
        "items": [
            {"period": i.period, "asset": i.asset, "purpose": i.purpose, "currency": i.currency,
             "consumed": i.consumed, "revenue": i.revenue, "cost": i.cost, "expired": i.expired,
             "breakage": i.breakage, "refunded": i.refunded, "refunds": i.refunds}
            for i in r.items
        ],
        "totals": [
            {"currency": t.currency, "revenue": t.revenue, "marketing_cost": t.marketing_cost, "breakage": t.breakage,
             "refunds": t.refunds}
            for t in r.totals
        ],
    }
