"""What the dashboard knows: the learner's events folded into plain data the panels read."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    EpochEndEvent,
    LearnerEvent,
    MetricUpdate,
    Split,
    StartEvent,
    StartSplitEvent,
    StepsEvent,
)
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
    """Folds events into metric histories, texts and progress."""

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
        always the last, are plotted: a fast loop makes thousands of steps a second, more than
        a plot can show. The texts shown are the last step's of each split. Progress and the
        ETA take every step.
        """
        if not events:
            return False
        sampled = self._sample(events)
        # Each split's last block of steps: its last step's texts are the ones shown.
        shown = {
            event.split: index
            for index, event in enumerate(events)
            if isinstance(event, StepsEvent) and len(event)
        }
        for index, event in enumerate(events):
            if isinstance(event, StepsEvent):
                self._steps(event, sampled.get(index, ()), shown=shown.get(event.split) == index)
            else:
                self._apply(event)
        return True

    def _sample(self, events: Sequence[LearnerEvent]) -> dict[int, list[int]]:
        """The steps plotted, by index of their event: per split, evenly spread over the
        split's steps in ``events``, the last one always."""
        blocks: dict[Split, list[tuple[int, int]]] = {}
        for index, event in enumerate(events):
            if isinstance(event, StepsEvent) and len(event):
                blocks.setdefault(event.split, []).append((index, len(event)))
        cap = max(1, self.max_steps_per_tick)
        sampled: dict[int, list[int]] = {}
        for sizes in blocks.values():
            last = sum(size for _, size in sizes) - 1
            if last < cap:
                sampled.update((index, list(range(size))) for index, size in sizes)
                continue
            # Where the plotted steps are among the split's steps, in order.
            chosen = iter([last] if cap == 1 else [round(i * last / (cap - 1)) for i in range(cap)])
            position = next(chosen)
            offset = 0
            for index, size in sizes:
                steps = sampled.setdefault(index, [])
                while position < offset + size:
                    steps.append(position - offset)
                    position = next(chosen, last + 1)
                offset += size
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

    def _steps(self, event: StepsEvent, sampled: Sequence[int], *, shown: bool) -> None:
        if not len(event):
            return
        split, epoch = event.split, event.epoch
        progress = self.progress
        progress.split = split
        progress.epoch = epoch
        progress.epoch_total = event.epoch_total
        progress.items = event.items[-1]
        progress.items_total = event.items_total
        progress.iteration = event.iterations[-1]
        own = self.split_progress.get(split)
        if own is None:
            own = self.split_progress[split] = SplitProgress(split)
        own.epoch = epoch
        own.epoch_total = event.epoch_total
        own.items = progress.items
        own.items_total = progress.items_total
        own.iteration = progress.iteration
        key = (split, epoch)
        if key not in self._epoch_items_known:
            if event.items_total is not None:
                self._epoch_items[key] = event.items_total
                self._epoch_items_known.add(key)
            else:
                self._epoch_items[key] = max(self._epoch_items.get(key, 0), *event.items)
        self.eta.observe(event)
        if not sampled:
            return
        # In the order the metrics were registered (the Metrics panel's order): every metric
        # is in the last step's entries, a numeric one also in the columns.
        for update in event.latest:
            history = self._metric(update.entry.name, update.numeric).split(split)
            if shown:
                history.latest = update.entry
        items = event.items
        for name, column in event.numbers.items():
            history = self._metric(name, True).split(split)
            values = column.values
            for step in sampled:
                value = values[step]
                if math.isfinite(value):
                    history.push((epoch, items[step], value))

    def _end_split(self, event: EndSplitEvent) -> None:
        for update in event.metrics:
            history = self._metric(update.entry.name, update.numeric).split(event.split)
            history.epoch_formatted = update.entry.formatted
            if update.numeric:
                history.epochs[event.epoch] = _plotted(update)

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


def _plotted(update: MetricUpdate) -> float:
    try:
        return update.entry.numeric.value
    except ValueError:
        # A numeric metric whose log text is not a number is shown, not plotted.
        return math.nan
