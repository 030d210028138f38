"""Checkpointing strategies: which epochs' checkpoints to keep. They decide; they write nothing.

A strategy names the epochs it wants on disk, from the metric history alone, so it carries no
state of its own and resumes for free. :func:`plan` turns the wish into Burn's actions (save
this epoch, delete that one) for a checkpointer to carry out.

A strategy that decides by metrics says which with ``watched()`` (:class:`WatchesMetrics`, for
early stopping too), so that ``LearnerBuilder.build()`` can refuse one that watches a metric
never recorded: it would silently never fire.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from burnish.learner.history import MetricHistory, WatchedMetric
from burnish.processor.events import Split

__all__ = [
    "CheckpointingAction",
    "CheckpointingStrategy",
    "ComposedCheckpointingStrategy",
    "KeepLastNCheckpoints",
    "MetricCheckpointingStrategy",
    "WatchesMetrics",
    "plan",
    "watched_by",
]


class ActionKind(enum.Enum):
    SAVE = "save"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class CheckpointingAction:
    kind: ActionKind
    epoch: int

    @staticmethod
    def save(epoch: int) -> CheckpointingAction:
        return CheckpointingAction(ActionKind.SAVE, epoch)

    @staticmethod
    def delete(epoch: int) -> CheckpointingAction:
        return CheckpointingAction(ActionKind.DELETE, epoch)


@runtime_checkable
class CheckpointingStrategy(Protocol):
    def wanted(self, epoch: int, history: MetricHistory) -> frozenset[int]:
        """The epochs whose checkpoints should exist once ``epoch`` has ended."""
        ...


@runtime_checkable
class WatchesMetrics(Protocol):
    """A strategy (checkpointing or early stopping) that says which metrics it decides by."""

    def watched(self) -> Iterable[tuple[Split, str]]:
        """The (split, metric name) pairs whose epoch values the strategy reads."""
        ...


def watched_by(strategy: object) -> list[tuple[Split, str]]:
    """What ``strategy`` watches; nothing for a strategy that does not say."""
    return list(strategy.watched()) if isinstance(strategy, WatchesMetrics) else []


class KeepLastNCheckpoints:
    """Keep the checkpoints of the last ``num_keep`` epochs."""

    def __init__(self, num_keep: int) -> None:
        if num_keep < 1:
            raise ValueError(f"KeepLastNCheckpoints: expected num_keep >= 1, received {num_keep}")
        self.num_keep = num_keep

    def wanted(self, epoch: int, history: MetricHistory) -> frozenset[int]:
        return frozenset(range(max(1, epoch - self.num_keep + 1), epoch + 1))


class MetricCheckpointingStrategy(WatchedMetric):
    """Keep the checkpoint of the best epoch of a metric (the current one until any is known)."""

    def wanted(self, epoch: int, history: MetricHistory) -> frozenset[int]:
        best = self.best_epoch(history)
        return frozenset({epoch if best is None else best})

    def watched(self) -> list[tuple[Split, str]]:
        return [(self.split, self.name)]


class ComposedCheckpointingStrategy:
    """Keep what any of the strategies wants kept."""

    def __init__(self, *strategies: CheckpointingStrategy) -> None:
        self.strategies = strategies

    def wanted(self, epoch: int, history: MetricHistory) -> frozenset[int]:
        return frozenset().union(*(s.wanted(epoch, history) for s in self.strategies))

    def watched(self) -> list[tuple[Split, str]]:
        return [watched for s in self.strategies for watched in watched_by(s)]


def plan(
    strategy: CheckpointingStrategy, epoch: int, history: MetricHistory, on_disk: Iterable[int]
) -> list[CheckpointingAction]:
    """Save ``epoch`` if wanted, then delete what is on disk and no longer wanted."""
    wanted = strategy.wanted(epoch, history)
    actions = [CheckpointingAction.save(epoch)] if epoch in wanted else []
    # The epoch's own file too, when not wanted: a stop's mid-epoch checkpoint it outlived.
    actions += [CheckpointingAction.delete(e) for e in sorted(set(on_disk) - wanted)]
    return actions


def best_of(strategy: object) -> WatchedMetric | None:
    """The metric by which ``strategy`` keeps a best epoch (the first, in a composition)."""
    if isinstance(strategy, MetricCheckpointingStrategy):
        return strategy
    if isinstance(strategy, ComposedCheckpointingStrategy):
        return next(filter(None, map(best_of, strategy.strategies)), None)
    return None
