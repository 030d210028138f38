"""A JSON Lines metric log that survives a crash, and its reader.

Each record is one line: ``start``, ``steps`` (the numeric values of consecutive steps of a
split, by column, written in periodic flushes), ``epoch`` (each split's epoch values and text
metrics) and ``end``. Lines are flushed at every tick, so after a crash the log is complete up
to the last flush; a line cut short by the crash is ended by the next writer and skipped by the
reader. Readers take the log as untrusted: a line that is not a valid record is skipped whole,
counted, and warned about once per read.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar, cast, get_args

from burnish.learner.history import MetricHistory
from burnish.logger.base import counts_nothing, numeric_values, open_to_append, text_values
from burnish.metric.entry import EntryKind, NumericEntry
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    LearnerEvent,
    MetricUpdate,
    Split,
    StartEvent,
    StepsEvent,
)

__all__ = [
    "EndRecord",
    "EpochRecord",
    "JsonlMetricLogger",
    "LogRecord",
    "LoggedStep",
    "RunLog",
    "StartRecord",
    "StepsRecord",
    "logged_steps",
    "parse_record",
    "read_run",
    "warn_skipped",
]

FILE_NAME = "metrics.jsonl"

log = logging.getLogger("burnish.logger")


def _entry_json(entry: NumericEntry) -> list[Any]:
    return [*_json_numbers([entry.value]), entry.count, entry.kind]


def _json_numbers(values: Iterable[float]) -> list[float | None]:
    # NaN is written as null: JSON has no NaN, and n/a is what it means. NaN is the one float
    # unequal to itself: a comparison, not a call per value (a log writes every step's).
    return [None if value != value else value for value in values]  # noqa: PLR0124


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
        lines = [json.dumps(record) for record in _log_records(events)]
        if not lines:
            return
        if self._file is None:
            self._file = open_to_append(self.path)
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _log_records(events: Iterable[LearnerEvent]) -> Iterator[dict[str, Any]]:
    """The events' records: consecutive steps of one split's epoch share one ``steps`` record
    (a record per step would cost more to write than the step's metrics to update)."""
    run: list[StepsEvent] = []
    run_key: tuple[Split, int, tuple[str, ...]] | None = None
    for event in events:
        if isinstance(event, StepsEvent):
            key = event.split, event.epoch, tuple(event.numbers)
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


def _steps_record(run: Sequence[StepsEvent]) -> dict[str, Any]:
    """Steps by column. Every step has a value of every numeric metric, ``null`` for NaN; one
    that counts no item (a system sample already logged) is left out when read."""
    first, last = run[0], run[-1]
    values: dict[str, dict[str, Any]] = {}
    for name in first.numbers:
        columns = [event.numbers[name] for event in run]
        kinds = [kind for column in columns for kind in column.kinds]
        values[name] = {
            "value": _json_numbers(value for column in columns for value in column.values),
            "count": [count for column in columns for count in column.counts],
            "kind": kinds[0] if kinds.count(kinds[0]) == len(kinds) else kinds,
        }
    return {
        "event": "steps",
        "split": first.split.value,
        "epoch": first.epoch,
        "iteration": [iteration for event in run for iteration in event.iterations],
        "items": [items for event in run for items in event.items],
        "items_total": first.items_total,
        "lrs": [list(lrs) for event in run for lrs in event.lrs],
        "values": values,
        # The last step's time and texts (formats, units, running values), as a dashboard
        # shows them: `burnish view` shows what the live dashboard showed.
        "at": last.at[-1],
        "shown": _shown(last.latest),
    }


def _shown(metrics: Sequence[MetricUpdate]) -> dict[str, str]:
    return {update.entry.name: update.entry.formatted for update in metrics}


def _record(event: LearnerEvent) -> dict[str, Any] | None:
    if isinstance(event, StartEvent):
        return {
            "event": "start",
            "epoch_total": event.epoch_total,
            "splits": [split.value for split in event.splits],
            "at": event.started_at,
        }
    if isinstance(event, EndSplitEvent):
        return {
            "event": "epoch",
            "split": event.split.value,
            "epoch": event.epoch,
            "values": {k: _entry_json(v) for k, v in numeric_values(event.metrics).items()},
            "texts": text_values(event.metrics),
            "at": event.at,
            "shown": _shown(event.metrics),
        }
    if isinstance(event, EndEvent):
        return {"event": "end", "reason": event.reason, "at": event.at}
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


@dataclass(frozen=True)
class StartRecord:
    epoch_total: int
    splits: tuple[Split, ...]
    at: float | None = None


@dataclass(frozen=True)
class StepsRecord:
    """``at`` and ``shown``: the last step's time and display texts (``None`` and empty in
    logs written before they were recorded)."""

    steps: tuple[LoggedStep, ...]
    at: float | None = None
    shown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochRecord:
    split: Split
    epoch: int
    values: dict[str, NumericEntry]
    texts: dict[str, str]
    at: float | None = None
    shown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndRecord:
    reason: str
    at: float | None = None


LogRecord = StartRecord | StepsRecord | EpochRecord | EndRecord

_T = TypeVar("_T")
_KINDS: tuple[str, ...] = get_args(EntryKind)


def _typed(value: object, kind: type[_T], what: str) -> _T:
    # JSON's true and false are no numbers, though a bool is an int to isinstance.
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise ValueError(f"{what}: expected {kind.__name__}, got {type(value).__name__}")


def _field(record: dict[str, Any], key: str, kind: type[_T]) -> _T:
    return _typed(record.get(key), kind, key)


def _int(value: object, what: str) -> int:
    return _typed(value, int, what)


def _number(value: object, what: str) -> float:
    if value is None:
        return math.nan  # JSON has no NaN: the writer writes null
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{what}: expected a number, got {type(value).__name__}")


def _kind(value: object, what: str) -> EntryKind:
    if value not in _KINDS:
        raise ValueError(f"{what}: expected one of {_KINDS}, got {value!r:.40}")
    return cast(EntryKind, value)


def _split(value: object) -> Split:
    return Split(_typed(value, str, "split"))


def _lrs(value: object, what: str) -> tuple[float, ...]:
    return tuple(_number(lr, what) for lr in _typed(value, list, what))


def _column(value: object, what: str, steps: int, item: Callable[[object, str], _T]) -> list[_T]:
    values = _typed(value, list, what)
    if len(values) != steps:
        raise ValueError(f"{what}: {len(values)} values for {steps} steps")
    return [item(value, what) for value in values]


def _entry(value: object, what: str) -> NumericEntry:
    fields = _typed(value, list, what)
    if len(fields) != 3:
        raise ValueError(f"{what}: expected [value, count, kind], got {len(fields)} fields")
    number, count, kind = fields
    return NumericEntry(_number(number, what), _int(count, what), _kind(kind, what))


def _at(record: dict[str, Any]) -> float | None:
    at = record.get("at")
    return None if at is None else _number(at, "at")


def _shown_texts(record: dict[str, Any]) -> dict[str, str]:
    shown = _typed(record.get("shown", {}), dict, "shown")
    return {name: _typed(text, str, name) for name, text in shown.items()}


def _start(record: dict[str, Any]) -> StartRecord:
    splits = _field(record, "splits", list)
    return StartRecord(_field(record, "epoch_total", int), tuple(map(_split, splits)), _at(record))


def _steps(record: dict[str, Any]) -> StepsRecord:
    split, epoch = _split(record.get("split")), _field(record, "epoch", int)
    iterations = [_int(iteration, "iteration") for iteration in _field(record, "iteration", list)]
    steps = len(iterations)
    items = _column(record.get("items"), "items", steps, _int)
    lrs = _column(record.get("lrs"), "lrs", steps, _lrs)
    items_total = record.get("items_total")
    if items_total is not None:
        items_total = _int(items_total, "items_total")
    columns = {}
    for name, value in _field(record, "values", dict).items():
        column = _typed(value, dict, name)
        kinds = column.get("kind")
        if isinstance(kinds, str):
            kinds = [kinds] * steps  # every step's kind, written once
        columns[name] = [
            NumericEntry(number, count, kind)
            for number, count, kind in zip(
                _column(column.get("value"), name, steps, _number),
                _column(column.get("count"), name, steps, _int),
                _column(kinds, name, steps, _kind),
                strict=True,
            )
        ]
    return StepsRecord(
        tuple(
            LoggedStep(
                split,
                epoch,
                iteration,
                items[step],
                items_total,
                lrs[step],
                {
                    name: entries[step]
                    for name, entries in columns.items()
                    if not counts_nothing(entries[step])
                },
            )
            for step, iteration in enumerate(iterations)
        ),
        _at(record),
        _shown_texts(record),
    )


def _epoch(record: dict[str, Any]) -> EpochRecord:
    texts = _typed(record.get("texts", {}), dict, "texts")
    return EpochRecord(
        _split(record.get("split")),
        _field(record, "epoch", int),
        {name: _entry(value, name) for name, value in _field(record, "values", dict).items()},
        {name: _typed(text, str, name) for name, text in texts.items()},
        _at(record),
        _shown_texts(record),
    )


def _end(record: dict[str, Any]) -> EndRecord:
    return EndRecord(_field(record, "reason", str), _at(record))


_PARSERS: dict[str, Callable[[dict[str, Any]], LogRecord]] = {
    "start": _start,
    "steps": _steps,
    "epoch": _epoch,
    "end": _end,
}


def parse_record(line: bytes) -> LogRecord | None:
    """The record a log line holds, checked whole before any of it is used; ``None`` for a
    line that holds none (cut short, not UTF-8 or JSON, an unknown event, a field missing or
    of the wrong type)."""
    try:
        record = _typed(json.loads(line.decode("utf-8")), dict, "record")
        parse = _PARSERS.get(_field(record, "event", str))
        return None if parse is None else parse(record)
    # OverflowError: an integer too large for a float. RecursionError: JSON nested too deep.
    except (ValueError, OverflowError, RecursionError):
        return None


def logged_steps(record: dict[str, Any]) -> Iterator[LoggedStep]:
    """The steps of a ``steps`` record, in order; a ``ValueError`` if it is not a valid one."""
    return iter(_steps(record).steps)


def warn_skipped(path: Path, skipped: int) -> None:
    """The one warning of a read of a log that skipped lines."""
    if skipped:
        log.warning("%s: skipped %d line(s) that are not valid log records", path, skipped)


@dataclass
class RunLog:
    """What a run's log holds: epoch values, per-step series and how the run ended.

    ``skipped``: how many lines were not valid records (and were left out)."""

    epoch_total: int = 0
    history: MetricHistory = field(default_factory=MetricHistory)
    epoch_entries: dict[tuple[Split, str, int], NumericEntry] = field(default_factory=dict)
    steps: dict[tuple[Split, str], list[tuple[int, NumericEntry]]] = field(default_factory=dict)
    texts: dict[tuple[Split, str], str] = field(default_factory=dict)
    end_reason: str | None = None
    skipped: int = 0

    def apply(self, record: LogRecord) -> None:
        """Add a record, read after those already added."""
        if isinstance(record, StartRecord):
            # An evaluation of the run (a test split alone) does not change its epochs.
            if record.splits != (Split.TEST,):
                self.epoch_total = record.epoch_total
            self.end_reason = None
        elif isinstance(record, StepsRecord):
            for step in record.steps:
                for name, entry in step.values.items():
                    self.steps.setdefault((step.split, name), []).append((step.iteration, entry))
        elif isinstance(record, EpochRecord):
            for name, entry in record.values.items():
                self.history.record(record.split, name, record.epoch, entry.value)
                self.epoch_entries[(record.split, name, record.epoch)] = entry
            for name, text in record.texts.items():
                self.texts[(record.split, name)] = text
        else:
            self.end_reason = record.reason


_STEPS_START = b'{"event": "steps", '
"""How :class:`JsonlMetricLogger` begins every ``steps`` record (``json.dumps`` of a dict whose
first key is ``event``): a reader that needs no steps knows such a line without parsing it."""

_JSON_SPACE = b" \t\r\n"


def _unread_steps(line: bytes) -> bool | None:
    """For a read that leaves steps out: ``None`` if ``line`` is not a ``steps`` record as the
    logger writes one (it is read as any other line); else whether its frame is whole, checked
    without parsing it: UTF-8 text that ends its object. A line cut short (by a crash, or still
    being written) fails the check; a complete line is taken for a steps record on its first
    bytes alone, and what it holds is not checked (a full read still checks all of it)."""
    if not line.startswith(_STEPS_START):
        return None
    if not line.rstrip(_JSON_SPACE).endswith(b"}"):
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_run(directory: str | os.PathLike[str], *, steps: bool = True) -> RunLog:
    """Read a run directory's ``metrics.jsonl`` (a run still going is read as far as written).

    ``steps=False``: leave each step's values out (``RunLog.steps`` stays empty), for a reader
    of epochs alone such as ``burnish summary``. Steps are most of a long run's log, and most
    of what a full read costs: their records are then not parsed, only recognised by how the
    logger begins them and checked for a whole frame (see :func:`_unread_steps`); a line that
    fails that check is skipped and counted as any bad line is. Lines written otherwise (by an
    older or another writer) are parsed and checked whole, as in a full read.
    """
    path = Path(directory) / FILE_NAME
    if not path.exists():
        raise FileNotFoundError(f"no {FILE_NAME} in {directory}: is it a burnish run directory?")
    run = RunLog()
    with path.open("rb") as file:
        for line in file:
            unread = None if steps else _unread_steps(line)
            if unread:
                continue
            record = None if unread is False else parse_record(line)
            if record is not None:
                run.apply(record)
            elif line.endswith(b"\n"):
                run.skipped += 1  # unlike a last line without its newline, maybe being written
    warn_skipped(path, run.skipped)
    return run
