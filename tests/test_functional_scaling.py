"""Per-class work at many classes: exact and binned ranking, and confusion counts, against
scikit-learn and plain numpy, at sizes that split the columns into several groups and the
items into several tiles (the functions work on groups of columns at a time)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from burnish import AurocMetric
from burnish.adaptor import AurocInput
from burnish.functional import (
    binned_counts,
    binned_ranking_scores,
    multiclass_counts,
    one_vs_rest,
    ranking_scores,
    rows_ranking_scores,
)

# (items, columns): one group of many columns; several groups, the last one partial; groups
# of one column each; one long column.
SHAPES = [(40, 900), (3000, 200), (70_000, 2), (70_000, 1)]


def _sklearn_scores(scores: np.ndarray, positives: np.ndarray) -> tuple[list[float], list[float]]:
    aurocs, aps = [], []
    for column in range(scores.shape[1]):
        y, s = positives[:, column], scores[:, column]
        defined = 0 < y.sum() < y.shape[0]
        aurocs.append(roc_auc_score(y, s) if defined else np.nan)
        aps.append(average_precision_score(y, s) if y.any() else np.nan)
    return aurocs, aps


def _scores(
    rng: np.random.Generator, shape: tuple[int, int], dtype: type, ties: bool
) -> np.ndarray:
    scores = rng.standard_normal(shape)
    if ties:  # coarse values, many ties, zeros of both signs
        scores = np.round(scores, 0) * np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return scores.astype(dtype)


@pytest.mark.parametrize(("items", "columns"), SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [False, True])
def test_exact_ranking_matches_sklearn_across_column_groups(
    items: int, columns: int, dtype: type, ties: bool
) -> None:
    rng = np.random.default_rng(items * columns + ties)
    scores = _scores(rng, (items, columns), dtype, ties)
    if columns > 2:
        positives = one_vs_rest(
            torch.from_numpy(scores),
            torch.from_numpy(rng.integers(0, columns, items)),
            "multiclass",
        ).numpy()
    else:
        positives = rng.random((items, columns)) < 0.3
    auroc, ap, hits = ranking_scores(torch.from_numpy(scores), torch.from_numpy(positives))
    want_auroc, want_ap = _sklearn_scores(scores, positives)
    np.testing.assert_allclose(auroc.numpy(), want_auroc, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ap.numpy(), want_ap, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(hits.numpy(), positives.sum(0))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 300),
    st.integers(1, 40),
    st.sampled_from([np.float32, np.float64]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_exact_ranking_of_any_shape_matches_sklearn(
    items: int, columns: int, dtype: type, ties: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    scores = _scores(rng, (items, columns), dtype, ties)
    positives = rng.random((items, columns)) < rng.random()
    auroc, ap, _ = ranking_scores(torch.from_numpy(scores), torch.from_numpy(positives))
    want_auroc, want_ap = _sklearn_scores(scores, positives)
    np.testing.assert_allclose(auroc.numpy(), want_auroc, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ap.numpy(), want_ap, rtol=0, atol=1e-9)


def test_exact_ranking_takes_half_precision_and_integers() -> None:
    scores = torch.tensor([[0.25, 0.5], [0.5, 0.125], [0.75, 0.5], [0.5, 1.0]])
    positives = torch.tensor([[True, False], [False, True], [True, False], [False, True]])
    want = ranking_scores(scores, positives)
    for other in (scores.half(), scores.bfloat16(), (scores * 8).long()):
        for got, expected in zip(ranking_scores(other, positives), want, strict=True):
            torch.testing.assert_close(got, expected)


def _reference_counts(scores: np.ndarray, positives: np.ndarray, bins: int) -> np.ndarray:
    """Histograms (2, C, bins) one column at a time, with the documented clamping."""
    with np.errstate(invalid="ignore"):
        places = np.floor(
            np.nan_to_num(scores, nan=0.0, posinf=1.0, neginf=0.0).clip(0, 1) * (bins - 1)
        )
    places = places.astype(np.int64)
    counts = np.zeros((2, scores.shape[1], bins), dtype=np.int64)
    for column in range(scores.shape[1]):
        for row in (0, 1):
            chosen = places[positives[:, column] == bool(row), column]
            counts[row, column] = np.bincount(chosen, minlength=bins)
    return counts


# (items, columns, bins): counted in item order; column by column over several tiles; several
# column groups; one column.
BINNED = [(500, 3, 11), (900, 70, 1000), (4000, 300, 1000), (70_000, 1, 100)]


@pytest.mark.parametrize(("items", "columns", "bins"), BINNED)
def test_binned_counts_match_a_histogram_per_column(items: int, columns: int, bins: int) -> None:
    rng = np.random.default_rng(items + columns)
    scores = (rng.random((items, columns)) * 1.2 - 0.1).astype(np.float32)
    scores[rng.random(scores.shape) < 0.01] = np.nan
    scores[rng.random(scores.shape) < 0.01] = np.inf
    scores[rng.random(scores.shape) < 0.01] = -np.inf
    scores[0, 0], scores[-1, -1] = 1.0, 0.0
    positives = rng.random((items, columns)) < 0.2
    counts = binned_counts(torch.from_numpy(scores), torch.from_numpy(positives), bins)
    assert counts.shape == (2, columns, bins)
    assert counts.dtype == torch.long
    np.testing.assert_array_equal(counts.numpy(), _reference_counts(scores, positives, bins))


@pytest.mark.parametrize(("items", "columns", "bins"), BINNED[:3])
def test_binned_counts_of_class_indices_equal_those_of_their_mask(
    items: int, columns: int, bins: int
) -> None:
    """Multiclass items given by their class, as the metrics give them (every score counted
    as a negative, then its class's moved), count as their one-vs-rest mask does; a class out
    of range is positive nowhere."""
    rng = np.random.default_rng(items * columns)
    scores = (rng.random((items, columns)) * 1.2 - 0.1).astype(np.float32)
    scores[rng.random(scores.shape) < 0.01] = np.nan
    scores[rng.random(scores.shape) < 0.01] = np.inf
    classes = torch.from_numpy(rng.integers(-1, columns + 1, items))
    mask = one_vs_rest(torch.from_numpy(scores), classes, "multiclass")
    want = binned_counts(torch.from_numpy(scores), mask, bins)
    got = binned_counts(torch.from_numpy(scores), classes, bins)
    assert got.dtype == torch.long
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    # Classes given as floats are compared as the mask compares them: as integers.
    as_floats = binned_counts(torch.from_numpy(scores), classes.double() - 0.5, bins)
    float_mask = one_vs_rest(torch.from_numpy(scores), classes.double() - 0.5, "multiclass")
    np.testing.assert_array_equal(
        as_floats.numpy(), binned_counts(torch.from_numpy(scores), float_mask, bins).numpy()
    )
    np.testing.assert_array_equal(want.numpy(), _reference_counts(scores, mask.numpy(), bins))


def test_binned_scores_equal_exact_scores_of_the_bins_over_many_columns() -> None:
    rng = np.random.default_rng(7)
    items, columns, bins = 600, 80, 1000  # binned_ranking_scores works in several groups
    scores = rng.random((items, columns)).astype(np.float32) ** 3
    positives = one_vs_rest(
        torch.from_numpy(scores), torch.from_numpy(rng.integers(0, columns, items)), "multiclass"
    )
    histogram = binned_counts(torch.from_numpy(scores), positives, bins)
    rounded = torch.from_numpy(np.floor(scores * (bins - 1)))
    for got, want in zip(
        binned_ranking_scores(histogram), ranking_scores(rounded, positives), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("top_k", [1, 3])
def test_confusion_counts_of_a_thousand_classes_by_step_match_sklearn(top_k: int) -> None:
    rng = np.random.default_rng(top_k)
    classes, sizes = 1000, [256, 100, 256]
    scores = torch.from_numpy(rng.standard_normal((sum(sizes), classes)))
    targets = torch.from_numpy(rng.integers(0, classes, sum(sizes)))
    predicted = scores.topk(top_k, dim=1).indices
    step_of_item = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    by_step = multiclass_counts(predicted, targets, classes, step_of_item, len(sizes))
    assert by_step.shape == (len(sizes), 3, classes)
    first = 0
    for step, size in enumerate(sizes):
        part = slice(first, first + size)
        alone = multiclass_counts(predicted[part], targets[part], classes)
        torch.testing.assert_close(by_step[step], alone)
        first += size
        if top_k == 1:
            counts = alone.numpy()
            precision, recall, _, _ = precision_recall_fscore_support(
                targets[part].numpy(),
                predicted[part, 0].numpy(),
                labels=np.arange(classes),
                zero_division=0,
            )
            tp, predicted_count, support = counts[2], counts[0], counts[1]
            np.testing.assert_allclose(
                np.divide(tp, predicted_count, where=predicted_count > 0, out=np.zeros(classes)),
                precision,
            )
            np.testing.assert_allclose(
                np.divide(tp, support, where=support > 0, out=np.zeros(classes)), recall
            )
        else:
            hits = (predicted[part] == targets[part].unsqueeze(1)).any(dim=1)
            want_tp = np.bincount(targets[part][hits].numpy(), minlength=classes)
            np.testing.assert_array_equal(alone[2].numpy(), want_tp)
            want_predicted = np.bincount(predicted[part].reshape(-1).numpy(), minlength=classes)
            np.testing.assert_array_equal(alone[0].numpy(), want_predicted)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 90), min_size=1, max_size=6).filter(any),
    task=st.sampled_from(["binary", "multiclass", "multilabel"]),
    columns=st.sampled_from([2, 3, 700]),
    activation=st.sampled_from(["none", "softmax", "sigmoid"]),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
    ties=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_ranking_of_kept_batches_equals_ranking_of_the_joined_scores(  # noqa: PLR0917
    sizes: list[int],
    task: str,
    columns: int,
    activation: str,
    dtype: torch.dtype,
    ties: bool,
    seed: int,
) -> None:
    """An epoch's batches ranked as kept (tile by tile, activated a tile at a time, positives
    from the targets) give what the joined, activated scores and their positives mask give;
    a multiclass target out of range is positive nowhere, as in the mask."""
    generator = torch.Generator().manual_seed(seed)
    width = 1 if task == "binary" else columns
    shape = (-1,) if task == "binary" else (-1, width)
    rows = []
    for size in sizes:
        scores = torch.randn(size, width, generator=generator, dtype=torch.float64)
        rows.append((scores.round() if ties else scores).to(dtype).reshape(shape))
    items = sum(sizes)
    if task == "multiclass":
        targets = torch.randint(-1, width + 1, (items,), generator=generator)
    else:
        targets = (torch.rand(items, width, generator=generator) < 0.3).long().reshape(shape)
    activate = {
        "none": None,
        "softmax": lambda scores: scores.float().softmax(dim=1),
        "sigmoid": lambda scores: scores.float().sigmoid(),
    }[activation if task == "multiclass" or activation != "softmax" else "none"]
    joined = torch.cat(rows).reshape(items, width)
    joined = activate(joined) if activate is not None else joined
    positives = one_vs_rest(joined, targets, task).reshape(items, width)  # type: ignore[arg-type]
    want = ranking_scores(joined, positives)
    got = rows_ranking_scores(rows, targets, task, activate)  # type: ignore[arg-type]
    for value, expected in zip(got, want, strict=True):
        np.testing.assert_array_equal(value.numpy(), expected.numpy())


def test_an_epochs_scores_are_activated_a_tile_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """An epoch's AUROC makes no copy of all its scores' activations (80 MB for 20,000 items
    of 1,000 classes): the softmax reads a tile of rows at a time."""
    seen: list[int] = []
    original = torch.Tensor.softmax

    def softmax(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        seen.append(self.shape[0])
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    generator = torch.Generator().manual_seed(0)
    rows = [torch.randn(64, 500, generator=generator) for _ in range(40)]
    targets = torch.randint(0, 500, (64 * 40,), generator=generator)
    metric = AurocMetric.multiclass(softmax=True)
    for scores, batch_targets in zip(rows, targets.split(64), strict=True):
        metric.update(AurocInput(scores, batch_targets))
    monkeypatch.setattr(torch.Tensor, "softmax", softmax)
    value = metric.compute().numeric.value
    monkeypatch.undo()
    assert seen
    assert max(seen) <= 64 * 3
    joined = torch.cat(rows).softmax(dim=1)
    want, _, _ = ranking_scores(joined, one_vs_rest(joined, targets, "multiclass"))
    assert value == pytest.approx(float(want[~want.isnan()].mean()), abs=1e-12)


def test_a_sigmoid_applied_by_tiles_gives_the_joined_scores_ties() -> None:
    """An elementwise activation gives each score the value it has on the joined scores
    (tiles start whole vector lengths in), so that ties between equal logits stay ties,
    however the epoch was batched."""
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(30_000, 3, generator=generator).round(decimals=2)
    targets = (torch.rand(30_000, 3, generator=generator) < 0.4).long()
    want = ranking_scores(logits.sigmoid(), targets)
    for sizes in ([30_000], [15_000, 15_000], [1000] * 29 + [1000], [7, 29_993]):
        rows = list(torch.split(logits, sizes))
        got = rows_ranking_scores(rows, targets, "multilabel", torch.sigmoid)
        for value, expected in zip(got, want, strict=True):
            np.testing.assert_array_equal(value.numpy(), expected.numpy())


def test_an_activation_that_widens_is_ranked_in_its_own_precision() -> None:
    scores, targets = torch.tensor([20.0, 21.0, 22.0, 23.0]), torch.tensor([0, 1, 0, 1])

    def widened(rows: torch.Tensor) -> torch.Tensor:
        return rows.double().sigmoid()  # distinct in float64, all 1.0 in float32

    want = ranking_scores(widened(scores), targets)
    got = rows_ranking_scores([scores], targets, "binary", widened)
    for value, expected in zip(got, want, strict=True):
        np.testing.assert_array_equal(value.numpy(), expected.numpy())
