"""Every built-in metric outside a learner: updated with an output or its input, reset() as
clear(), states created on the first input's device and moved by to(device)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from burnish import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    ClassificationOutput,
    ConfusionMatrixMetric,
    CpuUse,
    FBetaScoreMetric,
    HammingScoreMetric,
    IterationSpeedMetric,
    LearningRateMetric,
    LossMetric,
    MetricMetadata,
    MultiLabelClassificationOutput,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    StepAdaptations,
    TopKAccuracyMetric,
)

META = MetricMetadata.fake()


def _multiclass() -> ClassificationOutput:
    generator = torch.Generator().manual_seed(0)
    return ClassificationOutput(
        torch.rand(12, generator=generator),
        torch.randn(12, 4, generator=generator),
        torch.randint(0, 4, (12,), generator=generator),
    )


def _multilabel() -> MultiLabelClassificationOutput:
    generator = torch.Generator().manual_seed(1)
    return MultiLabelClassificationOutput(
        torch.rand((), generator=generator),
        torch.rand(12, 3, generator=generator),
        torch.randint(0, 2, (12, 3), generator=generator),
    )


FACTORIES: list[tuple[Callable[[], Any], Callable[[], object]]] = [
    (AccuracyMetric, _multiclass),
    (lambda: TopKAccuracyMetric(2), _multiclass),
    (PrecisionMetric.multiclass, _multiclass),
    (lambda: RecallMetric.multilabel(reduction="none"), _multilabel),
    (FBetaScoreMetric.multiclass, _multiclass),
    (lambda: AurocMetric.multiclass(softmax=True), _multiclass),
    (lambda: AucPrMetric.multilabel(bins=10), _multilabel),
    (HammingScoreMetric, _multilabel),
    (PerplexityMetric, _multiclass),
    (LossMetric, _multiclass),
    (ConfusionMatrixMetric.multiclass, _multiclass),
]


def _tensors(state: Any) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for value in state.values() for t in _tensors(value)]
    if isinstance(state, list | tuple):
        return [t for value in state for t in _tensors(value)]
    return []


@pytest.mark.parametrize(("factory", "output"), FACTORIES)
def test_output_or_input_reset_and_device(
    factory: Callable[[], Any], output: Callable[[], object]
) -> None:
    from_output, from_input = factory(), factory()
    step = output()
    from_output.update(step, META)
    from_input.update(StepAdaptations(step).get(from_input.input_type), META)
    assert from_output.compute().serialized == from_input.compute().serialized
    # States start on the device of their first input, and to() moves them.
    assert all(t.device.type == "cpu" for t in _tensors(from_output.state_dict()))
    assert from_output.to("cpu") is from_output
    from_output.to("meta")
    moved = _tensors(from_output.state_dict())
    assert moved
    assert all(t.device.type == "meta" for t in moved)
    from_input.reset()
    empty = factory()
    assert from_input.compute().serialized == empty.compute().serialized


@pytest.mark.parametrize("factory", [CpuUse, LearningRateMetric, IterationSpeedMetric])
def test_input_less_metrics_reset(factory: Callable[[], Any]) -> None:
    metric = factory()
    try:
        metric.update(None, MetricMetadata(META.progress, 1, 1, 0, (0.1,)))
        metric.reset()
        assert math.isnan(metric.running_value().value)
        assert metric.to("cpu") is metric
    finally:
        close = getattr(metric, "close", None)
        if close is not None:
            close()
