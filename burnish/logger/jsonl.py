"""A JSON Lines metric log that survives a crash, and its reader.

Each record is one line: ``start``, ``steps`` (the numeric values of consecutive steps of a
split, by column, written in periodic flushes), ``epoch`` (each split's epoch values and text
metrics) and ``end``. Lines are flushed at every tick, so after a crash the log is complete up
to the last flush; a line cut short by the crash is skipped by the reader.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from burnish.learner.events import (
    EndEvent,
    EndSplitEvent,
    LearnerEvent,
    ProcessedItemEvent,
    Split,
    StartEvent,
    is_numeric,
    metric_names,
)
from burnish.learner.history import MetricHistory
from burnish.logger.base import (
    StepColumns,
    counts_nothing,
    numeric_values,
    resolve_events,
    text_values,
)
from burnish.metric.base import NumericEntry

__all__ = ["JsonlMetricLogger", "LoggedStep", "RunLog", "logged_steps", "read_run"]

FILE_NAME = "metrics.jsonl"


def _entry_json(entry: NumericEntry) -> list[Any]:
    return [*_json_numbers([entry.value]), entry.count, entry.kind]


def _json_numbers(values: Iterable[float]) -> list[float | None]:
    # NaN is written as null: JSON has no NaN, and n/a is what it means. NaN is the one float
    # unequal to itself: a comparison, not a call per value (a log writes every step's).
    return [None if value != value else value for value in values]  # noqa: PLR0124


def _entry_from_json(value: list[Any]) -> NumericEntry:
    number, count, kind = value
    return NumericEntry(math.nan if number is None else float(number), int(count), kind)


class JsonlMetricLogger:
    """Writes ``metrics.jsonl`` in a run directory (appending across resumed runs)."""

    def __init__(self, directory: str | os.PathLike[str], flush_seconds: float = 1.0) -> None:
        self.path = Path(directory) / FILE_NAME
        self.flush_seconds = flush_seconds
        self._file: TextIO | None = None

    @property
    def tick_seconds(self) -> float:
        return self.flush_seconds

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        if not events:
            return
        resolve_events(events)
        lines = [json.dumps(record) for record in _log_records(events)]
        if not lines:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _log_records(events: Iterable[LearnerEvent]) -> Iterator[dict[str, Any]]:
    """The events' records: consecutive steps of one split's epoch share one ``steps`` record
    (a record per step would cost more to write than the step's metrics to update)."""
    run: list[ProcessedItemEvent] = []
    run_key: tuple[Split, int, tuple[str, ...]] | None = None
    for event in events:
        if isinstance(event, ProcessedItemEvent):
            key = _run_key(event)
            if run and key != run_key:
                yield _steps_record(run)
                run = []
            run.append(event)
            run_key = key
            continue
        if run:
            yield _steps_record(run)
            run = []
        record = _record(event)
        if record is not None:
            yield record
    if run:
        yield _steps_record(run)


def _run_key(event: ProcessedItemEvent) -> tuple[Split, int, tuple[str, ...]]:
    return event.split, event.progress.epoch, metric_names(event.metrics)


def _steps_record(run: Sequence[ProcessedItemEvent]) -> dict[str, Any]:
    """Steps by column. Every step has a value of every numeric metric, ``null`` for NaN; one
    that counts no item (a system sample already logged) is left out when read."""
    first = run[0]
    columns = StepColumns(event.metrics for event in run)
    values: dict[str, dict[str, Any]] = {}
    for column, name in enumerate(metric_names(first.metrics)):
        if not is_numeric(first.metrics, column):
            continue  # a text metric
        numbers, counts, kinds = columns.numbers(column)
        values[name] = {
            "value": _json_numbers(numbers),
            "count": counts,
            "kind": kinds[0] if kinds.count(kinds[0]) == len(kinds) else kinds,
        }
    return {
        "event": "steps",
        "split": first.split.value,
        "epoch": first.progress.epoch,
        "iteration": [event.progress.iteration for event in run],
        "items": [event.progress.progress.items_processed for event in run],
        "items_total": first.progress.progress.items_total,
        "lrs": [list(event.lrs) for event in run],
        "values": values,
    }


def _record(event: LearnerEvent) -> dict[str, Any] | None:
    if isinstance(event, StartEvent):
        return {
            "event": "start",
            "epoch_total": event.epoch_total,
            "splits": [split.value for split in event.splits],
        }
    if isinstance(event, EndSplitEvent):
        return {
            "event": "epoch",
            "split": event.split.value,
            "epoch": event.epoch,
            "values": {k: _entry_json(v) for k, v in numeric_values(event.metrics).items()},
            "texts": text_values(event.metrics),
        }
    if isinstance(event, EndEvent):
        return {"event": "end", "reason": event.reason}
    return None


@dataclass(frozen=True)
class LoggedStep:
    """A step as the log keeps it: where it was, and its numeric metrics' values (those that
    count no item left out)."""

    split: Split
    epoch: int
    iteration: int
    items: int
    items_total: int | None
    lrs: tuple[float, ...]
    values: dict[str, NumericEntry]


def logged_steps(record: dict[str, Any]) -> Iterator[LoggedStep]:
    """The steps of a ``steps`` record, in order."""
    split, epoch = Split(record["split"]), int(record["epoch"])
    iterations = record["iteration"]
    steps = len(iterations)
    columns = []
    for name, column in record["values"].items():
        kinds = column["kind"]
        kinds = [kinds] * steps if isinstance(kinds, str) else kinds
        columns.append((name, column["value"], column["count"], kinds))
    items_total = record.get("items_total")
    for step, (iteration, items, lrs) in enumerate(
        zip(iterations, record["items"], record["lrs"], strict=True)
    ):
        values = {}
        for name, numbers, counts, kinds in columns:
            entry = _entry_from_json([numbers[step], counts[step], kinds[step]])
            if not counts_nothing(entry):
                values[name] = entry
        yield LoggedStep(
            split,
            epoch,
            int(iteration),
            int(items),
            None if items_total is None else int(items_total),
            tuple(float(lr) for lr in lrs),
            values,
        )


@dataclass
class RunLog:
    """What a run's log holds: epoch values, per-step series and how the run ended."""

    epoch_total: int = 0
    history: MetricHistory = field(default_factory=MetricHistory)
    epoch_entries: dict[tuple[Split, str, int], NumericEntry] = field(default_factory=dict)
    steps: dict[tuple[Split, str], list[tuple[int, NumericEntry]]] = field(default_factory=dict)
    texts: dict[tuple[Split, str], str] = field(default_factory=dict)
    end_reason: str | None = None


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as file:
        for line in file:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line a crash cut short
            if isinstance(record, dict):
                yield record


def read_run(directory: str | os.PathLike[str]) -> RunLog:
    """Read a run directory's ``metrics.jsonl`` (a run still going is read as far as written)."""
    path = Path(directory) / FILE_NAME
    if not path.exists():
        raise FileNotFoundError(f"no {FILE_NAME} in {directory}: is it a burnish run directory?")
    run = RunLog()
    for record in _records(path):
        kind = record.get("event")
        if kind == "start":
            run.epoch_total = int(record["epoch_total"])
            run.end_reason = None
        elif kind == "steps":
            for step in logged_steps(record):
                for name, entry in step.values.items():
                    run.steps.setdefault((step.split, name), []).append((step.iteration, entry))
        elif kind == "epoch":
            split, epoch = Split(record["split"]), int(record["epoch"])
            for name, value in record["values"].items():
                entry = _entry_from_json(value)
                run.history.record(split, name, epoch, entry.value)
                run.epoch_entries[(split, name, epoch)] = entry
            for name, text in record.get("texts", {}).items():
                run.texts[(split, name)] = text
        elif kind == "end":
            run.end_reason = str(record["reason"])
    return run
