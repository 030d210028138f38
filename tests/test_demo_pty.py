"""The dashboard with the real learner, used as a person would: the digits demo (and
``burnish view``) in a 120x40 pseudo-terminal, read from the screen, driven with keys.

Each test starts a process, waits for what a person would wait for (with a time limit and a
failure that shows the screen), and kills the process if it is still there at the end.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from burnish.learner.events import Split
from burnish.logger.jsonl import read_run
from tests.learner_fixtures import Classifier, builder, loaders, sgd

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

ROOT = Path(__file__).resolve().parents[1]
COLUMNS, ROWS = 120, 40
EPOCHS = 30
STARTUP_SECONDS = 90.0  # importing torch and the first epoch, on a busy machine
WAIT_SECONDS = 30.0

ENTER_ALT = b"\x1b[?1049h"
LEAVE_ALT = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"
HOME = b"\x1b[H"
LEFT, RIGHT, UP, DOWN = b"\x1b[D", b"\x1b[C", b"\x1b[A", b"\x1b[B"

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_SELECTED_TAB = re.compile(rb"\x1b\[1;7m ([^\x1b]+?) \x1b\[")
_PERCENT = re.compile(r"\d+\.\d+ %")


class Screen:
    """A child process on a pty of ``COLUMNS x ROWS``, its output collected as it comes.

    The dashboard draws whole frames, each starting at the home position: the screen a
    person sees is the last complete frame (``ROWS`` lines of ``COLUMNS`` cells).
    """

    def __init__(self, argv: Sequence[str], cwd: Path = ROOT) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
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
        with self._lock:
            return bytes(self.output)

    def frame(self) -> bytes:
        """The last complete frame as written, escape codes included (empty before one)."""
        raw = self.raw()
        start = raw.rfind(LEAVE_ALT)
        frames = raw[: start if start > raw.rfind(ENTER_ALT) else len(raw)].split(HOME)
        for frame in reversed(frames):
            lines = _visible(frame).split("\n")
            if len(lines) == ROWS and all(len(line) == COLUMNS for line in lines):
                return frame
        return b""

    def text(self) -> str:
        """The screen: the last complete frame's text, one line per row."""
        return _visible(self.frame())

    def selected_tab(self) -> str | None:
        match = _SELECTED_TAB.search(self.frame())
        return None if match is None else match.group(1).decode()

    def wait_until(
        self, what: str, check: Callable[[], bool], timeout: float = WAIT_SECONDS
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.exited():
                raise AssertionError(f"the process ended before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:.0f} s; screen:\n{self.text()}")
            time.sleep(0.05)

    def wait_for_text(self, needle: str, timeout: float = WAIT_SECONDS) -> None:
        self.wait_until(f"{needle!r} on screen", lambda: needle in self.text(), timeout)

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                time.sleep(0.2)  # let the reader drain the last bytes
        return self.status is not None

    def wait(self, timeout: float = WAIT_SECONDS) -> int:
        """The exit code; kills the process and fails when it does not end in time."""
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"still running after {timeout:.0f} s:\n{self.text()}")
            time.sleep(0.05)
        assert self.status is not None
        assert os.WIFEXITED(self.status), f"ended by a signal:\n{self.tail()}"
        return os.WEXITSTATUS(self.status)

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

    def tail(self) -> str:
        return self.raw()[-1500:].decode("utf-8", errors="replace")

    def after_dashboard(self) -> str:
        """Checks the terminal was given back: the alternate screen left and the cursor shown
        after the last frame, the input mode as before. Returns what was printed after it."""
        raw = self.raw()
        assert ENTER_ALT in raw
        left = raw.rfind(LEAVE_ALT)
        assert left > raw.rindex(ENTER_ALT), f"the alternate screen was not left:\n{self.tail()}"
        assert SHOW_CURSOR in raw[raw.rindex(HOME) :], "the cursor was not shown again"
        assert termios.tcgetattr(self.slave) == self.initial, "the input mode was not restored"
        return raw[left + len(LEAVE_ALT) :].decode("utf-8", errors="replace")


def _visible(frame: bytes) -> str:
    text = _ESCAPE.sub("", frame.decode("utf-8", errors="replace"))
    return text.replace("\r", "").rstrip("\n")


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    started: list[Screen] = []
    yield started
    for screen in started:
        screen.close()


def demo(started: list[Screen], directory: Path) -> Screen:
    argv = [sys.executable, "examples/digits.py", "--epochs", str(EPOCHS)]
    screen = Screen([*argv, "--directory", str(directory)])
    started.append(screen)
    screen.wait_until("the dashboard", lambda: screen.text() != "", STARTUP_SECONDS)
    return screen


def wait_past_the_first_epoch(screen: Screen) -> None:
    """Until the second epoch: both splits have values, and the demo, once stopped, a
    validation accuracy to print (stopped in the first epoch, it fails: it has none)."""
    screen.wait_until(
        "the second epoch",
        lambda: re.search(rf"Epoch\s+([2-9]|\d\d)/{EPOCHS}", screen.text()) is not None,
        STARTUP_SECONDS,
    )


def records(directory: Path) -> list[dict[str, Any]]:
    path = directory / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def steps_logged(directory: Path) -> int:
    return sum(record["event"] == "step" for record in records(directory))


def test_demo_dashboard_shows_real_values_and_q_s_stops_gracefully(
    screens: list[Screen], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    screen = demo(screens, run)
    wait_past_the_first_epoch(screen)
    text = screen.text()
    for panel in ("Plots: full history", "Metrics", "Status", "System", "Progress"):
        assert panel in text, text
    for name in ("Loss", "Accuracy", "Macro F1 Score"):
        assert name in text, text
    assert re.search(r"train\s+epoch \d+\.\d{4} - batch \d+\.\d{4}", text), text
    assert re.search(r"valid\s+epoch \d+\.\d+ % - batch \d+\.\d+ %", text), text
    assert _PERCENT.search(text), text
    assert screen.selected_tab() == "Loss"

    # Left wraps to the last numeric metric, right comes back; up wraps to the last view.
    screen.send(LEFT)
    screen.wait_until("another metric", lambda: screen.selected_tab() not in (None, "Loss"))
    screen.send(RIGHT)
    screen.wait_until("Loss again", lambda: screen.selected_tab() == "Loss")
    screen.send(UP)
    screen.wait_for_text("Plots: summary")
    screen.send(DOWN)
    screen.wait_for_text("Plots: full history")

    screen.send(b"q")
    screen.wait_for_text("Stop training?")
    screen.send(b"s")
    code = screen.wait()
    after = screen.after_dashboard()
    assert code == 0, after
    assert "stopped: stopped" in after
    assert "Learner Summary" in after

    log = records(run)
    assert log[-1] == {"event": "end", "reason": "stopped"}
    assert read_run(run).end_reason == "stopped"
    # The checkpoint of the stop: the epoch in progress, after the last training step logged.
    steps = [record for record in log if record["event"] == "step"]
    last_epoch = steps[-1]["epoch"]
    assert last_epoch < EPOCHS, "the run completed before the stop"
    checkpoint = run / "checkpoint" / f"epoch-{last_epoch}.pt"
    assert checkpoint.is_file(), sorted(p.name for p in (run / "checkpoint").iterdir())
    state = torch.load(checkpoint, weights_only=True)
    last_iteration = max(record["iteration"] for record in steps if record["split"] == "train")
    assert state["learner"]["iteration"] == last_iteration


def test_demo_q_c_keeps_training_then_ctrl_c_stops_gracefully(
    screens: list[Screen], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    screen = demo(screens, run)
    wait_past_the_first_epoch(screen)
    screen.send(b"q")
    screen.wait_for_text("Stop training?")
    screen.send(b"c")
    screen.wait_until("the prompt closed", lambda: "Stop training?" not in screen.text())
    logged = steps_logged(run)
    # The log is flushed about once a second: more steps there means training went on.
    screen.wait_until("more steps logged", lambda: steps_logged(run) > logged)
    assert not screen.exited()
    assert "Training" in screen.text() or "Validating" in screen.text()

    screen.send(b"\x03")  # Ctrl-C once: stop after the batch, with a checkpoint
    code = screen.wait()
    after = screen.after_dashboard()
    assert code == 0, after
    assert "stopped: stopped" in after
    assert read_run(run).end_reason == "stopped"
    assert any((run / "checkpoint").glob("epoch-*.pt"))


PERSISTENT = """
import sys
from burnish import AccuracyMetric, LearnerBuilder, LossMetric
from burnish.learner import learner
from tests.learner_fixtures import Classifier, loaders, sgd

# Other consumers get this long to finish (30 s by default): the dashboard must get longer.
learner._EventBus.end.__defaults__ = (0.2,)
model = Classifier()
built = (
    LearnerBuilder(sys.argv[1])
    .metric_train_numeric(LossMetric())
    .metric_train_numeric(AccuracyMetric())
    .num_epochs(2)
    .persistent_dashboard()
)
built.build(model, sgd(model)).fit(*loaders())
print("fit returned")
"""


def test_fit_waits_for_the_persistent_dashboard(screens: list[Screen], tmp_path: Path) -> None:
    screen = Screen([sys.executable, "-c", PERSISTENT, str(tmp_path)])
    screens.append(screen)
    screen.wait_for_text("press a key", STARTUP_SECONDS)
    assert "Done (completed)" in screen.text()
    time.sleep(1.0)  # well past the bus's time limit for other consumers
    assert not screen.exited()
    screen.send(RIGHT)  # arrows still browse
    screen.wait_until("the next metric", lambda: screen.selected_tab() == "Accuracy")
    assert not screen.exited()
    screen.send(b"x")
    assert screen.wait() == 0
    assert "fit returned" in screen.after_dashboard()


def test_burnish_view_replays_a_run_and_q_quits(screens: list[Screen], tmp_path: Path) -> None:
    built, _ = builder(tmp_path, epochs=3)
    model = Classifier()
    built.build(model, sgd(model)).fit(*loaders())
    accuracy = read_run(tmp_path).epoch_entries[(Split.VALID, "Accuracy", 3)].value
    screen = Screen([sys.executable, "-m", "burnish.cli", "view", str(tmp_path)])
    screens.append(screen)
    screen.wait_for_text("Done (completed)", STARTUP_SECONDS)
    text = screen.text()
    for name in ("Loss", "Accuracy", "train", "valid", "Epoch     3/3", f"epoch {accuracy:.4f}"):
        assert name in text, text
    screen.send(RIGHT)
    screen.wait_until("the next metric", lambda: screen.selected_tab() == "Accuracy")
    screen.send(b"q")
    assert screen.wait() == 0
    screen.after_dashboard()
