"""The metric logger protocol and what loggers share: an epoch's values, appending to a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from burnish.metric.entry import NumericEntry
from burnish.processor.events import LearnerEvent, MetricUpdate, StepsEvent

__all__ = [
    "MetricLogger",
    "counts_nothing",
    "numeric_values",
    "open_to_append",
    "step_values",
    "text_values",
    "write_atomically",
]


@runtime_checkable
class MetricLogger(Protocol):
    """A logger is an event consumer: it runs on its own thread and is called at most once per
    ``tick_seconds`` with the events since its last call (a periodic flush)."""

    @property
    def tick_seconds(self) -> float: ...

    def consume(self, events: Sequence[LearnerEvent]) -> None: ...

    def close(self) -> None: ...


def numeric_values(metrics: Iterable[MetricUpdate]) -> dict[str, NumericEntry]:
    """The numeric metrics' values (an epoch's: a step's are in :class:`StepsEvent` columns)."""
    return {update.entry.name: update.entry.numeric for update in metrics if update.numeric}


def step_values(event: StepsEvent, step: int) -> dict[str, NumericEntry]:
    """Step ``step``'s numeric values, without those that count no item.

    A step entry counting nothing (a system sample already logged, a batch of padding) adds
    nothing to a count-weighted mean, so step logs leave it out.
    """
    values = {}
    for name, column in event.numbers.items():
        entry = column.entry(step)
        if not counts_nothing(entry):
            values[name] = entry
    return values


def counts_nothing(entry: NumericEntry) -> bool:
    """Whether a step entry adds nothing to a count-weighted mean (step logs leave it out)."""
    return entry.count == 0 and entry.kind == "aggregated"


def text_values(metrics: Iterable[MetricUpdate]) -> dict[str, str]:
    return {update.entry.name: update.entry.formatted for update in metrics if not update.numeric}


def open_to_append(path: Path, newline: str | None = None) -> TextIO:
    """``path`` opened to append text (created with its folders if need be), its last line
    ended first if a crash left it without its newline.

    ``newline``: as :func:`open` takes it (the ``csv`` module wants ``""``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    file = path.open("a", encoding="utf-8", newline=newline)
    if file.tell():
        with path.open("rb") as existing:
            existing.seek(-1, os.SEEK_END)
            torn = existing.read(1) != b"\n"
        if torn:
            # A crash or a full disk cut the last line short: ended here, it stays one bad line,
            # instead of taking this run's first record down with it.
            file.write("\n")
    return file


def _new_file_mode() -> int:
    """The mode ``open`` gives a new file: 0666 less the process's umask, read where the system
    tells it without changing it (``os.umask`` would, for every thread, for a moment)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    return 0o644


def write_atomically(
    path: Path, write: Callable[[TextIO], None], newline: str | None = None
) -> None:
    """Write ``path`` whole with ``write``, through a temporary file beside it and
    ``os.replace``: a crash leaves the old file or the new one, never part of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline=newline) as file:
            write(file)
        # mkstemp makes the file private (0600): a log is as readable as the JSONL log is.
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else _new_file_mode())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
