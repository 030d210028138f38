"""The processor's recording side: one split's metrics, and each step's output dispatched
to them.

Steps are updated in blocks (see :mod:`burnish.metric.block`): the split keeps the last steps'
outputs and updates every metric once with all of them when the block is full, old enough,
or needed (the end of the split, a checkpoint). The updated block is published unread
(:mod:`burnish.processor.read`): the training thread never waits for the device. The first
step of a split is updated alone, so that a wrong input is reported at once; in later epochs
only when the output's type changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, overload

import torch
from typing_extensions import get_protocol_members

from burnish.metric.base import Metric, MetricMetadata, Numeric, Progress
from burnish.metric.collection import MetricCollection
from burnish.metric.entry import MetricEntry, resolve_entries
from burnish.processor.bus import Unread
from burnish.processor.events import MetricUpdate, Split
from burnish.processor.read import PendingStep, UnreadSteps

__all__ = ["BlockLimits", "RegisteredMetric", "SplitMetrics"]


@dataclass(frozen=True, slots=True)
class BlockLimits:
    """How many steps a block of metric updates holds at most: ``steps`` steps, outputs of
    ``max_bytes`` bytes in all (they are kept alive until the update, on their device), and
    steps over ``seconds`` (how stale what the consumers see may be). ``steps=1`` updates
    every step.

    ``seconds=None`` (the default): as often as the consumers look at new steps (the shortest
    of their ticks, and no more often than every ``FRESHEST_SECONDS``), and never without
    consumers. A block flushed sooner would wait for them anyway, and every flush costs the
    same whatever the step: bounded by time alone, blocks of slow steps hold fewer of them,
    and the learner's cost per step would grow with the step's.
    """

    steps: int = 512
    seconds: float | None = None
    max_bytes: int = 64 * 2**20

    FRESHEST_SECONDS: ClassVar[float] = 0.25

    def seconds_for(self, look_seconds: float | None) -> float:
        """The longest a block spans, for consumers looking every ``look_seconds`` (``None``:
        no consumer)."""
        if self.seconds is not None:
            return self.seconds
        if look_seconds is None:
            return math.inf
        return max(self.FRESHEST_SECONDS, look_seconds)

    def steps_for(self, output: object) -> int:
        """The steps a block holds for outputs like ``output``."""
        size = _tensor_bytes(output)
        return max(1, min(self.steps, self.max_bytes // size if size else self.steps))


def _tensor_bytes(output: object) -> int:
    """Bytes of the tensors an output holds as attributes (those a block keeps alive)."""
    declared = getattr(type(output), "__dataclass_fields__", None)
    if declared:
        values = [getattr(output, name) for name in declared]
    else:
        values = list(getattr(output, "__dict__", {}).values())
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


class _StepsMetadata(Sequence[MetricMetadata]):
    """A block's steps' metadata, each made when read: metrics updated with the whole block
    read none, and the steps' events carry their own progress."""

    __slots__ = ("_pending", "_split")

    def __init__(self, split: SplitMetrics, pending: Sequence[PendingStep]) -> None:
        self._split = split
        self._pending = pending

    def __len__(self) -> int:
        return len(self._pending)

    @overload
    def __getitem__(self, index: int) -> MetricMetadata: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[MetricMetadata]: ...
    def __getitem__(self, index: int | slice) -> MetricMetadata | Sequence[MetricMetadata]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        step = self._pending[index]
        return step.metadata or self._split._metadata(step.items, step.iteration, step.lrs)


@dataclass(frozen=True, slots=True)
class RegisteredMetric:
    metric: Metric[Any]
    # None for a text metric. Decided once: a protocol isinstance check costs tens of
    # microseconds, too much to repeat every step.
    higher_is_better: bool | None

    @staticmethod
    def of(metric: Metric[Any], plotted: bool) -> RegisteredMetric:
        """Raises ``TypeError`` for an object that lacks what its registration needs: found
        now, not when the learner first calls the missing member, an epoch later."""
        lacks = _lacks(metric, Metric)
        if lacks:
            raise TypeError(f"{type(metric).__qualname__} is not a metric: {lacks}")
        lacks = _lacks(metric, Numeric) if plotted else None
        if lacks:
            raise TypeError(
                f"metric {metric.name!r} ({type(metric).__qualname__}) is not numeric: {lacks}, "
                "needed to be plotted; register it with metric_train()/metric_valid() to show "
                "it as text"
            )
        higher_is_better = metric.higher_is_better if isinstance(metric, Numeric) else None
        return RegisteredMetric(metric, higher_is_better if plotted else None)


def _lacks(metric: object, protocol: type) -> str | None:
    """What ``metric`` lacks of ``protocol``, as a phrase; ``None`` when nothing."""
    members = sorted(get_protocol_members(protocol))
    missing = [member for member in members if not hasattr(metric, member)]
    if not missing:
        return None
    asked = f"the {protocol.__name__} protocol asks for {', '.join(members)}"
    return f"it lacks {', '.join(missing)} ({asked})"


class SplitMetrics:
    """A split's metrics, with what the dashboard needs to know about each (plotted or text)."""

    def __init__(
        self,
        split: Split,
        registered: Sequence[RegisteredMetric],
        limits: BlockLimits | None = None,
    ) -> None:
        self.split = self._split = split
        self.registered = tuple(registered)
        self.limits = BlockLimits() if limits is None else limits
        try:
            self.collection = MetricCollection([r.metric for r in self.registered])
        except ValueError as error:
            raise ValueError(f"{split.value} metrics: {error}") from error
        self._higher_is_better = [r.higher_is_better for r in self.registered]
        self._plan = self.collection.plan
        self._has_moment = self._plan.has_moment
        # Outputs no metric reads are not kept for the block: keeping a block of them alive
        # costs the training loop's memory allocations.
        self._reads_outputs = self._plan.reads_outputs
        self._pending: list[PendingStep] = []
        self._block_steps: int | None = None
        # The output type whose first step updated the metrics alone without error: a later
        # epoch's first step of that type waits for its block (an update alone costs about
        # what a block's does).
        self._proven: type[Any] | None = None
        self._publish: Callable[[Unread], None] = _nowhere
        self._epoch = self._epoch_total = 0
        self._items_total: int | None = None
        # How often the consumers of the published blocks look at them (``None``: nobody
        # does), which bounds a block's span unless the limits do (see BlockLimits); the
        # learner sets it for each fit.
        self.look_seconds: float | None = BlockLimits.FRESHEST_SECONDS
        self._seconds = self.limits.seconds_for(self.look_seconds)

    def check_adaptable(self, output_type: type[Any]) -> None:
        self.collection.check_adaptable(output_type)

    def start(
        self,
        publish: Callable[[Unread], None],
        epoch: int,
        epoch_total: int,
        items_total: int | None,
        split: Split | None = None,
    ) -> None:
        """Begin the split's epoch: clear the metrics; the steps' events go to ``publish``,
        a block's at once, once its metrics are updated. ``split``: the split the steps are
        of, when not the metrics' own (the validation metrics evaluate a test split)."""
        self.clear()
        self.split = self._split if split is None else split
        self._publish = publish
        self._seconds = self.limits.seconds_for(self.look_seconds)
        self._epoch, self._epoch_total, self._items_total = epoch, epoch_total, items_total

    def record(
        self, output: object, items: int, iteration: int, lrs: tuple[float, ...], at: float
    ) -> None:
        """A step is done (``items`` processed so far in the split): metrics that take no input
        are updated now, the others with the block (its event is published then)."""
        metadata = self._metadata(items, iteration, lrs) if self._has_moment else None
        moment = () if metadata is None else self._plan.update_moment(metadata)
        if not self._reads_outputs:
            output = None
        pending = self._pending
        pending.append(PendingStep(output, items, iteration, lrs, at, moment, metadata))
        if self._block_steps is None:
            self._block_steps = self.limits.steps_for(output)
            if type(output) is not self._proven:
                self.flush()
                self._proven = type(output)
        elif len(pending) >= self._block_steps or at - pending[0].at >= self._seconds:
            self.flush()

    def _metadata(self, items: int, iteration: int, lrs: tuple[float, ...]) -> MetricMetadata:
        progress = Progress(items, self._items_total)
        return MetricMetadata(progress, self._epoch, self._epoch_total, iteration, lrs)

    def flush(self) -> None:
        """Update the metrics with the steps kept so far and publish them as one unread block."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        columns = self._plan.update_columns(
            [step.output for step in pending],
            _StepsMetadata(self, pending),
            [step.moment for step in pending],
        )
        self._publish(
            UnreadSteps(
                self.split,
                self._epoch,
                self._epoch_total,
                self._items_total,
                pending,
                columns,
                self._higher_is_better,
            )
        )

    def compute(self) -> tuple[MetricUpdate, ...]:
        """Every metric's epoch entry, read (the epoch's end is when values are due)."""
        self.flush()
        entries = list(self.collection.compute().values())
        resolve_entries(entries)
        return self._updates(entries)

    def _updates(self, entries: Iterable[MetricEntry]) -> tuple[MetricUpdate, ...]:
        """The entries, in the order of the metrics, as the consumers receive them."""
        return tuple(map(MetricUpdate, entries, self._higher_is_better))

    def clear(self) -> None:
        self.collection.clear()
        self._pending = []
        self._block_steps = None

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """Each stateful metric's epoch state, by name (for a mid-epoch checkpoint); in a
        distributed run, merged over every process (a collective), for one process to resume."""
        self.flush()
        return self.collection.synced().state_dict()

    def load_state_dict(self, states: dict[str, dict[str, Any]]) -> None:
        try:
            self.collection.load_state_dict(states)
        except ValueError as error:
            raise ValueError(f"{self._split.value} metrics: {error}") from error

    def close(self) -> None:
        self.collection.close()


def _nowhere(block: Unread) -> None:
    """Where events go before a split starts."""
