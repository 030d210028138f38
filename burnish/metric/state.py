"""State helpers that metrics compose, as in Burn's ``metric/state.rs``.

Updating a state does no device work of its own: a batch's values are kept by reference and
summed in chunks (:class:`Folded`), so a metric's cost per step is what it computes from the
batch, not its bookkeeping. Every entry handed out is a snapshot: tensors are never modified in
place once a state holds them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from burnish.metric.base import (
    DeferredValue,
    FormatOptions,
    MetricEntry,
    NumericEntry,
    format_value,
)
from burnish.metric.host import accumulator_dtype, to_host
from burnish.metric.validation import DeferredChecks, GuardBounds

__all__ = [
    "ConfusionStatsState",
    "Folded",
    "NumericMetricState",
    "NumericStateMetric",
    "PredictionAccumulator",
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


class Folded:
    """A running sum of same-shaped tensors, folded lazily.

    Adding keeps a reference (no device work); every ``every`` additions the parts are summed,
    in float64 where the device has it, into one running total (two operations). A snapshot
    (:meth:`parts`) is a list copy and stays valid after later additions.
    """

    def __init__(self, every: int = 64) -> None:
        self.every = every
        self._total: torch.Tensor | None = None
        self._parts: list[torch.Tensor] = []

    def add(self, tensor: torch.Tensor) -> None:
        self._parts.append(tensor)
        if len(self._parts) >= self.every:
            self._fold()

    def _fold(self) -> None:
        device = self._parts[0].device
        chunk = torch.stack(self._parts).sum(0, dtype=accumulator_dtype(device))
        self._total = chunk if self._total is None else self._total + chunk
        self._parts = []

    def fold(self) -> torch.Tensor | None:
        """The running sum as one tensor (``None`` before the first addition)."""
        if self._parts:
            self._fold()
        return self._total

    def parts(self) -> list[torch.Tensor]:
        """Tensors whose sum is the running value, as a snapshot."""
        return self._parts.copy() if self._total is None else [self._total, *self._parts]

    @staticmethod
    def combine(host: Sequence[list[float]]) -> list[float]:
        """The running value from the host values of :meth:`parts`."""
        return [math.fsum(column) for column in zip(*host, strict=True)] if host else []

    def clear(self) -> None:
        self._total = None
        self._parts = []


class NumericMetricState:
    """Burn's ``NumericMetricState``: the count-weighted running mean of an epoch.

    A batch is given as a sum over its items and their count: the count is an ``int`` when the
    shape tells it, a tensor when the data does (tokens that are not padding). The mean is
    multiplied by ``scale`` (100 for a percentage) and passed through ``transform`` (``exp`` for
    perplexity) on the host. With a ``transform``, the epoch value is not a mean, so it is
    logged as a ``final`` entry and steps as plain values. ``checks`` are read and verified with
    every value, and cleared with the state.
    """

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
        self._sums = Folded()
        self._tensor_counts = Folded()
        self._count = 0
        self._batch: tuple[DeferredValue, DeferredValue] = (math.nan, 0)

    def update(self, batch_sum: torch.Tensor, batch_count: torch.Tensor | int) -> MetricEntry:
        """Add a batch whose values sum to ``batch_sum`` over ``batch_count`` items."""
        batch_sum = batch_sum.detach()
        self._sums.add(batch_sum)
        if isinstance(batch_count, torch.Tensor):
            self._tensor_counts.add(batch_count)
        else:
            self._count += batch_count
        self._batch = (batch_sum, batch_count)
        sums, counts = self._sums.parts(), self._tensor_counts.parts()
        return MetricEntry.deferred(
            self.options.name,
            [batch_sum, batch_count, self._count, *sums, *counts, *self.checks.pending()],
            functools.partial(self._render_update, len(sums), len(counts)),
        )

    def _mean(self, total: float, count: float) -> float:
        if not count:
            return math.nan  # no items: n/a
        mean = self.scale * total / count
        return mean if self.transform is None else self.transform(mean)

    def _render_update(
        self, sums: int, counts: int, host: Sequence[list[float]]
    ) -> tuple[str, str]:
        (batch_sum,), (batch_count,), (count,) = host[:3]
        self.checks.verify(host[3 + sums + counts :])
        total = math.fsum(value for (value,) in host[3 : 3 + sums])
        count += math.fsum(value for (value,) in host[3 + sums : 3 + sums + counts])
        running, current = self._mean(total, count), self._mean(batch_sum, batch_count)
        formatted = f"epoch {self.options.format(running)} - batch {self.options.format(current)}"
        if self.transform is None:
            return formatted, NumericEntry(current, int(batch_count), "aggregated").serialize()
        return formatted, NumericEntry(current).serialize()

    def compute(self) -> MetricEntry:
        """The epoch entry: the running value over every item seen since :meth:`clear`."""
        running = self.running_value()
        return MetricEntry(
            self.options.name, self.options.format(running.value), running.serialize()
        )

    def value(self) -> float:
        """The latest batch value; NaN before the first update."""
        (batch_sum,), (batch_count,) = read_checked(self._batch, self.checks)
        return self._mean(batch_sum, batch_count)

    def running_value(self) -> NumericEntry:
        """The epoch value so far, with its item count; NaN (count 0) in an empty epoch."""
        total, counts = self._sums.fold(), self._tensor_counts.fold()
        host = read_checked(
            [0.0 if total is None else total, *([] if counts is None else [counts])], self.checks
        )
        count = self._count + (host[1][0] if counts is not None else 0)
        mean = self._mean(host[0][0], count)
        if self.transform is None:
            return NumericEntry(mean, int(count), "aggregated")
        return NumericEntry(mean, int(count), "final")

    def clear(self) -> None:
        self._sums.clear()
        self._tensor_counts.clear()
        self._count = 0
        self._batch = (math.nan, 0)
        self.checks.clear()


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
        self.checks: DeferredChecks = GuardBounds(()) if checks is None else checks
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
