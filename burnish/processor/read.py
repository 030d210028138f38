"""A block of steps as the training thread leaves it, and its one reading into a plain event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from burnish.metric.base import MetricMetadata
from burnish.metric.entry import BlockEntries, BlockResult, MetricEntry, read_with_entries
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
    each metric's entries for the steps, in the order of the metrics (by column for a metric
    updated with the whole block)."""

    split: Split
    epoch: int
    epoch_total: int
    items_total: int | None
    steps: Sequence[PendingStep]
    columns: Sequence[BlockResult]
    higher_is_better: Sequence[bool | None]

    def read(self) -> StepsEvent:
        """Every numeric metric's values for every step, and every metric's entry for the last
        step with its texts, in one transfer; raises ``ValueError`` for a failed input check
        (before anything is read from the values)."""
        blocked = [column for column in self.columns if isinstance(column, BlockEntries)]
        latest = [
            column.last() if isinstance(column, BlockEntries) else column[-1]
            for column in self.columns
        ]
        stepwise = [
            entry
            for column in self.columns
            if not isinstance(column, BlockEntries)
            for entry in column[:-1]
        ]
        hosts = read_with_entries(
            [*stepwise, *latest],
            [column.numbers_of for column in blocked],
            [column.checks for column in blocked if column.checks is not None],
        )
        positions = [i for i, column in enumerate(self.columns) if isinstance(column, BlockEntries)]
        read = dict(zip(positions, hosts, strict=True))
        numbers: dict[str, NumericColumn] = {}
        for position, (column, last, higher_is_better) in enumerate(
            zip(self.columns, latest, self.higher_is_better, strict=True)
        ):
            if higher_is_better is None:
                continue  # a text metric
            if isinstance(column, BlockEntries):
                found = column.reader.numbers(read[position])
                kinds = [found.kind] * len(found.values)
                numbers[column.name] = NumericColumn(found.values, found.counts, kinds)
            else:
                entries = [entry.numeric for entry in column]
                numbers[last.name] = NumericColumn(
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
