"""The dashboard in a real (pseudo) terminal: keys, Ctrl-C, SIGTERM and crashes all give the
terminal back: alternate screen left, cursor shown, input mode restored."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

ENTER_ALT = b"\x1b[?1049h"
LEAVE_ALT = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"

DEMO = [sys.executable, "-m", "burnish.renderer.demo", "--epochs", "200", "--delay", "0.002"]

CRASH = """
import time
from burnish.learner.events import Actor
from burnish.learner.interrupt import Interrupter
from burnish.renderer import default_renderer
from burnish.renderer.demo import synthetic_events

actor = Actor(default_renderer(Interrupter()), "burnish-renderer")
for event in list(synthetic_events(2, 50, 10))[:80]:
    actor.send(event)
time.sleep(0.5)
raise RuntimeError("boom in the training loop")
"""


class Terminal:
    """A child process on a pty of 80x24, its output collected as it comes."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.initial = termios.tcgetattr(self.slave)
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("NO_COLOR", "COLUMNS", "LINES", "TERM")
        }
        env["TERM"] = "xterm-256color"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.setsid()
                fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(self.slave, fd)
                os.execve(argv[0], list(argv), env)
            finally:
                os._exit(127)
        self.pid = pid
        self.output = bytearray()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.status: int | None = None

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

    def text(self) -> bytes:
        with self._lock:
            return bytes(self.output)

    def wait_for(self, needle: bytes, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen; got the tail {self.text()[-500:]!r}")
            time.sleep(0.05)

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                time.sleep(0.2)  # let the reader drain the last bytes
                return status
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"still running; tail {self.text()[-500:]!r}")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        # The reader must be gone before the descriptor is closed: a new pty may get its number.
        self._closing.set()
        self._reader.join()
        os.close(self.master)
        os.close(self.slave)

    def assert_restored(self) -> bytes:
        """The terminal is back: left the alternate screen and showed the cursor after the
        last frame, and the input mode is what it was. Returns what was printed after."""
        output = self.text()
        assert ENTER_ALT in output
        last_leave = output.rindex(LEAVE_ALT)
        assert last_leave > output.rindex(ENTER_ALT)
        assert SHOW_CURSOR in output[output.rindex(b"Progress") :]
        assert termios.tcgetattr(self.slave) == self.initial
        return output[last_leave + len(LEAVE_ALT) :]


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for term in started:
        term.close()


def start(started: list[Terminal], argv: Sequence[str]) -> Terminal:
    term = Terminal(argv)
    started.append(term)
    term.wait_for(ENTER_ALT)
    term.wait_for(b"Progress")
    return term


def test_q_then_s_stops_training_and_restores(terminal: list[Terminal]) -> None:
    term = start(terminal, DEMO)
    term.wait_for(b"Loss")
    term.send(b"\x1b[C\x1b[B")  # browse: next metric, recent view
    term.wait_for(b"Plots: recent")
    term.send(b"q")
    term.wait_for(b"Stop training?")
    term.send(b"s")
    status = term.wait()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    after = term.assert_restored()
    assert b"demo stopped" in after


def test_q_then_c_keeps_training(terminal: list[Terminal]) -> None:
    term = start(terminal, DEMO)
    term.send(b"q")
    term.wait_for(b"Stop training?")
    term.send(b"c")
    time.sleep(0.5)
    assert term.status is None
    pid, _ = os.waitpid(term.pid, os.WNOHANG)
    assert pid == 0  # still training
    term.send(b"qs")
    term.wait()
    term.assert_restored()


def test_ctrl_c_restores_and_shows_the_traceback(terminal: list[Terminal]) -> None:
    term = start(terminal, DEMO)
    term.send(b"\x03")
    status = term.wait()
    assert not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
    after = term.assert_restored()
    assert b"KeyboardInterrupt" in after


def test_sigterm_restores(terminal: list[Terminal]) -> None:
    term = start(terminal, DEMO)
    os.kill(term.pid, signal.SIGTERM)
    status = term.wait()
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGTERM
    term.assert_restored()


def test_a_crash_traceback_stays_visible(terminal: list[Terminal]) -> None:
    term = start(terminal, [sys.executable, "-c", CRASH])
    status = term.wait()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 1
    after = term.assert_restored()
    assert b"Traceback" in after
    assert b"RuntimeError: boom in the training loop" in after
