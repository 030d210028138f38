"""Usage modes, as Ignite names them: when a metric starts afresh.

Epoch-wise is the default: a metric accumulates over an epoch (its step entries show the epoch
so far, Ignite's ``SingleEpochRunningBatchWise``) and is cleared at the epoch's end.
:class:`BatchWise` makes a metric's every value that of the latest batch alone;
:class:`RunningEpochWise` makes it accumulate over every epoch of a run. For a moving window or
average, see :class:`~burnish.metric.wrappers.running.Running`.

A metric in a usage mode syncs as it would alone: in a distributed run, ``compute()`` covers
every process's latest batch (:class:`BatchWise`; the run's latest step when the processes step
together) or every process's run so far (:class:`RunningEpochWise`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from burnish.distributed.sync import StateSync
from burnish.metric.arithmetic import NumericMetricMixin
from burnish.metric.base import STANDALONE, MetricMetadata, input_type_of
from burnish.metric.entry import MetricEntry, NumericEntry
from burnish.metric.mixins import check_state
from burnish.metric.operand import NumericMetric

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = ["BatchWise", "RunningEpochWise"]


class _Usage(NumericMetricMixin):
    """A numeric metric used in another mode; it owns the metric (do not register it apart).

    It syncs as its metric does, over the metric's ``process_group`` when the metric's
    ``sync_on_compute`` says so (set them on the metric): ``compute()`` is the metric's, and in
    a collection the metric syncs with the others' states.
    """

    # A synced copy holds the metric synced, whose compute() then reads it as it is.
    state_reductions: ClassVar[dict[str, StateSync]] = {"metric": "nested"}

    def __init__(self, metric: NumericMetric, *, name: str | None = None) -> None:
        self.metric = metric
        self.name = metric.name if name is None else name
        self.higher_is_better = metric.higher_is_better
        self.input_type = input_type_of(metric)

    @property
    def process_group(self) -> ProcessGroup | None:
        """The metric's (see ``SyncOnCompute``)."""
        group: ProcessGroup | None = getattr(self.metric, "process_group", None)
        return group

    @property
    def sync_on_compute(self) -> bool:
        """The metric's (see ``SyncOnCompute``)."""
        return bool(getattr(self.metric, "sync_on_compute", True))

    def update(self, item: object, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        return self.metric.update(item, metadata)

    def compute(self) -> MetricEntry:
        return self.metric.compute()

    def value(self) -> float:
        return self.metric.value()

    def running_value(self) -> NumericEntry:
        return self.metric.running_value()

    def clear(self) -> None:
        self.metric.clear()

    def state_dict(self) -> dict[str, Any]:
        state_dict = getattr(self.metric, "state_dict", None)
        return {"metric": state_dict() if callable(state_dict) else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        load_state_dict = getattr(self.metric, "load_state_dict", None)
        if callable(load_state_dict) and state["metric"] is not None:
            load_state_dict(state["metric"])


class BatchWise(_Usage):
    """Ignite's ``BatchWise``: ``metric`` over the latest batch only. Each update starts
    afresh, so the epoch value (``compute()``, ``running_value()``) is the last batch's."""

    def update(self, item: object, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        self.metric.clear()
        return self.metric.update(item, metadata)


class RunningEpochWise(_Usage):
    """Ignite's ``RunningEpochWise``: ``metric`` accumulated over every epoch of a run.

    ``clear()``, which a learner calls at each epoch's end, keeps the state; ``reset()`` starts
    afresh. Its epoch value is that of the run so far (a checkpoint saved between epochs holds
    no metric state, so a resumed run accumulates from its resumption).
    """

    def clear(self) -> None:
        """Keep accumulating: the run goes on (see :meth:`reset`)."""

    def reset(self) -> None:
        """Start afresh."""
        self.metric.clear()
