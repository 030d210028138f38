"""A run's log read back as the events its learner sent: ``burnish view`` replays it, and the
dashboard of a resumed run draws the history the log holds from before the resume."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

from burnish.learner.events import (
    EndEvent,
    EndSplitEvent,
    LearnerEvent,
    MetricUpdate,
    ProcessedItemEvent,
    Split,
    StartEvent,
    StartSplitEvent,
    TrainingProgress,
)
from burnish.learner.summary import escape_controls
from burnish.logger.jsonl import EpochRecord, LogRecord, StartRecord, StepsRecord, parse_record
from burnish.metric.base import Progress
from burnish.metric.entry import MetricEntry, NumericEntry, format_value

__all__ = ["LogReplay"]

_PRECISION = 4
"""The log keeps values, not how a metric formats them: every value is shown with 4 digits."""


def _text(value: float) -> str:
    return format_value(value, _PRECISION)


class LogReplay:
    """The events a learner sent, rebuilt from its ``metrics.jsonl``, read as the file grows.

    Each :meth:`poll` returns the events of the lines completed since the last one (a line
    being written is left for the next). The last step of each ``steps`` record and the
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
        since = at if self._last_at is None else min(self._last_at, at)
        for index, step in enumerate(steps):
            if self._split != (step.split, step.epoch):
                self._split = (step.split, step.epoch)
                self._sums.clear()
                yield StartSplitEvent(step.split, step.epoch, step.items_total)
            progress = TrainingProgress(
                Progress(step.items, step.items_total),
                step.epoch,
                self._epoch_total,
                step.iteration,
            )
            last = index == len(steps) - 1
            shown = record.shown if last else {}
            updates = [self._step_update(*value, shown) for value in step.values.items()]
            self._numeric.update(step.values)
            # Text metrics (and tables) are in the last step's texts only.
            updates.extend(
                MetricUpdate(MetricEntry(escape_controls(name), text, text), None)
                for name, raw in shown.items()
                if name not in self._numeric
                for text in [escape_controls(raw, keep="\n")]
            )
            moment = since + (at - since) * (index + 1) / len(steps)
            yield ProcessedItemEvent(step.split, progress, tuple(updates), step.lrs, moment)

    def _step_update(self, name: str, value: NumericEntry, shown: dict[str, str]) -> MetricUpdate:
        running = None
        if value.kind == "aggregated":
            total, count = self._sums.get(name, (0.0, 0))
            if value.count > 0 and math.isfinite(value.value):
                total, count = total + value.value * value.count, count + value.count
                self._sums[name] = (total, count)
            if count:
                running = total / count
        text = shown.get(name)
        entry = _StepEntry(escape_controls(name), value, running, escape_controls(text or ""))
        return MetricUpdate(entry, False)


class _StepEntry(MetricEntry):
    """A logged step's entry. Its text is built when shown: a replay has many steps, and a
    frame shows the last of each."""

    __slots__ = ("_batch", "_running", "_shown")

    def __init__(self, name: str, value: NumericEntry, running: float | None, shown: str) -> None:
        super().__init__(name, "", value.serialize())
        self._batch = value.value
        self._running = running
        self._shown = shown

    @property
    def formatted(self) -> str:
        if self._shown:
            return self._shown  # the text the dashboard showed, from the log
        batch = f"batch {_text(self._batch)}"
        return batch if self._running is None else f"epoch {_text(self._running)} - {batch}"
