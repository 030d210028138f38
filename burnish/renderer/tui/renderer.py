"""The terminal dashboard renderer: Burn's TUI, drawn with rich on the alternate screen."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from burnish.learner.events import LearnerEvent
from burnish.learner.interrupt import Interrupter
from burnish.renderer.replay import LogReplay
from burnish.renderer.tui.dashboard import Dashboard
from burnish.renderer.tui.eta import EtaEstimator
from burnish.renderer.tui.keys import DOWN, LEFT, RIGHT, UP, Controls
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.terminal import TerminalSession, install_sigterm_handler

__all__ = ["TuiRenderer"]

log = logging.getLogger("burnish.renderer")

_NAVIGATION = (LEFT, RIGHT, UP, DOWN, "l", "L")


def _stdin_fd() -> int | None:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if sys.stdin.isatty() else None


class TuiRenderer:
    """A live dashboard of plots, metrics, status, system use and progress.

    Runs on the renderer actor's thread: each :meth:`consume` folds the new events in, applies
    the keys pressed since, and draws a frame: at once for a key or a resize (at most
    ``1 / tick_seconds`` frames a second, 4), for new training data at most every
    ``data_refresh_seconds`` (2 frames a second: a 120x40 frame costs a few milliseconds of the
    interpreter, which training shares), and each ``refresh_seconds`` for the clock.
    ``q`` then ``s`` calls ``interrupter.stop()`` (``q`` alone with ``confirm_stop=False``).
    With ``persistent``, :meth:`close` keeps the final dashboard up (arrows still browse it)
    until another key is pressed, and the learner waits for it.

    Keys are read only when ``input_fd`` (stdin by default) is a terminal. ``history``: the
    ``metrics.jsonl`` of a run being resumed; what it holds when the renderer is made (the
    run before the resume) is drawn before the first event, so plots show the whole run.
    """

    tick_seconds = 0.25
    data_refresh_seconds = 0.5

    def __init__(
        self,
        interrupter: Interrupter | None = None,
        *,
        persistent: bool = False,
        confirm_stop: bool = True,
        console: Console | None = None,
        input_fd: int | None = -1,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        history: Path | None = None,
    ) -> None:
        self.interrupter = interrupter
        self.persistent = persistent
        self.console = console if console is not None else Console()
        self.input_fd = _stdin_fd() if input_fd == -1 else input_fd
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.state = DashboardState(clock)
        self.controls = Controls(self._stop, confirm_stop=confirm_stop)
        self.dashboard = Dashboard(self.state, self.controls)
        self.frames = 0
        self._session: TerminalSession | None = None
        self._last_frame: float | None = None
        self._size: tuple[int, int] | None = None
        self._failed = False
        # Read on the renderer's thread at its first tick, up to where the log ends now: the
        # resumed run appends to it meanwhile.
        self._history: LogReplay | None = None
        if history is not None and history.is_file():
            self._history = LogReplay(history, end=history.stat().st_size)
        # Signal handlers can only be installed from the main thread, where renderers are made.
        install_sigterm_handler()

    def _stop(self) -> None:
        if self.interrupter is not None:
            self.interrupter.stop()

    @property
    def session(self) -> TerminalSession:
        if self._session is None:
            self._session = TerminalSession(self.console, self.input_fd)
            self._session.enter()
        return self._session

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        try:
            session = self.session
            if self._history is not None:
                self._draw_history(self._history)
                self._history = None
            updated = self.state.apply(events)
            pressed = False
            for key in session.pressed_keys():
                pressed |= self.controls.handle(key, len(self.state.numeric_metrics))
            self._draw(pressed, updated)
        except BaseException:
            self._failed = True
            raise

    def _draw_history(self, history: LogReplay) -> None:
        """Fold in the run's logged history: every step (the log has no more than the run
        made), then the ETA measured afresh, as the history was read at one instant."""
        state = self.state
        sampled, state.max_steps_per_tick = state.max_steps_per_tick, sys.maxsize
        try:
            state.apply(history.poll())
        finally:
            state.max_steps_per_tick = sampled
            state.eta = EtaEstimator()
        if history.skipped:
            log.warning("%s: %d bad records were not drawn", history.path, history.skipped)

    def _draw(self, changed: bool, updated: bool = False) -> None:
        """Draw a frame if ``changed`` (a key), on a resize, if ``updated`` (new data) and the
        last frame is ``data_refresh_seconds`` old, or if it is ``refresh_seconds`` old."""
        now = self.clock()
        size = (self.console.size.width, self.console.size.height)
        if size != self._size:
            self._size = size
            changed = True
        age = math.inf if self._last_frame is None else now - self._last_frame
        due = age >= (self.data_refresh_seconds if updated else self.refresh_seconds)
        if changed or due:
            self.session.show(self.dashboard)
            self._last_frame = now
            self.frames += 1

    def close(self) -> None:
        if self._session is None:
            return
        try:
            if not self._failed:
                self._draw(True)
                if self.persistent and self.state.end_reason != "error":
                    self._wait_for_exit_key()
        finally:
            self._session.restore()

    def _wait_for_exit_key(self) -> None:
        reader = self._session.reader if self._session is not None else None
        if reader is None:
            return
        self.controls.waiting_for_exit = True
        self._draw(True)
        while True:
            key = reader.wait(timeout=self.refresh_seconds)
            if key is None:
                if not reader.alive:
                    return
                self._draw(False)
                continue
            if key not in _NAVIGATION:
                return
            self._draw(self.controls.handle(key, len(self.state.numeric_metrics)))
