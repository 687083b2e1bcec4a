"""A WCAG AA contrast scan of the page a browser shows: every visible element with text of its own,
its computed text colour against the background it is drawn on (the first opaque one up the tree,
translucent ones blended), 4.5:1 for body text and 3:1 for large text (24 px, or 18.66 px bold).
Text on images is not judged (there is none in the portal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCAN = (Path(__file__).parent / "aa.js").read_text().split("\n", 1)[1]  # the function, without its comment


def low_contrast(tab: Any) -> list[str]:
    """Each text on the page below AA, described; [] when the page passes."""
    return list(tab.evaluate(SCAN))
