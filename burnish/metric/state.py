"""State helpers that metrics compose, as in Burn's ``metric/state.rs``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from burnish.metric.base import DeferredValue, FormatOptions, MetricEntry, NumericEntry
from burnish.metric.host import accumulator_dtype, to_host
from burnish.metric.validation import RangeGuard

__all__ = ["NumericMetricState", "NumericStateMetric", "read_values"]


def read_values(values: Sequence[DeferredValue]) -> list[list[float]]:
    """Host values of tensors and plain numbers alike, with one transfer for the tensors."""
    host = iter(to_host([value for value in values if isinstance(value, torch.Tensor)]))
    return [next(host) if isinstance(v, torch.Tensor) else [float(v)] for v in values]


class NumericMetricState:
    """The running, count-weighted mean of a numeric metric over an epoch.

    Sums stay on the device of the inputs, in float64 where the device has it, and are updated
    out of place so that every entry handed out is a snapshot. Counts given as ``int`` stay on
    the host; data-dependent counts (tokens that are not padding) stay tensors. The guards'
    deferred input checks run whenever a value is read.
    """

    def __init__(self, options: FormatOptions, guards: Sequence[RangeGuard] = ()) -> None:
        self.options = options
        self.guards = tuple(guards)
        self._sum: torch.Tensor | float = 0.0
        self._count: torch.Tensor | int = 0
        self._current: torch.Tensor | float = math.nan

    def update(self, batch_sum: torch.Tensor, batch_count: torch.Tensor | int) -> MetricEntry:
        """Add a batch whose values sum to ``batch_sum`` over ``batch_count`` items."""
        batch_sum = batch_sum.detach().to(accumulator_dtype(batch_sum.device))
        self._sum = self._sum + batch_sum
        self._count = self._count + batch_count
        # A batch of no items (all padding) has the value 0/0 = NaN, shown as n/a.
        self._current = batch_sum / batch_count
        return MetricEntry.deferred(
            self.options.name,
            [self._current, self._sum, self._count, batch_count, *self._guard_values()],
            self._render_update,
        )

    def _render_update(self, host: Sequence[list[float]]) -> tuple[str, str]:
        (current,), (total,), (count,), (batch_count,), *guards = host
        self._verify(guards)
        running = total / count if count else math.nan
        formatted = f"epoch {self.options.format(running)} - batch {self.options.format(current)}"
        serialized = NumericEntry(current, int(batch_count), "aggregated").serialize()
        return formatted, serialized

    def compute(self) -> MetricEntry:
        """The epoch entry: the running value over every item seen since :meth:`clear`."""
        running = self.running_value()
        return MetricEntry(
            self.options.name, self.options.format(running.value), running.serialize()
        )

    def value(self) -> float:
        """The latest batch value; NaN before the first update."""
        (current,), *guards = read_values([self._current, *self._guard_values()])
        self._verify(guards)
        return current

    def running_value(self) -> NumericEntry:
        """The epoch value so far, with its item count; NaN (count 0) in an empty epoch."""
        (total,), (count,), *guards = read_values([self._sum, self._count, *self._guard_values()])
        self._verify(guards)
        return NumericEntry(total / count if count else math.nan, int(count), "aggregated")

    def clear(self) -> None:
        self._sum = 0.0
        self._count = 0
        self._current = math.nan
        for guard in self.guards:
            guard.clear()

    def _guard_values(self) -> list[DeferredValue]:
        return [value for guard in self.guards for value in guard.seen]

    def _verify(self, host: Sequence[list[float]]) -> None:
        for index, guard in enumerate(self.guards):
            (low,), (high,) = host[2 * index : 2 * index + 2]
            guard.verify(low, high)


class NumericStateMetric:
    """What a metric built on one :class:`NumericMetricState` (``self._state``) delegates."""

    _state: NumericMetricState

    def compute(self) -> MetricEntry:
        return self._state.compute()

    def value(self) -> float:
        return self._state.value()

    def running_value(self) -> NumericEntry:
        return self._state.running_value()

    def clear(self) -> None:
        self._state.clear()
