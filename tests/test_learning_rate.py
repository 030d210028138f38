"""The learning rate metric: the first group is plotted, every group is shown."""

from __future__ import annotations

import math

from burnish.metric.base import MetricMetadata, Progress
from burnish.metric.entry import NumericEntry
from burnish.metric.host import transfer_count
from burnish.metric.learning_rate import LearningRateMetric
from tests.metric_checks import assert_input_less_numeric


def meta(*lrs: float) -> MetricMetadata:
    return MetricMetadata(Progress(0, None), epoch=1, epoch_total=1, iteration=0, lrs=lrs)


def test_is_an_input_less_numeric_metric() -> None:
    metric = LearningRateMetric()
    assert_input_less_numeric(metric, higher_is_better=False)
    assert metric.name == "Learning Rate"


def test_one_group() -> None:
    metric = LearningRateMetric()
    metric.update(None, meta(1e-3))
    entry = metric.update(None, meta(5e-4))
    assert entry.name == "Learning Rate"
    assert entry.formatted == "epoch 7.50e-04 - batch 5.00e-04"
    assert NumericEntry.deserialize(entry.serialized) == NumericEntry(5e-4, 1, "aggregated")
    assert metric.value() == 5e-4
    assert metric.running_value() == NumericEntry(7.5e-4, 2, "aggregated")
    assert metric.compute().formatted == "7.50e-04"
    assert metric.compute().serialized == NumericEntry(7.5e-4, 2, "aggregated").serialize()


def test_large_rates_are_fixed_point() -> None:
    metric = LearningRateMetric()
    assert metric.update(None, meta(0.5)).formatted == "epoch 0.50 - batch 0.50"


def test_several_groups_are_all_shown_and_the_first_is_the_value() -> None:
    metric = LearningRateMetric()
    entry = metric.update(None, meta(1e-3, 1e-4, 0.0))
    assert entry.formatted == ("epoch 1.00e-03 - batch 1.00e-03 (groups: 1.00e-03, 1.00e-04, 0.00)")
    assert metric.value() == 1e-3


def test_steps_without_rates_are_na_and_do_not_count() -> None:
    metric = LearningRateMetric()
    entry = metric.update(None, meta())
    assert entry.formatted == "epoch n/a - batch n/a"
    assert NumericEntry.deserialize(entry.serialized).count == 0
    metric.update(None, meta(2e-3))
    entry = metric.update(None, meta())
    assert entry.formatted == "epoch 2.00e-03 - batch n/a"
    assert metric.running_value() == NumericEntry(2e-3, 1, "aggregated")


def test_entries_are_snapshots_built_on_read_without_transfers() -> None:
    metric = LearningRateMetric()
    before = transfer_count()
    first = metric.update(None, meta(1e-3))
    second = metric.update(None, meta(3e-3))
    assert first.formatted == "epoch 1.00e-03 - batch 1.00e-03"
    assert second.formatted == "epoch 2.00e-03 - batch 3.00e-03"
    assert transfer_count() == before


def test_clear_starts_a_new_epoch() -> None:
    metric = LearningRateMetric()
    metric.update(None, meta(1e-3))
    metric.clear()
    assert math.isnan(metric.value())
    assert metric.running_value().count == 0
    assert metric.compute().formatted == "n/a"
    assert metric.update(None, meta(4e-3)).formatted == "epoch 4.00e-03 - batch 4.00e-03"


def test_steps_at_the_same_rate_share_one_entry_and_still_count() -> None:
    metric = LearningRateMetric()
    entries = [metric.update(None, meta(2e-3)) for _ in range(3)]
    changed = metric.update(None, meta(4e-3))
    assert entries[0] is entries[1] is entries[2]
    assert changed is not entries[0]
    assert metric.running_value() == NumericEntry(2.5e-3, 4, "aggregated")
    metric.clear()
    assert metric.update(None, meta(4e-3)) is not changed  # a new epoch starts afresh
