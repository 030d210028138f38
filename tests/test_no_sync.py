"""update() of every classification metric never reads a tensor: no host-device transfer.

Counts transfers through burnish.metric.host (the single materialisation point), and makes any
direct read (item, tolist, bool, float, int) raise while updating.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from burnish import (
    ClassificationOutput,
    MetricMetadata,
    MultiLabelClassificationOutput,
    StepAdaptations,
)
from burnish.metric import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    ConfusionMatrixMetric,
    FBetaScoreMetric,
    FunctionMetric,
    HammingScoreMetric,
    LossMetric,
    MatthewsCorrCoefMetric,
    MultilabelExactMatchMetric,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    TopKAccuracyMetric,
)
from burnish.metric.host import transfer_count
from burnish.metric.wrappers import BatchWise, BootStrapper, Classwise, Running, RunningEpochWise

META = MetricMetadata.fake()

MULTICLASS: list[Callable[[], object]] = [
    lambda: TopKAccuracyMetric(3, pad_token=0),
    PrecisionMetric.multiclass,
    lambda: RecallMetric.multiclass(top_k=2, reduction="weighted"),
    lambda: FBetaScoreMetric.multiclass(reduction="none", beta=2.0),
    lambda: AurocMetric.multiclass(softmax=True),
    lambda: AucPrMetric.multiclass(bins=50, softmax=True),
    lambda: AurocMetric.multiclass(bins=20, softmax=True),
    lambda: PerplexityMetric(pad_token=-100),
    ConfusionMatrixMetric.multiclass,
    MatthewsCorrCoefMetric.multiclass,
]
MULTILABEL: list[Callable[[], object]] = [
    lambda: PrecisionMetric.multilabel(sigmoid=True),
    lambda: RecallMetric.multilabel(0.3, "micro"),
    lambda: FBetaScoreMetric.multilabel(reduction="weighted"),
    lambda: HammingScoreMetric(sigmoid=True),
    lambda: HammingScoreMetric(0.7),
    AurocMetric.multilabel,
    lambda: AucPrMetric.multilabel(bins=30),
    lambda: MatthewsCorrCoefMetric.multilabel(sigmoid=True),
    lambda: MultilabelExactMatchMetric(0.6, sigmoid=True),
]
BINARY: list[Callable[[], object]] = [
    PrecisionMetric.binary,
    lambda: RecallMetric.binary(sigmoid=True),
    lambda: FBetaScoreMetric.binary(0.2),
    AurocMetric.binary,
    lambda: AucPrMetric.binary(bins=10),
    ConfusionMatrixMetric.binary,
    MatthewsCorrCoefMetric.binary,
]


def steps(kind: str) -> list[object]:
    if kind == "binary":
        return [
            (torch.rand(16), torch.randint(0, 2, (16,))),
            (torch.rand(1), torch.randint(0, 2, (1,))),
        ]
    if kind == "multilabel":
        return [
            MultiLabelClassificationOutput(
                torch.zeros(()), torch.rand(16, 5), torch.randint(0, 2, (16, 5))
            ),
            MultiLabelClassificationOutput(torch.zeros(()), torch.rand(1, 5), torch.ones(1, 5)),
        ]
    return [
        ClassificationOutput(torch.zeros(()), torch.randn(16, 6), torch.randint(0, 6, (16,))),
        ClassificationOutput(torch.zeros(()), torch.randn(1, 6), torch.tensor([5])),
    ]


def run_updates(metric: object, kind: str) -> list[object]:
    entries = []
    input_type = metric.input_type  # type: ignore[attr-defined]
    for step in steps(kind):
        if isinstance(step, tuple):
            item = input_type(*step)
        else:
            item = StepAdaptations(step).get(input_type)
        entries.append(metric.update(item, META))  # type: ignore[attr-defined]
    return entries


CASES = [(f, "multiclass") for f in MULTICLASS]
CASES += [(f, "multilabel") for f in MULTILABEL]
CASES += [(f, "binary") for f in BINARY]
CASES += [(AccuracyMetric, "multiclass")]


@pytest.mark.parametrize(("factory", "kind"), CASES)
def test_update_makes_no_transfer(factory: Callable[[], object], kind: str) -> None:
    metric = factory()
    before = transfer_count()
    entries = run_updates(metric, kind)
    assert transfer_count() == before
    # Reading is where the transfer happens: one per read of the logged values; a ranking
    # metric's batch text, built only if shown, adds one more.
    _ = entries[-1].serialized  # type: ignore[attr-defined]
    assert transfer_count() == before + 1
    _ = entries[-1].formatted  # type: ignore[attr-defined]
    assert transfer_count() <= before + 2


@pytest.mark.parametrize(("factory", "kind"), CASES)
@pytest.mark.usefixtures("no_reads")
def test_update_never_reads_a_tensor(factory: Callable[[], object], kind: str) -> None:
    metric = factory()
    run_updates(metric, kind)


def _f1() -> object:
    precision, recall = PrecisionMetric.multiclass(), RecallMetric.multiclass()
    return 2 * precision * recall / (precision + recall)


def _accuracy_of_argmax(targets: np.ndarray, scores: np.ndarray) -> float:
    return float((scores.argmax(1) == targets).mean())


# Metrics built on metrics (derived, wrapped, in another usage, a function of NumPy arrays).
COMPOSED: list[tuple[Callable[[], object], str]] = [
    (_f1, "multiclass"),
    (lambda: PrecisionMetric.multiclass(reduction="none")[2] > 0.5, "multiclass"),
    (lambda: AccuracyMetric() / 100 - LossMetric(), "multiclass"),
    (lambda: AurocMetric.multiclass(softmax=True) * 2, "multiclass"),
    (lambda: Classwise(RecallMetric.multiclass(reduction="none")), "multiclass"),
    (lambda: Running(FBetaScoreMetric.multiclass(), 2), "multiclass"),
    (lambda: Running(PerplexityMetric(), alpha=0.9), "multiclass"),
    (lambda: Running(AurocMetric.multiclass(softmax=True), 2), "multiclass"),
    (lambda: BootStrapper(AccuracyMetric(), 4), "multiclass"),
    (lambda: BootStrapper(HammingScoreMetric(), 3, sampling="multinomial"), "multilabel"),
    (lambda: BatchWise(TopKAccuracyMetric(2)), "multiclass"),
    (lambda: RunningEpochWise(RecallMetric.multilabel()), "multilabel"),
    (lambda: Running(PrecisionMetric.binary(), alpha=0.5), "binary"),
    (lambda: FunctionMetric(_accuracy_of_argmax), "multiclass"),
]


@pytest.mark.parametrize(("factory", "kind"), COMPOSED)
def test_composed_update_makes_no_transfer(factory: Callable[[], object], kind: str) -> None:
    metric = factory()
    before = transfer_count()
    entries = run_updates(metric, kind)
    assert transfer_count() == before
    # Reading is where the transfers happen.
    _ = entries[-1].formatted, entries[-1].serialized  # type: ignore[attr-defined]
    assert transfer_count() > before


@pytest.mark.parametrize(("factory", "kind"), COMPOSED)
@pytest.mark.usefixtures("no_reads")
def test_composed_update_never_reads_a_tensor(factory: Callable[[], object], kind: str) -> None:
    metric = factory()
    run_updates(metric, kind)
