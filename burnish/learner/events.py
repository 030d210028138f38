"""The events a learner publishes, and the actor that carries them to each consumer.

Events flow one way: the training thread publishes, and every consumer (a renderer, a logger)
receives them on a thread of its own, in batches, at its own pace. Publishing is a queue put;
the training thread never waits on a consumer. Metric entries in events are deferred: a
consumer reads the values it needs with :func:`burnish.metric.resolve_entries`, many at once.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

from burnish.metric.base import Progress
from burnish.metric.entry import MetricEntry, NumericEntry, StepEntries

__all__ = [
    "Actor",
    "BlockUpdates",
    "EndEvent",
    "EndSplitEvent",
    "EpochEndEvent",
    "EventBus",
    "EventConsumer",
    "LearnerEvent",
    "MetricUpdate",
    "ProcessedItemEvent",
    "Split",
    "StartEvent",
    "StartSplitEvent",
    "StepUpdates",
    "TrainingProgress",
    "is_numeric",
    "metric_names",
    "numeric_of",
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


class BlockUpdates:
    """A block of consecutive steps' metric entries, one column per metric (see
    :meth:`~burnish.metric.MetricCollection.update_columns`); shared by the steps' events."""

    __slots__ = ("columns", "entry_columns", "higher_is_better", "names", "step_columns")

    def __init__(
        self, columns: Sequence[Sequence[MetricEntry]], higher_is_better: Sequence[bool | None]
    ) -> None:
        self.columns = columns
        self.higher_is_better = higher_is_better
        self.names = tuple(
            column.name if isinstance(column, StepEntries) else column[0].name for column in columns
        )
        # The columns of metrics updated with the whole block, read by column, and the
        # others, read entry by entry.
        self.step_columns = [column for column in columns if isinstance(column, StepEntries)]
        self.entry_columns = [column for column in columns if not isinstance(column, StepEntries)]


class StepUpdates(Sequence[MetricUpdate]):
    """One step's metric updates, read from its block's columns: what a learner's
    :class:`ProcessedItemEvent` carries. An entry is built when read; :meth:`number` reads a
    numeric metric's value without building it (what loggers read of every step)."""

    __slots__ = ("block", "step")

    def __init__(self, block: BlockUpdates, step: int) -> None:
        self.block = block
        self.step = step

    def __len__(self) -> int:
        return len(self.block.columns)

    @overload
    def __getitem__(self, index: int) -> MetricUpdate: ...
    @overload
    def __getitem__(self, index: slice) -> list[MetricUpdate]: ...
    def __getitem__(self, index: int | slice) -> MetricUpdate | list[MetricUpdate]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        block = self.block
        return MetricUpdate(block.columns[index][self.step], block.higher_is_better[index])

    def number(self, index: int) -> NumericEntry:
        """Metric ``index``'s numeric entry for the step (a numeric metric's)."""
        column = self.block.columns[index]
        if isinstance(column, StepEntries):
            return column.number(self.step)
        return column[self.step].numeric


def metric_names(metrics: Sequence[MetricUpdate]) -> tuple[str, ...]:
    """The names of a step's metrics, in order."""
    if isinstance(metrics, StepUpdates):
        return metrics.block.names
    return tuple(update.entry.name for update in metrics)


def numeric_of(metrics: Sequence[MetricUpdate], index: int) -> NumericEntry:
    """Metric ``index``'s numeric entry (a numeric metric's), without building a learner
    step's entry."""
    if isinstance(metrics, StepUpdates):
        return metrics.number(index)
    return metrics[index].entry.numeric


def is_numeric(metrics: Sequence[MetricUpdate], index: int) -> bool:
    """Whether metric ``index`` is numeric (plotted and logged), not text."""
    if isinstance(metrics, StepUpdates):
        return metrics.block.higher_is_better[index] is not None
    return metrics[index].numeric


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
class ProcessedItemEvent:
    """A step is done: its progress, learning rates and every metric's entry for the step."""

    split: Split
    progress: TrainingProgress
    metrics: Sequence[MetricUpdate]
    lrs: tuple[float, ...]
    at: float


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


LearnerEvent = (
    StartEvent | StartSplitEvent | ProcessedItemEvent | EndSplitEvent | EpochEndEvent | EndEvent
)


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


class Actor:
    """A thread and a queue running one consumer; an :class:`EndEvent` ends it.

    The consumer is called at most once per ``tick_seconds`` with every event since the last
    call, so however fast training goes, a consumer wakes up a bounded number of times a second
    and takes little of the interpreter from the training thread. The first exception in the
    consumer is kept in :attr:`error`, for the learner to raise on its own thread.
    """

    def __init__(self, consumer: EventConsumer, name: str) -> None:
        self.consumer = consumer
        self.error: BaseException | None = None
        # Events, or a block of step events sent at once (one put for them all).
        self._queue: queue.SimpleQueue[LearnerEvent | list[ProcessedItemEvent]] = (
            queue.SimpleQueue()
        )
        self._ending = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def send(self, event: LearnerEvent) -> None:
        self._queue.put(event)
        if isinstance(event, EndEvent):
            self._ending.set()

    def send_steps(self, events: list[ProcessedItemEvent]) -> None:
        """Send consecutive step events at once; the list must not change afterwards."""
        self._queue.put(events)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the consumer to handle everything up to the :class:`EndEvent` sent."""
        self._thread.join(timeout)

    def _run(self) -> None:
        ended = False
        try:
            while not ended:
                started = time.monotonic()
                events = self._drain(self.consumer.tick_seconds)
                ended = any(isinstance(event, EndEvent) for event in events)
                try:
                    self.consumer.consume(events)
                except Exception as error:
                    # The first error is the one raised. Later events are still consumed: a
                    # logger whose batch failed a metric's check still writes the rest of the
                    # run, its end included.
                    self.error = self.error or error
                if not ended:
                    elapsed = time.monotonic() - started
                    self._ending.wait(max(0.0, self.consumer.tick_seconds - elapsed))
        finally:
            try:
                self.consumer.close()
            except Exception as error:
                self.error = self.error or error

    def _drain(self, timeout: float) -> list[LearnerEvent]:
        """The first event within ``timeout``, then every event already queued."""
        events: list[LearnerEvent] = []
        try:
            item = self._queue.get(timeout=timeout)
            while True:
                if isinstance(item, list):
                    events.extend(item)
                else:
                    events.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            return events


log = logging.getLogger("burnish.learner")


class EventBus:
    """The actors of the renderer and the loggers; re-raises their errors on this thread."""

    def __init__(self, consumers: Sequence[EventConsumer]) -> None:
        self._actors = [
            Actor(consumer, f"burnish-{type(consumer).__name__}") for consumer in consumers
        ]
        self._ended = False

    def send(self, event: Any) -> None:
        for actor in self._actors:
            actor.send(event)

    def send_steps(self, events: list[ProcessedItemEvent]) -> None:
        for actor in self._actors:
            actor.send_steps(events)

    def failed(self) -> bool:
        return any(actor.error is not None for actor in self._actors)

    def raise_if_failed(self) -> None:
        for actor in self._actors:
            if actor.error is not None:
                raise actor.error

    def log_failures(self) -> None:
        for actor in self._actors:
            if actor.error is not None:
                log.warning("%s failed: %s", type(actor.consumer).__name__, actor.error)

    @classmethod
    @contextlib.contextmanager
    def running(cls, consumers: Sequence[EventConsumer]) -> Iterator[EventBus]:
        """A bus whose consumers are always sent an end: ``error`` unless one came before."""
        bus = cls(consumers)
        try:
            yield bus
        finally:
            bus.end("error")

    def end(self, reason: str, timeout: float = 30.0) -> None:
        if self._ended:
            return
        self._ended = True
        self.send(EndEvent(reason, time.monotonic()))
        for actor in self._actors:
            # A persistent dashboard stays up until a key is pressed: wait for the person.
            persistent = getattr(actor.consumer, "persistent", False) is True
            actor.join(None if persistent else timeout)
