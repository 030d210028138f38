"""Burn's ``ConfusionStatsState``: per-class counts summed over an epoch, which precision,
recall, F-beta, Matthews correlation, Dice and BLEU reduce to their values.

States that add the same counts (a rule's, counted once per block) to the very same running sum
share the addition, and each reduction of counts read to the host is made once for an entry's
texts and the epoch's value.
"""

from __future__ import annotations

import array
import functools
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import torch

from burnish.adaptor import MetricInput
from burnish.distributed.sync import StateSync
from burnish.metric.entry import (
    BlockEntries,
    BlockResult,
    DeferredChecks,
    FormatOptions,
    LogText,
    MetricEntry,
    NumericEntry,
    StepNumbers,
    Text,
)
from burnish.metric.totals import Totals, undefined
from burnish.metric.validation import GuardBounds
from burnish.metric.values import format_values, nan_mean, read_checked

__all__ = ["ConfusionStatsState", "ReduceCounts", "SharedCounts"]

T = TypeVar("T")

ReduceCounts = Callable[[torch.Tensor], torch.Tensor]


def _added(counts: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    return counts if previous is None else previous + counts


def _block_added(counts: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """The epoch's sum after a block's steps' ``counts``: a new tensor, which the states
    sharing the sum hold as it is (a view of running sums would be a new one for each, and
    they would add the next block apart)."""
    return _added(counts.sum(0), previous)


# Devices without float64 tensors.
_WITHOUT_FLOAT64 = frozenset({"mps"})


@dataclass(frozen=True, slots=True)
class SharedCounts:
    """Counts that several states add, and the block they were counted from: what the counts
    are of (a decision rule and the fields of the outputs it read) is the key under which the
    states share the work done with them in the block's memo."""

    block: MetricInput
    key: Hashable

    def derive(self, what: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per block for ``what`` of these counts."""
        return self.block.memo((what, self.key), compute)

    def added_to(self, previous: torch.Tensor | None, add: Callable[[], T]) -> T:
        """``add()``, the counts added to the running sum ``previous``, once for the states
        holding that very sum."""
        return self.block.memo_from(("added", self.key), (previous,), add)


class _CountSteps:
    """How a block of a :class:`ConfusionStatsState` reads: every step's number, reduced on the
    device where it has float64 (else the steps' counts, reduced here), so that a logger reads
    one value a step rather than counts; the last step's texts from its counts and the epoch's
    counts after it."""

    def __init__(self, state: ConfusionStatsState, shape: torch.Size, has_numbers: bool) -> None:
        self.state = state
        self.shape = shape
        self.has_numbers = has_numbers

    def numbers(self, host: Sequence[list[float]]) -> StepNumbers:
        if self.has_numbers:
            values = host[0]
        else:
            values = [nan_mean(batch) for batch in self.state._reduced(host[0], self.shape)]
        return StepNumbers(values, [1] * len(values), "value")

    def last_texts(self, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        # A block's last texts are always shown (a display, a log's record of what was
        # shown): the epoch's counts are reduced with the batch's, in one call.
        return self.state._render(self.shape, host, shown=True)


class ConfusionStatsState:
    """Burn's ``ConfusionStatsState``: per-class counts ``(K, C)`` summed over the epoch.

    Scores derived from counts (precision, recall, F-beta) are computed from the epoch's sums,
    never averaged over batches (Burn bug #2758). ``reduce`` maps float64 counts (read to the
    CPU in one transfer, or a block's on their device) to a scalar, or to a per-class vector
    whose NaN entries are classes outside the label set; a vector's numeric value is the mean
    of its defined entries. Leading dimensions are steps, reduced at once.
    Update entries show the epoch so far and the batch; their log text is the batch value as a
    plain observation (``value``), and :meth:`running_value` is a ``final`` entry, since a ratio
    of sums is not a mean that loggers could re-weight.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {
        "_counts": "sum",
        "_items": "sum",
        "checks": "nested",
    }
    _counts: torch.Tensor | None
    _batch: torch.Tensor | None
    _items: int

    def __init__(
        self, options: FormatOptions, reduce: ReduceCounts, checks: DeferredChecks | None = None
    ) -> None:
        self.options = options
        self.reduce = reduce
        self.checks: DeferredChecks = GuardBounds(()) if checks is None else checks
        # Counts reduced lately on the host, by their shape and values (see _reductions).
        self._recent: dict[tuple[torch.Size, tuple[float, ...]], list[float]] = {}
        self.clear()

    def update(
        self, counts: torch.Tensor, items: int, shared: SharedCounts | None = None
    ) -> MetricEntry:
        """Add a batch's integer ``counts`` over ``items`` items; the tensor is never modified.

        States that add the same ``shared`` counts to the same running sum (precision, recall
        and F-beta of one rule, updated together since the epoch began) share the addition: one
        operation per step for them all. A state cleared or restored apart holds another sum,
        and adds its own.
        """
        self._counts = self._epoch_sum(counts, shared, _added)
        self._batch = counts
        self._items += items
        # The shape travels with the entry: the state may be cleared before it is read.
        render = functools.partial(self._render, counts.shape)
        return MetricEntry.deferred(self.options.name, [counts, self._counts], render, self.checks)

    def update_steps(
        self, counts: torch.Tensor, items: Sequence[int], shared: SharedCounts | None = None
    ) -> BlockResult:
        """Add several steps' counts ``(steps, K, C)`` at once (see :mod:`burnish.metric.block`),
        step ``i`` over ``items[i]`` items; the steps' numbers and the last step's texts equal
        those of :meth:`update` called for each step in turn. ``shared`` shares the running sums
        as in :meth:`update`. The counts ``(K, C)`` of a block of one step are added as
        :meth:`update` adds them."""
        if counts.ndim == 2:
            return [self.update(counts, items[0], shared)]
        self._counts, self._batch = self._epoch_sum(counts, shared, _block_added), counts[-1]
        self._items += sum(items)
        steps, rows, columns = counts.shape
        shape = torch.Size((rows, columns))
        # Without float64 on the device, readers reduce the counts on the host.
        has_numbers = counts.device.type not in _WITHOUT_FLOAT64
        numbers_of = (self._step_numbers(counts, shared),) if has_numbers else (counts,)
        reader = _CountSteps(self, shape, has_numbers)
        last_of = (self._batch, self._counts)
        return BlockEntries(self.options.name, steps, numbers_of, last_of, reader, self.checks)

    def _step_numbers(self, counts: torch.Tensor, shared: SharedCounts | None) -> torch.Tensor:
        """Each step's number ``(steps,)`` on the device: its reduced counts, or the mean of
        its defined per-class values (as :func:`nan_mean`). The states reducing the same
        ``shared`` counts widen them to float64 once."""

        def widened() -> torch.Tensor:
            return counts.to(torch.float64)

        as_float = widened() if shared is None else shared.derive("float64", widened)
        reduced = self.reduce(as_float)
        return reduced.nanmean(dim=1) if reduced.ndim > 1 else reduced

    def _epoch_sum(
        self,
        counts: torch.Tensor,
        shared: SharedCounts | None,
        add: Callable[[torch.Tensor, torch.Tensor | None], T],
    ) -> T:
        """``add(counts, the epoch's sum so far)`` (out of place: entries keep their
        snapshot), shared by the states that add the same ``shared`` counts to the very same
        sum."""
        previous = self._counts
        if shared is None:
            return add(counts, previous)
        return shared.added_to(previous, lambda: add(counts, previous))

    def _reduced(self, flat: Iterable[float], shape: torch.Size) -> list[list[float]]:
        """Reduce many entries' counts in one call: ``flat``, their ``shape`` counts in turn."""
        # Through a flat buffer: building a tensor from nested lists costs three times more.
        buffer = array.array("d", flat)
        counts = torch.frombuffer(buffer, dtype=torch.float64).view(-1, *shape)
        reduced: list[list[float]] = self.reduce(counts).reshape(counts.shape[0], -1).tolist()
        return reduced

    def _reductions(self, host: Sequence[list[float]], shape: torch.Size) -> list[list[float]]:
        """The reductions of several entries' counts (``shape`` each), those reduced lately
        taken from :attr:`_recent`, the others reduced in one call. An epoch's end asks
        twice for the same counts: its value (with the last batch's counts, read with them)
        and its last step's texts (each reduction costs as much as a short epoch's other
        metric work)."""
        # Read and written from the training thread (epoch values) and the processor's
        # (texts): a value is taken once, never looked up again after another may clear it.
        recent = self._recent
        keys = [(shape, tuple(counts)) for counts in host]
        found = [recent.get(key) for key in keys]
        missing = [i for i, values in enumerate(found) if values is None]
        if missing:
            flat = [value for i in missing for value in host[i]]
            reduced = self._reduced(flat, shape)
            if len(recent) > 2 * len(host):
                recent.clear()
            for i, values in zip(missing, reduced, strict=True):
                found[i] = recent[keys[i]] = values
        # Lists of their own: a caller may change what it is given, never what is kept.
        return [list(cast("list[float]", values)) for values in found]

    def _render(
        self, shape: torch.Size, host: Sequence[list[float]], *, shown: bool = False
    ) -> tuple[Text, LogText]:
        """A step's texts from the host values of its counts and of the epoch's, ``shape``
        each. The epoch's are reduced when the text is read, unless it is ``shown`` for sure:
        a log reads every step's batch value, a display the last's text."""
        counts, epoch_counts = host
        options = self.options
        if shown:
            batch, epoch = self._reductions(host, shape)
        else:
            (batch,) = self._reduced(counts, shape)

        def formatted() -> str:
            values = epoch if shown else self._reductions([epoch_counts], shape)[0]
            if len(values) == 1:
                return f"epoch {options.format(values[0])} - batch {options.format(batch[0])}"
            return f"epoch {format_values(options, values)}"

        return formatted, NumericEntry(nan_mean(batch))

    def _read(self, counts: torch.Tensor | None) -> list[float]:
        if counts is None:
            read_checked([], self.checks)
            return [math.nan]
        (host,) = read_checked([counts], self.checks)
        return self._reductions([host], counts.shape)[0]

    def epoch_values(self) -> list[float]:
        """The epoch's reduced values: one number, or one per class (NaN: not in the label set)."""
        counts, batch = self._counts, self._batch
        if counts is None or batch is None:
            return self._read(counts)
        # The last batch's counts read and reduced with the epoch's: its step's texts, read
        # next, ask for both.
        host = read_checked([counts, batch], self.checks)
        return self._reductions(host, counts.shape)[0]

    def epoch_counts(self) -> torch.Tensor | None:
        """The counts summed over the epoch so far (``None`` before the first update)."""
        return self._counts

    def totals(self) -> Totals:
        """The epoch's per-class counts so far (see :class:`~burnish.metric.totals.Totals`)."""
        counts = self._counts
        if counts is None:
            # One placeholder, so that the layout of totals composed with others stays fixed.
            return Totals((0.0,), undefined, (self.checks,))
        evaluate = functools.partial(self._evaluate, counts.shape)
        return Totals((counts,), evaluate, (self.checks,))

    def _evaluate(self, shape: torch.Size, totals: Sequence[list[float]]) -> list[float]:
        return self._reductions(totals, shape)[0]

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
        self._counts = None
        self._batch = None
        self._items = 0
        self.checks.clear()

    def state_dict(self) -> dict[str, Any]:
        return {
            "counts": self._counts,
            "batch": self._batch,
            "items": self._items,
            "checks": self.checks.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._counts, self._batch = state["counts"], state["batch"]
        self._items = int(state["items"])
        self.checks.load_state_dict(state["checks"])
