"""An in-memory metric logger, for programs and tests that want the values back."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.logger.base import numeric_values, step_values
from burnish.metric.entry import NumericEntry
from burnish.processor.events import EndSplitEvent, LearnerEvent, Split, StepsEvent

__all__ = ["InMemoryMetricLogger"]


class InMemoryMetricLogger:
    """Keeps every step's and every epoch's numeric values, by split and metric name."""

    tick_seconds = 0.5

    def __init__(self) -> None:
        self.steps: dict[Split, dict[str, list[NumericEntry]]] = {}
        self.epochs: dict[Split, dict[str, list[NumericEntry]]] = {}

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        for event in events:
            if isinstance(event, StepsEvent):
                by_name = self.steps.setdefault(event.split, {})
                for step in range(len(event)):
                    for name, entry in step_values(event, step).items():
                        by_name.setdefault(name, []).append(entry)
            elif isinstance(event, EndSplitEvent):
                by_name = self.epochs.setdefault(event.split, {})
                for name, entry in numeric_values(event.metrics).items():
                    by_name.setdefault(name, []).append(entry)

    def close(self) -> None:
        pass
