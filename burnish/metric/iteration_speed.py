"""Training speed in items and iterations per second (Burn's ``IterationSpeedMetric``)."""

from __future__ import annotations

import functools
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from burnish.metric.arithmetic import NumericMetricMixin
from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry
from burnish.metric.mixins import check_state

__all__ = ["IterationSpeedMetric"]

# A new entry at most this often: 50 a second, more than any reader shows or needs.
_ENTRY_SECONDS = 0.02


class IterationSpeedMetric(NumericMetricMixin):
    """Items/s (the numeric value) and iterations/s, from the progress and the wall clock.

    Each update is one iteration (step), and the items are ``metadata.progress``'s processed
    items. The epoch value is measured from the epoch's first update, so it leaves out that
    first step, whose start this metric cannot see; the batch value is the rate over about the
    last ``window`` seconds (at most ``max_steps`` steps), steadier than one step's. The first
    update of an epoch has no rate yet: n/a.
    """

    higher_is_better = True

    def __init__(
        self,
        name: str = "Iteration Speed",
        window: float = 1.0,
        max_steps: int = 256,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if window <= 0 or max_steps < 2:
            raise ValueError(
                f"{name}: window must be positive and max_steps at least 2, got {window} and "
                f"{max_steps}"
            )
        self.name = name
        self.window = window
        self._clock = clock
        self._items = FormatOptions(name).unit("item/s").precision(2)
        self._iterations = FormatOptions(name).unit("iter/s").precision(2)
        self._recent: deque[tuple[float, int, int]] = deque(maxlen=max_steps)
        self._start: tuple[float, int, int] | None = None
        self._steps = 0
        self._entry: tuple[float, MetricEntry] | None = None

    def update(self, item: None, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        now = self._clock()
        items = metadata.progress.items_processed
        recent = self._recent
        if recent and items < recent[-1][1]:
            # The progress restarted (a new epoch without clear()): so does the measurement.
            self.clear()
        self._steps += 1
        record = (now, items, self._steps)
        if self._start is None:
            self._start = record
        recent.append(record)
        while len(recent) > 2 and now - recent[1][0] >= self.window:
            recent.popleft()
        if self._entry is not None and now - self._entry[0] < _ENTRY_SECONDS:
            # Rates over a window of a second barely move between close steps: the same
            # entry, which each consumer reads once however many steps it stands for.
            return self._entry[1]
        running = self._running()
        per_second = self._current()
        # n/a counts for nothing when a logger averages the step entries.
        entry = (
            NumericEntry(per_second[0], 0, "aggregated")
            if math.isnan(per_second[0])
            else NumericEntry(per_second[0])
        )
        # Host numbers: the log text now (cheap), the display text only if someone reads it.
        formatted = functools.partial(self._formatted, *per_second, *running)
        self._entry = (now, MetricEntry(self.name, formatted, entry.serialize()))
        return self._entry[1]

    def _formatted(
        self, items: float, iterations: float, running_items: float, running_iterations: float
    ) -> str:
        return (
            f"epoch {self._items.format(running_items)} "
            f"({self._iterations.format(running_iterations)}) - "
            f"batch {self._items.format(items)} ({self._iterations.format(iterations)})"
        )

    def _current(self) -> tuple[float, float]:
        """(items/s, iterations/s) over the recent window; NaN before two updates."""
        recent = self._recent
        return _rates(recent[0], recent[-1]) if recent else (math.nan, math.nan)

    def _running(self) -> tuple[float, float]:
        if self._start is None or not self._recent:
            return (math.nan, math.nan)
        return _rates(self._start, self._recent[-1])

    def compute(self) -> MetricEntry:
        running = self.running_value()
        return MetricEntry(self.name, self._items.format(running.value), running.serialize())

    def value(self) -> float:
        """Items/s over the last ``window`` seconds; NaN before two updates."""
        return self._current()[0]

    def iterations_per_second(self) -> float:
        """Iterations/s over the last ``window`` seconds; NaN before two updates."""
        return self._current()[1]

    def running_value(self) -> NumericEntry:
        """Items/s over the epoch so far: a rate of the whole epoch, not a mean to re-average."""
        items, _ = self._running()
        return NumericEntry(items, max(0, self._steps - 1), "final")

    def running_iterations_per_second(self) -> float:
        return self._running()[1]

    def state_dict(self) -> dict[str, Any]:
        """Nothing: rates are measured on this process's clock, so a resumed epoch restarts
        its measurement."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        self.clear()

    def clear(self) -> None:
        self._recent.clear()
        self._start = None
        self._steps = 0
        self._entry = None


def _rates(first: tuple[float, int, int], last: tuple[float, int, int]) -> tuple[float, float]:
    """(items/s, iterations/s) between two ``(time, items, steps)`` records."""
    elapsed = last[0] - first[0]
    if elapsed <= 0:
        return (math.nan, math.nan)
    return ((last[1] - first[1]) / elapsed, (last[2] - first[2]) / elapsed)
