"""Bar geometry for the report's inline SVG charts, drawn on the server so the
report reads with JavaScript off and prints as it looks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


def horizontal_bars(
    items: Sequence[tuple[str, int]],
    *,
    width: float = 360,
    row: float = 26,
    label_width: float = 120,
) -> list[Bar]:
    """One row per item, longest bar for the largest value."""
    top = max((value for _, value in items), default=0) or 1
    room = width - label_width - 40  # leave space for the count after the bar
    return [
        Bar(label, value, label_width, i * row + 4, max(2.0, room * value / top), row - 8)
        for i, (label, value) in enumerate(items)
    ]


def columns(
    items: Sequence[tuple[str, int]], *, width: float = 360, height: float = 150, gap: float = 4
) -> list[Bar]:
    """Vertical bars side by side, for a histogram; y grows downwards in SVG."""
    top = max((value for _, value in items), default=0) or 1
    step = width / max(1, len(items))
    bars = []
    for i, (label, value) in enumerate(items):
        h = height * value / top
        bars.append(Bar(label, value, i * step + gap / 2, height - h, step - gap, h))
    return bars
