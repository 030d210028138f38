"""A screen kept on the terminal: frames at a bounded rate, keys applied to its controls.

The live dashboard (:class:`~burnish.renderer.tui.TuiRenderer`) and the comparison of runs
(``burnish view A B``) draw different screens from different state; how often they draw and
how they hold the terminal is this one class.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

from rich.console import Console, RenderableType

from burnish.renderer.tui.keys import DOWN, LEFT, RIGHT, UP, Controls
from burnish.renderer.tui.terminal import TerminalSession, install_sigterm_handler

__all__ = ["TerminalView"]

_NAVIGATION = (LEFT, RIGHT, UP, DOWN, "l", "L")


def _stdin_fd() -> int | None:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if sys.stdin.isatty() else None


class TerminalView:
    """Draws ``screen`` on the alternate screen: at once for a key or a resize (at most
    ``1 / tick_seconds`` frames a second, 4), for new data at most every
    ``data_refresh_seconds`` (2 frames a second: a 120x40 frame costs a few milliseconds of
    the interpreter, which training shares), and each ``refresh_seconds`` for the clock.

    Keys are read only when ``input_fd`` (stdin by default) is a terminal, and go to
    ``controls``; ``metric_count`` says how many metrics the arrows browse. With
    ``persistent``, :meth:`close` keeps the final screen up (arrows still browse it) until
    another key is pressed.
    """

    tick_seconds = 0.25
    data_refresh_seconds = 0.5

    def __init__(
        self,
        screen: RenderableType,
        controls: Controls,
        metric_count: Callable[[], int],
        *,
        persistent: bool = False,
        console: Console | None = None,
        input_fd: int | None = -1,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.screen = screen
        self.controls = controls
        self.metric_count = metric_count
        self.persistent = persistent
        self.console = console if console is not None else Console()
        self.input_fd = _stdin_fd() if input_fd == -1 else input_fd
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.frames = 0
        self._session: TerminalSession | None = None
        self._last_frame: float | None = None
        self._size: tuple[int, int] | None = None
        self._failed = False
        # Signal handlers can only be installed from the main thread, where views are made.
        install_sigterm_handler()

    @property
    def session(self) -> TerminalSession:
        if self._session is None:
            self._session = TerminalSession(self.console, self.input_fd)
            self._session.enter()
        return self._session

    def refresh(self, updated: bool) -> None:
        """Apply the keys pressed since the last call, then draw a frame if one is due
        (``updated``: the screen's data changed)."""
        pressed = False
        for key in self.session.pressed_keys():
            pressed |= self.controls.handle(key, self.metric_count())
        self._draw(pressed, updated)

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
            self.session.show(self.screen)
            self._last_frame = now
            self.frames += 1

    def _keep_open(self) -> bool:
        """Whether :meth:`close` waits for a key (``persistent``)."""
        return self.persistent

    def close(self) -> None:
        if self._session is None:
            return
        try:
            if not self._failed:
                self._draw(True)
                if self._keep_open():
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
            self._draw(self.controls.handle(key, self.metric_count()))
