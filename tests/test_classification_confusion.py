"""Precision, recall and F-beta against scikit-learn, for any batching; edge cases; bad inputs."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import fbeta_score, precision_recall_fscore_support

from burnish import (
    AccuracyInput,
    ClassificationOutput,
    ConfusionStatsInput,
    MetricMetadata,
    StepAdaptations,
)
from burnish.functional import fbeta_score as fbeta_fn
from burnish.functional import precision as precision_fn
from burnish.functional import recall as recall_fn
from burnish.functional.confusion import best_classes, multiclass_counts
from burnish.metric import AccuracyMetric, FBetaScoreMetric, PrecisionMetric, RecallMetric
from tests.batched_data import feed, split

META = MetricMetadata.fake()
REDUCTIONS = ("micro", "macro", "weighted", "none")


@st.composite
def multiclass_epochs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    num_classes = draw(st.integers(2, 100))
    n = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.standard_normal((n, num_classes)).astype(np.float32)
    if draw(st.booleans()):
        scores = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)  # probabilities
    # Often fewer classes occur than the model has: absent classes must be left out of macro.
    targets = rng.integers(0, draw(st.integers(1, num_classes)), n)
    return scores, targets, split(n, draw)


@st.composite
def threshold_epochs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int], bool]:
    labels = draw(st.integers(2, 20))  # one column would be "binary" to scikit-learn
    n = draw(st.integers(1, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = draw(st.booleans())
    scores = rng.standard_normal((n, labels)).astype(np.float32)
    if not logits:
        scores = 1 / (1 + np.exp(-scores))
    targets = (rng.random((n, labels)) < draw(st.floats(0.0, 1.0))).astype(np.int64)
    return scores, targets, split(n, draw), logits


def expected(values: object, reduction: str, labels: np.ndarray | None) -> float:
    if reduction != "none":
        return float(values)  # type: ignore[arg-type]
    array = np.asarray(values)
    return float(array.mean()) if array.size else math.nan


@settings(max_examples=60, deadline=None)
@given(multiclass_epochs(), st.sampled_from(REDUCTIONS), st.sampled_from([0.5, 1.0, 2.0]))
def test_multiclass_matches_sklearn_for_any_batching(
    epoch: tuple[np.ndarray, np.ndarray, list[int]], reduction: str, beta: float
) -> None:
    scores, targets, sizes = epoch
    predicted = scores.argmax(1)
    average = None if reduction == "none" else reduction
    p, r, f, _ = precision_recall_fscore_support(
        targets, predicted, beta=beta, average=average, zero_division=0
    )
    metrics = [
        PrecisionMetric.multiclass(reduction=reduction),  # type: ignore[arg-type]
        RecallMetric.multiclass(reduction=reduction),  # type: ignore[arg-type]
        FBetaScoreMetric.multiclass(reduction=reduction, beta=beta),  # type: ignore[arg-type]
    ]
    feed(ConfusionStatsInput, metrics, scores, targets, sizes)
    one_batch = [type(m).multiclass(reduction=reduction) for m in metrics[:2]]  # type: ignore[attr-defined]
    one_batch.append(FBetaScoreMetric.multiclass(reduction=reduction, beta=beta))  # type: ignore[arg-type]
    feed(ConfusionStatsInput, one_batch, scores, targets, [len(targets)])
    for metric, batched, want in zip(metrics, one_batch, (p, r, f), strict=True):
        got = metric.running_value()
        assert got.kind == "final"
        assert got.value == pytest.approx(expected(want, reduction, None), abs=1e-6)
        assert batched.running_value().value == pytest.approx(got.value, abs=1e-6)
        if reduction == "none":
            present = np.union1d(targets, predicted)
            per_class = np.array(metric.per_class())
            np.testing.assert_allclose(per_class[present], want, atol=1e-6)
            assert np.isnan(np.delete(per_class, present)).all()


@settings(max_examples=50, deadline=None)
@given(threshold_epochs(), st.sampled_from(REDUCTIONS), st.sampled_from([0.3, 0.5, 0.8]))
def test_multilabel_matches_sklearn(
    epoch: tuple[np.ndarray, np.ndarray, list[int], bool], reduction: str, threshold: float
) -> None:
    scores, targets, sizes, logits = epoch
    probabilities = 1 / (1 + np.exp(-scores)) if logits else scores
    predicted = (probabilities > threshold).astype(np.int64)
    average = None if reduction == "none" else reduction
    p, r, f, _ = precision_recall_fscore_support(
        targets, predicted, average=average, zero_division=0
    )
    kwargs = {"threshold": threshold, "reduction": reduction, "sigmoid": logits}
    metrics = [
        PrecisionMetric.multilabel(**kwargs),  # type: ignore[arg-type]
        RecallMetric.multilabel(**kwargs),  # type: ignore[arg-type]
        FBetaScoreMetric.multilabel(**kwargs),  # type: ignore[arg-type]
    ]
    feed(ConfusionStatsInput, metrics, scores, targets, sizes)
    for metric, want in zip(metrics, (p, r, f), strict=True):
        assert metric.running_value().value == pytest.approx(
            expected(want, reduction, None), abs=1e-5
        )


@settings(max_examples=50, deadline=None)
@given(threshold_epochs(), st.sampled_from([0.3, 0.5]), st.sampled_from([0.5, 1.0, 3.0]))
def test_binary_matches_sklearn(
    epoch: tuple[np.ndarray, np.ndarray, list[int], bool], threshold: float, beta: float
) -> None:
    scores, targets, sizes, logits = epoch
    scores, targets = scores[:, 0].copy(), targets[:, 0].copy()
    probabilities = 1 / (1 + np.exp(-scores)) if logits else scores
    predicted = (probabilities > threshold).astype(np.int64)
    p, r, f, _ = precision_recall_fscore_support(
        targets, predicted, beta=beta, average="binary", zero_division=0
    )
    metrics = [
        PrecisionMetric.binary(threshold, sigmoid=logits),
        RecallMetric.binary(threshold, sigmoid=logits),
        FBetaScoreMetric.binary(threshold, sigmoid=logits, beta=beta),
    ]
    feed(ConfusionStatsInput, metrics, scores, targets, sizes)
    for metric, want in zip(metrics, (p, r, f), strict=True):
        assert metric.running_value().value == pytest.approx(float(want), abs=1e-6)
    assert fbeta_score(targets, predicted, beta=beta, zero_division=0) == pytest.approx(
        metrics[2].running_value().value, abs=1e-6
    )


def test_epoch_value_is_not_a_mean_of_batch_ratios() -> None:
    # Burn bug #2758: batch 1 precision 1/1, batch 2 precision 0/3 -> epoch 1/4, not 0.5.
    metric = PrecisionMetric.binary()
    metric.update(ConfusionStatsInput(torch.tensor([0.9]), torch.tensor([1])), META)
    metric.update(ConfusionStatsInput(torch.tensor([0.9, 0.9, 0.9]), torch.tensor([0, 0, 0])), META)
    assert metric.running_value().value == pytest.approx(0.25)
    assert metric.value() == 0.0


def test_zero_division_is_zero_and_absent_classes_leave_macro() -> None:
    # Class 2 never occurs; class 1 is a target but never predicted (precision 0/0 -> 0).
    scores = torch.tensor([[5.0, 0.0, 0.0], [5.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    targets = torch.tensor([0, 1, 0])
    precision = PrecisionMetric.multiclass(reduction="macro")
    per_class = PrecisionMetric.multiclass(reduction="none")
    for metric in (precision, per_class):
        metric.update(ConfusionStatsInput(scores, targets), META)
    assert precision.running_value().value == pytest.approx((2 / 3 + 0.0) / 2)
    values = per_class.per_class()
    assert values[:2] == pytest.approx([2 / 3, 0.0])
    assert math.isnan(values[2])
    assert "2: n/a" in per_class.compute().formatted
    # No prediction at all for the positive class: precision 0/0 -> 0, recall 0.
    binary = [PrecisionMetric.binary(), RecallMetric.binary(), FBetaScoreMetric.binary()]
    for metric in binary:
        metric.update(ConfusionStatsInput(torch.tensor([0.1, 0.2]), torch.tensor([0, 1])), META)
        assert metric.running_value().value == 0.0


def test_all_predictions_one_class_and_a_batch_of_one() -> None:
    metric = RecallMetric.multiclass(reduction="macro")
    scores = torch.zeros(1, 4)
    scores[0, 3] = 1.0
    metric.update(ConfusionStatsInput(scores, torch.tensor([3])), META)
    assert metric.running_value().value == 1.0
    metric.update(ConfusionStatsInput(scores.repeat(3, 1), torch.tensor([0, 1, 3])), META)
    # Classes 0, 1, 3 present: recall 0, 0, 2/2.
    assert metric.running_value().value == pytest.approx(1 / 3)


def test_empty_epoch_reads_na_and_clear_starts_over() -> None:
    metric = FBetaScoreMetric.multiclass()
    assert metric.compute().formatted == "n/a"
    assert math.isnan(metric.running_value().value)
    assert math.isnan(metric.value())
    metric.update(ConfusionStatsInput(torch.randn(4, 3), torch.tensor([0, 1, 2, 0])), META)
    metric.clear()
    assert metric.compute().formatted == "n/a"


def test_entries_show_epoch_and_batch() -> None:
    metric = PrecisionMetric.binary()
    metric.update(ConfusionStatsInput(torch.tensor([0.9]), torch.tensor([1])), META)
    entry = metric.update(ConfusionStatsInput(torch.tensor([0.9]), torch.tensor([0])), META)
    assert entry.formatted == "epoch 0.5000 - batch 0.0000"
    assert metric.compute().serialized == "final:0.5"


def test_top_k_rule_predicts_the_target_when_among_the_k_best() -> None:
    scores = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    targets = torch.tensor([1, 2, 2])
    metric = RecallMetric.multiclass(top_k=2, reduction="micro")
    precision = PrecisionMetric.multiclass(top_k=2, reduction="micro")
    for m in (metric, precision):
        m.update(ConfusionStatsInput(scores, targets), META)
    # Predicted: 1 (the target, second best), 2, and 0 (the best: the target is third).
    assert metric.running_value().value == pytest.approx(2 / 3)
    assert precision.running_value().value == pytest.approx(2 / 3)


def test_functional_matches_metric() -> None:
    scores, targets = torch.randn(50, 5), torch.randint(0, 5, (50,))
    for reduction in ("micro", "macro", "weighted"):
        metric = PrecisionMetric.multiclass(reduction=reduction)  # type: ignore[arg-type]
        metric.update(ConfusionStatsInput(scores, targets), META)
        value = precision_fn(scores, targets, "multiclass", reduction=reduction)  # type: ignore[arg-type]
        assert float(value) == pytest.approx(metric.running_value().value)
    assert float(recall_fn(scores, targets, "multiclass")) == pytest.approx(
        float(fbeta_fn(scores, targets, "multiclass"))  # micro: all equal to accuracy
    )


def test_metrics_of_one_rule_count_once_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    counted: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> torch.Tensor:
        counted.append(1)
        return multiclass_counts(*args, **kwargs)

    monkeypatch.setattr("burnish.metric.confusion.multiclass_counts", counting)
    output = ClassificationOutput(torch.zeros(()), torch.randn(8, 4), torch.randint(0, 4, (8,)))
    metrics = [PrecisionMetric.multiclass(), RecallMetric.multiclass(), FBetaScoreMetric()]
    item = output.adapt(ConfusionStatsInput)
    for metric in metrics:
        metric.update(item, META)
    assert len(counted) == 1  # one computation for the three metrics
    other = PrecisionMetric.multiclass(top_k=2)
    other.update(item, META)
    assert len(counted) == 2  # another rule counts its own
    values = [metric.running_value().value for metric in metrics]
    alone = [PrecisionMetric.multiclass(), RecallMetric.multiclass(), FBetaScoreMetric()]
    for metric in alone:
        metric.update(output.adapt(ConfusionStatsInput), META)
    assert values == [metric.running_value().value for metric in alone]


def test_bad_inputs_raise_now_naming_the_metric() -> None:
    metric = PrecisionMetric.multiclass()
    with pytest.raises(ValueError, match=r"Macro Precision: .*same batch size"):
        metric.update(ConfusionStatsInput(torch.randn(4, 3), torch.tensor([0, 1])), META)
    with pytest.raises(TypeError, match=r"Macro Precision: expected targets as integer"):
        metric.update(ConfusionStatsInput(torch.randn(2, 3), torch.tensor([0.0, 1.0])), META)
    with pytest.raises(TypeError, match="expected scores as floating point"):
        metric.update(ConfusionStatsInput(torch.tensor([[1, 2]]), torch.tensor([0])), META)
    with pytest.raises(ValueError, match=r"expected top_k <= num_classes"):
        PrecisionMetric.multiclass(top_k=5).update(
            ConfusionStatsInput(torch.randn(2, 3), torch.tensor([0, 1])), META
        )
    with pytest.raises(ValueError, match=r"threshold within \[0, 1\]"):
        RecallMetric.binary(threshold=1.5)
    with pytest.raises(ValueError, match="reduction"):
        RecallMetric.multiclass(reduction="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta > 0"):
        FBetaScoreMetric.multiclass(beta=0.0)
    with pytest.raises(ValueError, match="multilabel targets of the scores' shape"):
        PrecisionMetric.multilabel().update(
            ConfusionStatsInput(torch.rand(2, 3), torch.ones(2, 2)), META
        )
    metric.update(ConfusionStatsInput(torch.randn(2, 3), torch.tensor([0, 1])), META)
    with pytest.raises(ValueError, match="3 classes as in earlier batches, received 4"):
        metric.update(ConfusionStatsInput(torch.randn(2, 4), torch.tensor([0, 1])), META)


def test_bad_values_raise_at_the_next_read() -> None:
    metric = PrecisionMetric.multiclass()
    entry = metric.update(ConfusionStatsInput(torch.randn(2, 3), torch.tensor([0, 7])), META)
    with pytest.raises(ValueError, match=r"targets within \[0, 2\]"):
        _ = entry.formatted
    with pytest.raises(ValueError, match="targets"):
        metric.compute()
    nan = PrecisionMetric.multiclass()
    nan.update(ConfusionStatsInput(torch.tensor([[math.nan, 0.0]]), torch.tensor([0])), META)
    with pytest.raises(ValueError, match="NaN"):
        nan.value()
    logits = RecallMetric.binary()
    logits.update(ConfusionStatsInput(torch.tensor([2.5, -1.0]), torch.tensor([1, 0])), META)
    with pytest.raises(ValueError, match="sigmoid=True"):
        logits.running_value()
    labels = PrecisionMetric.multilabel()
    labels.update(ConfusionStatsInput(torch.rand(2, 2), torch.tensor([[0, 2], [1, 0]])), META)
    with pytest.raises(ValueError, match="0 or 1"):
        labels.compute()


def test_metrics_sharing_a_step_fold_their_bounds_apart() -> None:
    # Metrics watching the same tensors fold their value bounds once per step between them;
    # each keeps its own bounds: a metric cleared after a bad step does not report it, the
    # others still do after many folds, and each holds as many bounds as it would alone.
    accuracy, precision, recall = (
        AccuracyMetric(),
        PrecisionMetric.multiclass(),
        RecallMetric.multiclass(),
    )
    alone = AccuracyMetric()
    generator = torch.Generator().manual_seed(0)
    for step in range(100):
        scores = torch.randn(8, 4, generator=generator)
        if step == 5:
            scores[3, 1] = math.nan
        output = ClassificationOutput(torch.zeros(()), scores, torch.arange(8) % 4)
        adapted = StepAdaptations(output)
        for metric in (accuracy, precision, recall):
            metric.update(adapted.get(metric.input_type), META)
        alone.update(AccuracyInput(scores, torch.arange(8) % 4), META)
        if step == 10:
            recall.clear()
    for metric in (accuracy, precision, alone):
        with pytest.raises(ValueError, match="NaN"):
            metric.compute()
    recall.compute()
    assert 0.0 <= recall.running_value().value <= 1.0
    assert len(accuracy._checks.pending()) == len(alone._checks.pending())


def test_accuracy_and_precision_of_different_tensors_share_no_argmax() -> None:
    # An output may feed accuracy and precision from different tensors through one memo: each
    # metric gets the argmax of its own scores.
    @dataclass(frozen=True)
    class TwoHeads:
        first: torch.Tensor
        second: torch.Tensor
        targets: torch.Tensor
        derived: dict[Hashable, Any] = field(default_factory=dict)

        def adapt(self, kind: type[Any], /) -> Any:
            if kind is AccuracyInput:
                return AccuracyInput(self.first, self.targets, derived=self.derived)
            return ConfusionStatsInput(self.second, self.targets, derived=self.derived)

    targets = torch.tensor([0, 1, 2])
    output = TwoHeads(torch.eye(3), torch.eye(3).flip(1), targets)
    accuracy, precision = AccuracyMetric(), PrecisionMetric.multiclass(reduction="micro")
    adapted = StepAdaptations(output)
    for metric in (accuracy, precision):
        metric.update(adapted.get(metric.input_type), META)
    assert accuracy.value() == 100.0
    assert precision.value() == pytest.approx(1 / 3)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.sampled_from([(0, 3), (1, 1), (5, 4), (64, 10), (7, 1000), (3, 5, 17)]),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.float16]),
    specials=st.lists(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]), max_size=8),
    ties=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_best_classes_are_torch_argmax(
    shape: tuple[int, ...], dtype: torch.dtype, specials: list[float], ties: bool, seed: int
) -> None:
    """The best class of each row, whichever way it is found (numpy on the CPU for float32 and
    float64): the first of equal scores, NaN counting as the largest, as torch.argmax."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(shape, generator=generator, dtype=torch.float64)
    if ties:
        scores = scores.round()
    flat = scores.view(-1)
    for index, value in enumerate(specials):
        if flat.numel():
            flat[(index * 7919 + seed) % flat.numel()] = value
    scores = scores.to(dtype)
    for rows in (scores, scores.transpose(0, -1)):  # the second not contiguous
        if rows.shape[-1] == 0:
            with pytest.raises(IndexError):  # no class to choose, as torch.argmax says
                best_classes(rows)
            continue
        got = best_classes(rows)
        assert got.dtype == torch.long
        assert torch.equal(got, rows.argmax(dim=-1))


def test_values_handed_out_are_the_callers_to_change() -> None:
    """Per-class values read twice (the epoch's reductions are kept for the texts that ask
    next) are each the reader's own list: changing one changes nothing kept."""
    metric = PrecisionMetric.multiclass(reduction="none")
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.3, 0.1]])
    metric.update(ConfusionStatsInput(scores, torch.tensor([0, 1, 0])), META)
    metric.update(ConfusionStatsInput(scores, torch.tensor([1, 1, 0])), META)
    first = metric.per_class()
    want = list(first)
    first[0] = 123.0
    assert metric.per_class() == pytest.approx(want, nan_ok=True)
    assert "123" not in metric.compute().formatted
