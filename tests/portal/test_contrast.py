"""The brand colour's derived colours reach WCAG AA for every colour a platform may choose."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drawdown.portal.contrast import BLACK, TINT, WHITE, line, on, palette, ratio, text

colors = st.integers(0, 0xFFFFFF).map(lambda v: f"#{v:06x}")


def test_known_ratios() -> None:
    assert round(ratio(WHITE, BLACK), 2) == 21.0
    assert ratio("#777777", "#777777") == 1.0
    assert round(ratio(WHITE, "#767676"), 2) == 4.54  # the classic lightest AA grey on white
    assert on("#0f766e") == WHITE and on("#ffeb3b") == BLACK and on("#4f46e5") == WHITE


@given(colors)
def test_text_on_any_brand_colour_is_aa(color: str) -> None:
    assert ratio(on(color), color) >= 4.5


@given(colors)
def test_lines_in_any_brand_colour_stand_out_from_white(color: str) -> None:
    drawn = line(color)
    assert ratio(drawn, WHITE) >= 3.0
    if ratio(color, WHITE) >= 3.0:
        assert drawn == color  # a colour dark enough is kept as chosen


@given(colors)
def test_text_in_any_brand_colour_is_aa_on_the_tint(color: str) -> None:
    assert ratio(text(color, TINT), TINT) >= 4.5


def test_palette() -> None:
    p = palette("#ffeb3b")
    assert (p.brand, p.on_brand) == ("#ffeb3b", BLACK) and ratio(p.brand_line, WHITE) >= 3.0
