"""Early stopping: Burn's ``MetricEarlyStoppingStrategy``, decided from the metric history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from burnish.learner.history import Aggregate, Direction, MetricHistory, WatchedMetric
from burnish.metric.base import Metric
from burnish.processor.events import Split

__all__ = [
    "EarlyStoppingStrategy",
    "MetricEarlyStoppingStrategy",
    "NoImprovementSince",
    "stops_early",
]


@dataclass(frozen=True, slots=True)
class NoImprovementSince:
    """Stop once the best value is ``n_epochs`` epochs old."""

    n_epochs: int

    def __post_init__(self) -> None:
        if self.n_epochs < 1:
            raise ValueError(
                f"NoImprovementSince: expected n_epochs >= 1, received {self.n_epochs}"
            )


@runtime_checkable
class EarlyStoppingStrategy(Protocol):
    """Decides from the metric history whether to stop; one that decides by metrics says which
    with ``watched()`` (see :class:`~burnish.learner.checkpoint.strategy.WatchesMetrics`)."""

    def should_stop(self, epoch: int, history: MetricHistory) -> bool: ...


class MetricEarlyStoppingStrategy(WatchedMetric):
    """Stop when a metric has not improved for a number of epochs."""

    def __init__(
        self,
        metric: str | Metric[Any],
        aggregate: Aggregate = Aggregate.MEAN,
        direction: Direction = Direction.LOWEST,
        split: Split = Split.VALID,
        condition: NoImprovementSince = NoImprovementSince(1),
    ) -> None:
        super().__init__(metric, aggregate, direction, split)
        self.condition = condition

    def should_stop(self, epoch: int, history: MetricHistory) -> bool:
        best = self.best_epoch(history)
        return best is not None and epoch - best >= self.condition.n_epochs

    def watched(self) -> list[tuple[Split, str]]:
        return [(self.split, self.name)]


def stops_early(
    strategy: EarlyStoppingStrategy | None, warmup: int, epoch: int, history: MetricHistory
) -> bool:
    """Whether ``strategy`` stops the run after ``epoch``; never during the warm-up epochs."""
    return strategy is not None and epoch > warmup and strategy.should_stop(epoch, history)
