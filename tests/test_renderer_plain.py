"""The plain renderer: lines for logs and CI."""

from __future__ import annotations

import io

import pytest

from burnish.processor.bus import Actor
from burnish.processor.events import EndEvent, EndSplitEvent, LearnerEvent, Split, StepsEvent
from burnish.renderer import PlainRenderer
from burnish.renderer.demo import synthetic_events
from burnish.renderer.plain import PROGRESS_WIDTH
from tests.fake_clock import FakeClock


def events(epochs: int = 2, train: int = 20, valid: int = 5) -> list[LearnerEvent]:
    return list(synthetic_events(epochs, train, valid, seconds_per_step=1.0))


def test_a_line_per_split_epoch_with_every_epoch_value() -> None:
    out = io.StringIO()
    run = events()
    renderer = PlainRenderer(out, interval_seconds=1e9)
    renderer.consume(run)
    renderer.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "Training for 2 epochs (train, valid)"
    ends = [e for e in run if isinstance(e, EndSplitEvent)]
    epoch_lines = [line for line in lines if " done" in line]
    assert len(epoch_lines) == len(ends) == 4
    for line, end in zip(epoch_lines, ends, strict=True):
        assert line.startswith(f"[{end.split.value}] epoch {end.epoch}/2 done | ")
        for update in end.metrics:
            assert f"{update.entry.name} {update.entry.formatted}" in line
    assert lines[-1] == "Training completed after 0:50"


def test_progress_lines_every_interval_with_running_values() -> None:
    out = io.StringIO()
    clock = FakeClock()
    renderer = PlainRenderer(out, interval_seconds=5.0, clock=clock)
    run = events(1, 40, 5)
    renderer.consume(run[:2])  # start, start split
    steps = [e for e in run if isinstance(e, StepsEvent) and e.split is Split.TRAIN]
    for step in steps:
        clock.now += 1.0
        renderer.consume([step])
    progress = [line for line in out.getvalue().splitlines() if " elapsed" in line]
    assert len(progress) == 8  # every 5 s over 40 s
    first, later = progress[0], progress[-2]
    # Steps are 1 s apart (synthetic_events' time stamps); the ETA needs the warm-up first.
    assert first.startswith("[train] epoch 1/1 12% (160/1280) | 0:05 elapsed | Loss ")
    running = steps[4].latest[0].entry.formatted.split(" - batch ")[0].removeprefix("epoch ")
    assert f"Loss {running}" in first
    assert "0:35 elapsed, ETA 0:05 | " in later


def test_a_progress_line_is_short_and_leaves_out_what_is_not_available() -> None:
    out = io.StringIO()
    clock = FakeClock()
    renderer = PlainRenderer(out, interval_seconds=5.0, clock=clock)
    run = events(1, 40, 5)
    renderer.consume(run[:2])
    for step in [e for e in run if isinstance(e, StepsEvent)][:20]:
        clock.now += 1.0
        renderer.consume([step])
    lines = [line for line in out.getvalue().splitlines() if " elapsed" in line]
    assert lines
    for line in lines:
        assert len(line) <= PROGRESS_WIDTH < 120
        assert "n/a" not in line
        assert "batch" not in line  # the running value only
        assert "CPU" not in line  # system use is the dashboard's, not the log's
        assert "Device" not in line  # text metrics (tables) stay out


def test_no_progress_line_for_a_finished_split() -> None:
    out = io.StringIO()
    clock = FakeClock()
    renderer = PlainRenderer(out, interval_seconds=5.0, clock=clock)
    run = events(1, 3, 2)
    clock.now = 100.0
    renderer.consume(run)
    assert " elapsed" not in out.getvalue()


def test_writes_through_an_actor_and_flushes() -> None:
    class Flushes(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    out = Flushes()
    actor = Actor(PlainRenderer(out), "burnish-renderer")
    for event in events(1, 5, 2):
        actor.send(event)
    actor.join(timeout=5)
    assert actor.error is None
    assert out.flushes >= 1
    assert out.getvalue().splitlines()[-1].startswith("Training completed")


def test_default_stream_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    renderer = PlainRenderer(interval_seconds=1e9)
    renderer.consume([EndEvent("early_stopped", 3.0)])
    assert capsys.readouterr().out == "Training early stopped\n"
