"""What the metric processor hands its consumers (renderers, loggers): plain events.

Every value in an event is on the host: numbers by column for the steps of a block, entries
whose texts are built, epoch entries. A consumer never sees a tensor, a block or a deferred
value, and never reads a device.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from burnish.metric.base import Progress
from burnish.metric.entry import EntryKind, MetricEntry, NumericEntry

__all__ = [
    "EndEvent",
    "EndSplitEvent",
    "EpochEndEvent",
    "EventConsumer",
    "LearnerEvent",
    "MetricUpdate",
    "NumericColumn",
    "Split",
    "StartEvent",
    "StartSplitEvent",
    "StepsEvent",
    "TrainingProgress",
]


class Split(enum.Enum):
    TRAIN = "train"
    VALID = "valid"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class TrainingProgress:
    """Where the learner is: Burn's ``TrainingProgress``."""

    progress: Progress
    epoch: int
    epoch_total: int
    iteration: int


@dataclass(frozen=True, slots=True)
class MetricUpdate:
    """One metric's entry. ``higher_is_better`` is ``None`` for text metrics (not plotted).

    For a numeric metric, ``entry.numeric`` is the value to plot.
    """

    entry: MetricEntry
    higher_is_better: bool | None

    @property
    def numeric(self) -> bool:
        return self.higher_is_better is not None


@dataclass(frozen=True, slots=True)
class NumericColumn:
    """One numeric metric's entries for consecutive steps, by column."""

    values: Sequence[float]
    counts: Sequence[int]
    kinds: Sequence[EntryKind]

    def __len__(self) -> int:
        return len(self.values)

    def entry(self, step: int) -> NumericEntry:
        return NumericEntry(self.values[step], self.counts[step], self.kinds[step])


@dataclass(frozen=True, slots=True)
class StartEvent:
    """Training (or evaluation) begins. ``fresh``: a fit that starts a run from nothing (not
    resumed, not an evaluation of a run): loggers start their files afresh."""

    epoch_total: int
    splits: tuple[Split, ...]
    started_at: float
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class StartSplitEvent:
    split: Split
    epoch: int
    items_total: int | None


@dataclass(frozen=True, slots=True)
class StepsEvent:
    """Consecutive steps of one split's epoch, as the metric processor read them: where each
    step was, every numeric metric's values by column, and every metric's entry for the last
    step (the one a display shows).

    ``iterations``, ``items`` (processed in the split after the step), ``lrs`` and ``at`` (its
    ``time.monotonic()``) have one element per step, as has each column of ``numbers``.
    """

    split: Split
    epoch: int
    epoch_total: int
    items_total: int | None
    iterations: Sequence[int]
    items: Sequence[int]
    lrs: Sequence[tuple[float, ...]]
    at: Sequence[float]
    numbers: Mapping[str, NumericColumn]
    latest: tuple[MetricUpdate, ...]

    def __len__(self) -> int:
        return len(self.iterations)

    def progress(self, step: int = -1) -> TrainingProgress:
        """Where step ``step`` (by default the last) was."""
        return TrainingProgress(
            Progress(self.items[step], self.items_total),
            self.epoch,
            self.epoch_total,
            self.iterations[step],
        )


@dataclass(frozen=True, slots=True)
class EndSplitEvent:
    """A split's epoch is done: every metric's epoch value, from ``compute()``."""

    split: Split
    epoch: int
    metrics: tuple[MetricUpdate, ...]
    at: float


@dataclass(frozen=True, slots=True)
class EpochEndEvent:
    epoch: int


@dataclass(frozen=True, slots=True)
class EndEvent:
    """Training ended: ``reason`` is ``completed``, ``stopped``, ``early_stopped`` or ``error``."""

    reason: str
    at: float


LearnerEvent = StartEvent | StartSplitEvent | StepsEvent | EndSplitEvent | EpochEndEvent | EndEvent


class EventConsumer(Protocol):
    """A renderer or logger: receives events in batches on its own thread."""

    @property
    def tick_seconds(self) -> float:
        """The longest the consumer waits between calls to :meth:`consume`."""
        ...

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        """Handle the events since the last call (possibly none: a tick)."""
        ...

    def close(self) -> None:
        """Called once after the last :meth:`consume`, on the consumer's thread."""
        ...
