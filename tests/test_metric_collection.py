"""MetricCollection: one output feeds many metrics outside a learner."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score

from burnish import (
    AccuracyMetric,
    ClassificationOutput,
    CpuUse,
    FBetaScoreMetric,
    LossMetric,
    PrecisionMetric,
    RegressionOutput,
)
from burnish.metric.collection import MetricCollection
from burnish.metric.host import transfer_count


def _outputs(seed: int, batches: int = 4) -> list[ClassificationOutput]:
    generator = torch.Generator().manual_seed(seed)
    return [
        ClassificationOutput(
            torch.rand((), generator=generator),
            torch.randn(32, 6, generator=generator),
            torch.randint(0, 6, (32,), generator=generator),
        )
        for _ in range(batches)
    ]


def _collection(**kwargs: str) -> MetricCollection:
    return MetricCollection(
        [AccuracyMetric(), PrecisionMetric.multiclass(), FBetaScoreMetric.multiclass()], **kwargs
    )


def test_one_output_updates_every_metric_and_values_match_sklearn() -> None:
    collection = _collection(prefix="train/")
    outputs = _outputs(0)
    before = transfer_count()
    for output in outputs:
        collection.update(output)
    assert transfer_count() == before
    targets = torch.cat([o.targets for o in outputs]).numpy()
    predicted = torch.cat([o.output for o in outputs]).argmax(1).numpy()
    values = collection.values()
    assert list(values) == ["train/Accuracy", "train/Macro Precision", "train/Macro F1 Score"]
    assert values["train/Accuracy"] == pytest.approx(100 * accuracy_score(targets, predicted))
    assert values["train/Macro Precision"] == pytest.approx(
        precision_score(targets, predicted, average="macro", zero_division=0)
    )
    assert values["train/Macro F1 Score"] == pytest.approx(
        f1_score(targets, predicted, average="macro", zero_division=0)
    )
    assert set(collection.compute()) == set(values)


def test_each_input_type_is_adapted_once_per_step() -> None:
    calls: list[type] = []

    class Counting(ClassificationOutput):
        def adapt(self, kind, /):  # type: ignore[no-untyped-def, override]
            calls.append(kind)
            return super().adapt(kind)

    collection = _collection()
    base = _outputs(1, 1)[0]
    collection.update(Counting(base.loss, base.output, base.targets))
    assert sorted(k.__name__ for k in calls) == ["AccuracyInput", "ConfusionStatsInput"]


def test_clone_has_its_own_state_and_names() -> None:
    collection = _collection(prefix="train/")
    for output in _outputs(2):
        collection.update(output)
    train_values = collection.values()
    valid = collection.clone(prefix="valid/")
    assert list(valid) == ["valid/Accuracy", "valid/Macro Precision", "valid/Macro F1 Score"]
    assert list(valid.values().values()) == list(train_values.values())
    valid.reset()
    assert all(np.isnan(value) for value in valid.values().values())
    valid.update(_outputs(3, 1)[0])
    assert collection.values() == train_values
    assert valid.values()["valid/Accuracy"] != train_values["train/Accuracy"]


def test_reset_clears_every_metric_and_state_round_trips() -> None:
    collection = _collection()
    outputs = _outputs(4)
    for output in outputs[:2]:
        collection.update(output)
    state = collection.state_dict()
    resumed = _collection()
    resumed.load_state_dict(state)
    for output in outputs[2:]:
        collection.update(output)
        resumed.update(output)
    assert resumed.values() == collection.values()
    collection.reset()
    assert all(np.isnan(value) for value in collection.values().values())


def test_mixed_inputs_and_text_free_values() -> None:
    collection = MetricCollection({"loss": LossMetric(), "cpu": CpuUse()}, postfix="@train")
    collection.update(RegressionOutput(torch.tensor(2.0), torch.zeros(4), torch.zeros(4)))
    try:
        assert collection.values()["loss@train"] == pytest.approx(2.0)
        assert "cpu@train" in collection.values()
    finally:
        collection.close()


def test_bad_collections() -> None:
    with pytest.raises(ValueError, match="metric names must be distinct; 'Accuracy'"):
        MetricCollection([AccuracyMetric(), AccuracyMetric()])
    collection = _collection()
    with pytest.raises(TypeError, match=r"'Accuracy' takes AccuracyInput.*RegressionOutput"):
        collection.check_adaptable(RegressionOutput)
    with pytest.raises(ValueError, match=r"the saved state holds metrics \[\], not"):
        collection.load_state_dict({})
