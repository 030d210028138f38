from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    ClassificationOutput,
    LossInput,
    LossMetric,
    MetricMetadata,
    RegressionOutput,
)
from burnish.functional import accuracy
from burnish.metric.host import transfer_count

META = MetricMetadata.fake()


@st.composite
def classification_epochs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Scores (n, c), targets (n,) and a split of n into batches."""
    num_classes = draw(st.integers(2, 100))
    n = draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, num_classes))
    if draw(st.booleans()):
        # Probabilities, and coarse values so that ties between classes happen.
        scores = np.round(np.exp(scores) / np.exp(scores).sum(1, keepdims=True), 1)
    targets = rng.integers(0, draw(st.integers(1, num_classes)), n)
    cuts = sorted(draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=8)))
    sizes = np.diff([0, *[c for c in cuts if c < n], n]).tolist()
    return scores, targets, [s for s in sizes if s > 0]


def _run(metric: AccuracyMetric, scores: np.ndarray, targets: np.ndarray, sizes: list[int]) -> None:
    start = 0
    for size in sizes:
        item = AccuracyInput(
            torch.from_numpy(scores[start : start + size]),
            torch.from_numpy(targets[start : start + size]),
        )
        metric.update(item, META)
        start += size


@settings(max_examples=80, deadline=None)
@given(classification_epochs())
def test_accuracy_matches_sklearn_for_any_batching(
    epoch: tuple[np.ndarray, np.ndarray, list[int]],
) -> None:
    scores, targets, sizes = epoch
    # torch's argmax breaks ties at the first maximum, like numpy's.
    expected = 100 * accuracy_score(targets, scores.argmax(1))
    metric = AccuracyMetric()
    _run(metric, scores, targets, sizes)
    assert metric.running_value().value == pytest.approx(expected, abs=1e-6)
    assert metric.running_value().count == len(targets)
    one_batch = AccuracyMetric()
    _run(one_batch, scores, targets, [len(targets)])
    assert one_batch.running_value().value == pytest.approx(metric.running_value().value, abs=1e-6)
    assert float(accuracy(torch.from_numpy(scores), torch.from_numpy(targets))) == pytest.approx(
        expected / 100, abs=1e-9
    )


@settings(max_examples=50, deadline=None)
@given(classification_epochs(), st.integers(0, 3))
def test_accuracy_with_pad_token_ignores_padding(
    epoch: tuple[np.ndarray, np.ndarray, list[int]], pad_token: int
) -> None:
    scores, targets, sizes = epoch
    kept = targets != pad_token
    metric = AccuracyMetric(pad_token=pad_token)
    _run(metric, scores, targets, sizes)
    if kept.any():
        expected = 100 * accuracy_score(targets[kept], scores.argmax(1)[kept])
        assert metric.running_value().value == pytest.approx(expected, abs=1e-6)
        assert metric.running_value().count == kept.sum()
    else:
        assert math.isnan(metric.running_value().value)
        assert metric.compute().formatted == "n/a"


def test_accuracy_entry_is_formatted_like_burn() -> None:
    metric = AccuracyMetric()
    scores = torch.eye(4)
    metric.update(AccuracyInput(scores, torch.tensor([0, 1, 2, 3])), META)
    entry = metric.update(AccuracyInput(scores, torch.tensor([0, 1, 2, 0])), META)
    assert entry.name == "Accuracy"
    assert entry.formatted == "epoch 87.50 % - batch 75.00 %"
    assert entry.serialized == "75.0,4"
    assert metric.compute().formatted == "87.50 %"
    assert metric.value() == 75.0


def test_pad_token_outside_class_range_is_allowed() -> None:
    metric = AccuracyMetric(pad_token=-100)
    metric.update(AccuracyInput(torch.eye(3), torch.tensor([0, -100, 1])), META)
    assert metric.running_value().value == pytest.approx(50.0)


def test_batch_of_one_and_empty_epoch() -> None:
    metric = AccuracyMetric()
    assert metric.compute().formatted == "n/a"
    assert math.isnan(metric.value())
    metric.update(AccuracyInput(torch.tensor([[0.1, 0.9]]), torch.tensor([1])), META)
    assert metric.compute().formatted == "100.00 %"
    metric.clear()
    assert metric.compute().formatted == "n/a"
    assert metric.running_value().count == 0


def test_all_equal_scores_pick_the_first_class() -> None:
    metric = AccuracyMetric()
    metric.update(AccuracyInput(torch.zeros(4, 3), torch.tensor([0, 0, 1, 2])), META)
    assert metric.running_value().value == pytest.approx(50.0)


def test_update_reads_nothing_from_the_device() -> None:
    metric, loss = AccuracyMetric(), LossMetric()
    output = ClassificationOutput(torch.tensor(0.3), torch.randn(8, 5), torch.randint(0, 5, (8,)))
    before = transfer_count()
    for _ in range(10):
        metric.update(output.adapt(AccuracyInput), META)
        loss.update(output.adapt(LossInput), META)
    assert transfer_count() == before


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=1, max_size=10), st.integers(0, 2**32 - 1))
def test_loss_is_the_batch_size_weighted_mean(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    per_item = [rng.random(size) * 3 for size in sizes]
    metric = LossMetric()
    per_item_metric = LossMetric()
    for values in per_item:
        output = RegressionOutput(
            torch.tensor(values.mean()), torch.zeros(len(values)), torch.zeros(len(values))
        )
        metric.update(output.adapt(LossInput), META)
        per_item_metric.update(LossInput(torch.from_numpy(values)), META)
    expected = np.concatenate(per_item).mean()
    assert metric.running_value().value == pytest.approx(expected, rel=1e-9)
    assert per_item_metric.running_value().value == pytest.approx(expected, rel=1e-9)
    assert metric.value() == pytest.approx(per_item[-1].mean(), rel=1e-9)


def test_scalar_loss_without_batch_size_counts_once() -> None:
    metric = LossMetric()
    metric.update(LossInput(torch.tensor(1.0)), META)
    metric.update(LossInput(torch.tensor(3.0)), META)
    assert metric.running_value().value == pytest.approx(2.0)
    assert metric.compute().formatted == "2.0000"
    assert metric.higher_is_better is False


# Bad input: each error names the metric, what it expected and what it received.


def test_mismatched_batch_sizes() -> None:
    with pytest.raises(
        ValueError,
        match=r"Accuracy: scores and targets must have the same batch size.*\(4, 3\).*\(5,\)",
    ):
        AccuracyMetric().update(
            AccuracyInput(torch.randn(4, 3), torch.zeros(5, dtype=torch.long)), META
        )


def test_wrong_shapes() -> None:
    with pytest.raises(
        ValueError,
        match=r"Accuracy: expected scores of shape \(N, num_classes\), received shape \(4,\)",
    ):
        AccuracyMetric().update(
            AccuracyInput(torch.randn(4), torch.zeros(4, dtype=torch.long)), META
        )
    with pytest.raises(
        ValueError, match=r"Accuracy: expected targets of shape \(N,\), received shape \(4, 1\)"
    ):
        AccuracyMetric().update(
            AccuracyInput(torch.randn(4, 2), torch.zeros(4, 1, dtype=torch.long)), META
        )
    with pytest.raises(
        ValueError,
        match=r"Loss: expected the loss of shape \(\) or \(N,\), received shape \(2, 2\)",
    ):
        LossMetric().update(LossInput(torch.ones(2, 2)), META)


def test_float_targets() -> None:
    with pytest.raises(
        TypeError, match=r"Accuracy: expected targets as integer class indices.*dtype float32"
    ):
        AccuracyMetric().update(AccuracyInput(torch.randn(4, 3), torch.zeros(4)), META)


@pytest.mark.parametrize("bad", [-1, 3])
def test_class_index_out_of_range_is_reported_at_the_next_read(bad: int) -> None:
    metric = AccuracyMetric()
    metric.update(AccuracyInput(torch.randn(3, 3), torch.tensor([0, bad, 1])), META)
    with pytest.raises(
        ValueError,
        match=(
            r"Accuracy: expected targets within \[0, 2\] \(3 classes\), "
            rf"received values in \[{min(bad, 0)}, {max(bad, 1)}\]"
        ),
    ):
        metric.compute()
    with pytest.raises(ValueError, match="Accuracy"):
        metric.value()


def test_nan_scores_and_nan_loss() -> None:
    metric = AccuracyMetric()
    metric.update(AccuracyInput(torch.tensor([[0.0, math.nan]]), torch.tensor([0])), META)
    with pytest.raises(
        ValueError, match=r"Accuracy: expected scores that are finite.*received NaN"
    ):
        metric.compute()
    # A non-finite loss is the learner's policy to act on: the metric reports it as it is.
    loss = LossMetric()
    loss.update(LossInput(torch.tensor(2.0)), META)
    loss.update(LossInput(torch.tensor(math.inf)), META)
    assert loss.value() == math.inf
    loss.update(LossInput(torch.tensor([1.0, math.nan])), META)
    assert math.isnan(loss.value())


def test_number_of_classes_cannot_change_within_an_epoch() -> None:
    metric = AccuracyMetric()
    metric.update(AccuracyInput(torch.randn(2, 3), torch.tensor([0, 1])), META)
    with pytest.raises(
        ValueError,
        match="Accuracy: expected scores with 3 classes as in earlier batches, received 4",
    ):
        metric.update(AccuracyInput(torch.randn(2, 4), torch.tensor([0, 1])), META)


def test_input_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match=r"Accuracy: expected AccuracyInput .*received LossInput"):
        AccuracyMetric().update(LossInput(torch.tensor(1.0)), META)  # type: ignore[arg-type]


def test_output_without_the_adaptor() -> None:
    output = RegressionOutput(torch.tensor(0.0), torch.ones(3), torch.zeros(3))
    with pytest.raises(
        TypeError,
        match=(
            r"Accuracy: expected AccuracyInput .*"
            "RegressionOutput cannot be adapted to AccuracyInput; it feeds .*LossInput"
        ),
    ):
        AccuracyMetric().update(output, META)  # type: ignore[arg-type]


def test_metrics_accept_outputs_directly() -> None:
    output = ClassificationOutput(torch.tensor(0.5), torch.eye(3), torch.tensor([0, 1, 1]))
    metric = AccuracyMetric()
    metric.update(output, META)  # type: ignore[arg-type]
    assert metric.running_value().value == pytest.approx(200 / 3)
