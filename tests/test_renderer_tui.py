"""The dashboard: its state, panels, keys and the renderer, without a real terminal."""

from __future__ import annotations

import io
import os
import re
import termios
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest
import torch
from rich.console import Console

from burnish import AccuracyMetric, ClassificationOutput, LossMetric
from burnish.learner.interrupt import Interrupter
from burnish.metric.base import Progress
from burnish.metric.collection import MetricCollection
from burnish.metric.entry import MetricEntry
from burnish.metric.host import transfer_count
from burnish.processor.bus import Actor, Unread
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    LearnerEvent,
    MetricUpdate,
    Split,
    StartEvent,
    StartSplitEvent,
    StepsEvent,
    TrainingProgress,
)
from burnish.processor.split import BlockLimits, RegisteredMetric, SplitMetrics
from burnish.renderer import PlainRenderer, TuiRenderer, default_renderer
from burnish.renderer.demo import numeric_update, step_event, synthetic_events, text_update
from burnish.renderer.tui import Controls, Dashboard, DashboardState, View
from burnish.renderer.tui.eta import EtaEstimator, format_duration
from burnish.renderer.tui.history import MinMaxHistory
from burnish.renderer.tui.keys import decode_keys
from burnish.renderer.tui.system import SystemPanel, is_system_metric

ENTER_ALT = "\x1b[?1049h"
LEAVE_ALT = "\x1b[?1049l"
SHOW_CURSOR = "\x1b[?25h"
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-9]|9[0-7]|38;[25];[0-9;]+)m")


def run_events(epochs: int = 2, train: int = 50, valid: int = 10) -> list[LearnerEvent]:
    return list(synthetic_events(epochs, train, valid, seconds_per_step=0.5))


def filled_state(events: Sequence[LearnerEvent] | None = None) -> DashboardState:
    # One batch for a whole run: read every step, as ticks during the run would.
    state = DashboardState(clock=lambda: 125.0, max_steps_per_tick=10**9)
    events = run_events() if events is None else events
    state.apply([event for event in events if not isinstance(event, EndEvent)])
    return state


def screen(state: DashboardState, controls: Controls, width: int, height: int) -> str:
    console = Console(width=width, height=height, record=True, file=io.StringIO())
    console.print(Dashboard(state, controls))
    return console.export_text()


def last_processed(events: Sequence[LearnerEvent], split: Split) -> StepsEvent:
    return [e for e in events if isinstance(e, StepsEvent) and e.split is split][-1]


# -- state ---------------------------------------------------------------------------------------


def test_state_keeps_histories_per_metric_and_split() -> None:
    events = run_events(epochs=2, train=50, valid=10)
    state = filled_state(events)
    assert [m.name for m in state.numeric_metrics][:2] == ["Loss", "Accuracy"]
    loss = state.metrics["Loss"]
    assert set(loss.splits) == {Split.TRAIN, Split.VALID}
    assert len(loss.splits[Split.TRAIN].recent) == 100
    assert len(loss.splits[Split.VALID].recent) == 20
    assert sorted(loss.splits[Split.VALID].epochs) == [1, 2]
    assert not state.metrics["Device"].numeric
    assert state.progress.split is Split.VALID
    assert state.progress.epoch == 2
    assert state.elapsed() == 125.0


def test_state_reads_no_device() -> None:
    # The metric processor read the values: the dashboard's events hold them.
    events = [e for e in run_events(1, 20, 5) if not isinstance(e, EndEvent)]
    before = transfer_count()
    DashboardState().apply(events)
    assert transfer_count() - before == 0


def test_x_axis_is_in_epochs() -> None:
    state = filled_state(run_events(epochs=2, train=10, valid=5))
    assert state.epoch_position(Split.TRAIN, 1, 160) == 0.5
    assert state.epoch_position(Split.TRAIN, 2, 320) == 2.0
    assert state.epoch_position(Split.VALID, 2, 80) == 1.5


def test_deferred_check_error_propagates() -> None:
    # From the read of the block, before any consumer (the dashboard) gets its event.
    split = SplitMetrics(
        Split.TRAIN, [RegisteredMetric.of(AccuracyMetric(), plotted=True)], BlockLimits(64)
    )
    unread: list[Unread] = []
    split.start(unread.append, 1, 1, 10)
    output = ClassificationOutput(torch.tensor(0.0), torch.zeros(4, 3), torch.tensor([0, 1, 2, 7]))
    split.record(output, 4, 1, (0.1,), 0.0)
    split.flush()
    with pytest.raises(ValueError, match="expected targets within"):
        unread[0].read()


def test_full_history_is_bounded_and_keeps_extremes() -> None:
    history = MinMaxHistory(250)
    for index in range(100_000):
        value = 1000.0 if index == 54_321 else -5.0 if index == 777 else float(index % 10)
        history.push((1, index, value))
    points = list(history)
    assert len(points) <= 250
    assert len(history) == len(points)
    assert max(p[2] for p in points) == 1000.0
    assert min(p[2] for p in points) == -5.0
    assert [p[1] for p in points] == sorted(p[1] for p in points)


# -- ETA ----------------------------------------------------------------------------------------


def train_event(epoch: int, items: int, total: int, at: float, iteration: int) -> StepsEvent:
    progress = TrainingProgress(Progress(items, total), epoch, 2, iteration)
    return step_event(Split.TRAIN, progress, (), (), at)


def test_eta_ignores_warmup_and_validation() -> None:
    eta = EtaEstimator(warmup_iterations=2)
    eta.start_split(Split.TRAIN)
    # Two slow warm-up steps (10 s each), then 1 s per 10 items.
    eta.observe(train_event(1, 10, 100, 10.0, 1))
    eta.observe(train_event(1, 20, 100, 20.0, 2))
    for step in range(3, 11):
        eta.observe(train_event(1, step * 10, 100, 20.0 + (step - 2), step))
    # Validation takes 500 s, then the next epoch starts.
    eta.start_split(Split.VALID)
    valid = TrainingProgress(Progress(5, 10), 1, 2, 1)
    eta.observe(step_event(Split.VALID, valid, (), (), 600.0))
    eta.start_split(Split.TRAIN)
    eta.observe(train_event(2, 10, 100, 800.0, 11))
    eta.observe(train_event(2, 20, 100, 801.0, 12))
    remaining = eta.remaining_seconds()
    assert remaining is not None
    assert remaining == pytest.approx(8.0)  # 80 items at 0.1 s each
    assert eta.fraction == pytest.approx(120 / 200)


def test_eta_unknown_before_warmup() -> None:
    eta = EtaEstimator(warmup_iterations=10)
    eta.start_split(Split.TRAIN)
    for step in range(1, 6):
        eta.observe(train_event(1, step, 100, float(step), step))
    assert eta.remaining_seconds() is None


def test_format_duration() -> None:
    assert format_duration(5) == "0:05"
    assert format_duration(65) == "1:05"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(90_000) == "1d 1:00:00"


# -- panels --------------------------------------------------------------------------------------


def test_dashboard_shows_every_panel_and_real_values() -> None:
    events = run_events()
    state = filled_state(events)
    text = screen(state, Controls(lambda: None), 120, 40)
    for title in ("Plots: full history", "Metrics", "Status", "System", "Progress"):
        assert title in text
    train = last_processed(events, Split.TRAIN)
    valid = last_processed(events, Split.VALID)
    for update in (*train.latest[:2], *valid.latest[:2]):
        assert update.entry.formatted in text  # e.g. "epoch 58.73 % - batch 64.67 %"
    assert "cpu (synthetic)" in text  # a text metric
    assert "Validating" in text
    assert "Epoch     2/2" in text
    assert "Items     320/320" in text
    assert "Elapsed   2:05" in text
    assert "━━ train" in text
    assert "╍╍ valid" in text  # no colours here: the second line is dashed
    assert any(0x2800 < ord(char) <= 0x28FF for char in text)  # a braille plot


def test_system_metrics_go_to_the_system_panel() -> None:
    state = filled_state()
    rows = dict(SystemPanel(state).rows())
    assert rows["CPU"].startswith("epoch ")
    assert rows["CPU"].endswith("%")
    assert rows["CPU temp"] == "n/a"
    assert rows["GPU use"] == "n/a"
    assert "°C" in rows["GPU temp"]
    text = screen(state, Controls(lambda: None), 120, 40)
    metrics_panel = text.split("Metrics")[1].split("╰")[0]
    assert "CPU Usage" not in metrics_panel
    assert is_system_metric("GPU Temperature 1")
    assert not is_system_metric("Accuracy")


def test_dashboard_before_any_event() -> None:
    text = screen(DashboardState(), Controls(lambda: None), 80, 24)
    assert "waiting for the first" in text
    assert "n/a" in text


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 40), (60, 16), (200, 60)])
def test_dashboard_fits_the_terminal(width: int, height: int) -> None:
    text = screen(filled_state(), Controls(lambda: None), width, height)
    lines = text.splitlines()
    assert len(lines) == height
    assert all(len(line) <= width for line in lines)
    assert "Progress" in text


def test_dashboard_at_80x24_stays_readable() -> None:
    events = run_events()
    text = screen(filled_state(events), Controls(lambda: None), 80, 24)
    loss = last_processed(events, Split.TRAIN).latest[0].entry.formatted
    assert loss in text
    assert "Validating" in text
    assert "ETA" in text


@pytest.mark.parametrize("view", list(View))
def test_each_view_plots(view: View) -> None:
    controls = Controls(lambda: None)
    controls.view = view
    text = screen(filled_state(), controls, 120, 40)
    assert f"Plots: {view.value}" in text
    assert any(0x2800 < ord(char) <= 0x28FF for char in text)


def test_no_color_gives_no_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    state = filled_state()

    def ansi() -> str:
        out = io.StringIO()
        console = Console(
            file=out, width=100, height=30, force_terminal=True, color_system="truecolor"
        )
        console.print(Dashboard(state, Controls(lambda: None)))
        return out.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert COLOUR.search(ansi())
    monkeypatch.setenv("NO_COLOR", "1")
    plain = ansi()
    assert not COLOUR.search(plain)
    assert "Metrics" in plain


# -- keys ----------------------------------------------------------------------------------------


def test_decode_keys() -> None:
    assert decode_keys("\x1b[D\x1b[C\x1b[A\x1b[B") == ["left", "right", "up", "down"]
    assert decode_keys("\x1bOD") == ["left"]
    assert decode_keys("qs") == ["q", "s"]
    assert decode_keys("\x1b") == ["escape"]
    assert decode_keys("\x1b[15~x") == ["x"]  # F5 dropped


def test_left_right_switch_metric_and_wrap() -> None:
    controls = Controls(lambda: None)
    assert controls.handle("right", 3)
    assert controls.selected(3) == 1
    controls.handle("left", 3)
    controls.handle("left", 3)
    assert controls.selected(3) == 2
    assert not controls.handle("right", 0)


def test_up_down_switch_view() -> None:
    controls = Controls(lambda: None)
    assert controls.view is View.FULL
    controls.handle("down", 1)
    assert controls.view is View.RECENT
    controls.handle("down", 1)
    assert controls.view is View.SUMMARY
    controls.handle("down", 1)
    assert controls.view is View.FULL
    controls.handle("up", 1)
    assert controls.view is View.SUMMARY


def test_q_then_s_stops_once() -> None:
    interrupter = Interrupter()
    controls = Controls(interrupter.stop)
    assert not controls.handle("s", 1)  # s alone does nothing
    assert controls.handle("q", 1)
    assert controls.prompt_open
    assert not controls.handle("right", 1)  # the prompt takes the keys
    assert controls.handle("s", 1)
    assert interrupter.should_stop()
    assert controls.stop_requested
    assert not controls.prompt_open


def test_q_then_c_cancels() -> None:
    interrupter = Interrupter()
    controls = Controls(interrupter.stop)
    controls.handle("q", 1)
    assert controls.handle("c", 1)
    assert not controls.prompt_open
    assert not interrupter.should_stop()


def test_prompt_and_stopping_are_drawn() -> None:
    state = filled_state()
    controls = Controls(lambda: None)
    controls.handle("q", 1)
    assert "Stop training?" in screen(state, controls, 80, 24)
    controls.handle("s", 1)
    text = screen(state, controls, 80, 24)
    assert "Stop training?" not in text
    assert "Stopping..." in text


# -- the renderer --------------------------------------------------------------------------------


def recording_renderer(**kwargs: object) -> tuple[TuiRenderer, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=100, height=30, force_terminal=True)
    renderer = TuiRenderer(Interrupter(), console=console, input_fd=None, **kwargs)  # type: ignore[arg-type]
    return renderer, out


def test_renderer_through_an_actor_draws_at_a_bounded_rate() -> None:
    renderer, out = recording_renderer()
    actor = Actor(renderer, "burnish-renderer")
    started = time.monotonic()
    for event in synthetic_events(3, 300, 60):
        actor.send(event)
    actor.join(timeout=30)
    assert actor.error is None
    elapsed = time.monotonic() - started
    assert 1 <= renderer.frames <= elapsed / renderer.tick_seconds + 3
    text = out.getvalue()
    assert text.startswith(ENTER_ALT) or ENTER_ALT in text[:50]
    assert text.rstrip().endswith(LEAVE_ALT)
    assert SHOW_CURSOR in text[text.rindex("Progress") :]
    assert "Done (completed)" in text


def test_renderer_redraws_only_when_something_changed() -> None:
    now = [0.0]
    renderer, _ = recording_renderer(clock=lambda: now[0])
    events = [e for e in run_events(1, 5, 2) if not isinstance(e, EndEvent)]
    renderer.consume(events)
    assert renderer.frames == 1
    now[0] = 0.5
    renderer.consume([])
    assert renderer.frames == 1  # nothing new, clock not due
    now[0] = 1.1
    renderer.consume([])
    assert renderer.frames == 2  # the clock
    now[0] = 1.3
    renderer.consume(events[-1:])
    assert renderer.frames == 2  # new data waits for the data refresh
    now[0] = 1.6
    renderer.consume(events[-1:])
    assert renderer.frames == 3  # half a second after the last frame
    renderer.close()


class FailingEntry(MetricEntry):
    """An entry whose text fails when a frame shows it."""

    @property
    def formatted(self) -> str:
        raise ValueError("text failed")


def test_renderer_error_propagates_and_restores_the_terminal() -> None:
    renderer, out = recording_renderer()
    actor = Actor(renderer, "burnish-renderer")
    actor.send(StartEvent(1, (Split.TRAIN,), 0.0))
    actor.send(StartSplitEvent(Split.TRAIN, 1, 10))
    bad = MetricUpdate(FailingEntry("Loss", "", "1.0"), False)
    progress = TrainingProgress(Progress(1, 10), 1, 1, 1)
    actor.send(step_event(Split.TRAIN, progress, (bad,), (), 0.0))
    time.sleep(0.3)
    actor.send(EndEvent("error", 1.0))
    actor.join(timeout=5)
    assert isinstance(actor.error, ValueError)
    assert out.getvalue().rstrip().endswith(LEAVE_ALT)


def test_close_without_events_writes_nothing() -> None:
    renderer, out = recording_renderer()
    renderer.close()
    assert out.getvalue() == ""


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def test_keys_from_a_terminal_stop_training(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    interrupter = Interrupter()
    console = Console(file=io.StringIO(), width=100, height=30, force_terminal=True)
    renderer = TuiRenderer(interrupter, console=console, input_fd=slave)
    actor = Actor(renderer, "burnish-renderer")
    events = run_events(2, 50, 10)
    for event in events[:20]:
        actor.send(event)
    time.sleep(0.3)
    assert termios.tcgetattr(slave)[3] & termios.ICANON == 0  # cbreak while running
    os.write(master, b"\x1b[C\x1b[Bq")
    deadline = time.monotonic() + 5
    while not renderer.controls.prompt_open and time.monotonic() < deadline:
        time.sleep(0.05)
    assert renderer.controls.prompt_open
    assert renderer.controls.view is View.RECENT
    assert renderer.controls.metric_index == 1
    os.write(master, b"s")
    while not interrupter.should_stop() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert interrupter.should_stop()
    actor.send(EndEvent("stopped", 10.0))
    actor.join(timeout=5)
    assert actor.error is None
    assert termios.tcgetattr(slave) == before


def test_persistent_waits_for_a_key(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    console = Console(file=io.StringIO(), width=100, height=30, force_terminal=True)
    renderer = TuiRenderer(Interrupter(), console=console, input_fd=slave, persistent=True)
    actor = Actor(renderer, "burnish-renderer")
    for event in run_events(1, 10, 2):
        actor.send(event)
    actor.join(timeout=0.5)
    assert renderer.controls.waiting_for_exit  # still showing the final dashboard
    os.write(master, b"\x1b[C")  # arrows browse the final plots
    actor.join(timeout=0.5)
    assert renderer.controls.metric_index == 1
    os.write(master, b"x")
    actor.join(timeout=5)
    assert actor.error is None
    assert "press a key" in console.file.getvalue()  # type: ignore[attr-defined]


# -- choosing a renderer -------------------------------------------------------------------------


def test_default_renderer_is_plain_when_stdout_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert isinstance(default_renderer(Interrupter()), PlainRenderer)


def test_default_renderer_is_plain_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(default_renderer(Interrupter()), PlainRenderer)
    monkeypatch.setenv("TERM", "xterm-256color")
    renderer = default_renderer(Interrupter(), persistent=True)
    assert isinstance(renderer, TuiRenderer)
    assert renderer.persistent


def test_text_and_numeric_updates_helpers() -> None:
    assert not text_update("Device", "cpu").numeric
    assert numeric_update("Loss", 1.0, 1.0).numeric


def test_end_split_values_feed_the_summary() -> None:
    events = run_events(2, 10, 5)
    state = filled_state(events)
    ends = [e for e in events if isinstance(e, EndSplitEvent) and e.split is Split.VALID]
    expected = float(ends[-1].metrics[0].entry.serialized.split(",")[0])
    assert state.metrics["Loss"].splits[Split.VALID].epochs[2] == expected


def test_a_resize_redraws_at_the_new_size() -> None:
    now = [0.0]
    renderer, out = recording_renderer(clock=lambda: now[0])
    renderer.consume([e for e in run_events(1, 5, 2) if not isinstance(e, EndEvent)])
    assert renderer.frames == 1
    renderer.console.size = (80, 24)
    renderer.consume([])
    assert renderer.frames == 2  # redrawn at once, though nothing else changed
    last_frame = out.getvalue().rsplit("Plots", 1)[1]
    top_border_rest = last_frame.split("╮", 1)[0]
    assert len(top_border_rest) < 60  # the plots panel is narrower now
    renderer.close()


def test_a_fast_loop_has_a_bounded_number_of_steps_read_per_tick() -> None:
    events = run_events(1, 500, 5)
    state = DashboardState(max_steps_per_tick=32)
    state.apply([e for e in events if not isinstance(e, EndEvent)])
    train = state.metrics["Loss"].splits[Split.TRAIN]
    assert len(train.recent) == 32
    assert train.recent[-1][1] == 500 * 32  # the last step is always read
    # Evenly spread over the 500 steps (of 32 items each).
    assert [items for _, items, _ in train.recent] == [
        32 * (1 + round(i * 499 / 31)) for i in range(32)
    ]
    assert state.progress.items == 5 * 32  # progress takes every step
    assert len(state.metrics["Loss"].splits[Split.VALID].recent) == 5


def test_a_table_text_metric_keeps_its_lines() -> None:
    table = "GPU  Temp  Util\n0    61°C  97 %\n1    58°C  12 %"
    events = run_events(1, 5, 2)
    steps = [e for e in events if isinstance(e, StepsEvent)]
    last = steps[-1]
    with_table = replace(last, latest=(*last.latest, text_update("CUDA Stats", table)))
    state = filled_state([*events[:-1], with_table])
    text = screen(state, Controls(lambda: None), 120, 40)
    for row in table.splitlines():
        assert row in text


def test_a_learners_blocks_are_plotted_from_their_numbers_and_only_the_last_step_shown() -> None:
    split = SplitMetrics(
        Split.TRAIN,
        [RegisteredMetric.of(m, plotted=True) for m in (LossMetric(), AccuracyMetric())],
        BlockLimits(64),
    )
    stepwise = MetricCollection([LossMetric(), AccuracyMetric()])
    events: list[LearnerEvent] = []
    split.start(lambda unread: events.append(unread.read()), 1, 1, 40 * 4)
    generator = torch.Generator().manual_seed(3)
    expected = []
    for step in range(1, 41):
        scores = torch.randn(4, 3, generator=generator)
        output = ClassificationOutput(torch.rand((), generator=generator), scores, scores.argmin(1))
        split.record(output, 4 * step, step, (0.1,), 0.0)
        expected.append(stepwise.update(output))
    split.flush()
    state = DashboardState(max_steps_per_tick=8)
    state.apply(events)
    for name in ("Loss", "Accuracy"):
        history = state.metrics[name].splits[Split.TRAIN]
        plotted = {items: value for _, items, value in history.recent}
        assert len(plotted) == 8
        for items, value in plotted.items():
            assert value == pytest.approx(expected[items // 4 - 1][name].numeric.value)
        assert history.latest is not None
        assert history.latest.formatted == expected[-1][name].formatted
    # The block's steps come by number: only the shown step has entries.
    last = events[-1]
    assert isinstance(last, StepsEvent)
    assert [len(column) for column in last.numbers.values()] == [len(last)] * 2
    for index, name in enumerate(("Loss", "Accuracy")):
        assert state.metrics[name].splits[Split.TRAIN].latest is last.latest[index].entry
