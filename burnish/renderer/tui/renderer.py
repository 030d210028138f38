"""The terminal dashboard renderer: Burn's TUI, drawn with rich on the alternate screen."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from rich.console import Console

from burnish.learner.events import LearnerEvent
from burnish.learner.interrupt import Interrupter
from burnish.renderer.tui.dashboard import Dashboard
from burnish.renderer.tui.keys import DOWN, LEFT, RIGHT, UP, Controls
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.terminal import TerminalSession, install_sigterm_handler

__all__ = ["TuiRenderer"]

_NAVIGATION = (LEFT, RIGHT, UP, DOWN)


def _stdin_fd() -> int | None:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if sys.stdin.isatty() else None


class TuiRenderer:
    """A live dashboard of plots, metrics, status, system use and progress.

    Runs on the renderer actor's thread: each :meth:`consume` folds the new events in, applies
    the keys pressed since, and draws a frame when anything changed, or each
    ``refresh_seconds`` for the clock, so at most ``1 / tick_seconds`` frames a second (4: a
    frame costs a few milliseconds of the interpreter, which training shares).
    ``q`` then ``s`` calls ``interrupter.stop()`` (``q`` alone with ``confirm_stop=False``).
    With ``persistent``, :meth:`close` keeps the final dashboard up (arrows still browse it)
    until another key is pressed, and the learner waits for it.

    Keys are read only when ``input_fd`` (stdin by default) is a terminal.
    """

    tick_seconds = 0.25

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
            changed = self.state.apply(events)
            for key in session.pressed_keys():
                changed |= self.controls.handle(key, len(self.state.numeric_metrics))
            self._draw(changed)
        except BaseException:
            self._failed = True
            raise

    def _draw(self, changed: bool) -> None:
        now = self.clock()
        size = (self.console.size.width, self.console.size.height)
        if size != self._size:
            self._size = size
            changed = True
        stale = self._last_frame is None or now - self._last_frame >= self.refresh_seconds
        if changed or stale:
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
