"""Panels of the dashboard as issue 20 found them: short epochs, sensors that are missing."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from burnish.metric.base import MetricMetadata, Progress
from burnish.metric.system import CpuTemperature, SystemSampler
from burnish.processor.events import (
    LearnerEvent,
    MetricUpdate,
    NumericColumn,
    Split,
    StartSplitEvent,
    StepsEvent,
)
from burnish.renderer.demo import synthetic_events
from burnish.renderer.tui import Controls, Dashboard, DashboardState
from burnish.renderer.tui.progress import ProgressPanel
from burnish.renderer.tui.status import StatusPanel
from burnish.renderer.tui.system import SystemPanel


def screen(state: DashboardState, width: int = 120, height: int = 40) -> str:
    console = Console(width=width, height=height, record=True, file=io.StringIO())
    console.print(Dashboard(state, Controls(lambda: None)))
    return console.export_text()


def batches_ending_at_split_starts(events: list[LearnerEvent]) -> list[list[LearnerEvent]]:
    """What the renderer gets on short epochs: a split's steps come in one block at its end,
    so each tick's events end just after the next split has started."""
    batches: list[list[LearnerEvent]] = [[]]
    for event in events:
        batches[-1].append(event)
        if isinstance(event, StartSplitEvent):
            batches.append([])
    return batches


def test_on_short_epochs_the_bars_and_status_move_with_each_tick() -> None:
    events = list(synthetic_events(4, 30, 10, batch_size=10))
    state = DashboardState(max_steps_per_tick=10**9)
    progress, status = ProgressPanel(state), StatusPanel(state, Controls(lambda: None))
    epochs: list[int] = []
    for batch in batches_ending_at_split_starts(events)[1:-1]:
        state.apply(batch)
        bars = {label: (fraction, tail) for label, _, fraction, tail in progress.bars()}
        epochs.append(int(dict(status.rows())["Epoch"].split("/")[0]))
        started = batch[-1]
        assert isinstance(started, StartSplitEvent)
        other = Split.VALID if started.split is Split.TRAIN else Split.TRAIN
        # The split just started has no steps yet; the other one shows where it ended.
        assert bars[other.value][0] == 1.0
        assert bars[started.split.value] == (0.0, f"0/{started.items_total}")
        last_train = [e for e in batch if isinstance(e, StepsEvent)]
        if started.split is Split.VALID:
            # The training iteration, not the validation split's step count.
            assert dict(status.rows())["Iteration"] == str(last_train[-1].progress().iteration)
    assert epochs == sorted(epochs)
    assert epochs[-1] == 4


def test_the_progress_panel_has_a_bar_per_split_and_fits_the_dashboard() -> None:
    state = DashboardState(max_steps_per_tick=10**9)
    state.apply(list(synthetic_events(2, 30, 10, batch_size=10))[:-1])
    text = screen(state, 80, 24)
    progress = text[text.index("Progress") :]
    assert "train " in progress
    assert "valid " in progress
    assert "total " in progress
    assert len(text.splitlines()) == 24


class NoSensors:
    """psutil on a machine without a CPU temperature sensor."""

    def cpu_percent(self) -> float:
        return 10.0

    def memory(self) -> tuple[float, float]:
        return 1e9, 2e9

    def temperatures(self) -> dict[str, list[object]]:
        return {}


def test_a_missing_sensor_is_explained_in_the_system_panel() -> None:
    sampler = SystemSampler(cpu=NoSensors(), background=False)
    metric = CpuTemperature(sampler)
    meta = MetricMetadata(Progress(1, 10), epoch=1, epoch_total=1, iteration=1)
    metric.update(None, meta)
    sampler.poll()
    entry = metric.update(None, meta)
    events = list(synthetic_events(1, 3, 1, metrics=[("Loss", None, 4, False)]))
    steps = [e for e in events if isinstance(e, StepsEvent)]
    last = steps[-1]
    value = entry.numeric
    with_sensor = replace(
        last,
        numbers={
            **last.numbers,
            entry.name: NumericColumn([value.value], [value.count], [value.kind]),
        },
        latest=(*last.latest, MetricUpdate(entry, False)),
    )
    state = DashboardState()
    state.apply([*events[:2], with_sensor])
    rows = dict(SystemPanel(state).rows())
    assert rows["CPU temp"].startswith("n/a (no CPU package sensor")
    assert "no CPU package sensor" in screen(state)


def test_l_switches_the_plots_between_linear_and_log_scale() -> None:
    state = DashboardState(max_steps_per_tick=10**9)
    state.apply(list(synthetic_events(3, 30, 10, batch_size=10))[:-1])
    controls = Controls(lambda: None)
    dashboard = Dashboard(state, controls)

    def text() -> str:
        console = Console(width=120, height=40, record=True, file=io.StringIO())
        console.print(dashboard)
        return console.export_text()

    linear = text()
    assert controls.handle("l", len(state.numeric_metrics))
    logged = text()
    assert "Plots: full history, log scale" in logged
    assert "l log" in logged  # the key is in the help line
    assert logged != linear
    assert controls.handle("l", len(state.numeric_metrics))
    assert text() == linear
