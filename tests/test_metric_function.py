"""FunctionMetric: scikit-learn (or any NumPy) functions accumulated over an epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, matthews_corrcoef, roc_auc_score

from burnish import (
    AurocInput,
    ClassificationOutput,
    Classwise,
    ConfusionStatsInput,
    FunctionMetric,
    MetricCollection,
    MetricMetadata,
    Running,
)
from burnish.metric.entry import format_value
from burnish.metric.host import transfer_count

META = MetricMetadata.fake()


def _labels(item: ConfusionStatsInput) -> tuple[torch.Tensor, torch.Tensor]:
    return item.targets, item.predictions.argmax(1)


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=5), st.integers(0, 2**31 - 1))
def test_epoch_value_is_the_function_of_the_whole_epoch(sizes: list[int], seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    mcc = FunctionMetric(matthews_corrcoef, arrays=_labels, name="MCC")
    targets, scores = [], []
    before = transfer_count()
    for size in sizes:
        targets.append(torch.randint(0, 3, (size,), generator=generator))
        scores.append(torch.randn(size, 3, generator=generator))
        mcc.update(ClassificationOutput(torch.zeros(()), scores[-1], targets[-1]), META)
    assert transfer_count() == before
    y, predicted = torch.cat(targets).numpy(), torch.cat(scores).argmax(1).numpy()
    expected = matthews_corrcoef(y, predicted)
    assert mcc.running_value().value == pytest.approx(expected)
    # Shown as every metric is: 4 decimals, or scientific notation where they would hide it.
    assert mcc.compute().formatted == format_value(expected, 4)
    assert mcc.value() == pytest.approx(
        matthews_corrcoef(targets[-1].numpy(), scores[-1].argmax(1).numpy())
    )


def test_per_class_functions_keyword_arguments_and_wrappers() -> None:
    generator = torch.Generator().manual_seed(1)
    f1 = FunctionMetric(f1_score, arrays=_labels, average=None, labels=[0, 1, 2])
    report = Classwise(f1, ["a", "b", "c"], name="F1 by class")
    running = Running(FunctionMetric(f1_score, arrays=_labels, average="macro"), 2)
    collection = MetricCollection([f1, report, running])
    batches = [
        ClassificationOutput(
            torch.zeros(()),
            torch.randn(20, 3, generator=generator),
            torch.randint(0, 3, (20,), generator=generator),
        )
        for _ in range(3)
    ]
    for batch in batches:
        entries = collection.update(batch)
    y = torch.cat([b.targets for b in batches]).numpy()
    predicted = torch.cat([b.output for b in batches]).argmax(1).numpy()
    expected = f1_score(y, predicted, average=None)
    np.testing.assert_allclose(f1.epoch_values(), expected)
    assert f1.running_value().value == pytest.approx(expected.mean())
    assert report.values() == pytest.approx(dict(zip("abc", expected, strict=True)))
    recent_y = torch.cat([b.targets for b in batches[1:]]).numpy()
    recent = torch.cat([b.output for b in batches[1:]]).argmax(1).numpy()
    assert running.value() == pytest.approx(f1_score(recent_y, recent, average="macro"))
    # Steps log no value; the batch is computed only when shown.
    assert math.isnan(float(entries["f1_score"].serialized.split(",")[0]))
    batch_f1 = f1_score(batches[-1].targets, batches[-1].output.argmax(1), average=None)
    assert entries["f1_score"].formatted.startswith(f"batch {batch_f1.mean():.4f} mean [0: ")


def _auroc(targets: np.ndarray, scores: np.ndarray) -> float:
    if len(set(targets.tolist())) < 2:
        raise ValueError("one class only")
    return float(roc_auc_score(targets, scores))


def test_a_batch_outside_the_function_domain_shows_n_a() -> None:
    auroc = FunctionMetric(_auroc, input_type=AurocInput)
    entry = auroc.update(AurocInput(torch.tensor([0.2, 0.7]), torch.tensor([1, 1])), META)
    assert entry.formatted == "batch n/a"
    auroc.update(AurocInput(torch.tensor([0.9, 0.1]), torch.tensor([1, 0])), META)
    assert auroc.running_value().value == roc_auc_score([1, 1, 1, 0], [0.2, 0.7, 0.9, 0.1])


def test_empty_state_round_trip_and_bfloat16() -> None:
    mean = FunctionMetric(
        lambda scores: float(np.mean(scores)),
        input_type=AurocInput,
        arrays=lambda item: (item.predictions,),
        name="Mean score",
    )
    assert math.isnan(mean.running_value().value)
    assert math.isnan(mean.value())
    assert mean.compute().formatted == "n/a"
    first, second = torch.rand(8, dtype=torch.bfloat16), torch.rand(5, dtype=torch.bfloat16)
    mean.update(AurocInput(first, torch.zeros(8)), META)
    resumed = FunctionMetric(
        lambda scores: float(np.mean(scores)),
        input_type=AurocInput,
        arrays=lambda item: (item.predictions,),
    )
    resumed.load_state_dict(mean.state_dict())
    for metric in (mean, resumed):
        metric.update(AurocInput(second, torch.zeros(5)), META)
    expected = torch.cat([first, second]).float().mean().item()
    assert mean.running_value().value == pytest.approx(expected)
    assert resumed.running_value() == mean.running_value()
    mean.reset()
    assert math.isnan(mean.running_value().value)
