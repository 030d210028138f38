"""A resumed run's dashboard draws the run from its start: the history its log holds from
before the resume, then what the resumed learner sends."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from burnish.learner.interrupt import Interrupter
from burnish.logger.jsonl import JsonlMetricLogger
from burnish.processor.events import EndEvent, LearnerEvent, Split, StartEvent, StepsEvent
from burnish.renderer import TuiRenderer
from burnish.renderer.demo import synthetic_events


def epoch_of(event: LearnerEvent) -> int:
    if isinstance(event, StepsEvent):
        return event.epoch
    return getattr(event, "epoch", 0)


def logged_run(directory: Path, events: list[LearnerEvent]) -> Path:
    logger = JsonlMetricLogger(directory)
    logger.consume(events)
    logger.close()
    return logger.path


def resumed_events(epochs: int, first: int) -> list[LearnerEvent]:
    """What a learner resumed at epoch ``first`` sends: a start, then the epochs left."""
    events = list(synthetic_events(epochs, 30, 10, seed=1))
    start = events[0]
    assert isinstance(start, StartEvent)
    cut = next(index for index, event in enumerate(events) if epoch_of(event) == first)
    return [start, *events[cut:]]


def x_axis(text: str) -> str:
    """The plot's x axis: from its first tick to its last."""
    line = next(line for line in text.splitlines() if "└" in line)
    return line[line.index("└") : line.index(" ", line.index("└"))]


def test_a_resumed_run_is_plotted_from_its_first_epoch(tmp_path: Path) -> None:
    before = list(synthetic_events(4, 30, 10, seed=1))
    # The first run was stopped after two epochs.
    stopped = [e for e in before[:-1] if epoch_of(e) <= 2]
    log = logged_run(tmp_path, [*stopped, EndEvent("stopped", 0.0)])

    def dashboard(history: Path | None) -> tuple[TuiRenderer, str]:
        terminal = Console(width=120, height=40, file=io.StringIO(), force_terminal=True)
        renderer = TuiRenderer(Interrupter(), console=terminal, input_fd=None, history=history)
        renderer.consume(resumed_events(4, 3)[:30])  # halfway through epoch 3
        renderer.close()
        screen = Console(width=120, height=40, record=True, file=io.StringIO())
        screen.print(renderer.dashboard)
        return renderer, screen.export_text()

    fresh, without = dashboard(None)
    resumed, text = dashboard(log)
    assert x_axis(without).startswith("└2.0")  # only what came after the resume
    assert x_axis(text).startswith("└0.0")  # the whole run
    assert x_axis(text).endswith("2.9")
    loss = resumed.state.metrics["Loss"].splits
    assert sorted(loss[Split.TRAIN].epochs) == [1, 2]  # the logged epochs' values
    assert "Done" not in text  # the logged run's end is not this run's
    # The history, read at one instant, is no rate: the ETA is measured on this run's steps.
    assert resumed.state.eta.remaining_seconds() == fresh.state.eta.remaining_seconds()
