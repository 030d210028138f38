"""The plain renderer: lines of text for logs and CI, when stdout is not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    LearnerEvent,
    MetricUpdate,
    Split,
    StartEvent,
    StartSplitEvent,
    StepsEvent,
)
from burnish.renderer.tui.eta import EtaEstimator, format_duration
from burnish.renderer.tui.system import is_system_metric

__all__ = ["PROGRESS_WIDTH", "PlainRenderer"]

PROGRESS_WIDTH = 100
"""The most characters of a progress line: metrics that would go past it are left out."""
_NOT_AVAILABLE = "n/a"


class PlainRenderer:
    """A line per split epoch with every metric's epoch value, and a short progress line
    (where the split is, elapsed time, the ETA and the first metrics' running values) every
    ``interval_seconds`` while a split runs. Values not available (``n/a``) are left out.

    Writes to ``stream`` (stdout by default, looked up when written to) and flushes each time,
    so a log shows progress as it happens.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._latest: StepsEvent | None = None
        self._last_line = clock()
        self._started_at: float | None = None
        self._epoch_total = 0
        self._eta = EtaEstimator()

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    @property
    def tick_seconds(self) -> float:
        return max(0.1, min(1.0, self.interval_seconds / 2))

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        lines: list[str] = []
        for event in events:
            if isinstance(event, StepsEvent):
                if len(event):
                    self._latest = event
                self._eta.observe(event)
            elif isinstance(event, EndSplitEvent):
                self._latest = None
                self._last_line = self.clock()
                lines.append(self._epoch_line(event))
            elif isinstance(event, StartSplitEvent):
                self._latest = None
                self._last_line = self.clock()
                self._eta.start_split(event.split)
            elif isinstance(event, StartEvent):
                self._started_at = event.started_at
                self._epoch_total = event.epoch_total
                lines.append(_start_line(event))
            elif isinstance(event, EndEvent):
                lines.append(self._end_line(event))
        now = self.clock()
        if self._latest is not None and now - self._last_line >= self.interval_seconds:
            lines.append(self._progress_line(self._latest))
            self._latest = None
            self._last_line = now
        if lines:
            stream = self.stream
            stream.write("".join(f"{line}\n" for line in lines))
            stream.flush()

    def close(self) -> None:
        self.stream.flush()

    def _epoch_line(self, event: EndSplitEvent) -> str:
        head = f"[{event.split.value}] epoch {event.epoch}/{self._epoch_total} done"
        return " | ".join([head, *_metric_texts(event.metrics)])

    def _progress_line(self, event: StepsEvent) -> str:
        """Where the last step of ``event`` was, and its running values."""
        progress = event.progress()
        items = progress.progress.items_processed
        total = progress.progress.items_total
        where = f"{items / total:.0%} ({items}/{total})" if total else f"{items} items"
        head = f"[{event.split.value}] epoch {progress.epoch}/{progress.epoch_total} {where}"
        timing: list[str] = []
        if self._started_at is not None:
            timing.append(f"{format_duration(event.at[-1] - self._started_at)} elapsed")
        eta = self._eta.remaining_seconds()
        if eta is not None:
            timing.append(f"ETA {format_duration(eta)}")
        parts = [head, ", ".join(timing)] if timing else [head]
        # Training metrics, not system use (the dashboard's).
        numeric = [
            update
            for update in event.latest
            if update.numeric and not is_system_metric(update.entry.name)
        ]
        length = len(" | ".join(parts))
        for update in numeric:
            text = _running(update.entry.formatted)
            if text == _NOT_AVAILABLE:
                continue
            part = f"{update.entry.name} {text}"
            if length + 3 + len(part) > PROGRESS_WIDTH:
                break
            parts.append(part)
            length += 3 + len(part)
        return " | ".join(parts)

    def _end_line(self, event: EndEvent) -> str:
        reason = event.reason.replace("_", " ")
        if self._started_at is None:
            return f"Training {reason}"
        return f"Training {reason} after {format_duration(event.at - self._started_at)}"


def _metric_texts(metrics: Sequence[MetricUpdate]) -> list[str]:
    texts = ((update.entry.name, " ".join(update.entry.formatted.split())) for update in metrics)
    return [f"{name} {text}" for name, text in texts if text != _NOT_AVAILABLE]


def _running(formatted: str) -> str:
    """The running value in a numeric step's text: Burn's ``epoch <running> - batch <batch>``
    (a metric that writes another text is shown whole)."""
    if formatted.startswith("epoch ") and " - batch " in formatted:
        return formatted[len("epoch ") : formatted.index(" - batch ")]
    return " ".join(formatted.split())


def _start_line(event: StartEvent) -> str:
    if event.splits == (Split.TEST,):
        return "Evaluating (test)"
    epochs = f"{event.epoch_total} epoch{'s' if event.epoch_total != 1 else ''}"
    return f"Training for {epochs} ({', '.join(split.value for split in event.splits)})"
