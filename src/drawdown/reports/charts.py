"""A small SVG line chart (revenue, cost, margin over time) without a plotting dependency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

from drawdown.reports.models import DayFigures

WIDTH, HEIGHT, PAD = 800, 360, 50
SERIES = (
    ("gross_revenue", "#2b7bb9", "revenue"),
    ("total_costs", "#d9534f", "cost"),
    ("net_revenue", "#5cb85c", "net"),
)


def svg_days(days: Sequence[DayFigures], title: str) -> str:
    """The chart of ``profitability.over_time``."""
    return svg(
        [
            {"day": d.day, "gross_revenue": d.figures.revenue, "total_costs": d.figures.cost,
             "net_revenue": d.figures.net}
            for d in days
        ],
        title,
    )


def svg(points: Sequence[Mapping[str, Any]], title: str) -> str:
    """``points``: [{"day": "YYYY-MM-DD", "gross_revenue": D, "total_costs": D, "net_revenue": D}, ...]."""
    values: list[Decimal] = [p[k] for p in points for k, _, _ in SERIES] or [Decimal(0)]
    low, high = min(min(values), Decimal(0)), max(max(values), Decimal(1))
    span = high - low or Decimal(1)
    n = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * i / n

    def y(v: Decimal) -> float:
        return HEIGHT - PAD - float((v - low) / span) * (HEIGHT - 2 * PAD)

    zero = f"{y(Decimal(0)):.1f}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="{PAD}" y="20" font-size="16">{escape(title)}</text>',
        f'<line x1="{PAD}" y1="{zero}" x2="{WIDTH - PAD}" y2="{zero}" stroke="#999"/>',
        f'<text x="4" y="{y(high):.1f}">{high}</text><text x="4" y="{y(low):.1f}">{low}</text>',
    ]
    for key, colour, label in SERIES:
        path = " ".join(f"{x(i):.1f},{y(p[key]):.1f}" for i, p in enumerate(points))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}">'
            f"<title>{label}</title></polyline>"
        )
    for j, (_, colour, label) in enumerate(SERIES):
        parts.append(f'<text x="{WIDTH - PAD - 180 + j * 60}" y="20" fill="{colour}">{label}</text>')
    if points:
        parts.append(f'<text x="{PAD}" y="{HEIGHT - 15}">{escape(points[0]["day"])}</text>')
        parts.append(f'<text x="{WIDTH - PAD - 70}" y="{HEIGHT - 15}">{escape(points[-1]["day"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
