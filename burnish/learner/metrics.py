"""The metrics registered for one split, and the once-per-step dispatch of an output to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from burnish.learner.events import MetricUpdate, Split
from burnish.metric.base import Metric, MetricEntry, MetricMetadata, Numeric
from burnish.metric.collection import MetricCollection

__all__ = ["RegisteredMetric", "SplitMetrics"]


@dataclass(frozen=True, slots=True)
class RegisteredMetric:
    metric: Metric[Any]
    # None for a text metric. Decided once: a protocol isinstance check costs tens of
    # microseconds, too much to repeat every step.
    higher_is_better: bool | None

    @staticmethod
    def of(metric: Metric[Any], plotted: bool) -> RegisteredMetric:
        if plotted and not isinstance(metric, Numeric):
            raise TypeError(
                f"metric {metric.name!r} ({type(metric).__qualname__}) is not numeric: it needs "
                "higher_is_better, value() and running_value() to be plotted; register it with "
                "metric_train()/metric_valid() to show it as text"
            )
        higher_is_better = metric.higher_is_better if isinstance(metric, Numeric) else None
        return RegisteredMetric(metric, higher_is_better if plotted else None)


class SplitMetrics:
    """A split's metrics, with what the dashboard needs to know about each (plotted or text)."""

    def __init__(self, split: Split, registered: Sequence[RegisteredMetric]) -> None:
        self.split = split
        self.registered = tuple(registered)
        try:
            self.collection = MetricCollection([r.metric for r in self.registered])
        except ValueError as error:
            raise ValueError(f"{split.value} metrics: {error}") from error

    def check_adaptable(self, output_type: type[Any]) -> None:
        self.collection.check_adaptable(output_type)

    def update(self, output: object, metadata: MetricMetadata) -> tuple[MetricUpdate, ...]:
        return self._updates(self.collection.update(output, metadata))

    def compute(self) -> tuple[MetricUpdate, ...]:
        return self._updates(self.collection.compute())

    def _updates(self, entries: dict[str, MetricEntry]) -> tuple[MetricUpdate, ...]:
        return tuple(
            MetricUpdate(entry, r.higher_is_better)
            for entry, r in zip(entries.values(), self.registered, strict=True)
        )

    def clear(self) -> None:
        self.collection.clear()

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """Each stateful metric's epoch state, by name (for a mid-epoch checkpoint); in a
        distributed run, merged over every process (a collective), for one process to resume."""
        return self.collection.synced().state_dict()

    def load_state_dict(self, states: dict[str, dict[str, Any]]) -> None:
        try:
            self.collection.load_state_dict(states)
        except ValueError as error:
            raise ValueError(f"{self.split.value} metrics: {error}") from error

    def close(self) -> None:
        self.collection.close()
