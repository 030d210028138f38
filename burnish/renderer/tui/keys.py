"""Keyboard: decoding key presses, and what each does to the dashboard.

:class:`Controls` is the logic (which metric, which view, the quit prompt) and is tested by
feeding it keys. :class:`KeyReader` is the thread that reads a terminal in cbreak mode and
queues keys; the renderer applies them on its own thread at its next tick.
"""

from __future__ import annotations

import enum
import os
import queue
import select
import threading
from collections.abc import Callable

__all__ = ["Controls", "KeyReader", "View", "decode_keys"]

LEFT, RIGHT, UP, DOWN, ESCAPE = "left", "right", "up", "down", "escape"

_SEQUENCES = {
    "\x1b[A": UP,
    "\x1b[B": DOWN,
    "\x1b[C": RIGHT,
    "\x1b[D": LEFT,
    "\x1bOA": UP,
    "\x1bOB": DOWN,
    "\x1bOC": RIGHT,
    "\x1bOD": LEFT,
}


def decode_keys(text: str) -> list[str]:
    """Keys in what a terminal sent: arrow names, ``escape``, else the characters themselves.

    Unknown escape sequences (function keys, mouse) are dropped whole.
    """
    keys: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\x1b":
            keys.append(char)
            index += 1
            continue
        sequence = text[index : index + 3]
        if sequence in _SEQUENCES:
            keys.append(_SEQUENCES[sequence])
            index += 3
        elif index + 1 < len(text) and text[index + 1] in "[O":
            # A CSI/SS3 sequence: parameters then one final byte in @..~.
            end = index + 2
            while end < len(text) and not "@" <= text[end] <= "~":
                end += 1
            index = end + 1
        else:
            keys.append(ESCAPE)
            index += 1
    return keys


class View(enum.Enum):
    """What a metric's plot shows."""

    FULL = "full history"
    RECENT = "recent"
    SUMMARY = "summary"


_VIEWS = tuple(View)


class Controls:
    """The dashboard's interactive state: left/right pick the metric, up/down the view, ``l``
    switches the y axis between linear and log scale (for losses spanning decades), ``q``
    asks whether to stop; then ``s`` stops gracefully (``on_stop``) and ``c`` cancels.

    With ``confirm_stop=False`` (nothing to stop gracefully: a replayed log), ``q`` calls
    ``on_stop`` at once."""

    def __init__(self, on_stop: Callable[[], None], *, confirm_stop: bool = True) -> None:
        self.on_stop = on_stop
        self.confirm_stop = confirm_stop
        self.metric_index = 0
        self.view = View.FULL
        self.log_scale = False
        self.prompt_open = False
        self.stop_requested = False
        self.waiting_for_exit = False

    def handle(self, key: str, metric_count: int) -> bool:
        """Apply one key; ``True`` when the dashboard changed."""
        if self.prompt_open:
            if key in ("s", "S"):
                self.prompt_open = False
                if not self.stop_requested:
                    self.stop_requested = True
                    self.on_stop()
                return True
            if key in ("c", "C", ESCAPE, "q"):
                self.prompt_open = False
                return True
            return False
        if key in ("q", "Q"):
            if self.confirm_stop:
                self.prompt_open = True
            elif not self.stop_requested:
                self.stop_requested = True
                self.on_stop()
            return True
        if key in (LEFT, RIGHT):
            if metric_count == 0:
                return False
            step = 1 if key == RIGHT else -1
            self.metric_index = (self.metric_index + step) % metric_count
            return True
        if key in ("l", "L"):
            self.log_scale = not self.log_scale
            return True
        if key in (UP, DOWN):
            step = 1 if key == DOWN else -1
            self.view = _VIEWS[(_VIEWS.index(self.view) + step) % len(_VIEWS)]
            return True
        return False

    def selected(self, metric_count: int) -> int:
        """The selected metric's index, kept in range as metrics appear."""
        return self.metric_index % metric_count if metric_count else 0


class KeyReader:
    """A daemon thread reading keys from a terminal file descriptor into a queue.

    The terminal must already be in cbreak (or raw) mode. The thread polls, so :meth:`stop`
    returns within ``poll_seconds``.
    """

    def __init__(self, fd: int, poll_seconds: float = 0.05) -> None:
        self.fd = fd
        self.poll_seconds = poll_seconds
        self.keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="burnish-keys", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def drain(self) -> list[str]:
        keys: list[str] = []
        while True:
            try:
                keys.append(self.keys.get_nowait())
            except queue.Empty:
                return keys

    def wait(self, timeout: float | None = None) -> str | None:
        """The next key, or ``None`` after ``timeout`` seconds."""
        try:
            return self.keys.get(timeout=timeout)
        except queue.Empty:
            return None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], self.poll_seconds)
                if not ready:
                    continue
                data = os.read(self.fd, 64)
            except (OSError, ValueError):
                return
            if not data:
                return
            # A sequence split across reads is rare at human typing speed: read what follows.
            if data.endswith((b"\x1b", b"\x1b[", b"\x1bO")):
                ready, _, _ = select.select([self.fd], [], [], 0.01)
                if ready:
                    data += os.read(self.fd, 64)
            for key in decode_keys(data.decode("utf-8", errors="replace")):
                self.keys.put(key)
