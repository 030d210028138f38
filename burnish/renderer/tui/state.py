"""What the dashboard knows: the learner's events folded into plain data the panels read."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from burnish.learner.events import (
    EndEvent,
    EndSplitEvent,
    EpochEndEvent,
    LearnerEvent,
    MetricUpdate,
    ProcessedItemEvent,
    Split,
    StartEvent,
    StartSplitEvent,
    StepUpdates,
    is_numeric,
    metric_names,
    numeric_of,
)
from burnish.metric.entry import MetricEntry, StepEntries, resolve_entries, resolve_step_numbers
from burnish.renderer.tui.eta import EtaEstimator
from burnish.renderer.tui.history import MetricHistory

__all__ = ["DashboardState", "MetricState", "SplitProgress"]


@dataclass
class MetricState:
    """One metric across splits, in the order splits first reported it."""

    name: str
    numeric: bool
    splits: dict[Split, MetricHistory] = field(default_factory=dict)

    def split(self, split: Split) -> MetricHistory:
        history = self.splits.get(split)
        if history is None:
            history = self.splits[split] = MetricHistory()
        return history


@dataclass
class SplitProgress:
    """Where the current split is."""

    split: Split | None = None
    epoch: int = 0
    epoch_total: int = 0
    items: int = 0
    items_total: int | None = None
    iteration: int = 0


class DashboardState:
    """Folds events into metric histories, texts and progress.

    :meth:`apply` reads every metric entry of a batch of events in one
    :func:`~burnish.metric.entry.resolve_entries` call; an error a deferred entry raises (an
    input check) propagates, for the learner to report.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_steps_per_tick: int = 32
    ) -> None:
        self.clock = clock
        self.max_steps_per_tick = max_steps_per_tick
        self.metrics: dict[str, MetricState] = {}
        self.progress = SplitProgress()
        # Each split's latest progress: on short epochs a frame often falls between a split's
        # start and its first block of steps, and the other splits' bars still show movement.
        self.split_progress: dict[Split, SplitProgress] = {}
        self.eta = EtaEstimator()
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.end_reason: str | None = None
        self.splits: tuple[Split, ...] = ()
        # Items in each (split, epoch): the known total, else the most seen so far.
        self._epoch_items: dict[tuple[Split, int], int] = {}
        self._epoch_items_known: set[tuple[Split, int]] = set()

    # -- folding events -------------------------------------------------------------------------

    def apply(self, events: Sequence[LearnerEvent]) -> bool:
        """Fold ``events`` in; ``True`` when anything shown may have changed.

        Of a split's steps in one batch, at most ``max_steps_per_tick``, evenly spread and
        always the last, have their metrics read and plotted: a fast loop makes thousands of
        steps a second. Their numbers are read by column where a learner's blocks give them
        (see :class:`~burnish.metric.entry.StepEntries`), and texts only for the last step of
        each split, the one shown. Progress and the ETA take every step.
        """
        if not events:
            return False
        sampled = self._sample(events)
        shown = self._last_steps(events, sampled)
        columns: dict[int, StepEntries] = {}
        entries: list[MetricEntry] = []
        for index, event in enumerate(events):
            if isinstance(event, ProcessedItemEvent):
                metrics = event.metrics
                if index not in sampled:
                    continue
                if not isinstance(metrics, StepUpdates):
                    entries.extend(update.entry for update in metrics)
                    continue
                block = metrics.block
                columns.update((id(column), column) for column in block.step_columns)
                if index in shown:
                    entries.extend(update.entry for update in metrics)
                else:
                    entries.extend(column[metrics.step] for column in block.entry_columns)
            elif isinstance(event, EndSplitEvent):
                entries.extend(update.entry for update in event.metrics)
        resolve_step_numbers(columns.values())
        # An entry can come twice (a metric handing out a cached entry): read each once.
        resolve_entries(dict.fromkeys(entries))
        for index, event in enumerate(events):
            if isinstance(event, ProcessedItemEvent):
                self._processed(event, with_metrics=index in sampled, shown=index in shown)
            else:
                self._apply(event)
        return True

    @staticmethod
    def _last_steps(events: Sequence[LearnerEvent], sampled: set[int]) -> set[int]:
        """The index of each split's last sampled step: its texts are shown."""
        last: dict[Split, int] = {}
        for index in sampled:
            split = cast(ProcessedItemEvent, events[index]).split
            last[split] = max(index, last.get(split, index))
        return set(last.values())

    def _sample(self, events: Sequence[LearnerEvent]) -> set[int]:
        """The indices of the steps whose metrics are read, per split."""
        steps: dict[Split, list[int]] = {}
        for index, event in enumerate(events):
            if isinstance(event, ProcessedItemEvent):
                steps.setdefault(event.split, []).append(index)
        cap = max(1, self.max_steps_per_tick)
        sampled: set[int] = set()
        for indices in steps.values():
            if len(indices) <= cap:
                sampled.update(indices)
                continue
            if cap == 1:
                sampled.add(indices[-1])
                continue
            last = len(indices) - 1
            sampled.update(indices[round(i * last / (cap - 1))] for i in range(cap))
        return sampled

    def _apply(self, event: LearnerEvent) -> None:
        if isinstance(event, EndSplitEvent):
            self._end_split(event)
        elif isinstance(event, StartSplitEvent):
            progress = self.progress
            progress.split = event.split
            progress.epoch = event.epoch
            progress.items = 0
            progress.items_total = event.items_total
            previous = self.split_progress.get(event.split)
            self.split_progress[event.split] = SplitProgress(
                event.split,
                event.epoch,
                progress.epoch_total,
                0,
                event.items_total,
                0 if previous is None else previous.iteration,
            )
            if event.items_total is not None:
                key = (event.split, event.epoch)
                self._epoch_items[key] = event.items_total
                self._epoch_items_known.add(key)
            self.eta.start_split(event.split)
        elif isinstance(event, StartEvent):
            # A resumed run starts after its logged history, which ended. An evaluation of the
            # run (a test split alone) keeps the run's epochs and start.
            self.ended_at = self.end_reason = None
            if event.splits != (Split.TEST,) or self.started_at is None:
                self.started_at = event.started_at
                self.progress.epoch_total = event.epoch_total
            self.splits = event.splits
        elif isinstance(event, EndEvent):
            self.ended_at = event.at
            self.end_reason = event.reason
        elif isinstance(event, EpochEndEvent):
            pass

    def _processed(
        self, event: ProcessedItemEvent, *, with_metrics: bool = True, shown: bool = True
    ) -> None:
        training = event.progress
        progress = self.progress
        progress.split = event.split
        progress.epoch = training.epoch
        progress.epoch_total = training.epoch_total
        progress.items = training.progress.items_processed
        progress.items_total = training.progress.items_total
        progress.iteration = training.iteration
        own = self.split_progress.get(event.split)
        if own is None:
            own = self.split_progress[event.split] = SplitProgress(event.split)
        own.epoch = training.epoch
        own.epoch_total = training.epoch_total
        own.items = progress.items
        own.items_total = progress.items_total
        own.iteration = training.iteration
        key = (event.split, training.epoch)
        if key not in self._epoch_items_known:
            if training.progress.items_total is not None:
                self._epoch_items[key] = training.progress.items_total
                self._epoch_items_known.add(key)
            else:
                self._epoch_items[key] = max(self._epoch_items.get(key, 0), progress.items)
        self.eta.observe(event)
        if not with_metrics:
            return
        metrics = event.metrics
        for index, name in enumerate(metric_names(metrics)):
            numeric = is_numeric(metrics, index)
            history = self._metric(name, numeric).split(event.split)
            if shown:
                history.latest = metrics[index].entry
            if numeric:
                value = _plotted(metrics, index)
                if math.isfinite(value):
                    history.push((training.epoch, progress.items, value))

    def _end_split(self, event: EndSplitEvent) -> None:
        for index, update in enumerate(event.metrics):
            history = self._metric(update.entry.name, update.numeric).split(event.split)
            history.epoch_formatted = update.entry.formatted
            if update.numeric:
                history.epochs[event.epoch] = _plotted(event.metrics, index)

    def _metric(self, name: str, numeric: bool) -> MetricState:
        metric = self.metrics.get(name)
        if metric is None:
            metric = self.metrics[name] = MetricState(name, numeric)
        return metric

    # -- reading --------------------------------------------------------------------------------

    @property
    def iteration(self) -> int:
        """The training iteration (optimiser steps so far) when training, else the current
        split's step: a validation split counts its own steps from 1 each epoch."""
        train = self.split_progress.get(Split.TRAIN)
        return self.progress.iteration if train is None else train.iteration

    @property
    def numeric_metrics(self) -> list[MetricState]:
        return [metric for metric in self.metrics.values() if metric.numeric]

    def epoch_position(self, split: Split, epoch: int, items: int) -> float:
        """Where a step lies on the plots' x axis, in epochs: 0.5 is half of the first epoch."""
        total = self._epoch_items.get((split, epoch), 0)
        return epoch - 1 + (items / total if total else 0.0)

    def epoch_scales(self, split: Split) -> dict[int, float]:
        """For each epoch of ``split``, what turns an item count into a fraction of the epoch."""
        scales: dict[int, float] = {}
        for (of, epoch), total in self._epoch_items.items():
            if of is split:
                scales[epoch] = 1.0 / total if total else 0.0
        return scales

    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else self.clock()
        return max(0.0, end - self.started_at)


def _plotted(metrics: Sequence[MetricUpdate], index: int) -> float:
    try:
        # Resolved already: a deferred check's error was raised then.
        return numeric_of(metrics, index).value
    except ValueError:
        # A numeric metric whose log text is not a number is shown, not plotted.
        return math.nan
