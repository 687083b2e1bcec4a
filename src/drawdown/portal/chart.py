"""The overview's spend chart: 30 daily bars as inline SVG, no script, no plotting dependency. It scales
to its box (viewBox), so it fits a phone and a desktop alike; a text summary goes with it for screen readers."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from drawdown.portal.data_models import SpendSeries

WIDTH, HEIGHT, TOP, BOTTOM = 600, 180, 12, 24


def bars(spend: SpendSeries, color: str) -> str:
    values = [d.amount for d in spend.daily]
    high = max(max(values, default=Decimal(0)), Decimal(0)) or Decimal(1)
    step = WIDTH / max(len(values), 1)
    usable = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
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
    if spend.daily:
        first = spend.daily[0].day.isoformat()
        parts.append(f'<text x="0" y="{HEIGHT - 6}" font-size="12" fill="#4b5563">{first}</text>')
        parts.append(f'<text x="{WIDTH}" y="{HEIGHT - 6}" font-size="12" fill="#4b5563" text-anchor="end">'
                     f'{spend.daily[-1].day.isoformat()}</text>')
    parts.append("</svg>")
    return "".join(parts)
