"""``burnish summary RUN_DIR`` prints a run's summary table; ``burnish view RUN_DIR`` replays
its log in the dashboard, following it while the run goes on."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from burnish.learner.directory import versioned_directory
from burnish.learner.events import LearnerEvent, ProcessedItemEvent, Split
from burnish.learner.interrupt import Interrupter
from burnish.learner.summary import LearnerSummary
from burnish.logger.jsonl import FILE_NAME, read_run, warn_skipped
from burnish.renderer.replay import LogReplay

__all__ = ["LogReplay", "main", "view"]

_CHUNK = 2048
"""Events folded between two looks at the keyboard while a long log is replayed."""


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


def view(
    directory: str | os.PathLike[str],
    *,
    console: Console | None = None,
    input_fd: int | None = -1,
    keep_open: bool = True,
    poll_seconds: float = 0.5,
) -> int:
    """Replay a run's log in the dashboard and follow it until its ``end`` record; ``q`` quits.
    A log that does not exist yet is waited for.

    ``keep_open``: after the end, keep the dashboard up until ``q`` (else return).
    ``input_fd``: where keys are read (stdin by default; ``None``: no keys).
    """
    # Imported here: the dashboard is only loaded when it is shown.
    from burnish.renderer.tui import TuiRenderer  # noqa: PLC0415
    from burnish.renderer.tui.eta import EtaEstimator  # noqa: PLC0415

    # A log not written yet (the run is starting) is waited for.
    replay = LogReplay(Path(directory) / FILE_NAME)
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
            if backlog and events and not replay.timed:
                backlog = False
                # A log without times was read at one instant: the rate is measured on what
                # follows only.
                state.eta = EtaEstimator()
                last = next(
                    (e for e in reversed(events) if isinstance(e, ProcessedItemEvent)), None
                )
                if last is not None and last.split is Split.TRAIN:
                    state.eta.observe(last)
            if not replay.timed:
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
