"""Axis tick labels for the dashboard's charts: every label of an axis written alike."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["Labels", "format_tick", "log_tick_labels", "tick_labels"]

Labels = Callable[[Sequence[float]], list[str]]
"""Writes the tick values of one axis."""


def format_tick(value: float) -> str:
    """A short axis label: at most 4 significant digits, scientific when very large or small."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def tick_labels(values: Sequence[float]) -> list[str]:
    """Labels for ticks along one axis, all written alike: the same number of decimals, enough
    to tell neighbouring ticks apart (3 significant digits of their distance), trailing zeros
    all labels share dropped; scientific, 3 digits, when the largest is very large or small."""
    largest = max((abs(value) for value in values if math.isfinite(value)), default=0.0)
    if largest == 0:
        return [format_tick(value) for value in values]
    if largest >= 1e5 or largest < 1e-3:
        return [f"{value:.2e}" if math.isfinite(value) else str(value) for value in values]
    finite = [value for value in values if math.isfinite(value)]
    step = (max(finite) - min(finite)) / max(1, len(finite) - 1) or largest
    decimals = min(6, max(0, 2 - math.floor(math.log10(step))))
    labels = [f"{value:.{decimals}f}" if math.isfinite(value) else str(value) for value in values]
    while decimals and all(label.endswith("0") for label in labels if "." in label):
        decimals -= 1
        labels = [label[:-2] if label.endswith(".0") else label[:-1] for label in labels]
    return labels


def log_tick_labels(values: Sequence[float]) -> list[str]:
    """Labels for a log axis, given in decades (``log10`` of the values): 3 significant digits
    each, since neighbouring ticks differ by a factor, not by a distance."""
    return [format_tick(float(f"{10**value:.3g}")) for value in values]
