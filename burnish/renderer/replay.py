"""A run's log read back as the events its learner sent: ``burnish view`` replays it, and the
dashboard of a resumed run draws the history the log holds from before the resume."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from burnish.learner.summary import escape_controls
from burnish.logger.jsonl import (
    EpochRecord,
    LoggedStep,
    LogRecord,
    StartRecord,
    StepsRecord,
    parse_record,
)
from burnish.metric.entry import MetricEntry, NumericEntry, format_value
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    LearnerEvent,
    MetricUpdate,
    NumericColumn,
    Split,
    StartEvent,
    StartSplitEvent,
    StepsEvent,
)

__all__ = ["LogReplay"]

_PRECISION = 4
"""The log keeps values, not how a metric formats them: every value is shown with 4 digits."""


def _text(value: float) -> str:
    return format_value(value, _PRECISION)


class LogReplay:
    """The events a learner sent, rebuilt from its ``metrics.jsonl``, read as the file grows.

    Each :meth:`poll` returns the events of the lines completed since the last one (a line
    being written is left for the next). A ``steps`` record is a :class:`StepsEvent`, or one
    per run of its steps that log the same metrics. The last step of each record and the
    epoch values show the texts the dashboard showed (formats, units, running values), which
    the log records. What it does not keep is made up plainly: a split starts where its first
    step is, other steps show the running epoch value of a mean (``aggregated``) metric and
    the batch value of the others, and a record's steps are spread evenly in time since the
    record before. Times are the log's, moved to this process' clock (``time.monotonic``) so
    that the last record read first is "now"; logs written without times are stamped with
    the time they are read (``timed`` is then ``False``). Lines that are not valid records
    are counted in ``skipped``; text from the log (names, text values, the end's reason) is
    escaped for the terminal.
    """

    def __init__(self, path: Path, end: int | None = None) -> None:
        """``end``: read no further than this byte offset (a log another run goes on writing)."""
        self.path = path
        self.end = end
        self.ended = False
        self.skipped = 0
        self._offset = 0
        self._epoch_total = 0
        self._split: tuple[Split, int] | None = None
        self._sums: dict[str, tuple[float, int]] = {}
        self.timed = False
        self._shift: float | None = None
        self._last_at: float | None = None
        self._numeric: set[str] = set()

    def poll(self) -> list[LearnerEvent]:
        """The events of the lines completed since the last poll; none while the log does
        not exist (a run that has not written it yet)."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read(-1 if self.end is None else max(0, self.end - self._offset))
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        records: list[LogRecord] = []
        # Split at newlines only (not at a stray \r, as splitlines would), as read_run does.
        for line in complete.split(b"\n")[:-1]:
            record = parse_record(line)
            if record is None:
                self.skipped += 1
            else:
                records.append(record)
        now = time.monotonic()
        if self._shift is None:
            times = [record.at for record in records if record.at is not None]
            if times:
                self.timed = True
                self._shift = now - times[-1]
        events: list[LearnerEvent] = []
        for record in records:
            at = now if record.at is None or self._shift is None else record.at + self._shift
            events.extend(self._events(record, at))
            self._last_at = at
        return events

    def _events(self, record: LogRecord, at: float) -> Iterator[LearnerEvent]:
        if isinstance(record, StartRecord):
            self.ended = False
            self._split = None
            self._epoch_total = record.epoch_total
            yield StartEvent(record.epoch_total, record.splits, at)
        elif isinstance(record, StepsRecord):
            yield from self._steps(record, at)
        elif isinstance(record, EpochRecord):
            finals = [
                MetricUpdate(
                    MetricEntry(
                        escape_controls(name),
                        escape_controls(record.shown.get(name) or _text(value.value)),
                        value.serialize(),
                    ),
                    False,
                )
                for name, value in record.values.items()
            ]
            for name, text in record.texts.items():
                shown = escape_controls(text, keep="\n")  # a text may be a table of lines
                finals.append(MetricUpdate(MetricEntry(escape_controls(name), shown, shown), None))
            yield EndSplitEvent(record.split, record.epoch, tuple(finals), at)
        else:
            self.ended = True
            yield EndEvent(escape_controls(record.reason), at)

    def _steps(self, record: StepsRecord, at: float) -> Iterator[LearnerEvent]:
        steps = record.steps
        if not steps:
            return
        first = steps[0]
        if self._split != (first.split, first.epoch):
            self._split = (first.split, first.epoch)
            self._sums.clear()
            yield StartSplitEvent(first.split, first.epoch, first.items_total)
        since = at if self._last_at is None else min(self._last_at, at)
        moments = [since + (at - since) * (index + 1) / len(steps) for index in range(len(steps))]
        # A step leaves out the entries that count nothing (a system sample already logged):
        # a block of steps for each run of steps logging the same metrics, so that a metric is
        # plotted where it was logged, and shown from the last step that logged it.
        start = 0
        for _, run in itertools.groupby(steps, lambda step: tuple(step.values)):
            end = start + sum(1 for _ in run)
            # The record's last step has the texts the dashboard showed.
            shown = record.shown if end == len(steps) else {}
            yield self._block(steps[start:end], moments[start:end], shown)
            start = end

    def _block(
        self, steps: Sequence[LoggedStep], moments: list[float], shown: dict[str, str]
    ) -> StepsEvent:
        for step in steps:
            self._add_to_sums(step.values)
        last = steps[-1]
        updates = [self._step_update(*value, shown) for value in last.values.items()]
        self._numeric.update(last.values)
        # Text metrics (and tables) are in the texts shown only.
        updates.extend(
            MetricUpdate(MetricEntry(escape_controls(name), text, text), None)
            for name, raw in shown.items()
            if name not in self._numeric
            for text in [escape_controls(raw, keep="\n")]
        )
        numbers = {
            escape_controls(name): NumericColumn(
                [step.values[name].value for step in steps],
                [step.values[name].count for step in steps],
                [step.values[name].kind for step in steps],
            )
            for name in last.values
        }
        return StepsEvent(
            last.split,
            last.epoch,
            self._epoch_total,
            last.items_total,
            [step.iteration for step in steps],
            [step.items for step in steps],
            [step.lrs for step in steps],
            moments,
            numbers,
            tuple(updates),
        )

    def _add_to_sums(self, values: dict[str, NumericEntry]) -> None:
        """A step's values into the running epoch values of the mean (aggregated) metrics."""
        for name, value in values.items():
            if value.kind == "aggregated" and value.count > 0 and math.isfinite(value.value):
                total, count = self._sums.get(name, (0.0, 0))
                self._sums[name] = (total + value.value * value.count, count + value.count)

    def _step_update(self, name: str, value: NumericEntry, shown: dict[str, str]) -> MetricUpdate:
        """The entry of a step's value: the text the dashboard showed, else made up, the
        running epoch value of a mean metric and the batch value."""
        text = shown.get(name)
        if text:
            formatted = escape_controls(text)  # the text the dashboard showed, from the log
        else:
            formatted = f"batch {_text(value.value)}"
            if value.kind == "aggregated" and name in self._sums:
                total, count = self._sums[name]
                formatted = f"epoch {_text(total / count)} - {formatted}"
        return MetricUpdate(MetricEntry(escape_controls(name), formatted, value), False)
