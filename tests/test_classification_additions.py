"""Matthews correlation, exact match, masked logits and deferred score checks, against
scikit-learn and TorchMetrics for any batching; edge cases; no device read during update."""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np
import pytest
import torch
import torchmetrics.functional.classification as tmf
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, matthews_corrcoef

from burnish import (
    AccuracyInput,
    AurocInput,
    ClassificationOutput,
    ConfusionStatsInput,
    HammingScoreInput,
    MetricMetadata,
    MultiLabelClassificationOutput,
    NumericEntry,
    PerplexityInput,
    StepAdaptations,
    TopKAccuracyInput,
)
from burnish.functional.confusion import matthews_corrcoef as matthews_fn
from burnish.metric import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    DecisionRule,
    MatthewsCorrCoefMetric,
    MultilabelExactMatchMetric,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    TopKAccuracyMetric,
)
from burnish.metric.block import InputBlock
from burnish.metric.host import transfer_count
from burnish.metric.ranking import UndefinedMetricWarning
from tests.batched_data import feed, split
from tests.distributed_spawn import results, spawn

META = MetricMetadata.fake()


# Matthews correlation coefficient


@st.composite
def multiclass_epochs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    num_classes = draw(st.integers(2, 30))
    n = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.standard_normal((n, num_classes)).astype(np.float32)
    targets = rng.integers(0, draw(st.integers(1, num_classes)), n)
    if draw(st.booleans()):
        # Often right: the coefficient's range near 1 too.
        right = rng.random(n) < 0.7
        scores[right, targets[right]] += 10.0
    return scores, targets, split(n, draw)


@st.composite
def threshold_epochs(
    draw: st.DrawFn, labels: int | None
) -> tuple[np.ndarray, np.ndarray, list[int], bool]:
    n = draw(st.integers(1, 200))
    columns = draw(st.integers(2, 12)) if labels is None else labels
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = draw(st.booleans())
    scores = rng.standard_normal((n, columns)).astype(np.float32)
    if not logits:
        scores = 1 / (1 + np.exp(-scores))
    targets = (rng.random((n, columns)) < draw(st.floats(0.0, 1.0))).astype(np.int64)
    if labels == 1:
        scores, targets = scores[:, 0], targets[:, 0]
    return scores, targets, split(n, draw), logits


def sklearn_mcc(targets: np.ndarray, predicted: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(matthews_corrcoef(targets.reshape(-1), predicted.reshape(-1)))


def degenerate(targets: np.ndarray, predicted: np.ndarray) -> bool:
    """One class only among the targets or among the predictions: a zero denominator."""
    return len(np.unique(targets)) < 2 or len(np.unique(predicted)) < 2


@settings(max_examples=60, deadline=None)
@given(multiclass_epochs())
def test_multiclass_mcc_matches_sklearn_and_torchmetrics(
    epoch: tuple[np.ndarray, np.ndarray, list[int]],
) -> None:
    scores, targets, sizes = epoch
    want = sklearn_mcc(targets, scores.argmax(1))
    batched, whole = MatthewsCorrCoefMetric.multiclass(), MatthewsCorrCoefMetric.multiclass()
    feed(ConfusionStatsInput, [batched], scores, targets, sizes)
    feed(ConfusionStatsInput, [whole], scores, targets, [len(targets)])
    got = batched.running_value()
    assert got.kind == "final"
    assert got.value == pytest.approx(want, abs=1e-9)
    assert whole.running_value().value == pytest.approx(want, abs=1e-9)
    assert batched.value() == pytest.approx(
        sklearn_mcc(targets[-sizes[-1] :], scores[-sizes[-1] :].argmax(1)), abs=1e-9
    )
    torch_scores, torch_targets = torch.from_numpy(scores), torch.from_numpy(targets)
    functional = matthews_fn(torch_scores, torch_targets, "multiclass")
    assert float(functional) == pytest.approx(want, abs=1e-9)
    if not degenerate(targets, scores.argmax(1)):  # TorchMetrics' 2 x 2 special cases aside
        reference = tmf.multiclass_matthews_corrcoef(
            torch_scores, torch_targets, num_classes=scores.shape[1]
        )
        assert got.value == pytest.approx(float(reference), abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(threshold_epochs(labels=1), st.sampled_from([0.3, 0.5, 0.8]))
def test_binary_mcc_matches_sklearn_and_torchmetrics(
    epoch: tuple[np.ndarray, np.ndarray, list[int], bool], threshold: float
) -> None:
    scores, targets, sizes, logits = epoch
    probabilities = 1 / (1 + np.exp(-scores)) if logits else scores
    predicted = (probabilities > threshold).astype(np.int64)
    want = sklearn_mcc(targets, predicted)
    metric = MatthewsCorrCoefMetric.binary(threshold, sigmoid=logits)
    feed(ConfusionStatsInput, [metric], scores, targets, sizes)
    assert metric.running_value().value == pytest.approx(want, abs=1e-9)
    torch_scores, torch_targets = torch.from_numpy(scores), torch.from_numpy(targets)
    functional = matthews_fn(torch_scores, torch_targets, "binary", threshold=threshold,
                             sigmoid=logits)  # fmt: skip
    assert float(functional) == pytest.approx(want, abs=1e-9)
    if not degenerate(targets, predicted):
        reference = tmf.binary_matthews_corrcoef(
            torch.from_numpy(probabilities), torch_targets, threshold=threshold
        )
        assert metric.running_value().value == pytest.approx(float(reference), abs=1e-5)


@settings(max_examples=50, deadline=None)
@given(threshold_epochs(labels=None), st.sampled_from([0.3, 0.5]))
def test_multilabel_mcc_matches_torchmetrics(
    epoch: tuple[np.ndarray, np.ndarray, list[int], bool], threshold: float
) -> None:
    scores, targets, sizes, logits = epoch
    probabilities = 1 / (1 + np.exp(-scores)) if logits else scores
    predicted = (probabilities > threshold).astype(np.int64)
    # TorchMetrics' definition: the labels' 2 x 2 matrices summed, i.e. every decision pooled.
    want = sklearn_mcc(targets, predicted)
    metric = MatthewsCorrCoefMetric.multilabel(threshold, sigmoid=logits)
    feed(ConfusionStatsInput, [metric], scores, targets, sizes)
    assert metric.running_value().value == pytest.approx(want, abs=1e-9)
    if not degenerate(targets, predicted):
        reference = tmf.multilabel_matthews_corrcoef(
            torch.from_numpy(probabilities),
            torch.from_numpy(targets),
            num_labels=scores.shape[1],
            threshold=threshold,
        )
        assert metric.running_value().value == pytest.approx(float(reference), abs=1e-5)


@pytest.mark.parametrize(
    ("targets", "predicted", "want"),
    [
        ([1, 1, 1], [1, 1, 1], 0.0),  # one class, all right: zero denominator
        ([0, 0], [1, 1], 0.0),
        ([0, 1, 0, 1], [0, 1, 0, 1], 1.0),
        ([0, 1, 0, 1], [1, 0, 1, 0], -1.0),
        ([1], [1], 0.0),  # a batch of one
    ],
)
def test_binary_mcc_edge_cases(targets: list[int], predicted: list[int], want: float) -> None:
    metric = MatthewsCorrCoefMetric.binary()
    entry = metric.update(
        ConfusionStatsInput(torch.tensor(predicted, dtype=torch.float32), torch.tensor(targets)),
        META,
    )
    assert metric.running_value().value == pytest.approx(want)
    assert sklearn_mcc(np.array(targets), np.array(predicted)) == pytest.approx(want)
    assert entry.name == "MCC"


def test_multiclass_mcc_edge_cases() -> None:
    metric = MatthewsCorrCoefMetric.multiclass()
    assert math.isnan(metric.running_value().value)  # empty epoch
    one_class = ConfusionStatsInput(torch.tensor([[0.0, 1.0, 0.0]] * 4), torch.ones(4).long())
    metric.update(one_class, META)
    assert metric.running_value().value == 0.0
    metric.update(ConfusionStatsInput(torch.eye(3), torch.arange(3)), META)
    want = sklearn_mcc(np.array([1, 1, 1, 1, 0, 1, 2]), np.array([1, 1, 1, 1, 0, 1, 2]))
    assert metric.running_value().value == pytest.approx(want)
    assert metric.running_value().value == pytest.approx(1.0)
    metric.clear()
    metric.update(ConfusionStatsInput(torch.tensor([[0.2, 0.8]]), torch.tensor([1])), META)
    assert metric.value() == 0.0  # a batch of one


def test_mcc_shares_counts_with_precision_and_recall() -> None:
    scores, targets = torch.randn(40, 5), torch.randint(0, 5, (40,))
    step = ConfusionStatsInput(scores, targets)
    block = InputBlock.of_step(step)
    metrics = [
        PrecisionMetric.multiclass(),
        RecallMetric.multiclass(),
        MatthewsCorrCoefMetric.multiclass(),
    ]
    for metric in metrics:
        metric.update_block(block, [META])
    counts = [k for k in step.derived if isinstance(k, tuple) and k[0][0] == "confusion-counts"]
    assert len(counts) == 1
    want = sklearn_mcc(targets.numpy(), scores.argmax(1).numpy())
    assert metrics[2].running_value().value == pytest.approx(want)


def test_mcc_rejects_top_k_and_bad_input() -> None:
    with pytest.raises(ValueError, match="top_k=1"):
        MatthewsCorrCoefMetric(DecisionRule("multiclass", top_k=2))
    metric = MatthewsCorrCoefMetric.binary()
    metric.update(ConfusionStatsInput(torch.tensor([2.0, 0.1]), torch.tensor([1, 0])), META)
    with pytest.raises(ValueError, match=r"MCC.*sigmoid=True"):
        metric.running_value()
    with pytest.raises(ValueError, match="Multiclass MCC"):
        MatthewsCorrCoefMetric.multiclass().update(
            ConfusionStatsInput(torch.randn(3, 4), torch.zeros(3, 4)), META
        )


@pytest.mark.parametrize(
    "factory",
    [
        MatthewsCorrCoefMetric.multiclass,
        MatthewsCorrCoefMetric.binary,
        lambda: MatthewsCorrCoefMetric.multilabel(sigmoid=True),
    ],
)
def test_mcc_state_dict_resumes_the_epoch(factory: object) -> None:
    make = factory  # type: ignore[assignment]
    rng = np.random.default_rng(3)
    first, second, whole = make(), make(), make()  # type: ignore[operator]
    if first.rule.task == "multiclass":
        scores = rng.standard_normal((30, 4)).astype(np.float32)
        targets = rng.integers(0, 4, 30)
    elif first.rule.task == "binary":
        scores, targets = rng.random(30).astype(np.float32), rng.integers(0, 2, 30)
    else:
        scores = rng.standard_normal((30, 3)).astype(np.float32)
        targets = rng.integers(0, 2, (30, 3))
    feed(ConfusionStatsInput, [first, whole], scores[:12], targets[:12], [5, 7])
    second.load_state_dict(first.state_dict())
    feed(ConfusionStatsInput, [second, whole], scores[12:], targets[12:], [18])
    assert second.running_value().value == pytest.approx(whole.running_value().value)


# No device read during update


def classification_steps() -> list[ClassificationOutput]:
    return [
        ClassificationOutput(torch.zeros(()), torch.randn(16, 6), torch.randint(0, 6, (16,))),
        ClassificationOutput(torch.zeros(()), torch.randn(1, 6), torch.tensor([5])),
    ]


@pytest.mark.parametrize(
    ("factory", "steps"),
    [
        (MatthewsCorrCoefMetric.multiclass, "multiclass"),
        (MatthewsCorrCoefMetric.binary, "binary"),
        (lambda: MatthewsCorrCoefMetric.multilabel(sigmoid=True), "multilabel"),
    ],
)
def test_update_reads_nothing(factory: object, steps: str, no_reads: None) -> None:
    metric = factory()  # type: ignore[operator]
    before = transfer_count()
    if steps == "multiclass":
        items = [StepAdaptations(s).get(metric.input_type) for s in classification_steps()]
    elif steps == "binary":
        items = [ConfusionStatsInput(torch.rand(n), torch.randint(0, 2, (n,))) for n in (16, 1)]
    else:
        items = [
            ConfusionStatsInput(torch.randn(n, 4), torch.randint(0, 2, (n, 4))) for n in (8, 1)
        ]
    for item in items:
        metric.update(item, META)
    block = InputBlock((*items, *items), type(items[0]))
    metric.update_block(block, [META] * 4)
    assert transfer_count() == before


# Multilabel exact match


@settings(max_examples=60, deadline=None)
@given(threshold_epochs(labels=None), st.sampled_from([0.3, 0.5, 0.8]))
def test_exact_match_matches_sklearn_and_torchmetrics(
    epoch: tuple[np.ndarray, np.ndarray, list[int], bool], threshold: float
) -> None:
    scores, targets, sizes, logits = epoch
    probabilities = 1 / (1 + np.exp(-scores)) if logits else scores
    predicted = (probabilities > threshold).astype(np.int64)
    want = 100.0 * accuracy_score(targets, predicted)
    batched = MultilabelExactMatchMetric(threshold, sigmoid=logits)
    whole = MultilabelExactMatchMetric(threshold, sigmoid=logits)
    feed(HammingScoreInput, [batched], scores, targets, sizes)
    feed(HammingScoreInput, [whole], scores, targets, [len(targets)])
    got = batched.running_value()
    assert got.value == pytest.approx(want, abs=1e-9)
    assert got.count == len(targets)
    assert whole.running_value().value == pytest.approx(want, abs=1e-9)
    last = slice(len(targets) - sizes[-1], None)
    assert batched.value() == pytest.approx(
        100.0 * accuracy_score(targets[last], predicted[last]), abs=1e-9
    )
    reference = tmf.multilabel_exact_match(
        torch.from_numpy(probabilities),
        torch.from_numpy(targets),
        num_labels=scores.shape[1],
        threshold=threshold,
    )
    assert got.value == pytest.approx(100.0 * float(reference), abs=1e-4)


def test_exact_match_edge_cases() -> None:
    metric = MultilabelExactMatchMetric()
    assert math.isnan(metric.running_value().value)  # empty epoch
    one = HammingScoreInput(torch.tensor([[0.9, 0.1, 0.7]]), torch.tensor([[1, 0, 1]]))
    entry = metric.update(one, META)  # a batch of one, all right
    assert metric.value() == 100.0
    assert entry.name == "Exact Match @ Threshold(0.5)"
    # One label wrong is the whole item wrong; boolean targets are accepted.
    metric.update(
        HammingScoreInput(torch.tensor([[0.9, 0.6, 0.7]]), torch.tensor([[True, False, True]])),
        META,
    )
    assert metric.running_value().value == 50.0
    state = metric.state_dict()
    resumed = MultilabelExactMatchMetric()
    resumed.load_state_dict(state)
    assert resumed.running_value().value == 50.0
    # Ties at the threshold are not predicted.
    metric.clear()
    metric.update(HammingScoreInput(torch.full((2, 2), 0.5), torch.zeros(2, 2)), META)
    assert metric.value() == 100.0


def test_exact_match_bad_input() -> None:
    metric = MultilabelExactMatchMetric()
    with pytest.raises(ValueError, match=r"Exact Match.*targets of the scores' shape"):
        metric.update(HammingScoreInput(torch.rand(3, 4), torch.zeros(3, 2)), META)
    metric.update(HammingScoreInput(torch.randn(3, 4) * 5, torch.zeros(3, 4)), META)
    with pytest.raises(ValueError, match=r"Exact Match.*sigmoid=True"):
        metric.running_value()
    metric.clear()
    metric.update(HammingScoreInput(torch.rand(3, 4), torch.full((3, 4), 2)), META)
    with pytest.raises(ValueError, match=r"Exact Match.*0 or 1"):
        metric.compute()


def test_exact_match_from_a_multilabel_output_reads_nothing(no_reads: None) -> None:
    metric = MultilabelExactMatchMetric(sigmoid=True)
    before = transfer_count()
    outputs = [
        MultiLabelClassificationOutput(
            torch.zeros(()), torch.randn(n, 5), torch.randint(0, 2, (n, 5))
        )
        for n in (16, 1, 4)
    ]
    for output in outputs:
        metric.update(StepAdaptations(output).get(HammingScoreInput), META)
    metric.update_block(InputBlock(outputs, HammingScoreInput), [META] * 3)
    assert transfer_count() == before


# Masked logits


@st.composite
def masked_logits(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    num_classes = draw(st.integers(2, 20))
    n = draw(st.integers(1, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.standard_normal((n, num_classes)).astype(np.float32)
    masked = rng.random((n, num_classes)) < draw(st.floats(0.0, 0.9))
    masked[np.arange(n), rng.integers(0, num_classes, n)] = False  # a class left in every row
    logits[masked] = -np.inf
    # Targets among the classes left, as a masked model's are.
    allowed = [np.flatnonzero(~row) for row in masked]
    targets = np.array([rng.choice(row) for row in allowed])
    return logits, targets, split(n, draw)


@settings(max_examples=40, deadline=None)
@given(masked_logits(), st.integers(1, 3))
def test_masked_logits_are_accepted(
    epoch: tuple[np.ndarray, np.ndarray, list[int]], k: int
) -> None:
    logits, targets, sizes = epoch
    k = min(k, logits.shape[1])
    torch_logits, torch_targets = torch.from_numpy(logits), torch.from_numpy(targets)
    accuracy, top_k, perplexity = AccuracyMetric(), TopKAccuracyMetric(k), PerplexityMetric()
    feed(AccuracyInput, [accuracy], logits, targets, sizes)
    feed(TopKAccuracyInput, [top_k], logits, targets, sizes)
    feed(PerplexityInput, [perplexity], logits, targets, sizes)
    want = 100.0 * float((torch_logits.argmax(1) == torch_targets).double().mean())
    assert accuracy.running_value().value == pytest.approx(want)
    hits = (torch_logits.topk(k, dim=1).indices == torch_targets[:, None]).any(1)
    assert top_k.running_value().value == pytest.approx(100.0 * float(hits.double().mean()))
    entropy = torch.nn.functional.cross_entropy(torch_logits.double(), torch_targets)
    assert math.isfinite(float(entropy))
    assert perplexity.running_value().value == pytest.approx(math.exp(float(entropy)), rel=1e-5)
    assert perplexity.compute().formatted == f"{perplexity.running_value().value:.2f}"


def test_masked_edge_cases() -> None:
    inf = math.inf
    logits = torch.tensor([[-inf, -inf, -inf], [0.0, -inf, 1.0], [-inf, 2.0, -inf]])
    targets = torch.tensor([0, 2, 0])
    accuracy = AccuracyMetric()
    accuracy.update(AccuracyInput(logits, targets), META)  # a wholly masked row: argmax 0
    assert accuracy.running_value().value == pytest.approx(200.0 / 3)
    top_k = TopKAccuracyMetric(2)
    top_k.update(TopKAccuracyInput(logits, targets), META)
    # Ties among masked classes as torch.topk breaks them.
    hits = (logits.topk(2, dim=1).indices == targets[:, None]).any(1)
    assert top_k.running_value().value == pytest.approx(100.0 * float(hits.double().mean()))
    # A target whose logit is -inf: an infinite cross-entropy, as PyTorch's.
    perplexity = PerplexityMetric()
    perplexity.update(PerplexityInput(logits[1:], torch.tensor([1, 1])), META)
    assert perplexity.running_value().value == math.inf
    # Wholly masked padding rows are not counted, nor watched.
    padded = PerplexityMetric(pad_token=-100)
    padded.update(PerplexityInput(logits, torch.tensor([-100, 2, 1])), META)
    entropy = torch.nn.functional.cross_entropy(logits[1:], torch.tensor([2, 1]))
    assert padded.running_value().value == pytest.approx(math.exp(float(entropy)))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("kind", ["accuracy", "top-k", "perplexity"])
def test_nan_and_plus_inf_scores_are_still_errors(bad: float, kind: str) -> None:
    logits = torch.randn(4, 3)
    logits[0, 0] = -math.inf
    logits[2, 1] = bad
    targets = torch.tensor([1, 0, 2, 1])
    metric: Any
    if kind == "accuracy":
        metric, item = AccuracyMetric(), AccuracyInput(logits, targets)
    elif kind == "top-k":
        metric, item = TopKAccuracyMetric(2), TopKAccuracyInput(logits, targets)
    else:
        metric, item = PerplexityMetric(), PerplexityInput(logits, targets)
    metric.update(item, META)
    found = "NaN" if math.isnan(bad) else "inf]"
    with pytest.raises(ValueError, match=rf"{metric.name}: expected scores .*{re.escape(found)}"):
        metric.compute()


def test_perplexity_rejects_a_wholly_masked_row() -> None:
    logits = torch.randn(3, 4)
    logits[1] = -math.inf
    metric = PerplexityMetric(pad_token=0)
    metric.update(PerplexityInput(logits, torch.tensor([1, 2, 3])), META)
    with pytest.raises(ValueError, match=r"Perplexity: .*finite score in every row.*row maxima"):
        metric.running_value()


def test_other_metrics_still_reject_minus_inf() -> None:
    # Precision shares the accuracy's watched bounds, and keeps its own check.
    logits = torch.randn(4, 3)
    logits[0, 0] = -math.inf
    step = ClassificationOutput(torch.zeros(()), logits, torch.tensor([1, 0, 2, 1]))
    adaptations = StepAdaptations(step)
    accuracy, precision = AccuracyMetric(), PrecisionMetric.multiclass()
    accuracy.update(adaptations.get(AccuracyInput), META)
    precision.update(adaptations.get(ConfusionStatsInput), META)
    accuracy.compute()
    with pytest.raises(ValueError, match="that are finite"):
        precision.compute()


def test_masked_updates_read_nothing(no_reads: None) -> None:
    logits = torch.randn(8, 5)
    logits[:, 3] = -math.inf
    targets = torch.randint(0, 3, (8,))
    metrics: list[Any] = [AccuracyMetric(), TopKAccuracyMetric(2), PerplexityMetric(pad_token=0)]
    before = transfer_count()
    for metric in metrics:
        metric.update(metric.input_type(logits, targets), META)
    assert transfer_count() == before


# Multiclass ranking scores that are not probabilities


@pytest.mark.parametrize("bins", [None, 20])
@pytest.mark.parametrize("metric_type", [AurocMetric, AucPrMetric])
def test_multiclass_ranking_rejects_scores_off_the_simplex(
    metric_type: type[AurocMetric] | type[AucPrMetric], bins: int | None
) -> None:
    torch.manual_seed(0)
    targets = torch.randint(0, 4, (30,))
    cases = {
        "logits": torch.randn(30, 4) * 3,
        "unnormalised": torch.rand(30, 4),  # within [0, 1], rows not summing to 1
    }
    for what, scores in cases.items():
        metric = metric_type.multiclass(bins=bins)
        metric.update(AurocInput(scores, targets), META)  # reads nothing: checked at the read
        with pytest.raises(ValueError, match=rf"{metric.name}: expected scores .*softmax=True"):
            metric.compute()
        with pytest.raises(ValueError, match="softmax=True"):
            metric.running_value()
        softmaxed = metric_type.multiclass(bins=bins, softmax=True)
        softmaxed.update(AurocInput(scores, targets), META)
        assert math.isfinite(softmaxed.running_value().value), what


@pytest.mark.filterwarnings("ignore::burnish.metric.ranking.UndefinedMetricWarning")
@settings(max_examples=25, deadline=None)
@given(multiclass_epochs(), st.sampled_from([torch.float32, torch.float16, torch.bfloat16]))
def test_multiclass_ranking_accepts_probabilities(
    epoch: tuple[np.ndarray, np.ndarray, list[int]], dtype: torch.dtype
) -> None:
    scores, targets, sizes = epoch
    probabilities = torch.from_numpy(scores).double().softmax(1).to(dtype)
    metrics = [AurocMetric.multiclass(), AucPrMetric.multiclass(bins=50)]
    for start, size in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True):
        item = AurocInput(
            probabilities[start : start + size], torch.from_numpy(targets[start : start + size])
        )
        for metric in metrics:
            metric.update(item, META)
    for metric in metrics:
        metric.compute()  # no error


def test_simplex_check_reads_nothing_and_resumes() -> None:
    metric = AurocMetric.multiclass()
    before = transfer_count()
    metric.update(AurocInput(torch.randn(8, 3), torch.randint(0, 3, (8,))), META)
    assert transfer_count() == before
    resumed = AurocMetric.multiclass()
    resumed.load_state_dict(metric.state_dict())
    with pytest.raises(ValueError, match="softmax=True"):
        resumed.compute()


def test_simplex_bounds_in_a_checkpoint_are_distances_from_one() -> None:
    """What a checkpoint keeps of the simplex check is each row's distance from summing to 1:
    a state saved by an earlier release loads with the meaning it was saved with."""
    metric = AurocMetric.multiclass()
    rows = torch.tensor([[0.5, 0.503], [0.2, 0.8], [0.1, 0.897]])
    metric.update(AurocInput(rows, torch.tensor([0, 1, 1])), META)
    bounds = [float(bound) for bound in metric.state_dict()["checks"]["bounds"]["bounds"]]
    low, high = bounds[-2:]  # after the scores' and the targets' bounds
    assert low == pytest.approx(0.0, abs=1e-6)
    assert high == pytest.approx(0.003, abs=1e-6)
    assert metric.compute().formatted  # within the tolerance: no error


# Ranking with one class present


@pytest.mark.parametrize("bins", [None, 10])
def test_one_class_in_a_column_warns_once(bins: int | None) -> None:
    metric = AurocMetric.binary(bins=bins)
    metric.update(AurocInput(torch.tensor([0.2, 0.8]), torch.tensor([1, 1])), META)
    with pytest.warns(
        UndefinedMetricWarning, match=r"AUROC is undefined.*positives or negatives"
    ) as caught:
        assert math.isnan(metric.running_value().value)
    assert caught[0].filename == __file__  # pointed at the reader
    metric.update(AurocInput(torch.tensor([0.3]), torch.tensor([1])), META)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(metric.running_value().value)  # once per metric
        assert metric.compute().formatted == "n/a"
        metric.value()  # a batch of one class: batches never warn
    average_precision = AucPrMetric.multiclass("none", bins=bins)
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    average_precision.update(AurocInput(scores, torch.tensor([0, 1, 0])), META)
    with pytest.warns(UndefinedMetricWarning, match=r"undefined for 1 class whose.*lack positives"):
        assert "2: n/a" in average_precision.compute().formatted
    assert issubclass(UndefinedMetricWarning, UserWarning)


def test_defined_columns_do_not_warn() -> None:
    metric = AurocMetric.multilabel()
    metric.update(AurocInput(torch.rand(6, 3), torch.tensor([[0, 1, 0], [1, 0, 1]] * 3)), META)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isfinite(metric.running_value().value)
    metric.update(AurocInput(torch.rand(2, 3), torch.ones(2, 3).long()), META)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.compute()  # every column still has both classes over the epoch


# Distributed sync


def _new_metrics() -> list[Any]:
    return [
        MatthewsCorrCoefMetric.multiclass(),
        MatthewsCorrCoefMetric.binary(),
        MatthewsCorrCoefMetric.multilabel(sigmoid=True),
        MultilabelExactMatchMetric(sigmoid=True),
    ]


def _epoch_data() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(11)
    return [
        (torch.randn(40, 5, generator=generator), torch.randint(0, 5, (40,), generator=generator)),
        (torch.rand(40, generator=generator), torch.randint(0, 2, (40,), generator=generator)),
        (
            torch.randn(40, 3, generator=generator),
            torch.randint(0, 2, (40, 3), generator=generator),
        ),
        (
            torch.randn(40, 3, generator=generator),
            torch.randint(0, 2, (40, 3), generator=generator),
        ),
    ]


def _inputs(metric: Any, scores: torch.Tensor, targets: torch.Tensor) -> Any:
    return metric.input_type(scores, targets)


def sync_new_metrics(rank: int) -> dict[str, Any]:
    """Each rank's uneven share (rank 0 the first 25 items) of every metric's data; the
    synced epoch values, and the error every rank raises for rank 1's off-simplex scores."""
    values = {}
    for metric, (scores, targets) in zip(_new_metrics(), _epoch_data(), strict=True):
        share = slice(0, 25) if rank == 0 else slice(25, None)
        metric.update(_inputs(metric, scores[share], targets[share]), META)
        values[metric.name] = NumericEntry.deserialize(metric.compute().serialized).value
    auroc = AurocMetric.multiclass()
    probabilities = torch.softmax(torch.randn(6, 3), dim=1)
    scores = probabilities if rank == 0 else probabilities * 2
    auroc.update(AurocInput(scores, torch.tensor([0, 1, 2, 0, 1, 2])), META)
    try:
        auroc.compute()
        values["error"] = ""
    except ValueError as error:
        values["error"] = str(error)
    return values


def test_new_metrics_sync_to_the_value_over_the_union(tmp_path: Any) -> None:
    union = {}
    for metric, (scores, targets) in zip(_new_metrics(), _epoch_data(), strict=True):
        metric.update(_inputs(metric, scores, targets), META)
        union[metric.name] = metric.running_value().value
    for run in results(spawn(sync_new_metrics, tmp_path)):
        for name, want in union.items():
            assert run[name] == pytest.approx(want, abs=1e-12), name
        assert "softmax=True" in run["error"]
