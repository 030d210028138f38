"""Totals: the additive sums a metric computes its values from, for metrics built on metrics.

Most built-in metrics keep sums over their updates (a sum and a count; per-class TP, FP and FN
counts) and compute their values from them on the host. A metric that exposes them
(:class:`Accumulative`) lets another metric compute its values over any span of its updates
without device work: a batch's values come from the difference of the totals before and after
it, a window's from the totals ``window`` updates apart, a moving average's from the totals
decayed. Ratio metrics so stay ratios of summed counts over any span, never means of ratios.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from burnish.metric.entry import DeferredChecks, DeferredValue

__all__ = ["Accumulative", "Evaluate", "Totals", "difference", "totals_of", "undefined"]

Evaluate = Callable[[Sequence[list[float]]], list[float]]
"""Host values of totals (one flat list each) to a metric's values: one, or one per class."""


@dataclass(frozen=True, slots=True)
class Totals:
    """A metric's totals at one moment, and how its values follow from them.

    ``values`` are device tensors or numbers, each summed elementwise over updates and never
    modified in place once handed out. ``evaluate`` maps host values of totals (or of their
    difference over a span of updates) to the metric's values: one number, or one per class with
    NaN for a class outside the label set. ``checks`` are the metric's deferred input checks, to
    verify whenever values computed from these totals are read.
    """

    values: tuple[DeferredValue, ...]
    evaluate: Evaluate
    checks: tuple[DeferredChecks, ...] = ()


@runtime_checkable
class Accumulative(Protocol):
    """A metric whose values follow from totals summed over its updates."""

    def totals(self) -> Totals | None:
        """The totals of the epoch so far; ``None`` when this metric's values do not follow
        from additive totals (an exact AUROC ranks every sample it has seen)."""
        ...


def totals_of(metric: object) -> Totals | None:
    """``metric``'s totals, or ``None`` for a metric without (see :class:`Accumulative`)."""
    totals = getattr(metric, "totals", None)
    if not callable(totals):
        return None
    found: Totals | None = totals()
    return found


def undefined(totals: Sequence[list[float]]) -> list[float]:
    """The values of a metric that has no totals yet: NaN (shown as n/a)."""
    return [math.nan]


def difference(
    after: Sequence[list[float]], before: Sequence[list[float]] | None
) -> list[list[float]]:
    """Host totals ``after - before``, elementwise: the sums over the updates in between.

    ``before`` is ``None`` for totals from zero; so is a total of another size than its
    counterpart (a state that was still empty, or has been cleared and reshaped since).
    """
    if before is None or len(before) != len(after):
        return [list(values) for values in after]
    return [
        [a - b for a, b in zip(x, y, strict=True)] if len(x) == len(y) else list(x)
        for x, y in zip(after, before, strict=True)
    ]
