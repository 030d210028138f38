"""The metric logger protocol and what loggers share: reading an event's metric values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from burnish.learner.events import LearnerEvent, MetricUpdate
from burnish.metric.base import MetricEntry, NumericEntry, resolve_entries

__all__ = ["MetricLogger", "counts_nothing", "numeric_values", "resolve_events", "text_values"]


@runtime_checkable
class MetricLogger(Protocol):
    """A logger is an event consumer: it runs on its own thread and is called at most once per
    ``tick_seconds`` with the events since its last call (a periodic flush)."""

    @property
    def tick_seconds(self) -> float: ...

    def consume(self, events: Sequence[LearnerEvent]) -> None: ...

    def close(self) -> None: ...


def resolve_events(events: Iterable[LearnerEvent]) -> None:
    """Read the values of every metric entry in the events, in one transfer: the numeric
    values of the steps' entries (their texts are built if read), the others in full."""
    resolve_entries(_entries(events), texts=False)


def _entries(events: Iterable[LearnerEvent]) -> Iterable[MetricEntry]:
    for event in events:
        for update in getattr(event, "metrics", ()):
            yield update.entry


def numeric_values(
    metrics: Iterable[MetricUpdate], *, skip_empty: bool = False
) -> dict[str, NumericEntry]:
    """The numeric metrics' values; with ``skip_empty``, without those that count no item.

    A step entry counting nothing (a system sample already logged, a batch of padding) adds
    nothing to a count-weighted mean, so step logs leave it out.
    """
    values = {}
    for update in metrics:
        if update.higher_is_better is None:
            continue  # a text metric
        entry = update.entry.numeric
        if not (skip_empty and counts_nothing(entry)):
            values[update.entry.name] = entry
    return values


def counts_nothing(entry: NumericEntry) -> bool:
    """Whether a step entry adds nothing to a count-weighted mean (step logs leave it out)."""
    return entry.count == 0 and entry.kind == "aggregated"


def text_values(metrics: Iterable[MetricUpdate]) -> dict[str, str]:
    return {update.entry.name: update.entry.formatted for update in metrics if not update.numeric}
