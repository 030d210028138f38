"""A block of steps as the training thread leaves it, and its one reading into a plain event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from burnish.metric.base import MetricMetadata
from burnish.metric.entry import MetricEntry, StepEntries, resolve_entries, resolve_step_numbers
from burnish.processor.events import MetricUpdate, NumericColumn, Split, StepsEvent

__all__ = ["PendingStep", "UnreadSteps"]


class PendingStep(NamedTuple):
    """A step kept for its block's update: its output and where it was."""

    output: object
    items: int
    iteration: int
    lrs: tuple[float, ...]
    at: float
    # The entries of the metrics that take no input, updated at the step, and the metadata
    # they were updated with (else it is made for the block).
    moment: Sequence[MetricEntry]
    metadata: MetricMetadata | None


@dataclass(frozen=True, slots=True)
class UnreadSteps:
    """A block of steps whose metrics are updated and whose values are still on the device:
    one column of entries per metric, in the order of the metrics."""

    split: Split
    epoch: int
    epoch_total: int
    items_total: int | None
    steps: Sequence[PendingStep]
    columns: Sequence[Sequence[MetricEntry]]
    higher_is_better: Sequence[bool | None]

    def read(self) -> StepsEvent:
        """Every numeric metric's values for every step, and every metric's entry for the last
        step with its texts; raises ``ValueError`` for a failed input check."""
        blocked = [column for column in self.columns if isinstance(column, StepEntries)]
        stepwise = [column for column in self.columns if not isinstance(column, StepEntries)]
        resolve_step_numbers(blocked)
        latest = [column[-1] for column in self.columns]
        resolve_entries([*(entry for column in stepwise for entry in column[:-1]), *latest])
        numbers: dict[str, NumericColumn] = {}
        for column, higher_is_better in zip(self.columns, self.higher_is_better, strict=True):
            if higher_is_better is None:
                continue  # a text metric
            if isinstance(column, StepEntries):
                read = column.numbers()
                numbers[column.name] = NumericColumn(
                    read.values, read.counts, [read.kind] * len(read.values)
                )
            else:
                entries = [entry.numeric for entry in column]
                numbers[column[0].name] = NumericColumn(
                    [entry.value for entry in entries],
                    [entry.count for entry in entries],
                    [entry.kind for entry in entries],
                )
        steps = self.steps
        return StepsEvent(
            self.split,
            self.epoch,
            self.epoch_total,
            self.items_total,
            [step.iteration for step in steps],
            [step.items for step in steps],
            [step.lrs for step in steps],
            [step.at for step in steps],
            numbers,
            tuple(map(MetricUpdate, latest, self.higher_is_better)),
        )
