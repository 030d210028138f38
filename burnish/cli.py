"""``burnish summary RUN_DIR`` prints a run's summary table; ``burnish view RUN_DIR`` replays
its log in the dashboard, following it while the run goes on."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from rich.console import Console

from burnish.learner.directory import versioned_directory
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
from burnish.learner.interrupt import Interrupter
from burnish.learner.summary import LearnerSummary, escape_controls
from burnish.logger.jsonl import (
    FILE_NAME,
    EpochRecord,
    LogRecord,
    StartRecord,
    StepsRecord,
    parse_record,
    read_run,
    warn_skipped,
)
from burnish.metric.base import MetricEntry, NumericEntry, Progress, format_value

__all__ = ["LogReplay", "main", "view"]

_PRECISION = 4
"""The log keeps values, not how a metric formats them: every value is shown with 4 digits."""
_CHUNK = 2048
"""Events folded between two looks at the keyboard while a long log is replayed."""


def _log_path(directory: str | os.PathLike[str]) -> Path:
    path = Path(directory) / FILE_NAME
    if not path.exists():
        raise FileNotFoundError(f"no {FILE_NAME} in {directory}: is it a burnish run directory?")
    return path


def _run_directory(directory: str) -> Path:
    """``directory``, or the newest run in it written by ``LearnerBuilder.versioned()``."""
    path = Path(directory)
    if not (path / FILE_NAME).exists():
        with contextlib.suppress(FileNotFoundError):
            return versioned_directory(path, resume=True)
    return path


def _summary(directory: str) -> int:
    run = read_run(directory)
    print(LearnerSummary.from_history(run.history))
    if run.end_reason is None:
        print("(the run has not ended: this is the log as far as it is written)")
    return 0


def _text(value: float) -> str:
    return format_value(value, _PRECISION)


class LogReplay:
    """The events a learner sent, rebuilt from its ``metrics.jsonl``, read as the file grows.

    Each :meth:`poll` returns the events of the lines completed since the last one (a line
    being written is left for the next). What the log does not keep is made up plainly: a
    split starts where its first step is, a step shows the running epoch value of a mean
    (``aggregated``) metric and the batch value of the others, and every event is stamped with
    the time it was read. Lines that are not valid records are counted in ``skipped``; text
    from the log (names, text values, the end's reason) is escaped for the terminal.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ended = False
        self.skipped = 0
        self._offset = 0
        self._epoch_total = 0
        self._split: tuple[Split, int] | None = None
        self._sums: dict[str, tuple[float, int]] = {}

    def poll(self) -> list[LearnerEvent]:
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        events: list[LearnerEvent] = []
        now = time.monotonic()
        # Split at newlines only (not at a stray \r, as splitlines would), as read_run does.
        for line in complete.split(b"\n")[:-1]:
            record = parse_record(line)
            if record is None:
                self.skipped += 1
            else:
                events.extend(self._events(record, now))
        return events

    def _events(self, record: LogRecord, now: float) -> Iterator[LearnerEvent]:
        if isinstance(record, StartRecord):
            self.ended = False
            self._split = None
            self._epoch_total = record.epoch_total
            yield StartEvent(record.epoch_total, record.splits, now)
        elif isinstance(record, StepsRecord):
            for step in record.steps:
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
                updates = tuple(self._step_update(*value) for value in step.values.items())
                yield ProcessedItemEvent(step.split, progress, updates, step.lrs, now)
        elif isinstance(record, EpochRecord):
            finals = [
                MetricUpdate(
                    MetricEntry(escape_controls(name), _text(value.value), value.serialize()),
                    False,
                )
                for name, value in record.values.items()
            ]
            for name, text in record.texts.items():
                shown = escape_controls(text, keep="\n")  # a text may be a table of lines
                finals.append(MetricUpdate(MetricEntry(escape_controls(name), shown, shown), None))
            yield EndSplitEvent(record.split, record.epoch, tuple(finals), now)
        else:
            self.ended = True
            yield EndEvent(escape_controls(record.reason), now)

    def _step_update(self, name: str, value: NumericEntry) -> MetricUpdate:
        running = None
        if value.kind == "aggregated":
            total, count = self._sums.get(name, (0.0, 0))
            if value.count > 0 and math.isfinite(value.value):
                total, count = total + value.value * value.count, count + value.count
                self._sums[name] = (total, count)
            if count:
                running = total / count
        return MetricUpdate(_StepEntry(escape_controls(name), value, running), False)


class _StepEntry(MetricEntry):
    """A logged step's entry. Its text is built when shown: a replay has many steps, and a
    frame shows the last of each."""

    __slots__ = ("_batch", "_running")

    def __init__(self, name: str, value: NumericEntry, running: float | None) -> None:
        super().__init__(name, "", value.serialize())
        self._batch = value.value
        self._running = running

    @property
    def formatted(self) -> str:
        batch = f"batch {_text(self._batch)}"
        return batch if self._running is None else f"epoch {_text(self._running)} - {batch}"


def view(
    directory: str | os.PathLike[str],
    *,
    console: Console | None = None,
    input_fd: int | None = -1,
    keep_open: bool = True,
    poll_seconds: float = 0.5,
) -> int:
    """Replay a run's log in the dashboard and follow it until its ``end`` record; ``q`` quits.

    ``keep_open``: after the end, keep the dashboard up until ``q`` (else return).
    ``input_fd``: where keys are read (stdin by default; ``None``: no keys).
    """
    # Imported here: the dashboard is only loaded when it is shown.
    from burnish.renderer.tui import TuiRenderer  # noqa: PLC0415
    from burnish.renderer.tui.eta import EtaEstimator  # noqa: PLC0415

    replay = LogReplay(_log_path(directory))
    quit_requested = Interrupter()
    renderer = TuiRenderer(quit_requested, confirm_stop=False, console=console, input_fd=input_fd)
    state = renderer.state
    # The log holds no more steps than the run made: plot every one of them.
    state.max_steps_per_tick = sys.maxsize
    backlog = True
    next_poll = 0.0
    try:
        while not quit_requested.should_stop():
            events: list[LearnerEvent] = []
            if not replay.ended and time.monotonic() >= next_poll:
                events = replay.poll()
                next_poll = time.monotonic() + poll_seconds
            for start in range(0, len(events), _CHUNK):
                renderer.consume(events[start : start + _CHUNK])
                if quit_requested.should_stop():
                    break
            if backlog:
                backlog = False
                # The backlog was read at one instant: measure the rate on what follows only.
                state.eta = EtaEstimator()
                last = next(
                    (e for e in reversed(events) if isinstance(e, ProcessedItemEvent)), None
                )
                if last is not None and last.split is Split.TRAIN:
                    state.eta.observe(last)
            # The log has no time stamps: how long the run took is unknown, not 0:00.
            state.started_at = None
            if not events:
                renderer.consume(())  # keys, and the clock
            if replay.ended and not keep_open:
                break
            time.sleep(renderer.tick_seconds)
    except KeyboardInterrupt:
        return 130
    finally:
        renderer.close()
        # Once the dashboard is gone: a warning printed under it would tear its frame.
        warn_skipped(replay.path, replay.skipped)
    return 0


def _view(directory: str) -> int:
    from burnish.renderer import stdout_is_terminal  # noqa: PLC0415

    if not stdout_is_terminal():
        return _summary(directory)
    return view(directory)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="burnish", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="print a run's summary table")
    where = "the run directory (holding metrics.jsonl), or one of versioned runs (the newest)"
    summary.add_argument("directory", help=where)
    view_parser = commands.add_parser(
        "view",
        help="replay a run's log in the dashboard, following a running run (q quits); "
        "prints the summary table when stdout is not a terminal",
    )
    view_parser.add_argument("directory", help=where)
    args = parser.parse_args(argv)
    try:
        directory = str(_run_directory(args.directory))
        status = _view(directory) if args.command == "view" else _summary(directory)
        sys.stdout.flush()  # here, where a closed pipe can be caught, not at exit
        return status
    except FileNotFoundError as error:
        print(f"burnish: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader has gone (`burnish summary DIR | head -1`). Python's recipe: stdout to
        # devnull, so that the flush at exit does not fail again with a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what a shell reports for a program a closed pipe ended


if __name__ == "__main__":
    raise SystemExit(main())
