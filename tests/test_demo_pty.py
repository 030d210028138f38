"""The dashboard with the real learner, used as a person would: the digits demo (and
``burnish view``) in a 120x40 pseudo-terminal, read from the screen, driven with keys.

Each test starts a process, waits for what a person would wait for (with a time limit and a
failure that shows the screen), and kills the process if it is still there at the end.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from burnish.logger.jsonl import logged_steps, read_run
from burnish.processor.events import Split
from tests.learner_fixtures import Classifier, builder, loaders, sgd
from tests.pty_terminal import ENTER_ALT, LEAVE_ALT, PtyProcess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

ROOT = Path(__file__).resolve().parents[1]
COLUMNS, ROWS = 120, 40
EPOCHS = 30
STARTUP_SECONDS = 90.0  # importing torch and the first epoch, on a busy machine
WAIT_SECONDS = 30.0

HOME = b"\x1b[H"
LEFT, RIGHT, UP, DOWN = b"\x1b[D", b"\x1b[C", b"\x1b[A", b"\x1b[B"

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_SELECTED_TAB = re.compile(rb"\x1b\[1;7m ([^\x1b]+?) \x1b\[")
_PERCENT = re.compile(r"\d+\.\d+ %")


class Screen(PtyProcess):
    """The child process on a pty of ``COLUMNS x ROWS``, read as a person sees it.

    The dashboard draws whole frames, each starting at the home position: the screen a
    person sees is the last complete frame (``ROWS`` lines of ``COLUMNS`` cells).
    """

    def __init__(self, argv: Sequence[str], cwd: Path = ROOT) -> None:
        super().__init__(argv, columns=COLUMNS, rows=ROWS, cwd=cwd, timeout=WAIT_SECONDS)

    def frame(self) -> bytes:
        """The last complete frame as written, escape codes included (empty before one)."""
        raw = self.raw()
        start = raw.rfind(LEAVE_ALT)
        frames = raw[: start if start > raw.rfind(ENTER_ALT) else len(raw)].split(HOME)
        for frame in reversed(frames):
            lines = _visible(frame).split("\n")
            if len(lines) == self.rows and all(len(line) == self.columns for line in lines):
                return frame
        return b""

    def text(self) -> str:
        """The screen: the last complete frame's text, one line per row."""
        return _visible(self.frame())

    def describe(self) -> str:
        return f"screen:\n{self.text()}"

    def selected_tab(self) -> str | None:
        match = _SELECTED_TAB.search(self.frame())
        return None if match is None else match.group(1).decode()

    def wait_for_text(self, needle: str, timeout: float = WAIT_SECONDS) -> None:
        self.wait_until(f"{needle!r} on screen", lambda: needle in self.text(), timeout)

    def after_dashboard(self) -> str:
        """Checks the terminal was given back after the last frame (see ``assert_restored``).
        Returns what was printed after the dashboard."""
        return self.assert_restored(HOME).decode("utf-8", errors="replace")


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
    return sum(len(step["iteration"]) for step in records(directory) if step["event"] == "steps")


def test_demo_dashboard_shows_real_values_and_q_s_stops_gracefully(
    screens: list[Screen], tmp_path: Path
) -> None:
    screen = demo(screens, tmp_path / "runs")
    run = tmp_path / "runs" / "version-1"  # the demo's runs are versioned
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
    code = screen.wait_exit_code()
    after = screen.after_dashboard()
    assert code == 0, after
    assert f"stopped: the run is in {run}" in after
    assert "Learner Summary" in after

    log = records(run)
    assert {key: log[-1][key] for key in ("event", "reason")} == {
        "event": "end",
        "reason": "stopped",
    }
    assert read_run(run).end_reason == "stopped"
    # The checkpoint of the stop: the epoch in progress, after the last training step logged.
    steps = [step for record in log if record["event"] == "steps" for step in logged_steps(record)]
    last_epoch = steps[-1].epoch
    assert last_epoch < EPOCHS, "the run completed before the stop"
    checkpoint = run / "checkpoint" / f"epoch-{last_epoch}.pt"
    assert checkpoint.is_file(), sorted(p.name for p in (run / "checkpoint").iterdir())
    state = torch.load(checkpoint, weights_only=True)
    last_iteration = max(step.iteration for step in steps if step.split is Split.TRAIN)
    assert state["learner"]["iteration"] == last_iteration


def test_demo_q_c_keeps_training_then_ctrl_c_stops_gracefully(
    screens: list[Screen], tmp_path: Path
) -> None:
    screen = demo(screens, tmp_path / "runs")
    run = tmp_path / "runs" / "version-1"  # the demo's runs are versioned
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
    code = screen.wait_exit_code()
    after = screen.after_dashboard()
    assert code == 0, after
    assert f"stopped: the run is in {run}" in after
    assert read_run(run).end_reason == "stopped"
    assert any((run / "checkpoint").glob("epoch-*.pt"))


PERSISTENT = """
import sys
from burnish import AccuracyMetric, LearnerBuilder, LossMetric
from burnish.processor import bus
from tests.learner_fixtures import Classifier, loaders, sgd

# Other consumers get this long to finish (30 s by default): the dashboard must get longer.
bus.EventBus.end.__defaults__ = (0.2,)
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
    assert screen.wait_exit_code() == 0
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
    # The accuracy as the live dashboard shows it: its format and unit are in the log.
    for name in ("Loss", "Accuracy", "train", "valid", "Epoch     3/3", f"epoch {accuracy:.2f} %"):
        assert name in text, text
    screen.send(RIGHT)
    screen.wait_until("the next metric", lambda: screen.selected_tab() == "Accuracy")
    screen.send(b"q")
    assert screen.wait_exit_code() == 0
    screen.after_dashboard()
