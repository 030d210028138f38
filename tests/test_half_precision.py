"""float16 and bfloat16 inputs give the float32 results: exactly those of the same values in
float32, and within the half type's resolution those of the unrounded inputs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    AucPrMetric,
    AurocInput,
    AurocMetric,
    ConfusionMatrixMetric,
    ConfusionStatsInput,
    FBetaScoreMetric,
    HammingScoreInput,
    HammingScoreMetric,
    LossInput,
    LossMetric,
    MetricMetadata,
    PerplexityInput,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    TopKAccuracyInput,
    TopKAccuracyMetric,
)

META = MetricMetadata.fake()
N, C, L = 300, 7, 5
HALF = [torch.float16, torch.bfloat16]


def _data(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "logits": torch.randn(N, C, generator=generator) * 3,
        "targets": torch.randint(0, C, (N,), generator=generator),
        "binary": torch.rand(N, generator=generator),
        "binary_targets": torch.randint(0, 2, (N,), generator=generator),
        "multilabel": torch.rand(N, L, generator=generator),
        "multilabel_targets": torch.randint(0, 2, (N, L), generator=generator),
        "losses": torch.rand(N, generator=generator) * 4 + 100,
    }


Case = tuple[Callable[[], Any], Callable[[dict[str, torch.Tensor]], Any]]
CASES: dict[str, Case] = {
    "accuracy": (AccuracyMetric, lambda d: AccuracyInput(d["logits"], d["targets"])),
    "top-3": (
        lambda: TopKAccuracyMetric(3),
        lambda d: TopKAccuracyInput(d["logits"], d["targets"]),
    ),
    "precision": (
        PrecisionMetric.multiclass,
        lambda d: ConfusionStatsInput(d["logits"], d["targets"]),
    ),
    "recall binary": (
        lambda: RecallMetric.binary(sigmoid=True),
        lambda d: ConfusionStatsInput(d["binary"] * 4 - 2, d["binary_targets"]),
    ),
    "f1 multilabel": (
        lambda: FBetaScoreMetric.multilabel(reduction="none"),
        lambda d: ConfusionStatsInput(d["multilabel"], d["multilabel_targets"]),
    ),
    "auroc": (
        AurocMetric.multiclass,
        lambda d: AurocInput(d["logits"].softmax(dim=1), d["targets"]),
    ),
    "auroc softmax": (
        lambda: AurocMetric.multiclass(softmax=True),
        lambda d: AurocInput(d["logits"], d["targets"]),
    ),
    "auroc binned": (
        lambda: AurocMetric.binary(bins=100),
        lambda d: AurocInput(d["binary"], d["binary_targets"]),
    ),
    "average precision": (
        AucPrMetric.multilabel,
        lambda d: AurocInput(d["multilabel"], d["multilabel_targets"]),
    ),
    "hamming": (
        HammingScoreMetric,
        lambda d: HammingScoreInput(d["multilabel"], d["multilabel_targets"]),
    ),
    "perplexity": (PerplexityMetric, lambda d: PerplexityInput(d["logits"], d["targets"])),
    "loss per item": (LossMetric, lambda d: LossInput(d["losses"])),
    "loss mean": (LossMetric, lambda d: LossInput(d["losses"].mean(), batch_size=N)),
}


def _cast(item: Any, dtype: torch.dtype) -> Any:
    """``item`` with its floating-point tensors in ``dtype``."""
    changes = {
        field.name: value.to(dtype)
        for field in dataclasses.fields(item)
        if field.init
        and isinstance(value := getattr(item, field.name), torch.Tensor)
        and value.is_floating_point()
    }
    return dataclasses.replace(item, **changes, derived={})


def _value(factory: Callable[[], Any], item: Any) -> float:
    metric = factory()
    metric.update(item, META)
    return float(metric.running_value().value)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_half_inputs_give_the_float32_results(case: str, dtype: torch.dtype, seed: int) -> None:
    factory, make = CASES[case]
    item = make(_data(seed))
    half = _cast(item, dtype)
    same_values = _cast(half, torch.float32)
    assert _value(factory, half) == pytest.approx(_value(factory, same_values), rel=1e-9)
    # Against the unrounded inputs: within what rounding to the half type moves them (a few
    # decisions flip among N items).
    resolution = 2e-2 if dtype == torch.bfloat16 else 5e-3
    full = _value(factory, item)
    assert _value(factory, half) == pytest.approx(full, rel=resolution, abs=100 * resolution)


def test_confusion_matrix_of_half_scores() -> None:
    data = _data(2)
    item = ConfusionStatsInput(data["logits"], data["targets"])
    for dtype in HALF:
        metric = ConfusionMatrixMetric.multiclass()
        metric.update(_cast(item, dtype), META)
        reference = ConfusionMatrixMetric.multiclass()
        reference.update(_cast(_cast(item, dtype), torch.float32), META)
        assert torch.equal(metric.matrix(), reference.matrix())  # type: ignore[arg-type]
