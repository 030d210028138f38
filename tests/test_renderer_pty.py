"""The dashboard in a real (pseudo) terminal: keys, Ctrl-C, SIGTERM and crashes all give the
terminal back: alternate screen left, cursor shown, input mode restored."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence

import pytest

from tests.pty_terminal import ENTER_ALT, PtyProcess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

WAIT_SECONDS = 20.0
PROGRESS = b"Progress"  # in every frame: the last one drawn is after its last occurrence
DEMO = [sys.executable, "-m", "burnish.renderer.demo", "--epochs", "200", "--delay", "0.002"]

CRASH = """
import time
from burnish.processor.bus import Actor
from burnish.learner.interrupt import Interrupter
from burnish.renderer import default_renderer
from burnish.renderer.demo import synthetic_events

actor = Actor(default_renderer(Interrupter()), "burnish-renderer")
for event in list(synthetic_events(2, 50, 10))[:80]:
    actor.send(event)
time.sleep(0.5)
raise RuntimeError("boom in the training loop")
"""


@pytest.fixture
def terminal() -> Iterator[list[PtyProcess]]:
    started: list[PtyProcess] = []
    yield started
    for term in started:
        term.close()


def start(started: list[PtyProcess], argv: Sequence[str]) -> PtyProcess:
    """``argv`` on an 80x24 pty, once the dashboard has drawn."""
    term = PtyProcess(argv, columns=80, rows=24, timeout=WAIT_SECONDS)
    started.append(term)
    term.wait_for(ENTER_ALT)
    term.wait_for(PROGRESS)
    return term


def test_q_then_s_stops_training_and_restores(terminal: list[PtyProcess]) -> None:
    term = start(terminal, DEMO)
    term.wait_for(b"Loss")
    term.send(b"\x1b[C\x1b[B")  # browse: next metric, recent view
    term.wait_for(b"Plots: recent")
    term.send(b"q")
    term.wait_for(b"Stop training?")
    term.send(b"s")
    status = term.wait_status()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    after = term.assert_restored(PROGRESS)
    assert b"demo stopped" in after


def test_q_then_c_keeps_training(terminal: list[PtyProcess]) -> None:
    term = start(terminal, DEMO)
    term.send(b"q")
    term.wait_for(b"Stop training?")
    term.send(b"c")
    time.sleep(0.5)
    assert not term.exited()  # still training
    term.send(b"qs")
    term.wait_status()
    term.assert_restored(PROGRESS)


def test_ctrl_c_restores_and_shows_the_traceback(terminal: list[PtyProcess]) -> None:
    term = start(terminal, DEMO)
    term.send(b"\x03")
    status = term.wait_status()
    assert not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
    after = term.assert_restored(PROGRESS)
    assert b"KeyboardInterrupt" in after


def test_sigterm_restores(terminal: list[PtyProcess]) -> None:
    term = start(terminal, DEMO)
    os.kill(term.pid, signal.SIGTERM)
    status = term.wait_status()
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGTERM
    term.assert_restored(PROGRESS)


def test_a_crash_traceback_stays_visible(terminal: list[PtyProcess]) -> None:
    term = start(terminal, [sys.executable, "-c", CRASH])
    status = term.wait_status()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 1
    after = term.assert_restored(PROGRESS)
    assert b"Traceback" in after
    assert b"RuntimeError: boom in the training loop" in after
