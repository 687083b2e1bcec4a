"""WCAG 2.x contrast for the brand colour, which a platform picks freely (PUT /billing-portal/settings).

Any colour can be the brand: the pages derive from it what keeps them readable instead of refusing it.
Text on the brand colour (buttons, the logo mark) is white or black, whichever contrasts more; one of
the two always reaches 4.5:1 (AA for body text), since white fails only above luminance 0.183, where
black gives at least 4.66:1. Lines drawn in the brand colour on white (focus rings, the current tab) need
3:1 (AA for non-text), and text in the brand colour 4.5:1; a colour too light is darkened toward black
until it has it (black itself gives 19:1 on those light backgrounds, so the darkening always ends)."""

from __future__ import annotations

from dataclasses import dataclass

WHITE, BLACK = "#ffffff", "#000000"
TEXT_AA = 4.5
NON_TEXT_AA = 3.0


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def luminance(color: str) -> float:
    """Relative luminance of ``#rrggbb`` (WCAG 2.x)."""
    r, g, b = (_channel(v) for v in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: str, b: str) -> float:
    """Contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def on(color: str) -> str:
    """The text colour for a ``color`` background: white where it reaches AA, else black."""
    return WHITE if ratio(WHITE, color) >= TEXT_AA else BLACK


def darkened(color: str, against: str, need: float) -> str:
    """``color``, darkened toward black in 5% steps just until it contrasts ``need``:1 with ``against``
    (a light background); a colour that already does is kept as chosen."""
    r, g, b = _rgb(color)
    step = 0
    while ratio(f"#{r:02x}{g:02x}{b:02x}", against) < need:
        step += 1
        r, g, b = (round(v * (1 - step / 20)) for v in _rgb(color))
    return f"#{r:02x}{g:02x}{b:02x}"


def line(color: str) -> str:
    """``color`` for lines on white: 3:1."""
    return darkened(color, WHITE, NON_TEXT_AA)


def text(color: str, background: str = WHITE) -> str:
    """``color`` for text on a light ``background``: 4.5:1."""
    return darkened(color, background, TEXT_AA)


@dataclass(frozen=True)
class Palette:
    """The brand colour and what the pages draw with it."""

    brand: str
    on_brand: str
    brand_line: str
    brand_text: str  # on TINT, the pale panel behind the amount on the payment pages


TINT = "#eef2ff"


def palette(color: str) -> Palette:
    return Palette(color, on(color), line(color), text(color, TINT))
