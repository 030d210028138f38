"""The dashboard in a real (pseudo) terminal, the way issue 20 tried it: without colours, in a
window too small for it, and with warnings logged while it is up."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence

import pytest

from tests.pty_terminal import ENTER_ALT, LEAVE_ALT, PtyProcess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

WAIT_SECONDS = 30.0
DEMO = ["-m", "burnish.renderer.demo", "--epochs", "200", "--delay", "0.002"]
HOME = b"\x1b[H"
COLOUR = re.compile(rb"\x1b\[[0-9;]*(?:3[0-9]|9[0-7]|38;[25];[0-9;]+)m")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

WARNS = """
import logging, time
from burnish.processor.bus import Actor
from burnish.processor.events import EndEvent
from burnish.learner.interrupt import Interrupter
from burnish.renderer import default_renderer
from burnish.renderer.demo import synthetic_events

actor = Actor(default_renderer(Interrupter()), "burnish-renderer")
events = list(synthetic_events(2, 50, 10))
for event in events[:60]:
    actor.send(event)
time.sleep(0.5)
logging.getLogger("burnish.metric.system").warning("CPU temperature is not available: test")
time.sleep(0.5)
for event in events[60:]:
    actor.send(event)
actor.join()
print("run over")
"""


@pytest.fixture
def terminals() -> Iterator[list[PtyProcess]]:
    started: list[PtyProcess] = []
    yield started
    for term in started:
        term.close()


def start(
    started: list[PtyProcess], argv: Sequence[str], columns: int, rows: int, env: str = ""
) -> PtyProcess:
    """``python argv`` on a pty of ``columns x rows`` (``env``: ``NAME=value`` to set)."""
    prefix = ["/usr/bin/env", env] if env else []
    term = PtyProcess(
        [*prefix, sys.executable, *argv], columns=columns, rows=rows, timeout=WAIT_SECONDS
    )
    started.append(term)
    term.wait_for(ENTER_ALT)
    return term


def last_frame(term: PtyProcess) -> bytes:
    """The last whole frame drawn (escape codes included)."""
    raw = term.raw()
    inside = raw[raw.rindex(ENTER_ALT) :]
    if LEAVE_ALT in inside:
        inside = inside[: inside.index(LEAVE_ALT)]
    frames = [frame for frame in inside.split(HOME) if visible(frame).count("\n") >= term.rows - 1]
    return frames[-1] if frames else b""


def visible(frame: bytes) -> str:
    return _ESCAPE.sub("", frame.decode("utf-8", errors="replace")).replace("\r", "")


def stop(term: PtyProcess) -> None:
    term.send(b"q")
    term.wait_for(b"Stop training?")
    term.send(b"s")
    assert term.wait_exit_code() == 0


def test_without_colour_lines_and_bars_differ_by_glyph(terminals: list[PtyProcess]) -> None:
    term = start(terminals, DEMO, 120, 40, env="NO_COLOR=1")
    term.wait_until("a frame with both splits", lambda: "valid" in visible(last_frame(term)))
    term.wait_until("a bar half done", lambda: "━╌" in visible(last_frame(term)))
    frame = last_frame(term)
    text = visible(frame)
    assert not COLOUR.search(frame)
    # The legend shows each line's glyph, and the plot draws the valid line dashed.
    assert "━━ train" in text
    assert "╍╍ valid" in text
    stop(term)


def test_a_window_too_small_says_so(terminals: list[PtyProcess]) -> None:
    term = start(terminals, DEMO, 40, 10)
    term.wait_until("the hint", lambda: "Window too small (40x10)" in visible(last_frame(term)))
    text = visible(last_frame(term))
    assert "needs 50x12" in text
    assert re.search(r"epoch \d+/200", text)
    assert "ETA" in text
    stop(term)


def test_warnings_wait_until_the_dashboard_is_gone(terminals: list[PtyProcess]) -> None:
    term = start(terminals, ["-c", WARNS], 80, 24)
    assert term.wait_exit_code() == 0
    after = term.assert_restored(HOME)
    raw = term.raw()
    dashboard = raw[raw.index(ENTER_ALT) : raw.rindex(LEAVE_ALT)]
    assert b"not available" not in dashboard  # nothing printed over the frames
    assert b"CPU temperature is not available: test" in after
    assert after.index(b"not available") < after.index(b"run over")
