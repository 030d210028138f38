"""Precision, recall and F-beta at top-k against TorchMetrics' rule (1.6 and later): an item
predicts its target when the target is among its k best classes, else its best class.

Checked through the functional core, standalone updates and block updates, on random scores
with ties, absent classes, batches of one and k equal to the number of classes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.functional.classification import (
    multiclass_fbeta_score,
    multiclass_precision,
    multiclass_recall,
)

from burnish import ClassificationOutput, ConfusionStatsInput, MetricMetadata
from burnish.functional import fbeta_score, precision, recall
from burnish.functional.confusion import Reduction, ScoreKind, multiclass_counts, top_k_predicted
from burnish.metric import (
    ConfusionMatrixMetric,
    DecisionRule,
    FBetaScoreMetric,
    MatthewsCorrCoefMetric,
    PrecisionMetric,
    RecallMetric,
    TopKAccuracyMetric,
)
from burnish.metric.collection import MetricCollection
from burnish.metric.values import nan_mean
from tests.batched_data import batches, feed, split

META = MetricMetadata.fake()
BETA = 2.0
REDUCTIONS: tuple[Reduction, ...] = ("micro", "macro", "weighted", "none")
KINDS: tuple[ScoreKind, ...] = ("precision", "recall", "fbeta")
# TorchMetrics divides in float32.
TOLERANCE = 1e-6

Epoch = tuple[np.ndarray, np.ndarray, int, list[int]]


@st.composite
def top_k_epochs(draw: st.DrawFn) -> Epoch:
    """Scores (N, C), targets, k in [2, C] and batch sizes; scores drawn from a few levels
    half of the time, so that ties are common."""
    classes = draw(st.integers(2, 7))
    n = draw(st.integers(1, 40))
    k = draw(st.integers(2, classes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        scores = rng.integers(0, 3, (n, classes)).astype(np.float32)
    else:
        scores = rng.standard_normal((n, classes)).astype(np.float32)
    # Often fewer classes occur among the targets than the scores have.
    targets = rng.integers(0, draw(st.integers(1, classes)), n)
    return scores, targets, k, split(n, draw)


def _theirs(
    kind: ScoreKind, scores: np.ndarray, targets: np.ndarray, k: int, reduction: Reduction
) -> torch.Tensor:
    s, t, classes = torch.from_numpy(scores), torch.from_numpy(targets), scores.shape[1]
    if kind == "fbeta":
        return multiclass_fbeta_score(s, t, BETA, classes, average=reduction, top_k=k).double()
    score = multiclass_precision if kind == "precision" else multiclass_recall
    return score(s, t, classes, average=reduction, top_k=k).double()


def _assert_matches(got: Sequence[float], want: torch.Tensor, reduction: Reduction) -> None:
    """Ours against TorchMetrics: per class, ours is NaN for the classes that TorchMetrics'
    macro average leaves out, and the macro value is the mean of the others."""
    if reduction != "none":
        assert got == pytest.approx([want.item()], abs=TOLERANCE)
        return
    defined = [i for i, value in enumerate(got) if not math.isnan(value)]
    assert [got[i] for i in defined] == pytest.approx(want[defined].tolist(), abs=TOLERANCE)


def _metric(kind: ScoreKind, k: int, reduction: Reduction) -> Any:
    if kind == "fbeta":
        return FBetaScoreMetric.multiclass(k, reduction, beta=BETA)
    return {"precision": PrecisionMetric, "recall": RecallMetric}[kind].multiclass(k, reduction)


@settings(max_examples=60, deadline=None)
@given(top_k_epochs())
def test_functional_scores_at_k_match_torchmetrics(epoch: Epoch) -> None:
    scores, targets, k, _ = epoch
    functions: dict[ScoreKind, Callable[..., torch.Tensor]] = {
        "precision": precision,
        "recall": recall,
        "fbeta": functools.partial(fbeta_score, beta=BETA),
    }
    s, t = torch.from_numpy(scores), torch.from_numpy(targets)
    for kind, function in functions.items():
        for reduction in REDUCTIONS:
            got = function(s, t, "multiclass", reduction=reduction, top_k=k)
            want = _theirs(kind, scores, targets, k, reduction)
            _assert_matches(got.reshape(-1).tolist(), want, reduction)
            if reduction == "none":
                macro = _theirs(kind, scores, targets, k, "macro").item()
                assert nan_mean(got.tolist()) == pytest.approx(macro, abs=TOLERANCE)


@settings(max_examples=40, deadline=None)
@given(top_k_epochs())
def test_metrics_at_k_match_torchmetrics_step_by_step_and_in_blocks(epoch: Epoch) -> None:
    scores, targets, k, sizes = epoch

    def make() -> list[Any]:
        return [_metric(kind, k, reduction) for kind in KINDS for reduction in REDUCTIONS]

    stepwise, blocked = make(), make()
    feed(ConfusionStatsInput, stepwise, scores, targets, sizes)
    collection = MetricCollection(blocked)
    outputs = [
        ClassificationOutput(torch.zeros(()), s, t) for s, t in batches((scores, targets), sizes)
    ]
    plan = collection.plan
    metadata = [META] * len(outputs)
    plan.update_columns(outputs, metadata, [plan.update_moment(m) for m in metadata])
    for one, block in zip(stepwise, blocked, strict=True):
        want = _theirs(one.kind, scores, targets, k, one.reduction)
        _assert_matches(one.per_class(), want, one.reduction)
        _assert_matches(block.per_class(), want, one.reduction)
        assert block.running_value().value == pytest.approx(one.running_value().value, nan_ok=True)


@settings(max_examples=30, deadline=None)
@given(top_k_epochs())
def test_micro_scores_at_k_are_the_top_k_accuracy(epoch: Epoch) -> None:
    scores, targets, k, sizes = epoch
    metrics = [_metric(kind, k, "micro") for kind in KINDS]
    feed(ConfusionStatsInput, metrics, scores, targets, sizes)
    accuracy = TopKAccuracyMetric(k)
    for s, t in batches((scores, targets), sizes):
        accuracy.update(
            ClassificationOutput(torch.zeros(()), s, t).adapt(accuracy.input_type), META
        )
    for metric in metrics:
        assert 100 * metric.running_value().value == pytest.approx(accuracy.running_value().value)


def test_each_item_predicts_its_target_when_among_its_k_best_else_its_best() -> None:
    top = torch.tensor([[2, 0], [1, 3], [0, 1]])
    targets = torch.tensor([0, 2, 1])
    assert top_k_predicted(top, targets).tolist() == [0, 1, 1]
    counts = multiclass_counts(top_k_predicted(top, targets), targets, 4)
    # Rows: predicted, support, true positives. One predicted class per item.
    assert counts.tolist() == [[1, 2, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]]


def test_k_equal_to_the_classes_predicts_every_target() -> None:
    scores = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 1, 1, 3, 3, 3])  # classes 2 and 4 absent
    for metric in (PrecisionMetric.multiclass(5), RecallMetric.multiclass(5, "weighted")):
        metric.update(ConfusionStatsInput(scores, targets), META)
        assert metric.running_value().value == 1.0
    per_class = PrecisionMetric.multiclass(5, "none")
    per_class.update(ConfusionStatsInput(scores, targets), META)
    assert per_class.compute().formatted == (
        "1.0000 mean [0: 1.0000, 1: 1.0000, 2: n/a, 3: 1.0000, 4: n/a]"
    )


def test_macro_recall_at_k_leaves_out_a_class_predicted_without_targets() -> None:
    # Item 0's target (0) is not among its two best: it predicts class 3, which no item has.
    scores = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.3, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]])
    targets = torch.tensor([0, 0, 1])
    values = {}
    for metric in (
        RecallMetric.multiclass(2),
        PrecisionMetric.multiclass(2),
        FBetaScoreMetric.multiclass(2),
    ):
        metric.update(ConfusionStatsInput(scores, targets), META)
        values[metric.name] = metric.running_value().value
    # Recall (0.5 + 1) / 2 and precision (1 + 1) / 2 over classes 0 and 1, as TorchMetrics;
    # its F1 averages class 3 (0) too: (2/3 + 1 + 0) / 3.
    assert values == pytest.approx(
        {"Macro Recall@2": 0.75, "Macro Precision@2": 1.0, "Macro F1 Score@2": 5 / 9}
    )


def test_metrics_of_one_predicted_class_per_item_reject_top_k() -> None:
    with pytest.raises(ValueError, match=r"MCC: expected a multiclass rule with top_k=1"):
        MatthewsCorrCoefMetric(DecisionRule("multiclass", top_k=2))
    with pytest.raises(ValueError, match=r"Confusion Matrix: expected .* top-1 multiclass rule"):
        ConfusionMatrixMetric(DecisionRule("multiclass", top_k=3))
