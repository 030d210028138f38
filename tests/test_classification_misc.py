"""Top-k accuracy, Hamming score, perplexity and the confusion matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, hamming_loss, top_k_accuracy_score

from burnish import (
    ConfusionStatsInput,
    HammingScoreInput,
    MetricMetadata,
    PerplexityInput,
    TopKAccuracyInput,
)
from burnish.functional import hamming_score, perplexity, topk_accuracy
from burnish.metric import (
    ConfusionMatrixMetric,
    HammingScoreMetric,
    PerplexityMetric,
    TopKAccuracyMetric,
)
from tests.batched_data import batches, split

META = MetricMetadata.fake()


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_top_k_accuracy_matches_sklearn(data: st.DataObject) -> None:
    # Two columns are binary scores to scikit-learn, and k >= classes is trivially 100 %.
    classes = data.draw(st.integers(3, 100))
    n = data.draw(st.integers(1, 300))
    k = data.draw(st.integers(1, classes - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scores = rng.standard_normal((n, classes))  # continuous: no ties
    targets = rng.integers(0, classes, n)
    metric = TopKAccuracyMetric(k)
    for s, t in batches((scores, targets), split(n, data.draw)):
        metric.update(TopKAccuracyInput(s, t), META)
    want = 100 * top_k_accuracy_score(targets, scores, k=k, labels=np.arange(classes))
    assert metric.running_value().value == pytest.approx(want, abs=1e-6)
    got = float(topk_accuracy(torch.from_numpy(scores), torch.from_numpy(targets), k))
    assert got == pytest.approx(want / 100, abs=1e-9)


def test_top_k_accuracy_with_padding_and_errors() -> None:
    metric = TopKAccuracyMetric(2, pad_token=-100)
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    metric.update(TopKAccuracyInput(scores, torch.tensor([2, 2, -100])), META)
    assert metric.running_value().value == pytest.approx(50.0)
    assert metric.running_value().count == 2
    with pytest.raises(ValueError, match=r"Top-5 Accuracy: expected top_k <= num_classes"):
        TopKAccuracyMetric(5).update(TopKAccuracyInput(scores, torch.tensor([0, 1, 2])), META)
    with pytest.raises(ValueError, match="top_k as an int >= 1"):
        TopKAccuracyMetric(0)
    bad = TopKAccuracyMetric(1)
    bad.update(TopKAccuracyInput(scores, torch.tensor([0, 1, 3])), META)
    with pytest.raises(ValueError, match=r"targets within \[0, 2\]"):
        bad.value()
    assert math.isnan(TopKAccuracyMetric(1).running_value().value)


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_hamming_score_is_one_minus_hamming_loss(data: st.DataObject) -> None:
    labels = data.draw(st.integers(1, 30))
    n = data.draw(st.integers(1, 200))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    logits = rng.standard_normal((n, labels)).astype(np.float32)
    targets = rng.integers(0, 2, (n, labels))
    threshold = data.draw(st.sampled_from([0.2, 0.5, 0.7]))
    sigmoid = data.draw(st.booleans())
    scores = logits if sigmoid else 1 / (1 + np.exp(-logits))
    metric = HammingScoreMetric(threshold, sigmoid=sigmoid)
    for s, t in batches((scores, targets), split(n, data.draw)):
        metric.update(HammingScoreInput(s, t), META)
    probabilities = torch.from_numpy(scores).sigmoid().numpy() if sigmoid else scores
    predicted = (probabilities > threshold).astype(np.int64)
    want = 100 * (1 - hamming_loss(targets, predicted))
    assert metric.running_value().value == pytest.approx(want, abs=1e-6)
    got = hamming_score(torch.from_numpy(scores), torch.from_numpy(targets), threshold, sigmoid)
    assert float(got) == pytest.approx(want / 100, abs=1e-9)


def test_hamming_score_burn_example_and_errors() -> None:
    x = torch.tensor(
        [
            [0.32, 0.52, 0.38, 0.68, 0.61],
            [0.43, 0.31, 0.21, 0.63, 0.53],
            [0.44, 0.25, 0.71, 0.39, 0.73],
            [0.49, 0.37, 0.68, 0.39, 0.31],
        ]
    )
    y = torch.tensor([[0, 1, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 1, 1, 0, 0]])
    metric = HammingScoreMetric()
    metric.update(HammingScoreInput(x, y), META)
    assert metric.value() == pytest.approx(75.0)
    with pytest.raises(ValueError, match=r"threshold within \[0, 1\]"):
        HammingScoreMetric(threshold=-0.1)
    logits = HammingScoreMetric()
    logits.update(HammingScoreInput(x * 10 - 5, y), META)
    with pytest.raises(ValueError, match="sigmoid=True"):
        logits.compute()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_perplexity_is_exp_of_token_weighted_cross_entropy(data: st.DataObject) -> None:
    vocab = data.draw(st.integers(2, 50))
    n = data.draw(st.integers(1, 200))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    logits = rng.standard_normal((n, vocab)).astype(np.float32) * 3
    targets = rng.integers(0, vocab, n)
    pad = data.draw(st.sampled_from([None, 0, -100]))
    if pad is not None:
        targets[rng.random(n) < 0.3] = pad
    metric = PerplexityMetric(pad_token=pad)
    for s, t in batches((logits, targets), split(n, data.draw)):
        metric.update(PerplexityInput(s, t), META)
    ignore = -12345 if pad is None else pad
    loss = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits).double(), torch.from_numpy(targets), ignore_index=ignore
    )
    counted = int((targets != ignore).sum())
    if counted == 0:
        assert math.isnan(metric.running_value().value)
        return
    assert metric.running_value().value == pytest.approx(math.exp(float(loss)), rel=1e-5)
    assert metric.running_value().kind == "final"
    got = perplexity(torch.from_numpy(logits), torch.from_numpy(targets), pad)
    assert float(got) == pytest.approx(math.exp(float(loss)), rel=1e-5)


def test_perplexity_uniform_and_errors() -> None:
    metric = PerplexityMetric()
    assert metric.compute().formatted == "n/a"
    metric.update(PerplexityInput(torch.zeros(3, 3), torch.tensor([0, 1, 2])), META)
    assert metric.running_value().value == pytest.approx(3.0)
    bad = PerplexityMetric()
    bad.update(PerplexityInput(torch.zeros(2, 3), torch.tensor([0, 5])), META)
    with pytest.raises(ValueError, match="targets"):
        bad.value()
    with pytest.raises(TypeError, match="Perplexity: expected targets as integer"):
        bad.update(PerplexityInput(torch.zeros(2, 3), torch.zeros(2)), META)


def test_confusion_matrix_matches_sklearn_and_is_text() -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((100, 4)).astype(np.float32)
    targets = rng.integers(0, 4, 100)
    metric = ConfusionMatrixMetric.multiclass()
    assert metric.compute().formatted == "n/a"
    for s, t in batches((scores, targets), [30, 70]):
        entry = metric.update(ConfusionStatsInput(s, t), META)
    want = confusion_matrix(targets, scores.argmax(1), labels=np.arange(4))
    matrix = metric.matrix()
    assert matrix is not None
    np.testing.assert_array_equal(matrix.numpy(), want)
    text = metric.compute().formatted
    assert text.splitlines()[0].split() == ["true\\pred", "0", "1", "2", "3"]
    assert entry.formatted == text
    assert not hasattr(metric, "value")  # shown, not plotted
    binary = ConfusionMatrixMetric.binary(0.5)
    binary.update(ConfusionStatsInput(torch.tensor([0.9, 0.2, 0.7]), torch.tensor([1, 1, 0])), META)
    assert binary.compute().serialized == "[[0, 1], [1, 1]]"
