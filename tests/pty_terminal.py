"""A child process on a pseudo-terminal, for tests that drive the dashboard as a person would.

The child gets the pty as its controlling terminal (``setsid`` + ``TIOCSCTTY``) and as its
standard streams, ``TERM=xterm-256color`` and none of ``NO_COLOR``, ``COLUMNS``, ``LINES`` from
the test's environment. A reader thread collects what it writes as it comes.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ENTER_ALT = b"\x1b[?1049h"
LEAVE_ALT = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"

_DROPPED_ENV = ("NO_COLOR", "COLUMNS", "LINES", "TERM")


def terminal_env() -> dict[str, str]:
    """The test's environment as a terminal session would see it."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
    env["TERM"] = "xterm-256color"
    return env


class PtyProcess:
    """``argv`` run on a pty of ``columns x rows``, in ``cwd`` (the test's own when ``None``).

    ``timeout`` is the default time limit in seconds of every wait. Close it (``close()``)
    at the end of the test: that kills the process if it is still there.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        columns: int = 80,
        rows: int = 24,
        cwd: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.columns, self.rows, self.timeout = columns, rows, timeout
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.initial = termios.tcgetattr(self.slave)
        env = terminal_env()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                if cwd is not None:
                    os.chdir(cwd)
                os.setsid()
                fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(self.slave, fd)
                os.execve(argv[0], list(argv), env)
            finally:
                os._exit(127)
        self.pid = pid
        self.status: int | None = None
        self.output = bytearray()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closing.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    data = os.read(self.master, 65536)
                    if not data:
                        return
                    with self._lock:
                        self.output.extend(data)
            except OSError:
                return

    def raw(self) -> bytes:
        """Everything written so far, escape codes included."""
        with self._lock:
            return bytes(self.output)

    def tail(self) -> str:
        return self.raw()[-1500:].decode("utf-8", errors="replace")

    def describe(self) -> str:
        """What a failure shows of the terminal."""
        return f"the tail:\n{self.tail()}"

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_for(self, needle: bytes, timeout: float | None = None) -> None:
        """Until ``needle`` is in the output, also when it comes in the last bytes written."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while needle not in self.raw():
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not within {limit:.0f} s; {self.describe()}")
            time.sleep(0.05)

    def wait_until(
        self, what: str, check: Callable[[], bool], timeout: float | None = None
    ) -> None:
        """Until ``check()``; fails at once when the process ends first."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not check():
            if self.exited():
                raise AssertionError(f"the process ended before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {limit:.0f} s; {self.describe()}")
            time.sleep(0.05)

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                time.sleep(0.2)  # let the reader drain the last bytes
        return self.status is not None

    def wait_status(self, timeout: float | None = None) -> int:
        """The wait status (``os.WIFEXITED`` and the like read it); kills the process and
        fails when it does not end in time."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not self.exited():
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"still running after {limit:.0f} s; {self.describe()}")
            time.sleep(0.05)
        assert self.status is not None
        return self.status

    def wait_exit_code(self, timeout: float | None = None) -> int:
        """The exit code; fails when the process ended by a signal or does not end in time."""
        status = self.wait_status(timeout)
        assert os.WIFEXITED(status), f"ended by a signal:\n{self.tail()}"
        return os.WEXITSTATUS(status)

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                _, self.status = os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    def close(self) -> None:
        self.kill()
        # The reader must be gone before the descriptor is closed: a new pty may get its number.
        self._closing.set()
        self._reader.join()
        os.close(self.master)
        os.close(self.slave)

    def assert_restored(self, last_frame: bytes) -> bytes:
        """Checks the terminal was given back: the alternate screen left, the cursor shown
        after the last ``last_frame`` (a mark of the last frame drawn), the input mode as
        before. Returns what was written after the alternate screen was left."""
        raw = self.raw()
        assert ENTER_ALT in raw
        left = raw.rfind(LEAVE_ALT)
        assert left > raw.rindex(ENTER_ALT), f"the alternate screen was not left:\n{self.tail()}"
        assert SHOW_CURSOR in raw[raw.rindex(last_frame) :], "the cursor was not shown again"
        assert termios.tcgetattr(self.slave) == self.initial, "the input mode was not restored"
        return raw[left + len(LEAVE_ALT) :]
