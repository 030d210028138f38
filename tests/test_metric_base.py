from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    AurocMetric,
    ClassificationOutput,
    FormatOptions,
    LossInput,
    LossMetric,
    Metric,
    MetricEntry,
    MetricMetadata,
    Numeric,
    NumericEntry,
    PrecisionMetric,
    Progress,
    adapt,
    input_type_of,
    resolve_entries,
)
from burnish.metric.host import to_host, transfer_count


class PlainCounter:
    """A metric written without any burnish class: counts the items it saw."""

    name = "Items"

    def __init__(self) -> None:
        self.items = 0

    def update(self, item: AccuracyInput, metadata: MetricMetadata) -> MetricEntry:
        self.items += item.targets.shape[0]
        return MetricEntry(self.name, str(self.items), str(self.items))

    def compute(self) -> MetricEntry:
        return MetricEntry(self.name, str(self.items), str(self.items))

    def clear(self) -> None:
        self.items = 0


class NoInput:
    name = "Clock"

    def update(self, item: None, metadata: MetricMetadata) -> MetricEntry:
        return MetricEntry(self.name, "", "")

    def compute(self) -> MetricEntry:
        return MetricEntry(self.name, "", "")

    def clear(self) -> None:
        pass


class Unannotated:
    name = "Mystery"

    def update(self, item, metadata):  # type: ignore[no-untyped-def]
        raise AssertionError

    def compute(self) -> MetricEntry:
        raise AssertionError

    def clear(self) -> None:
        pass


def test_plain_classes_satisfy_the_protocols() -> None:
    assert isinstance(PlainCounter(), Metric)
    assert not isinstance(PlainCounter(), Numeric)
    assert isinstance(AccuracyMetric(), Metric)
    assert isinstance(AccuracyMetric(), Numeric)
    assert isinstance(LossMetric(), Numeric)


def test_input_type_is_read_from_the_annotation_or_attribute() -> None:
    assert input_type_of(PlainCounter()) is AccuracyInput
    assert input_type_of(NoInput()) is None
    assert input_type_of(LossMetric()) is LossInput
    with pytest.raises(TypeError, match=r"'Mystery' \(Unannotated\).*no type annotation"):
        input_type_of(Unannotated())


def test_metadata_lr_is_the_first_group() -> None:
    metadata = MetricMetadata(Progress(3, 10), 1, 2, 3, lrs=(0.1, 0.01))
    assert metadata.lr == 0.1
    assert MetricMetadata.fake().lr is None


@pytest.mark.parametrize(
    ("options", "value", "text"),
    [
        (FormatOptions("Accuracy").unit("%").precision(2), 97.123, "97.12 %"),
        (FormatOptions("Loss").precision(2), 0.0123, "1.23e-02"),
        (FormatOptions("Loss").precision(2), 0.0, "0.00"),
        (FormatOptions("Loss").precision(4), 1.5, "1.5000"),
        (FormatOptions("Loss"), 1.5, "1.5"),
        (FormatOptions("Accuracy").unit("%").precision(2), math.nan, "n/a"),
    ],
)
def test_format_options(options: FormatOptions, value: float, text: str) -> None:
    assert options.format(value) == text


@pytest.mark.parametrize(
    "entry",
    [
        NumericEntry(0.25),
        NumericEntry(0.5, 64, "aggregated"),
        NumericEntry(0.9, kind="final"),
    ],
)
def test_numeric_entry_round_trips(entry: NumericEntry) -> None:
    assert NumericEntry.deserialize(entry.serialize()) == entry


def test_numeric_entry_aggregate_is_count_weighted() -> None:
    entries = [NumericEntry(1.0, 1, "aggregated"), NumericEntry(4.0, 3, "aggregated")]
    assert NumericEntry.aggregate(entries) == NumericEntry(3.25, 4, "aggregated")
    empty = NumericEntry.aggregate([])
    assert math.isnan(empty.value)
    assert empty.count == 0


def test_deferred_entries_read_nothing_until_asked_then_all_at_once() -> None:
    before = transfer_count()
    entries = [
        MetricEntry.deferred(f"m{i}", [torch.tensor(float(i)), 2.0], _render_sum) for i in range(5)
    ]
    assert transfer_count() == before
    resolve_entries(entries)
    assert transfer_count() == before + 1
    assert [entry.formatted for entry in entries] == ["2.0", "3.0", "4.0", "5.0", "6.0"]
    assert transfer_count() == before + 1


def _render_sum(host: object) -> tuple[str, str]:
    (a,), (b,) = host  # type: ignore[misc]
    return str(a + b), str(a + b)


def test_to_host_keeps_order_and_shapes() -> None:
    values = [torch.tensor([1.0, 2.0]), torch.tensor(3, dtype=torch.int64), torch.zeros(0)]
    assert to_host(values) == [[1.0, 2.0], [3.0], []]


def test_to_host_reads_every_dtype_as_floats_in_one_transfer() -> None:
    values = [
        torch.tensor([[1, 2], [3, 4]]),
        torch.tensor(True),
        torch.tensor([0.5, -1.5], dtype=torch.bfloat16),
        torch.tensor(2.25, dtype=torch.float64),
        torch.tensor([7], dtype=torch.int32).t(),
        torch.arange(6.0).view(2, 3).t(),  # not contiguous
    ]
    before = transfer_count()
    host = to_host(values)
    assert transfer_count() == before + 1
    assert host == [[1.0, 2.0, 3.0, 4.0], [1.0], [0.5, -1.5], [2.25], [7.0], [0, 3, 1, 4, 2, 5]]
    assert all(type(value) is float for values in host for value in values)


def test_a_failing_deferred_check_reaches_the_reader_and_stays() -> None:
    metric = AccuracyMetric()
    entry = metric.update(
        AccuracyInput(torch.randn(4, 3), torch.tensor([0, 1, 2, 5])), MetricMetadata.fake()
    )
    for _ in range(2):
        with pytest.raises(ValueError, match=r"Accuracy: expected targets within \[0, 2\]"):
            _ = entry.formatted


@pytest.mark.parametrize(
    "make",
    [AccuracyMetric, LossMetric, PrecisionMetric.multiclass, AurocMetric.multiclass],
)
def test_an_entry_read_after_clear_keeps_its_values(make: Callable[[], Any]) -> None:
    first = ClassificationOutput(torch.tensor(0.5), torch.eye(3), torch.tensor([0, 1, 1]))
    later = ClassificationOutput(torch.tensor(9.0), torch.eye(2), torch.tensor([1, 1]))
    read_now, read_later = make(), make()
    expected = read_now.update(adapt(first, input_type_of(read_now)), MetricMetadata.fake())
    entry = read_later.update(adapt(first, input_type_of(read_later)), MetricMetadata.fake())
    assert expected.formatted
    read_later.clear()
    read_later.update(adapt(later, input_type_of(read_later)), MetricMetadata.fake())
    assert (entry.formatted, entry.serialized) == (expected.formatted, expected.serialized)
