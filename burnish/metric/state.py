"""State helpers that metrics compose, as in Burn's ``metric/state.rs``.

A state's bookkeeping costs one device operation per step (its running sum, out of place, so
that every entry handed out is a snapshot). Its entries are rendered in groups on the reading
thread, with their texts built only when read. Each state declares how it syncs across the
processes of a distributed run (``state_reductions``, see :mod:`burnish.distributed.sync`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import torch

from burnish.distributed.sync import StateSync, SyncOnCompute, compute_view
from burnish.metric.arithmetic import NumericMetricMixin
from burnish.metric.block import running
from burnish.metric.entry import (
    BlockEntries,
    BlockResult,
    DeferredChecks,
    DeferredValue,
    FormatOptions,
    LogText,
    MetricEntry,
    NumericEntry,
    StepNumbers,
    Text,
)
from burnish.metric.host import accumulator_dtype
from burnish.metric.mixins import check_state
from burnish.metric.totals import Totals
from burnish.metric.validation import GuardBounds
from burnish.metric.values import read_checked

__all__ = [
    "NumericMetricState",
    "NumericState",
    "NumericStateMetric",
]


class NumericMetricState:
    """Burn's ``NumericMetricState``: the count-weighted running mean of an epoch.

    A batch is given as a sum over its items and their count: the count is an ``int`` when the
    shape tells it, a tensor when the data does (tokens that are not padding). Each update costs
    one device operation (the running sum, in float64 where the device has it, out of place so
    that every entry is a snapshot); divisions happen on the host when a value is read. The mean
    is multiplied by ``scale`` (100 for a percentage) and passed through ``transform`` (``exp``
    for perplexity). With a ``transform``, the epoch value is not a mean: it is logged as a
    ``final`` entry and steps as plain values. ``checks`` are verified with every read and
    cleared with the state.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {
        "_sum": "sum",
        "_count": "sum",
        "checks": "nested",
    }
    _sum: torch.Tensor | float
    _count: torch.Tensor | int
    _batch: tuple[DeferredValue, DeferredValue, float]

    def __init__(
        self,
        options: FormatOptions,
        checks: DeferredChecks | None = None,
        *,
        scale: float = 1.0,
        transform: Callable[[float], float] | None = None,
    ) -> None:
        self.options = options
        self.checks: DeferredChecks = GuardBounds(()) if checks is None else checks
        self.scale = scale
        self.transform = transform
        self.clear()

    def update(self, batch_sum: torch.Tensor, batch_count: torch.Tensor | int) -> MetricEntry:
        """Add a batch whose values sum to ``batch_sum`` over ``batch_count`` items."""
        if batch_sum.requires_grad:
            batch_sum = batch_sum.detach()  # else already without a graph: one call less
        if isinstance(self._sum, torch.Tensor):
            self._sum = self._sum + batch_sum  # promotes to the sum's dtype
        elif batch_sum.is_floating_point():
            self._sum = batch_sum.to(accumulator_dtype(batch_sum.device))
        else:
            # Counts (correct predictions) add exactly, and an add without a dtype
            # conversion costs half as much.
            self._sum = batch_sum.long()
        return self._updated(batch_sum, batch_count, is_mean=False)

    def update_mean(self, batch_mean: torch.Tensor, batch_count: int) -> MetricEntry:
        """Add a batch whose ``batch_count`` items average ``batch_mean`` (a mean loss)."""
        batch_mean = batch_mean.detach()
        if isinstance(self._sum, torch.Tensor):
            # One fused operation: sum + count * mean.
            self._sum = torch.add(self._sum, batch_mean, alpha=batch_count)
        else:
            self._sum = batch_mean.to(accumulator_dtype(batch_mean.device)) * batch_count
        return self._updated(batch_mean, batch_count, is_mean=True)

    def _updated(
        self, batch: torch.Tensor, batch_count: torch.Tensor | int, *, is_mean: bool
    ) -> MetricEntry:
        self._count = self._count + batch_count
        self._batch = (batch, batch_count, float(is_mean))
        return MetricEntry.deferred(
            self.options.name, [*self._batch, self._sum, self._count], self._render, self.checks
        )

    def update_steps(
        self,
        batch_values: torch.Tensor,
        batch_counts: Sequence[int] | torch.Tensor,
        *,
        is_mean: bool = False,
    ) -> BlockResult:
        """Add several steps at once (see :mod:`burnish.metric.block`): step ``i`` has
        ``batch_counts[i]`` items whose values sum to ``batch_values[i]`` (average it, with
        ``is_mean``). The steps' numbers and the last step's texts equal those of :meth:`update`
        (or :meth:`update_mean`) called for each step in turn, at a few device operations for
        them all. The values of a block
        of one step, without the steps dimension (see :class:`~burnish.metric.block.Segments`),
        are added as :meth:`update` adds them, at one."""
        if batch_values.ndim == 0:
            count = batch_counts if isinstance(batch_counts, torch.Tensor) else batch_counts[0]
            if is_mean and isinstance(count, int):
                return [self.update_mean(batch_values, count)]
            return [self.update(batch_values * count if is_mean else batch_values, count)]
        batch_values = batch_values.detach()
        steps = batch_values.shape[0]
        if batch_values.is_floating_point():
            sums = batch_values.to(accumulator_dtype(batch_values.device))
            if is_mean:
                sums = sums * torch.as_tensor(batch_counts, dtype=sums.dtype, device=sums.device)
        else:
            sums = batch_values.long()
        previous = self._sum if isinstance(self._sum, torch.Tensor) else None
        totals = running(sums, previous)
        mean = float(is_mean)
        numbers_of: tuple[DeferredValue, ...]
        last_count: torch.Tensor | int
        count = self._count
        if isinstance(batch_counts, torch.Tensor) or isinstance(count, torch.Tensor):
            # Counts read from the data (padding left out), now or earlier in the epoch.
            counts = torch.as_tensor(batch_counts, device=batch_values.device).detach()
            count_totals = running(counts, None) + count
            self._count, last_count = count_totals[-1], counts[-1]
            numbers_of = (batch_values, counts)
            reader = _NumericSteps(self, mean, None)
        else:
            sizes = [int(size) for size in batch_counts]
            self._count = sum(sizes, start=count)
            last_count = sizes[-1]
            numbers_of = (batch_values,)
            reader = _NumericSteps(self, mean, sizes)
        self._sum = totals[-1]
        self._batch = (batch_values[-1], last_count, mean)
        last_of = (*self._batch, self._sum, self._count)
        return BlockEntries(self.options.name, steps, numbers_of, last_of, reader, self.checks)

    def _mean(self, total: float, count: float) -> float:
        if not count:
            return math.nan  # no items: n/a
        mean = self.scale * total / count
        return mean if self.transform is None else self.transform(mean)

    def _batch_mean(self, batch: float, batch_count: float, is_mean: float) -> float:
        return self._mean(batch * batch_count if is_mean else batch, batch_count)

    def _render(self, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        """A step's texts from the host values of its batch (value, count, whether a mean) and
        of the epoch so far (sum, count)."""
        batch, batch_count, is_mean, total, count = (values[0] for values in host)
        running = self._mean(total, count)
        numeric = self._batch_entry(batch, batch_count, is_mean)
        options = self.options

        def formatted() -> str:
            return f"epoch {options.format(running)} - batch {options.format(numeric.value)}"

        return formatted, numeric

    def _batch_entry(self, batch: float, batch_count: float, is_mean: float) -> NumericEntry:
        return self._batch_numbers([batch], [batch_count], is_mean).entry(0)

    def _batch_numbers(
        self, batches: Sequence[float], counts: Sequence[float], is_mean: float
    ) -> StepNumbers:
        """Steps' batch values as loggers keep them: a mean of its items, or with a
        ``transform`` (not a mean) a plain observation."""
        values = [
            self._batch_mean(batch, count, is_mean)
            for batch, count in zip(batches, counts, strict=True)
        ]
        if self.transform is None:
            return StepNumbers(values, [int(count) for count in counts], "aggregated")
        return StepNumbers(values, [1] * len(values), "value")

    def compute(self) -> MetricEntry:
        """The epoch entry: the running value over every item seen since :meth:`clear`."""
        running = self.running_value()
        return MetricEntry(
            self.options.name, self.options.format(running.value), running.serialize()
        )

    def value(self) -> float:
        """The latest batch value; NaN before the first update."""
        (batch,), (batch_count,), (is_mean,) = read_checked(self._batch, self.checks)
        return self._batch_mean(batch, batch_count, is_mean)

    def running_value(self) -> NumericEntry:
        """The epoch value so far, with its item count; NaN (count 0) in an empty epoch."""
        (total,), (count,) = read_checked([self._sum, self._count], self.checks)
        mean = self._mean(total, count)
        if self.transform is None:
            return NumericEntry(mean, int(count), "aggregated")
        return NumericEntry(mean, int(count), "final")

    def totals(self) -> Totals:
        """The epoch's sum and count so far (see :class:`~burnish.metric.totals.Totals`)."""
        return Totals((self._sum, self._count), self._evaluate, (self.checks,))

    def _evaluate(self, totals: Sequence[list[float]]) -> list[float]:
        (total,), (count,) = totals
        return [self._mean(total, count)]

    def clear(self) -> None:
        self._sum = 0.0
        self._count = 0
        self._batch = (math.nan, 0, 0.0)
        self.checks.clear()

    def state_dict(self) -> dict[str, Any]:
        return {
            "sum": self._sum,
            "count": self._count,
            "batch": list(self._batch),
            "checks": self.checks.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sum, self._count = state["sum"], state["count"]
        batch, batch_count, is_mean = state["batch"]
        self._batch = (batch, batch_count, float(is_mean))
        self.checks.load_state_dict(state["checks"])


class _NumericSteps:
    """How a block of a :class:`NumericMetricState` reads (see
    :meth:`NumericMetricState.update_steps`): every step's batch value, and its count when
    counts are tensors (else they are known here); the last step's texts from the state's own
    values after the block."""

    def __init__(self, state: NumericMetricState, is_mean: float, counts: list[int] | None) -> None:
        self.state = state
        self.is_mean = is_mean
        self.counts = counts

    def numbers(self, host: Sequence[list[float]]) -> StepNumbers:
        counts = host[1] if self.counts is None else self.counts
        return self.state._batch_numbers(host[0], counts, self.is_mean)

    def last_texts(self, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        return self.state._render(host)


class NumericState(Protocol):
    """What a numeric metric's state answers; the metric delegates to it."""

    def compute(self) -> MetricEntry: ...

    def value(self) -> float: ...

    def running_value(self) -> NumericEntry: ...

    def totals(self) -> Totals | None: ...

    def clear(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


StateT = TypeVar("StateT", bound=NumericState)
T = TypeVar("T")


class NumericStateMetric(NumericMetricMixin, SyncOnCompute, Generic[StateT]):
    """What a metric built on one state (``self._state``) delegates to it; with arithmetic,
    ``reset()`` and ``to(device)`` from :class:`~burnish.metric.mixins.NumericMetricMixin`."""

    state_reductions: ClassVar[dict[str, StateSync]] = {"_state": "nested"}
    _state: StateT

    def compute(self) -> MetricEntry:
        return compute_view(self)._state.compute()

    def value(self) -> float:
        return self._state.value()

    def running_value(self) -> NumericEntry:
        return self._state.running_value()

    def totals(self) -> Totals | None:
        """The state's totals (see :class:`~burnish.metric.totals.Totals`)."""
        return self._state.totals()

    def clear(self) -> None:
        self._state.clear()

    def state_dict(self) -> dict[str, Any]:
        """The epoch state so far (tensors, numbers, lists), for a checkpoint."""
        return self._state.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the epoch from a :meth:`state_dict`."""
        check_state(self, state)
        self._state.load_state_dict(state)
