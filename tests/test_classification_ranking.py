"""AUROC and average precision against scikit-learn: exact, binned, ties, batching, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from burnish import AurocInput, MetricMetadata
from burnish.functional import auc_pr, auroc
from burnish.metric import AucPrMetric, AurocMetric
from tests.batched_data import feed, split

META = MetricMetadata.fake()


def coarse(rng: np.random.Generator, shape: tuple[int, ...], ties: bool) -> np.ndarray:
    scores = rng.random(shape)
    return np.round(scores, 1) if ties else scores


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_binary_matches_sklearn_for_any_batching(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 400))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ties = data.draw(st.booleans())
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    scores = coarse(rng, (n,), ties).astype(dtype)
    if data.draw(st.booleans()):
        scores = np.log(scores + 1e-3) - np.log1p(1e-3 - scores)  # logits: same ranking
    targets = rng.integers(0, 2, n)
    if targets.min() == targets.max():
        targets[0] = 1 - targets[0]
    sizes = split(n, data.draw)
    metrics = [AurocMetric.binary(), AucPrMetric.binary()]
    feed(AurocInput, metrics, scores, targets, sizes)
    whole = [AurocMetric.binary(), AucPrMetric.binary()]
    feed(AurocInput, whole, scores, targets, [n])
    want = (roc_auc_score(targets, scores), average_precision_score(targets, scores))
    for metric, single, value in zip(metrics, whole, want, strict=True):
        assert metric.running_value().value == pytest.approx(value, abs=1e-9)
        assert single.running_value().value == pytest.approx(metric.running_value().value, abs=1e-9)
        assert metric.running_value().kind == "final"


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_multiclass_one_vs_rest_matches_sklearn(data: st.DataObject) -> None:
    classes = data.draw(st.integers(3, 30))
    n = data.draw(st.integers(classes, 300))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    logits = rng.standard_normal((n, classes)).astype(np.float32)
    if data.draw(st.booleans()):
        logits = np.round(logits, 0)  # ties
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = np.concatenate([np.arange(classes), rng.integers(0, classes, n - classes)])
    rng.shuffle(targets)
    average = data.draw(st.sampled_from(["macro", "weighted"]))
    sizes = split(n, data.draw)
    metric = AurocMetric.multiclass(average)  # type: ignore[arg-type]
    from_logits = AurocMetric.multiclass(average, softmax=True)  # type: ignore[arg-type]
    feed(AurocInput, [metric], probabilities, targets, sizes)
    feed(AurocInput, [from_logits], logits, targets, sizes)
    want = roc_auc_score(targets, probabilities, multi_class="ovr", average=average)
    assert metric.running_value().value == pytest.approx(want, abs=1e-6)
    # softmax=True applies torch's softmax: compare on its probabilities (ties may differ).
    softmaxed = torch.from_numpy(logits).softmax(dim=1).numpy()
    assert from_logits.running_value().value == pytest.approx(
        roc_auc_score(targets, softmaxed, multi_class="ovr", average=average), abs=1e-6
    )
    onehot = np.eye(classes)[targets]
    ap = AucPrMetric.multiclass(average)  # type: ignore[arg-type]
    feed(AurocInput, [ap], probabilities, targets, sizes)
    assert ap.running_value().value == pytest.approx(
        average_precision_score(onehot, probabilities, average=average), abs=1e-6
    )


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_multilabel_matches_sklearn(data: st.DataObject) -> None:
    labels = data.draw(st.integers(2, 10))
    n = data.draw(st.integers(4, 200))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scores = coarse(rng, (n, labels), data.draw(st.booleans())).astype(np.float32)
    targets = rng.integers(0, 2, (n, labels))
    targets[0], targets[1] = 0, 1  # every label has both classes
    average = data.draw(st.sampled_from(["macro", "weighted", "micro"]))
    metrics = [AurocMetric.multilabel(average), AucPrMetric.multilabel(average)]  # type: ignore[arg-type]
    feed(AurocInput, metrics, scores, targets, split(n, data.draw))
    assert metrics[0].running_value().value == pytest.approx(
        roc_auc_score(targets, scores, average=average), abs=1e-6
    )
    assert metrics[1].running_value().value == pytest.approx(
        average_precision_score(targets, scores, average=average), abs=1e-6
    )


def test_ties_and_equal_scores() -> None:
    targets = np.array([0, 1, 0, 1, 1, 0])
    equal = np.full(6, 0.5, dtype=np.float32)
    assert float(auroc(torch.from_numpy(equal), torch.from_numpy(targets), "binary")) == 0.5
    assert float(auc_pr(torch.from_numpy(equal), torch.from_numpy(targets), "binary")) == 0.5
    tied = np.array([0.1, 0.4, 0.4, 0.4, 0.9, 0.1], dtype=np.float32)
    assert float(auroc(torch.from_numpy(tied), torch.from_numpy(targets), "binary")) == (
        pytest.approx(roc_auc_score(targets, tied))
    )
    # -0.0 and 0.0 are the same score.
    signed = torch.tensor([-0.0, 0.0, 1.0, -1.0])
    assert float(auroc(signed, torch.tensor([1, 0, 1, 0]), "binary")) == pytest.approx(
        roc_auc_score([1, 0, 1, 0], [0.0, 0.0, 1.0, -1.0])
    )


def test_undefined_classes_are_left_out_and_empty_reads_na() -> None:
    metric = AurocMetric.binary()
    assert metric.compute().formatted == "n/a"
    metric.update(AurocInput(torch.tensor([0.2, 0.8]), torch.tensor([1, 1])), META)
    assert math.isnan(metric.running_value().value)  # no negatives: undefined
    per_class = AurocMetric.multiclass("none")
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    per_class.update(AurocInput(scores, torch.tensor([0, 1, 0])), META)
    assert "2: n/a" in per_class.compute().formatted  # class 2 never a target
    macro = AurocMetric.multiclass()
    macro.update(AurocInput(scores, torch.tensor([0, 1, 0])), META)
    assert macro.running_value().value == pytest.approx(1.0)


def test_batch_value_in_entries_and_batch_of_one() -> None:
    metric = AurocMetric.binary()
    entry = metric.update(AurocInput(torch.tensor([0.9]), torch.tensor([1])), META)
    assert entry.formatted == "batch n/a"
    entry = metric.update(AurocInput(torch.tensor([0.1, 0.8]), torch.tensor([0, 1])), META)
    assert entry.formatted == "batch 1.0000"
    assert metric.value() == 1.0
    assert metric.running_value().value == 1.0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 11, 100, 1000]))
def test_binned_equals_exact_on_scores_rounded_to_bins(seed: int, bins: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random((300, 4))
    scores = (scores / scores.sum(1, keepdims=True)).astype(np.float32)  # probabilities
    targets = rng.integers(0, 4, 300)
    binned = [AurocMetric.multiclass(bins=bins), AucPrMetric.multiclass(bins=bins)]
    feed(AurocInput, binned, scores, targets, [100, 150, 50])
    rounded = np.floor(scores * (bins - 1))
    # Rounded scores are no longer probabilities: the same one-vs-rest columns as multilabel.
    exact = [AurocMetric.multilabel(), AucPrMetric.multilabel()]
    one_hot = np.eye(4, dtype=np.int64)[targets]
    feed(AurocInput, exact, rounded.astype(np.float32), one_hot, [300])
    for b, e in zip(binned, exact, strict=True):
        assert b.running_value().value == pytest.approx(e.running_value().value, abs=1e-9)


def test_binned_state_does_not_grow() -> None:
    metric = AurocMetric.binary(bins=200, sigmoid=True)
    exact = AurocMetric.binary()
    sizes = []
    for _ in range(20):
        item = AurocInput(torch.randn(500), torch.randint(0, 2, (500,)))
        metric.update(item, META)
        exact.update(item, META)
        sizes.append((metric.state_nbytes, exact.state_nbytes))
    assert sizes[0][0] == sizes[-1][0]
    assert sizes[-1][1] > sizes[0][1]
    assert metric.running_value().value == pytest.approx(exact.running_value().value, abs=0.01)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="bins as an int >= 2"):
        AurocMetric.binary(bins=1)
    with pytest.raises(ValueError, match="average"):
        AurocMetric.multiclass("samples")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="use softmax=True"):
        AurocMetric("multiclass", sigmoid=True)
    metric = AurocMetric.multiclass()
    with pytest.raises(ValueError, match=r"AUROC: .*same batch size"):
        metric.update(AurocInput(torch.rand(3, 4), torch.tensor([0, 1])), META)
    with pytest.raises(ValueError, match=r"binary scores of shape \(N,\)"):
        AurocMetric.binary().update(AurocInput(torch.rand(3, 2), torch.tensor([0, 1, 1])), META)
    binned = AurocMetric.binary(bins=10)
    binned.update(AurocInput(torch.tensor([3.0, -1.0]), torch.tensor([1, 0])), META)
    with pytest.raises(ValueError, match="sigmoid=True"):
        binned.compute()
    exact = AurocMetric.binary()
    exact.update(AurocInput(torch.tensor([math.inf, 0.0]), torch.tensor([1, 0])), META)
    with pytest.raises(ValueError, match="finite"):
        exact.running_value()
