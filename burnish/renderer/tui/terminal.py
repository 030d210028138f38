"""Owning the terminal while the dashboard is up, and always giving it back.

Entering switches to the alternate screen, hides the cursor and puts the input in cbreak mode
(keys arrive one at a time, unechoed; Ctrl-C still interrupts). Restoring undoes all three.
It happens in :meth:`TerminalSession.restore` (the renderer's ``close``), and, for the ways a
process can end without closing the renderer, from an ``atexit`` hook, a ``sys.excepthook``
that restores before printing the traceback (so a crash stays readable on the main screen),
and a SIGTERM handler that restores before the process dies of the signal.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import termios
import threading
import tty
import weakref
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live

from burnish.renderer.tui.keys import KeyReader

__all__ = ["LEAVE_SEQUENCE", "HeldRecords", "TerminalSession", "install_sigterm_handler"]

LEAVE_SEQUENCE = "\x1b[?25h\x1b[?1049l"
"""Show the cursor, leave the alternate screen: what restoring writes when rich cannot."""

_sessions: weakref.WeakSet[TerminalSession] = weakref.WeakSet()
_handler_installed = False

TermAttrs = list[Any]


class HeldRecords(logging.Handler):
    """Holds burnish's log records while the dashboard is up, in place of Python's last-resort
    handler, which would print them on stderr, over the frame.

    Only records no other handler takes are held (where the application configured logging,
    its handlers decide); :meth:`print_held` prints them the way the last resort would have,
    once the terminal is given back.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not _handled_elsewhere(logging.getLogger(record.name), self):
            self.records.append(record)

    def print_held(self) -> None:
        # Not named release(): Handler.release() is its lock's, which handle() calls.
        records, self.records = self.records, []
        last_resort = logging.lastResort
        if last_resort is None:
            return
        for record in records:
            if record.levelno >= last_resort.level:
                last_resort.handle(record)


def _handled_elsewhere(logger: logging.Logger, held: logging.Handler) -> bool:
    """Whether a handler other than ``held`` gets ``logger``'s records (as Logger.callHandlers
    walks the hierarchy)."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler is not held for handler in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


_BURNISH_LOGGER = logging.getLogger("burnish")


class TerminalSession:
    """The dashboard's hold on the terminal: a rich ``Live`` on the alternate screen, plus
    cbreak input read by a :class:`KeyReader` when ``input_fd`` is a terminal. burnish's
    warnings meanwhile are held (see :class:`HeldRecords`) and printed after it."""

    def __init__(self, console: Console, input_fd: int | None) -> None:
        self.console = console
        self.input_fd = input_fd if input_fd is not None and _isatty(input_fd) else None
        self.reader: KeyReader | None = None
        self._live: Live | None = None
        self._saved: TermAttrs | None = None
        self._lock = threading.RLock()
        self._active = False
        self._previous_excepthook: Callable[..., Any] | None = None
        self._held = HeldRecords()

    @property
    def active(self) -> bool:
        return self._active

    def enter(self) -> None:
        with self._lock:
            if self._active:
                return
            self._active = True
            _sessions.add(self)
            atexit.register(self.restore)
            self._previous_excepthook = sys.excepthook
            sys.excepthook = self._excepthook
            _BURNISH_LOGGER.addHandler(self._held)
            if self.input_fd is not None:
                self._saved = termios.tcgetattr(self.input_fd)
                tty.setcbreak(self.input_fd, termios.TCSANOW)
                self.reader = KeyReader(self.input_fd)
                self.reader.start()
            self._live = Live(
                console=self.console,
                screen=True,
                auto_refresh=False,
                transient=False,
                # Replacing sys.stdout is process-wide; user prints go straight to the terminal.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def show(self, renderable: RenderableType) -> None:
        with self._lock:
            if self._active and self._live is not None:
                self._live.update(renderable, refresh=True)

    def pressed_keys(self) -> list[str]:
        return self.reader.drain() if self.reader is not None else []

    def restore(self) -> None:
        """Leave the alternate screen, show the cursor, restore the input mode. Idempotent."""
        with self._lock:
            if not self._active:
                return
            self._active = False
            try:
                if self.reader is not None:
                    self.reader.stop()
                if self._live is not None:
                    self._live.stop()
            finally:
                self._restore_input()
                if sys.excepthook == self._excepthook and self._previous_excepthook is not None:
                    sys.excepthook = self._previous_excepthook
                atexit.unregister(self.restore)
                _sessions.discard(self)
                _BURNISH_LOGGER.removeHandler(self._held)
                self._held.print_held()

    def emergency_restore(self) -> None:
        """Restore without rich (whose locks another thread may hold): raw escape codes."""
        if not self._active:
            return
        self._active = False
        try:
            fd = self.console.file.fileno()
            os.write(fd, LEAVE_SEQUENCE.encode())
        except (OSError, ValueError, AttributeError):
            with contextlib.suppress(Exception):
                self.console.file.write(LEAVE_SEQUENCE)
                self.console.file.flush()
        self._restore_input()

    def _restore_input(self) -> None:
        if self.input_fd is not None and self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.input_fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def _excepthook(
        self,
        kind: type[BaseException],
        error: BaseException,
        traceback: TracebackType | None,
    ) -> None:
        # An uncaught error is about to be printed: leave the alternate screen first.
        previous = self._previous_excepthook or sys.__excepthook__
        with contextlib.suppress(Exception):
            self.restore()
        previous(kind, error, traceback)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def install_sigterm_handler() -> bool:
    """On the main thread and while SIGTERM has its default action: restore every active
    dashboard's terminal, then die of the signal as before. ``False`` when not installed.

    A handler someone else installed (a learner saving a checkpoint) is left in place: it ends
    training, and the renderer's ``close`` restores the terminal.
    """
    global _handler_installed
    if _handler_installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    _handler_installed = True
    return True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _handler_installed
    for session in list(_sessions):
        session.emergency_restore()
    signal.signal(signum, signal.SIG_DFL)
    _handler_installed = False
    os.kill(os.getpid(), signum)
