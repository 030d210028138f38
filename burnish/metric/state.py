"""State helpers that metrics compose, as in Burn's ``metric/state.rs``."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from burnish.metric.base import (
    DeferredValue,
    FormatOptions,
    MetricEntry,
    NumericEntry,
    format_value,
)
from burnish.metric.host import accumulator_dtype, to_host
from burnish.metric.validation import RangeGuard

__all__ = [
    "ConfusionStatsState",
    "DeferredChecks",
    "ExpMeanState",
    "Folded",
    "GuardBounds",
    "NumericMetricState",
    "NumericStateMetric",
    "PredictionAccumulator",
    "RangeGuards",
    "ScoreHistogram",
    "format_values",
    "nan_mean",
    "read_checked",
    "read_values",
]


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


def nan_mean(values: Sequence[float]) -> float:
    """The mean of the values that are not NaN; NaN when there are none."""
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else math.nan


def format_values(options: FormatOptions, values: Sequence[float]) -> str:
    """One value as ``options`` formats it; several (per class) as their mean and a list."""
    if len(values) == 1:
        return options.format(values[0])
    per_class = ", ".join(
        f"{index}: {format_value(value, options.precision_)}" for index, value in enumerate(values)
    )
    return f"{options.format(nan_mean(values))} mean [{per_class}]"


class DeferredChecks(Protocol):
    """Deferred input checks read together with a metric's values (see :class:`GuardBounds`)."""

    def pending(self) -> list[DeferredValue]:
        """The values to read, in one transfer with the metric's own."""
        ...

    def verify(self, host: Sequence[list[float]]) -> None:
        """Raise ``ValueError`` if the host values of :meth:`pending` break a check."""
        ...

    def clear(self) -> None: ...


def _combine(op: str, parts: Sequence[list[float]]) -> list[float]:
    """Element-wise fold of host lists, as :class:`Folded` folds on the device."""
    result = list(parts[0])
    for part in parts[1:]:
        if op == "sum":
            result = [a + b for a, b in zip(result, part, strict=True)]
        else:
            # "bounds": minimum at even positions, maximum at odd ones; NaN wins either.
            result = [
                math.nan
                if math.isnan(a) or math.isnan(b)
                else (min(a, b) if index % 2 == 0 else max(a, b))
                for index, (a, b) in enumerate(zip(result, part, strict=True))
            ]
    return result


class Folded:
    """A running sum of same-shaped tensors, folded lazily.

    Adding only keeps a reference (no device work); every ``every`` additions the parts are
    folded into one with two operations. Per step and metric this costs nothing on the device,
    where an eager ``running + batch`` would launch a kernel each time. Parts are never modified,
    so a snapshot (:meth:`parts`) stays valid after later additions.
    """

    def __init__(self, every: int = 64) -> None:
        self.every = every
        self._parts: list[torch.Tensor] = []

    def add(self, tensor: torch.Tensor) -> None:
        self._parts.append(tensor)
        if len(self._parts) > self.every:
            self.fold()

    def fold(self) -> torch.Tensor | None:
        """The running value as one tensor (``None`` before the first addition)."""
        if len(self._parts) > 1:
            self._parts = [torch.stack(self._parts).sum(0)]
        return self._parts[0] if self._parts else None

    def parts(self) -> list[torch.Tensor]:
        """The tensors whose sum (or maximum) is the running value, as a snapshot."""
        return list(self._parts)

    def combine(self, host: Sequence[list[float]]) -> list[float]:
        """The running value from the host values of :meth:`parts`."""
        return _combine("sum", host)

    def clear(self) -> None:
        self._parts = []


class GuardBounds:
    """Several :class:`RangeGuard` checks watched lazily.

    Each step adds its bounds ``(min_0, max_0, min_1, max_1, ...)`` as 0-d tensors (computed
    once per step and shared by the metrics watching the same tensors); they are kept as
    references and folded every 64 steps, so an update costs no device work. :meth:`pending`
    and :meth:`verify` read and check them with a metric's values. :meth:`range_guards` gives
    :class:`RangeGuard` views for helpers that read ``RangeGuard.seen`` on every update
    (``NumericMetricState``); those fold on each update (one operation per bound).
    """

    def __init__(self, guards: Sequence[RangeGuard], every: int = 64) -> None:
        self.guards = tuple(guards)
        self.every = every
        self._width = 2 * len(self.guards)
        # Flat (min_0, max_0, min_1, ...) of every step not folded yet: a snapshot is one copy.
        self._flat: list[torch.Tensor] = []

    def observe(self, bounds: Sequence[torch.Tensor]) -> None:
        self._flat.extend(bounds)
        if len(self._flat) > self.every * self._width:
            self.fold()

    def fold(self) -> list[torch.Tensor] | None:
        """The bounds so far, as one flat list (``None`` before the first step)."""
        width, flat = self._width, self._flat
        steps = len(flat) // width if width else 0
        if steps == 2:
            self._flat = [
                torch.minimum(flat[i], flat[i + width])
                if i % 2 == 0
                else torch.maximum(flat[i], flat[i + width])
                for i in range(width)
            ]
        elif steps > 2:
            self._flat = [
                torch.stack(flat[i::width]).amin()
                if i % 2 == 0
                else torch.stack(flat[i::width]).amax()
                for i in range(width)
            ]
        return self._flat if self._flat else None

    def pending(self) -> list[DeferredValue]:
        return list(self._flat)

    def verify(self, host: Sequence[list[float]]) -> None:
        if not host:
            return
        width = self._width
        flat = [values[0] for values in host]
        rows = [flat[start : start + width] for start in range(0, len(flat), width)]
        values = _combine("bounds", rows)
        for index, guard in enumerate(self.guards):
            guard.verify(values[2 * index], values[2 * index + 1])

    def clear(self) -> None:
        self._flat = []

    def range_guards(self) -> tuple[RangeGuard, ...]:
        """Views of the guards, for state helpers that read ``RangeGuard.seen``."""
        return tuple(_BoundsView(self, index) for index in range(len(self.guards)))


class _BoundsView(RangeGuard):
    """A guard of a :class:`GuardBounds`: reads its pair of the folded bounds."""

    def __init__(self, bounds: GuardBounds, index: int) -> None:
        guard = bounds.guards[index]
        super().__init__(guard.metric, guard.what, guard.low, guard.high, guard.expected)
        self._bounds = bounds
        self._index = index

    def observe(self, values: torch.Tensor) -> None:
        raise TypeError("observe through the GuardBounds that owns this guard")

    @property
    def seen(self) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        folded = self._bounds.fold()
        if folded is None:
            return (math.inf, -math.inf)
        return (folded[2 * self._index], folded[2 * self._index + 1])

    def verify(self, low: float, high: float) -> None:
        # The owner's settings may change after the view is made (classes learnt on update).
        self._bounds.guards[self._index].verify(low, high)

    def clear(self) -> None:
        self._bounds.clear()


class RangeGuards:
    """:class:`DeferredChecks` for plain :class:`RangeGuard` objects."""

    def __init__(self, guards: Sequence[RangeGuard]) -> None:
        self.guards = tuple(guards)

    def pending(self) -> list[DeferredValue]:
        return [value for guard in self.guards for value in guard.seen]

    def verify(self, host: Sequence[list[float]]) -> None:
        for index, guard in enumerate(self.guards):
            (low,), (high,) = host[2 * index : 2 * index + 2]
            guard.verify(low, high)

    def clear(self) -> None:
        for guard in self.guards:
            guard.clear()


def read_checked(values: Sequence[DeferredValue], checks: DeferredChecks) -> list[list[float]]:
    """Host values of ``values`` and ``checks`` in one transfer; raises a failed check first."""
    host = read_values([*values, *checks.pending()])
    checks.verify(host[len(values) :])
    return host[: len(values)]


ReduceCounts = Callable[[torch.Tensor], torch.Tensor]


class ConfusionStatsState:
    """Burn's ``ConfusionStatsState``: per-class counts ``(K, C)`` summed over the epoch.

    Scores derived from counts (precision, recall, F-beta) are computed from the epoch's sums,
    never averaged over batches (Burn bug #2758). ``reduce`` maps counts (a float64 CPU tensor,
    read in one transfer) to a scalar, or to a per-class vector whose NaN entries are classes
    outside the label set; a vector's numeric value is the mean of its defined entries.
    Update entries show the epoch so far and the batch; their log text is the batch value as a
    plain observation (``value``), and :meth:`running_value` is a ``final`` entry, since a ratio
    of sums is not a mean that loggers could re-weight.
    """

    def __init__(
        self, options: FormatOptions, reduce: ReduceCounts, checks: DeferredChecks | None = None
    ) -> None:
        self.options = options
        self.reduce = reduce
        self.checks: DeferredChecks = RangeGuards(()) if checks is None else checks
        self._counts = Folded()
        self._batch: torch.Tensor | None = None
        self._items = 0

    def update(self, counts: torch.Tensor, items: int) -> MetricEntry:
        """Add a batch's ``counts`` over ``items`` items; the tensor is never modified."""
        # Folded lazily: no device work per step. Parts are never modified in place, so the
        # entries handed out (and other metrics sharing the memoised counts) stay snapshots.
        self._counts.add(counts)
        self._batch = counts
        self._items += items
        parts = self._counts.parts()
        return MetricEntry.deferred(
            self.options.name,
            [counts, *parts, *self.checks.pending()],
            functools.partial(self._render_update, int(counts.shape[-1]), len(parts)),
        )

    def _reduced(self, host: list[float], columns: int) -> list[float]:
        counts = torch.tensor(host, dtype=torch.float64).view(-1, columns)
        return [float(x) for x in self.reduce(counts).reshape(-1)]

    def _render_update(
        self, columns: int, parts: int, host: Sequence[list[float]]
    ) -> tuple[str, str]:
        self.checks.verify(host[1 + parts :])
        batch_values = self._reduced(host[0], columns)
        epoch_values = self._reduced(self._counts.combine(host[1 : 1 + parts]), columns)
        if len(epoch_values) == 1:
            epoch_text = format_values(self.options, epoch_values)
            formatted = f"epoch {epoch_text} - batch {format_values(self.options, batch_values)}"
        else:
            formatted = f"epoch {format_values(self.options, epoch_values)}"
        return formatted, NumericEntry(nan_mean(batch_values)).serialize()

    def _read(self, counts: torch.Tensor | None) -> list[float]:
        if counts is None:
            read_checked([], self.checks)
            return [math.nan]
        (host,) = read_checked([counts], self.checks)
        return self._reduced(host, int(counts.shape[-1]))

    def epoch_values(self) -> list[float]:
        """The epoch's reduced values: one number, or one per class (NaN: not in the label set)."""
        return self._read(self._counts.fold())

    def epoch_counts(self) -> torch.Tensor | None:
        """The counts summed over the epoch so far (``None`` before the first update)."""
        return self._counts.fold()

    def value(self) -> float:
        """The latest batch value; NaN before the first update."""
        return nan_mean(self._read(self._batch))

    def running_value(self) -> NumericEntry:
        """The epoch value so far (a ``final`` entry); NaN in an empty epoch."""
        return NumericEntry(nan_mean(self.epoch_values()), self._items, "final")

    def compute(self) -> MetricEntry:
        """The epoch entry; per-class values are listed in its display text."""
        values = self.epoch_values()
        entry = NumericEntry(nan_mean(values), self._items, "final")
        return MetricEntry(
            self.options.name, format_values(self.options, values), entry.serialize()
        )

    def clear(self) -> None:
        self._counts.clear()
        self._batch = None
        self._items = 0
        self.checks.clear()


class PredictionAccumulator:
    """Every batch's scores and targets, kept on their device for epoch-wide ranking metrics.

    Memory grows with the samples seen (``nbytes``); the binned :class:`ScoreHistogram` is the
    fixed-size alternative. Tensors are kept as given (detached, not copied): do not modify a
    batch's outputs in place after updating a metric with them.
    """

    def __init__(self) -> None:
        self._scores: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self.items = 0

    def append(self, scores: torch.Tensor, targets: torch.Tensor) -> None:
        self._scores.append(scores.detach())
        self._targets.append(targets.detach())
        self.items += scores.shape[0]

    def gather(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """All scores and targets so far, concatenated (once: later calls reuse the result)."""
        if not self._scores:
            return None
        if len(self._scores) > 1:
            self._scores = [torch.cat(self._scores)]
            self._targets = [torch.cat(self._targets)]
        return self._scores[0], self._targets[0]

    @property
    def nbytes(self) -> int:
        """Bytes of state held: grows with the number of samples."""
        tensors = [*self._scores, *self._targets]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)

    def clear(self) -> None:
        self._scores = []
        self._targets = []
        self.items = 0


class ScoreHistogram:
    """Fixed-size counts of scores per bin (binned ranking metrics): memory independent of the
    number of samples. Batches add out of place, so entries may hold the tensors handed out.
    """

    def __init__(self) -> None:
        self.counts: torch.Tensor | None = None
        self.items = 0

    def add(self, counts: torch.Tensor, items: int) -> None:
        self.counts = counts if self.counts is None else self.counts + counts
        self.items += items

    @property
    def nbytes(self) -> int:
        """Bytes of state held: fixed by the number of columns and bins."""
        return 0 if self.counts is None else self.counts.numel() * self.counts.element_size()

    def clear(self) -> None:
        self.counts = None
        self.items = 0


def _exp(value: float) -> float:
    # exp() of a mean log-likelihood overflows to inf past ~709, as a perplexity should.
    return math.inf if value > 709.0 else math.exp(value)


class ExpMeanState(NumericMetricState):
    """A :class:`NumericMetricState` that reports ``exp`` of its running mean.

    For perplexity: the state averages token negative log-likelihoods, and the epoch value is
    ``exp`` of the epoch's mean, not a mean of per-batch perplexities. As ``exp`` of a mean is
    not a mean, :meth:`running_value` is a ``final`` entry and update entries log the batch
    value as a plain observation.
    """

    def _render_update(self, host: Sequence[list[float]]) -> tuple[str, str]:
        (current,), (total,), (count,), (_batch_count,), *guards = host
        self._verify(guards)
        running = _exp(total / count) if count else math.nan
        current = _exp(current)
        formatted = f"epoch {self.options.format(running)} - batch {self.options.format(current)}"
        return formatted, NumericEntry(current).serialize()

    def value(self) -> float:
        return _exp(super().value())

    def running_value(self) -> NumericEntry:
        mean = super().running_value()
        return NumericEntry(_exp(mean.value), mean.count, "final")
