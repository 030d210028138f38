"""Metric state survives a checkpoint: saved mid-epoch, loaded with weights_only, continued."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import torch

from burnish import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    ConfusionMatrixMetric,
    FBetaScoreMetric,
    HammingScoreMetric,
    LearningRateMetric,
    LossMetric,
    MultiLabelClassificationOutput,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    TopKAccuracyMetric,
    adapt,
    input_type_of,
)
from burnish.metric.base import MetricMetadata, Progress, Stateful
from burnish.output import ClassificationOutput

CLASSES = 5


def multiclass(seed: int) -> ClassificationOutput:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(16, CLASSES, generator=generator)
    targets = torch.randint(0, CLASSES, (16,), generator=generator)
    return ClassificationOutput(logits.logsumexp(1).mean(), logits, targets)


def multilabel(seed: int) -> MultiLabelClassificationOutput:
    generator = torch.Generator().manual_seed(seed)
    probabilities = torch.rand(16, CLASSES, generator=generator)
    targets = (torch.rand(16, CLASSES, generator=generator) > 0.5).long()
    return MultiLabelClassificationOutput(torch.tensor(0.3), probabilities, targets)


METRICS: list[tuple[Callable[[], Any], Callable[[int], object]]] = [
    (LossMetric, multiclass),
    (AccuracyMetric, multiclass),
    (lambda: TopKAccuracyMetric(2), multiclass),
    (PrecisionMetric.multiclass, multiclass),
    (lambda: RecallMetric.multiclass(reduction="none"), multiclass),
    (lambda: FBetaScoreMetric.multilabel(beta=2.0), multilabel),
    (lambda: AurocMetric.multiclass(softmax=True), multiclass),
    (lambda: AucPrMetric.multiclass(bins=50, softmax=True), multiclass),
    (HammingScoreMetric, multilabel),
    (PerplexityMetric, multiclass),
    (ConfusionMatrixMetric.multiclass, multiclass),
    (LearningRateMetric, multiclass),
]


def _update(metric: Any, output: object, step: int) -> None:
    kind = input_type_of(metric)
    item = None if kind is None else adapt(output, kind)
    metadata = MetricMetadata(Progress(16 * step, None), 1, 1, step, lrs=(0.1 / step,))
    metric.update(item, metadata)


def _through_a_checkpoint(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded: dict[str, Any] = torch.load(buffer, weights_only=True)
    return loaded


@pytest.mark.parametrize(("make", "data"), METRICS)
def test_a_metric_continues_its_epoch_from_a_checkpoint(
    make: Callable[[], Any], data: Callable[[int], object]
) -> None:
    straight, first_half, second_half = make(), make(), make()
    assert isinstance(straight, Stateful)
    for step in range(1, 7):
        _update(straight, data(step), step)
    for step in range(1, 4):
        _update(first_half, data(step), step)
    second_half.load_state_dict(_through_a_checkpoint(first_half.state_dict()))
    for step in range(4, 7):
        _update(second_half, data(step), step)
    expected, resumed = straight.compute(), second_half.compute()
    assert (resumed.formatted, resumed.serialized) == (expected.formatted, expected.serialized)


def test_a_loaded_state_keeps_its_deferred_input_errors() -> None:
    metric = AccuracyMetric()
    metric.update(
        adapt(
            ClassificationOutput(torch.tensor(0.0), torch.eye(3), torch.tensor([0, 1, 9])),
            input_type_of(metric),
        ),
        MetricMetadata.fake(),
    )
    restored = AccuracyMetric()
    restored.load_state_dict(_through_a_checkpoint(metric.state_dict()))
    with pytest.raises(ValueError, match=r"Accuracy: expected targets within \[0, 2\]"):
        restored.compute()
