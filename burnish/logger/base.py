"""The metric logger protocol and what loggers share: reading an event's metric values."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from burnish.learner.events import (
    BlockUpdates,
    LearnerEvent,
    MetricUpdate,
    StepUpdates,
    is_numeric,
    metric_names,
    numeric_of,
)
from burnish.metric.entry import (
    EntryKind,
    MetricEntry,
    NumericEntry,
    StepEntries,
    resolve_entries,
    resolve_step_numbers,
)

__all__ = [
    "MetricLogger",
    "StepColumns",
    "counts_nothing",
    "numeric_values",
    "open_to_append",
    "resolve_events",
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


def resolve_events(events: Iterable[LearnerEvent]) -> None:
    """Read the values of every metric entry in the events: the numeric values of the steps'
    entries (their texts are built if read), the others in full. A learner's blocks of steps
    are read by column, without building their steps' entries."""
    blocks: dict[int, BlockUpdates] = {}
    entries: list[MetricEntry] = []
    for event in events:
        metrics = getattr(event, "metrics", ())
        if isinstance(metrics, StepUpdates):
            block = metrics.block
            blocks[id(block)] = block
            step = metrics.step
            for column in block.entry_columns:
                entries.append(column[step])
        else:
            entries.extend(update.entry for update in metrics)
    resolve_step_numbers(column for block in blocks.values() for column in block.step_columns)
    resolve_entries(entries, texts=False)


class StepColumns:
    """The numeric metrics of consecutive steps, read by column: the steps of a learner's
    block give their numbers at once, without an object per step."""

    def __init__(self, steps: Iterable[Sequence[MetricUpdate]]) -> None:
        # Runs of consecutive steps of one block: (block, first step, end); a step that is not
        # a block's is (its metrics, 0, 1).
        runs: list[tuple[BlockUpdates | Sequence[MetricUpdate], int, int]] = []
        for metrics in steps:
            if isinstance(metrics, StepUpdates):
                if runs and runs[-1][0] is metrics.block and runs[-1][2] == metrics.step:
                    runs[-1] = (metrics.block, runs[-1][1], metrics.step + 1)
                else:
                    runs.append((metrics.block, metrics.step, metrics.step + 1))
            else:
                runs.append((metrics, 0, 1))
        self._runs = runs

    def numbers(self, index: int) -> tuple[list[float], list[int], list[EntryKind]]:
        """Metric ``index``'s values, counts and kinds, one per step (a numeric metric's)."""
        values: list[float] = []
        counts: list[int] = []
        kinds: list[EntryKind] = []
        for source, start, stop in self._runs:
            if isinstance(source, BlockUpdates):
                column = source.columns[index]
                if isinstance(column, StepEntries):
                    numbers = column.numbers()
                    values += numbers.values[start:stop]
                    counts += numbers.counts[start:stop]
                    kinds += [numbers.kind] * (stop - start)
                    continue
                entries = [column[step].numeric for step in range(start, stop)]
            else:
                entries = [source[index].entry.numeric]
            values += [entry.value for entry in entries]
            counts += [entry.count for entry in entries]
            kinds += [entry.kind for entry in entries]
        return values, counts, kinds


def numeric_values(
    metrics: Sequence[MetricUpdate], *, skip_empty: bool = False
) -> dict[str, NumericEntry]:
    """The numeric metrics' values; with ``skip_empty``, without those that count no item.

    A step entry counting nothing (a system sample already logged, a batch of padding) adds
    nothing to a count-weighted mean, so step logs leave it out.
    """
    values = {}
    for index, name in enumerate(metric_names(metrics)):
        if not is_numeric(metrics, index):
            continue  # a text metric
        entry = numeric_of(metrics, index)
        if not (skip_empty and counts_nothing(entry)):
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
