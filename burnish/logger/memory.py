"""An in-memory metric logger, for programs and tests that want the values back."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.learner.events import EndSplitEvent, LearnerEvent, ProcessedItemEvent, Split
from burnish.logger.base import numeric_values, resolve_events
from burnish.metric.entry import NumericEntry

__all__ = ["InMemoryMetricLogger"]


class InMemoryMetricLogger:
    """Keeps every step's and every epoch's numeric values, by split and metric name."""

    tick_seconds = 0.5

    def __init__(self) -> None:
        self.steps: dict[Split, dict[str, list[NumericEntry]]] = {}
        self.epochs: dict[Split, dict[str, list[NumericEntry]]] = {}

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        resolve_events(events)
        for event in events:
            if isinstance(event, ProcessedItemEvent | EndSplitEvent):
                target = self.steps if isinstance(event, ProcessedItemEvent) else self.epochs
                by_name = target.setdefault(event.split, {})
                steps = isinstance(event, ProcessedItemEvent)
                for name, entry in numeric_values(event.metrics, skip_empty=steps).items():
                    by_name.setdefault(name, []).append(entry)

    def close(self) -> None:
        pass
