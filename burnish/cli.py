"""``burnish summary RUN_DIR`` prints a run's summary table; ``burnish view RUN_DIR`` replays
its log in the dashboard, following it while the run goes on; ``burnish view A B ...`` compares
runs, a line per run in one plot."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from burnish.learner.directory import versioned_directory
from burnish.learner.interrupt import Interrupter
from burnish.learner.summary import LearnerSummary
from burnish.logger.jsonl import FILE_NAME, read_run, warn_skipped
from burnish.processor.events import LearnerEvent, Split, StepsEvent
from burnish.renderer.replay import LogReplay

if TYPE_CHECKING:
    # For annotations alone: `burnish summary` loads neither rich nor the dashboard.
    from rich.console import Console

    from burnish.renderer.tui.view import TerminalView

__all__ = ["LogReplay", "compare", "main", "view"]

_CHUNK = 2048
"""Steps folded between two looks at the keyboard while a long log is replayed."""


def _run_directory(directory: str) -> Path:
    """``directory``, or the newest run in it written by ``LearnerBuilder.versioned()``."""
    path = Path(directory)
    if not (path / FILE_NAME).exists():
        with contextlib.suppress(FileNotFoundError):
            return versioned_directory(path, resume=True)
    return path


def _summary(directory: str, title: str = "") -> int:
    # The table needs the epochs alone: the steps, most of a long run's log, are not parsed.
    run = read_run(directory, steps=False)
    if title:
        print(title)
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

    def poll() -> bool:
        nonlocal backlog
        events = replay.poll()
        for chunk in _chunks(events):
            renderer.consume(chunk)
            if quit_requested.should_stop():
                break
        if backlog and events and not replay.timed:
            backlog = False
            # A log without times was read at one instant: the rate is measured on what
            # follows only.
            state.eta = EtaEstimator()
            last = next((e for e in reversed(events) if isinstance(e, StepsEvent) and len(e)), None)
            if last is not None and last.split is Split.TRAIN:
                state.eta.observe(_last_step(last))
        if not replay.timed:
            # The log has no time stamps: how long the run took is unknown, not 0:00.
            state.started_at = None
        return bool(events)

    try:
        return _follow(
            renderer,
            quit_requested,
            poll,
            lambda: replay.ended,
            keep_open=keep_open,
            poll_seconds=poll_seconds,
        )
    finally:
        # Once the dashboard is gone: a warning printed under it would tear its frame.
        warn_skipped(replay.path, replay.skipped)


def _chunks(events: list[LearnerEvent]) -> Iterator[list[LearnerEvent]]:
    """``events`` in runs of about ``_CHUNK`` steps (an event that is no step counts as one)."""
    start = steps = 0
    for index, event in enumerate(events):
        steps += len(event) if isinstance(event, StepsEvent) else 1
        if steps >= _CHUNK:
            yield events[start : index + 1]
            start, steps = index + 1, 0
    if start < len(events):
        yield events[start:]


def _last_step(event: StepsEvent) -> StepsEvent:
    """The last step of ``event`` alone."""
    return replace(
        event,
        iterations=event.iterations[-1:],
        items=event.items[-1:],
        lrs=event.lrs[-1:],
        at=event.at[-1:],
        numbers={},
    )


def compare(
    directories: Sequence[str | os.PathLike[str]],
    *,
    console: Console | None = None,
    input_fd: int | None = -1,
    keep_open: bool = True,
    poll_seconds: float = 0.5,
) -> int:
    """Compare runs: each run's log replayed as :func:`view` replays one, and a metric's lines
    drawn a run per line, named by run directory; logs are followed until every run has ended
    (those not written yet are waited for). Keys: left/right metric, up/down view, ``s`` split,
    ``l`` log scale, ``q`` quits. ``keep_open`` and ``input_fd`` as for :func:`view`."""
    # Imported here: the dashboard is only loaded when it is shown.
    from burnish.renderer.tui.compare import CompareControls, Comparison  # noqa: PLC0415
    from burnish.renderer.tui.compare_screen import CompareScreen  # noqa: PLC0415
    from burnish.renderer.tui.view import TerminalView  # noqa: PLC0415

    comparison = Comparison.of_directories([Path(directory) for directory in directories])
    quit_requested = Interrupter()
    controls = CompareControls(quit_requested.stop, comparison.splits)
    screen = CompareScreen(comparison, controls)
    terminal = TerminalView(
        screen,
        controls,
        lambda: len(comparison.metric_names()),
        console=console,
        input_fd=input_fd,
    )
    try:
        return _follow(
            terminal,
            quit_requested,
            comparison.poll,
            lambda: comparison.ended,
            keep_open=keep_open,
            poll_seconds=poll_seconds,
        )
    finally:
        for run in comparison.runs:
            warn_skipped(run.replay.path, run.replay.skipped)


def _follow(
    terminal: TerminalView,
    quit_requested: Interrupter,
    poll: Callable[[], bool],
    ended: Callable[[], bool],
    *,
    keep_open: bool,
    poll_seconds: float,
) -> int:
    """Until ``q`` (or, without ``keep_open``, until ``ended()``): ``poll()`` the logs every
    ``poll_seconds`` while they go on, and let ``terminal`` take keys and draw each tick.
    Returns the exit status: 0, or 130 after Ctrl-C."""
    next_poll = 0.0
    try:
        while not quit_requested.should_stop():
            updated = False
            if not ended() and time.monotonic() >= next_poll:
                updated = poll()
                next_poll = time.monotonic() + poll_seconds
            terminal.refresh(updated)
            if ended() and not keep_open:
                break
            time.sleep(terminal.tick_seconds)
    except KeyboardInterrupt:
        return 130
    finally:
        terminal.close()
    return 0


def _view(directories: Sequence[str], given: Sequence[str]) -> int:
    """One run's dashboard, or runs compared; without a terminal, each run's summary (under
    the directory it was given as, when there are several)."""
    from burnish.renderer import stdout_is_terminal  # noqa: PLC0415

    if not stdout_is_terminal():
        if len(directories) == 1:
            return _summary(directories[0])
        for directory, name in zip(directories, given, strict=True):
            _summary(directory, title=f"{name}:")
        return 0
    if len(directories) == 1:
        return view(directories[0])
    return compare(directories)


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
    view_parser.add_argument(
        "directories",
        nargs="+",
        metavar="directory",
        help=f"{where}; several: their runs compared, a line per run (s switches the split)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "view":
            directories = [str(_run_directory(given)) for given in args.directories]
            status = _view(directories, args.directories)
        else:
            status = _summary(str(_run_directory(args.directory)))
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
