"""Items/s and iterations/s from the progress and a (fake) wall clock."""

from __future__ import annotations

import math

import pytest

from burnish.metric.base import MetricMetadata, Progress
from burnish.metric.entry import NumericEntry
from burnish.metric.iteration_speed import IterationSpeedMetric
from tests.fake_clock import FakeClock
from tests.metric_checks import assert_input_less_numeric


def meta(items: int) -> MetricMetadata:
    return MetricMetadata(Progress(items, 1000), epoch=1, epoch_total=1, iteration=0)


def steps(
    metric: IterationSpeedMetric,
    clock: FakeClock,
    count: int,
    batch: int,
    seconds: float,
    *,
    start: int = 0,
) -> int:
    items = start
    for _ in range(count):
        clock.now += seconds
        items += batch
        metric.update(None, meta(items))
    return items


def test_is_an_input_less_numeric_metric() -> None:
    assert_input_less_numeric(IterationSpeedMetric(), higher_is_better=True)


def test_first_update_is_na() -> None:
    clock = FakeClock(100.0)
    metric = IterationSpeedMetric(clock=clock)
    entry = metric.update(None, meta(32))
    assert entry.formatted == "epoch n/a (n/a) - batch n/a (n/a)"
    assert NumericEntry.deserialize(entry.serialized).count == 0
    assert math.isnan(metric.running_value().value)


def test_steady_speed() -> None:
    clock = FakeClock(100.0)
    metric = IterationSpeedMetric(clock=clock)
    steps(metric, clock, 10, batch=32, seconds=0.1)
    clock.now += 0.1
    entry = metric.update(None, meta(352))
    assert entry.formatted == (
        "epoch 320.00 item/s (10.00 iter/s) - batch 320.00 item/s (10.00 iter/s)"
    )
    assert metric.value() == pytest.approx(320.0)
    assert metric.iterations_per_second() == pytest.approx(10.0)
    assert metric.running_value().value == pytest.approx(320.0)
    assert metric.running_iterations_per_second() == pytest.approx(10.0)
    assert NumericEntry.deserialize(entry.serialized).value == pytest.approx(320.0)
    assert metric.compute().formatted == "320.00 item/s"
    assert metric.compute().serialized.startswith("final:")


def test_batch_value_follows_the_recent_window_and_epoch_the_whole() -> None:
    clock = FakeClock(100.0)
    metric = IterationSpeedMetric(window=1.0, clock=clock)
    items = steps(metric, clock, 20, batch=10, seconds=0.1)  # 100 item/s for 2 s
    steps(metric, clock, 30, batch=10, seconds=0.05, start=items)  # then 200 item/s for 1.5 s
    assert metric.value() == pytest.approx(200.0)
    assert metric.iterations_per_second() == pytest.approx(20.0)
    # From the first update (t=0.1, 10 items) to the last (t=3.5, 500 items).
    assert metric.running_value().value == pytest.approx(490 / 3.4)


def test_a_progress_restart_restarts_the_measure() -> None:
    clock = FakeClock(100.0)
    metric = IterationSpeedMetric(clock=clock)
    steps(metric, clock, 5, batch=10, seconds=0.1)
    clock.now += 10.0
    assert metric.update(None, meta(10)).formatted.startswith("epoch n/a")


def test_clear() -> None:
    clock = FakeClock(100.0)
    metric = IterationSpeedMetric(clock=clock)
    steps(metric, clock, 5, batch=10, seconds=0.1)
    metric.clear()
    assert math.isnan(metric.value())
    assert metric.compute().formatted == "n/a"
    steps(metric, clock, 3, batch=10, seconds=0.5)
    assert metric.value() == pytest.approx(20.0)


def test_rejects_bad_windows() -> None:
    with pytest.raises(ValueError, match="window must be positive"):
        IterationSpeedMetric(window=0)
    with pytest.raises(ValueError, match="max_steps at least 2"):
        IterationSpeedMetric(max_steps=1)


def test_close_steps_share_an_entry_while_the_value_stays_current() -> None:
    clock = FakeClock(100.0)
    metric = IterationSpeedMetric(clock=clock)
    steps(metric, clock, 2, batch=10, seconds=0.1)
    clock.now += 0.001
    first = metric.update(None, meta(30))
    clock.now += 0.001
    second = metric.update(None, meta(40))
    assert second is first  # 1 ms apart: one entry for both
    assert metric.value() == pytest.approx(30 / 0.102)  # the value itself is this step's
    clock.now += 0.05
    third = metric.update(None, meta(50))
    assert third is not first
    assert NumericEntry.deserialize(third.serialized).value == pytest.approx(metric.value())
