"""Arithmetic on metrics: values against TorchMetrics' compositions, names, directions,
each operand updated once, and state."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score
from torchmetrics.classification import MulticlassPrecision, MulticlassRecall

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    AurocMetric,
    ClassificationOutput,
    ConfusionStatsInput,
    DerivedMetric,
    LossMetric,
    MetricCollection,
    MetricEntry,
    MetricMetadata,
    Numeric,
    NumericEntry,
    PrecisionMetric,
    RecallMetric,
    derive,
)
from burnish.metric.host import transfer_count
from tests.metric_checks import record_updates

META = MetricMetadata.fake()
CLASSES = 5


def _batches(seed: int, sizes: list[int]) -> list[ClassificationOutput]:
    """Random batches; the first holds every class, so that no class is undefined."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for index, size in enumerate(sizes):
        targets = torch.randint(0, CLASSES, (size,), generator=generator)
        if index == 0:
            targets[:CLASSES] = torch.arange(CLASSES)
        # Predictions that agree with the targets half of the time, so values vary.
        logits = torch.randn(size, CLASSES, generator=generator)
        logits[torch.arange(size), targets] += torch.rand(size, generator=generator) * 2
        batches.append(ClassificationOutput(torch.rand((), generator=generator), logits, targets))
    return batches


BINARY: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("+", operator.add),
    ("-", operator.sub),
    ("*", operator.mul),
    ("/", operator.truediv),
    ("**", operator.pow),
]
SIZES = st.lists(st.integers(CLASSES, 40), min_size=1, max_size=4)


@settings(max_examples=20, deadline=None)
@given(SIZES, st.integers(0, 2**31 - 1), st.sampled_from(["macro", "micro", "none"]))
def test_operators_match_torchmetrics_compositions(
    sizes: list[int], seed: int, average: str
) -> None:
    reduction = "none" if average == "none" else average
    p = PrecisionMetric.multiclass(reduction=reduction)  # type: ignore[arg-type]
    r = RecallMetric.multiclass(reduction=reduction)  # type: ignore[arg-type]
    tm_average = None if average == "none" else average
    tp = MulticlassPrecision(CLASSES, average=tm_average)  # type: ignore[arg-type]
    tr = MulticlassRecall(CLASSES, average=tm_average)  # type: ignore[arg-type]
    ours: list[DerivedMetric] = []
    theirs: list[Any] = []
    for _, op in BINARY:
        ours += [op(p, r), op(p, 0.5), op(3, r)]
        theirs += [op(tp, tr), op(tp, 0.5), op(3, tr)]
    # A number on the left exercises the reflected comparison. The thresholds are no ratio of
    # small counts: at a tie, TorchMetrics' float32 and burnish's float64 may fall either side.
    ours += [-p, abs(p - r), p > 0.4871, 0.4871 >= r, p.ne(1.0)]  # noqa: SIM300
    theirs += [-tp, abs(tp - tr), tp > 0.4871, 0.4871 >= tr, tp != 1.0]  # noqa: SIM300
    if average == "none":
        ours += [p[0], (2 * p * r)[-1], p.eq(r)]
        theirs += [tp[0], (2 * tp * tr)[-1], tp == tr]
    collection = MetricCollection({str(i): metric for i, metric in enumerate(ours)})
    for batch in _batches(seed, sizes):
        collection.update(batch)
        tp.update(batch.output, batch.targets)
        tr.update(batch.output, batch.targets)
    for metric, composition in zip(ours, theirs, strict=True):
        expected = composition.compute().double().reshape(-1)
        got = torch.tensor(metric.epoch_values(), dtype=torch.float64)
        if expected.numel() > 1:
            assert got.shape == expected.shape, metric.name
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
        else:
            assert metric.running_value().value == pytest.approx(
                expected.item(), rel=1e-5, abs=1e-6, nan_ok=True
            ), metric.name


def test_f1_from_precision_and_recall_is_their_harmonic_mean() -> None:
    p, r = PrecisionMetric.multiclass(), RecallMetric.multiclass()
    f1 = derive(2 * p * r / (p + r), name="F1")
    batches = _batches(7, [40, 33, 12])
    for batch in batches:
        f1.update(batch, META)
    targets = torch.cat([b.targets for b in batches]).numpy()
    predicted = torch.cat([b.output for b in batches]).argmax(1).numpy()
    precision = precision_score(targets, predicted, average="macro", zero_division=0)
    recall = recall_score(targets, predicted, average="macro", zero_division=0)
    assert f1.running_value().value == pytest.approx(2 * precision * recall / (precision + recall))
    # Per class, it is the F1 of every class.
    pc = PrecisionMetric.multiclass(reduction="none")
    rc = RecallMetric.multiclass(reduction="none")
    per_class = 2 * pc * rc / (pc + rc)
    for batch in batches:
        per_class.update(batch, META)
    expected = f1_score(targets, predicted, average=None, zero_division=0)
    np.testing.assert_allclose(per_class.epoch_values(), expected)
    assert per_class.running_value().value == pytest.approx(expected.mean())


def test_batch_and_epoch_values_follow_the_operands() -> None:
    p, r = PrecisionMetric.multiclass(), RecallMetric.multiclass()
    difference = p - r
    batches = _batches(3, [30, 30])
    before = transfer_count()
    entries = [difference.update(batch, META) for batch in batches]
    assert transfer_count() == before
    assert difference.value() == pytest.approx(p.value() - r.value())
    epoch = p.running_value().value - r.running_value().value
    assert difference.running_value() == NumericEntry(epoch, 2, "final")
    assert difference.compute().formatted == f"{epoch:.4f}"
    last = NumericEntry.deserialize(entries[-1].serialized).value
    assert last == pytest.approx(p.value() - r.value())
    assert entries[-1].formatted.startswith(f"epoch {epoch:.4f} - batch ")


def test_names_follow_python_precedence() -> None:
    p, r = PrecisionMetric.multiclass(name="P"), RecallMetric.multiclass(name="R")
    loss = LossMetric()
    assert (2 * p * r / (p + r)).name == "2 * P * R / (P + R)"
    assert (p - (r - p)).name == "P - (R - P)"
    assert ((p - r) - p).name == "P - R - P"
    assert ((-p) ** 2).name == "(-P) ** 2"
    assert (-(p**2)).name == "-P ** 2"
    assert (p ** (r**2)).name == "P ** R ** 2"
    assert ((p**r) ** 2).name == "(P ** R) ** 2"
    assert (p * -1).name == "P * -1"
    assert (p**-1).name == "P ** (-1)"
    assert (abs(p - r) // 0.5 % 2).name == "abs(P - R) // 0.5 % 2"
    assert ((p < r) < 1).name == "(P < R) < 1"
    assert (p * 2)[1].name == "(P * 2)[1]"
    assert loss.eq(0).name == "Loss == 0"
    f1 = derive(2 * p * r / (p + r), name="F1")
    assert (1 - f1).name == "1 - F1"
    assert (f1 * 100).name == "F1 * 100"


def test_direction_is_inferred_and_can_be_given() -> None:
    p, loss, accuracy = PrecisionMetric.multiclass(), LossMetric(), AccuracyMetric()
    assert (2 * p * p / (p + p)).higher_is_better is True
    assert (loss * 2).higher_is_better is False
    assert (-loss).higher_is_better is True
    assert (1 - accuracy / 100).higher_is_better is False
    assert (loss * -3).higher_is_better is True
    assert (1 / loss).higher_is_better is True
    assert (accuracy - loss).higher_is_better is True
    assert derive(loss * 2, higher_is_better=True).higher_is_better is True
    assert (1 - derive(loss * 2, higher_is_better=True)).higher_is_better is False


def test_each_distinct_operand_updates_once_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_updates(monkeypatch, PrecisionMetric)
    p = PrecisionMetric.multiclass()
    square = p * p
    batch = _batches(1, [20])[0]
    square.update(batch, META)
    assert calls == ["Macro Precision"]
    assert square.running_value().value == pytest.approx(p.running_value().value ** 2)
    # Registered beside its operand and another expression sharing it: still once a step.
    calls.clear()
    collection = MetricCollection([p, square, p + 1, derive(p, name="same")])
    for batch in _batches(2, [20, 20]):
        collection.update(batch)
    assert calls == ["Macro Precision"] * 2
    values = collection.values()
    assert values["Macro Precision + 1"] == pytest.approx(values["Macro Precision"] + 1)
    assert values["same"] == values["Macro Precision"]


def test_operands_of_different_inputs_take_the_step_output() -> None:
    accuracy, loss = AccuracyMetric(), LossMetric()
    score = accuracy / 100 - loss
    assert score.input_type is object
    assert (accuracy * 2).input_type is AccuracyInput
    batches = _batches(5, [16, 16])
    for batch in batches:
        score.update(batch, META)
    assert score.running_value().value == pytest.approx(
        accuracy.running_value().value / 100 - loss.running_value().value
    )
    collection = MetricCollection([score])
    collection.check_adaptable(ClassificationOutput)


def test_operands_without_totals_and_metrics_of_your_own() -> None:
    class Constant:
        """A user's numeric metric: no base class, no totals."""

        name = "Seven"
        higher_is_better = True

        def update(self, item: None, metadata: MetricMetadata) -> MetricEntry:
            return MetricEntry(self.name, "7", NumericEntry(7.0).serialize())

        def compute(self) -> MetricEntry:
            return self.update(None, META)

        def clear(self) -> None:
            pass

        def value(self) -> float:
            return 7.0

        def running_value(self) -> NumericEntry:
            return NumericEntry(7.0)

    seven = Constant()
    with pytest.raises(TypeError):
        seven * 2  # type: ignore[operator]
    doubled = derive(seven) * 2
    assert doubled.name == "Seven * 2"
    entry = doubled.update(None, META)
    # Without totals, a step tells its batch value only.
    assert entry.formatted == "batch 14.0000"
    assert doubled.running_value().value == 14.0
    auroc = AurocMetric.multiclass(softmax=True)
    combined = auroc * 100 + AccuracyMetric()
    for batch in _batches(9, [30, 30]):
        combined.update(batch, META)
    assert combined.running_value().value == pytest.approx(
        auroc.running_value().value * 100 + combined.operands()[1].running_value().value  # type: ignore[attr-defined]
    )


def test_state_round_trip_and_clear() -> None:
    def make() -> DerivedMetric:
        return 2 * PrecisionMetric.multiclass() * RecallMetric.multiclass()

    whole, first, batches = make(), make(), _batches(4, [20, 20, 20])
    for batch in batches[:2]:
        whole.update(batch, META)
        first.update(batch, META)
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    whole_entry = whole.update(batches[2], META)
    resumed_entry = resumed.update(batches[2], META)
    assert resumed.running_value() == whole.running_value()
    assert resumed_entry.formatted == whole_entry.formatted
    resumed.reset()
    assert math.isnan(resumed.running_value().value)
    assert all(math.isnan(m.running_value().value) for m in resumed.operands())  # type: ignore[attr-defined]


def test_to_moves_every_operands_state() -> None:
    derived = PrecisionMetric.multiclass() + LossMetric()
    derived.update(_batches(0, [10])[0], META)
    assert derived.to("cpu") is derived
    derived.to("meta")
    tensors = [
        value
        for state in derived.state_dict()["operands"]
        for value in state.values()
        if isinstance(value, torch.Tensor)
    ]
    assert tensors
    assert all(tensor.device.type == "meta" for tensor in tensors)


def test_mistakes_are_reported() -> None:
    per_class = PrecisionMetric.multiclass(reduction="none")
    other = RecallMetric.multilabel(reduction="none")
    mismatch = per_class + other
    per_class.update(_batches(0, [10])[0], META)
    other.update(ConfusionStatsInput(torch.rand(4, 3), torch.randint(0, 2, (4, 3))), META)
    with pytest.raises(ValueError, match=r"\+ combines 5 values with 3"):
        mismatch.running_value()
    with pytest.raises(ValueError, match="index 7 is out of range for 5 values"):
        per_class[7].running_value()
    with pytest.raises(TypeError, match="not a truth value"):
        bool(per_class > 0.5)
    with pytest.raises(TypeError):
        list(per_class)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="expected a class index"):
        per_class["x"]  # type: ignore[index]
    with pytest.raises(TypeError):
        per_class + "x"  # type: ignore[operator]
    with pytest.raises(TypeError, match="expected a numeric metric"):
        derive(3)  # type: ignore[arg-type]
    # == keeps its meaning: metrics stay usable in sets and dicts.
    assert per_class in [other, per_class]
    assert per_class != other
    assert len({per_class, per_class, other}) == 2
    assert isinstance(mismatch, Numeric)
