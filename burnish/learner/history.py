"""The epoch values of every numeric metric, per split: what strategies and the summary read.

This plays the part of Burn's event store: checkpointing and early-stopping strategies ask it
for the best epoch of a metric, and the summary for each metric's minimum and maximum.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from burnish.metric.base import Metric, metric_name
from burnish.processor.events import Split

__all__ = ["Aggregate", "Direction", "MetricHistory", "WatchedMetric"]


class Direction(enum.Enum):
    """Which way a metric improves."""

    LOWEST = "lowest"
    HIGHEST = "highest"

    def better(self, candidate: float, incumbent: float) -> bool:
        if math.isnan(candidate):
            return False
        if math.isnan(incumbent):
            return True
        return candidate < incumbent if self is Direction.LOWEST else candidate > incumbent


class Aggregate(enum.Enum):
    """How an epoch's value is made from its steps. ``MEAN``: the item-weighted epoch value
    that the metric's ``compute()`` returns (Burn's only aggregate)."""

    MEAN = "mean"


@dataclass(frozen=True, slots=True)
class _Key:
    split: Split
    name: str


class MetricHistory:
    """Epoch values by split, metric name and epoch."""

    def __init__(self) -> None:
        self._values: dict[_Key, dict[int, float]] = {}

    def record(self, split: Split, name: str, epoch: int, value: float) -> None:
        self._values.setdefault(_Key(split, name), {})[epoch] = value

    def values(self, split: Split, name: str) -> dict[int, float]:
        """Epoch -> value, in epoch order; empty for a metric never recorded."""
        return dict(sorted(self._values.get(_Key(split, name), {}).items()))

    def value(self, split: Split, name: str, epoch: int) -> float | None:
        return self._values.get(_Key(split, name), {}).get(epoch)

    def best_epoch(self, split: Split, name: str, direction: Direction) -> int | None:
        """The earliest epoch with the best value; ``None`` when there is no finite value."""
        best: tuple[int, float] | None = None
        for epoch, value in self.values(split, name).items():
            if best is None or direction.better(value, best[1]):
                best = (epoch, value)
        return None if best is None or math.isnan(best[1]) else best[0]

    def names(self, split: Split) -> list[str]:
        return [key.name for key in self._values if key.split is split]

    def splits(self) -> list[Split]:
        return [split for split in Split if self.names(split)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "values": [
                [key.split.value, key.name, list(by_epoch.items())]
                for key, by_epoch in self._values.items()
            ]
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._values = {
            _Key(Split(split), name): {int(epoch): float(value) for epoch, value in items}
            for split, name, items in state["values"]
        }


class WatchedMetric:
    """The metric a strategy decides by: its name, split, aggregate and which way is better."""

    def __init__(
        self,
        metric: str | Metric[Any],
        aggregate: Aggregate = Aggregate.MEAN,
        direction: Direction = Direction.LOWEST,
        split: Split = Split.VALID,
    ) -> None:
        self.name = metric_name(metric)
        self.aggregate = aggregate
        self.direction = direction
        self.split = split

    def best_epoch(self, history: MetricHistory) -> int | None:
        return history.best_epoch(self.split, self.name, self.direction)
