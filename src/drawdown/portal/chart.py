"""The overview's spend chart: 30 daily bars as inline SVG, no script, no plotting dependency. It
stretches to its box (the page sets its height), so it fits a phone and a desktop alike; each bar has a
title with its day and amount, and the page prints the first and last day under it."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from drawdown.portal.data_models import SpendSeries

WIDTH, HEIGHT, TOP, BOTTOM = 600, 140, 8, 1


def bars(spend: SpendSeries, color: str) -> str:
    values = [d.amount for d in spend.daily]
    high = max(max(values, default=Decimal(0)), Decimal(0)) or Decimal(1)
    step = WIDTH / max(len(values), 1)
    usable = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" preserveAspectRatio="none" '
        f'aria-label="Daily spend in {escape(spend.asset)} over the last {len(values)} days">',
        f'<line x1="0" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}" stroke="#d1d5db"/>',
    ]
    for i, d in enumerate(spend.daily):
        day, value = d.day.isoformat(), d.amount
        h = float(value / high) * usable if value > 0 else 0.0
        if value > 0:
            h = max(h, 2.0)
        x, y = i * step + step * 0.15, HEIGHT - BOTTOM - h
        label = f"{day}: {value:,.{spend.precision}f} {spend.asset}"
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" rx="2" '
                     f'fill="{escape(color)}"><title>{escape(label)}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)
