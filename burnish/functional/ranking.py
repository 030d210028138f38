"""Ranking metrics: area under the ROC curve and average precision (area under the PR curve).

Every task is reduced to columns of one-vs-rest binary problems: scores ``(N, C)`` and 0/1
positives ``(N, C)`` (binary: ``C = 1``; multiclass: ``positives[i, c] = targets[i] == c``;
multilabel: the targets). Tied scores are handled exactly as scikit-learn's ``roc_auc_score``
and ``average_precision_score`` handle them: tied items form one point of the curve (the ROC
curve joins points by straight lines, so a tie counts half; average precision sums recall steps
times the precision at each distinct score).

A column without positives or without negatives has no defined AUROC (and one without positives
no average precision): its value is NaN and averages leave it out; NaN when no column is
defined. scikit-learn raises (AUROC) or warns and returns 0 (average precision) there instead.

The binned variants count scores into a fixed number of bins (histograms built with
``scatter_add_``), so their state does not grow with the number of samples; they equal the exact
values computed on scores rounded down to the bin thresholds ``j / (bins - 1)``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from burnish.functional.confusion import Task

try:  # numpy's vectorised sort is the fastest on the CPU; torch.sort is the fallback.
    import numpy as _np
except ImportError:  # pragma: no cover - numpy ships with most torch installs
    _np = None  # type: ignore[assignment]

__all__ = [
    "RankingAverage",
    "auc_pr",
    "auroc",
    "average_ranking_scores",
    "binned_counts",
    "binned_ranking_scores",
    "one_vs_rest",
    "ranking_scores",
]

RankingAverage = Literal["macro", "weighted", "micro", "none"]


def one_vs_rest(scores: torch.Tensor, targets: torch.Tensor, task: Task) -> torch.Tensor:
    """The 0/1 positives ``(N, C)`` matching ``scores`` for ``task`` (see the module text)."""
    if task == "multiclass":
        classes = torch.arange(scores.shape[1], device=targets.device)
        return targets.long().unsqueeze(1) == classes
    if task == "binary":
        return targets.reshape(-1, 1) != 0
    return targets != 0


def _column_scores(
    values: _np.ndarray, positive: _np.ndarray, with_auroc: bool, with_ap: bool
) -> tuple[float, float, float]:
    """AUROC, average precision and positives of one column, by ranks instead of a curve.

    AUROC is the Mann-Whitney statistic with mid-ranks (a tie counts half, as the trapezoids of
    scikit-learn's curve); average precision is the mean over positives of the precision at
    their score (items and positives scoring at least as high). Both need the column and its
    positives sorted (values only, the fast sort) and one binary search of the positives among
    all items: no argsort. Ties are counted from the sorted values, not searched for.
    """
    # Sorted queries make the binary search walk forward (cache friendly, much faster).
    chosen = _np.sort(values[positive])
    ordered = _np.sort(values)
    items, hits = values.shape[0], chosen.shape[0]
    misses = items - hits
    auroc = ap = math.nan
    if not hits:
        return auroc, ap, 0.0
    below = _np.searchsorted(ordered, chosen, "left")
    if with_auroc and misses:
        # A positive's items not above it are those below, itself and the others tied with
        # it; each tied value is listed once per item beyond the first that scores it.
        repeats = ordered[1:][ordered[1:] == ordered[:-1]]
        tied = _np.searchsorted(chosen, repeats, "right") - _np.searchsorted(chosen, repeats)
        below_sum = below.sum(dtype=_np.float64)
        not_above_sum = below_sum + hits + tied.sum(dtype=_np.float64)
        # Sum of 1-based mid-ranks: (below + 1 + not_above) / 2 per positive.
        ranks = (below_sum + not_above_sum + hits) / 2.0
        auroc = (ranks - hits * (hits + 1) / 2.0) / (hits * misses)
    if with_ap:
        at_least_all = items - below
        at_least_hits = hits - _first_of_ties(chosen)
        ap = float((at_least_hits / at_least_all).mean(dtype=_np.float64))
    return float(auroc), ap, float(hits)


def _first_of_ties(ordered: _np.ndarray) -> _np.ndarray:
    """For each of the sorted values, the index of the first value equal to it."""
    index = _np.arange(ordered.shape[0])
    starts = _np.ones(ordered.shape[0], dtype=bool)
    _np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    return _np.maximum.accumulate(_np.where(starts, index, 0))


def _column_scores_torch(
    column: torch.Tensor, positive: torch.Tensor, with_auroc: bool, with_ap: bool
) -> tuple[float, float, float]:  # pragma: no cover - exercised on accelerators
    chosen = torch.sort(column[positive]).values
    ordered = torch.sort(column).values
    items, hits = column.shape[0], chosen.shape[0]
    misses = items - hits
    auroc = ap = math.nan
    if with_auroc and hits and misses:
        below = torch.searchsorted(ordered, chosen).to(torch.float64)
        not_above = torch.searchsorted(ordered, chosen, right=True).to(torch.float64)
        ranks = float((below.sum() + not_above.sum() + hits) / 2.0)
        auroc = (ranks - hits * (hits + 1) / 2.0) / (hits * misses)
    if with_ap and hits:
        at_least_all = items - torch.searchsorted(ordered, chosen).to(torch.float64)
        at_least_hits = hits - torch.searchsorted(chosen, chosen).to(torch.float64)
        ap = float((at_least_hits / at_least_all).mean())
    return auroc, ap, float(hits)


def ranking_scores(
    scores: torch.Tensor,
    positives: torch.Tensor,
    *,
    with_auroc: bool = True,
    with_ap: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact per-column ``(auroc, average_precision, positives_count)``, each ``(C,)`` float64.

    Epoch-end work: it reads the data (boolean selection of each column's positives), unlike
    the per-step functions. A value not asked for (``with_auroc``, ``with_ap``) is NaN.
    """
    if scores.ndim == 1:
        scores, positives = scores.unsqueeze(1), positives.reshape(-1, 1)
    if scores.device.type == "cpu" and _np is not None:
        # numpy's vectorised sort serves CPU tensors; its transposes are cheaper too.
        columns = _np.ascontiguousarray(scores.numpy().T)
        chosen = _np.ascontiguousarray(positives.bool().numpy().T)
        results = [
            _column_scores(values, positive, with_auroc, with_ap)
            for values, positive in zip(columns, chosen, strict=True)
        ]
    else:  # pragma: no cover - exercised on accelerators
        columns_t, chosen_t = scores.t().contiguous(), positives.t().bool().contiguous()
        results = [
            _column_scores_torch(columns_t[index], chosen_t[index], with_auroc, with_ap)
            for index in range(columns_t.shape[0])
        ]
    table = torch.tensor(results, dtype=torch.float64).reshape(-1, 3).to(scores.device)
    return table[:, 0], table[:, 1], table[:, 2]


def binned_counts(scores: torch.Tensor, positives: torch.Tensor, bins: int) -> torch.Tensor:
    """Histograms ``(2, C, bins)`` of negatives (row 0) and positives (row 1) per score bin.

    Scores must lie in ``[0, 1]``; bin ``j`` holds scores in ``[j / (bins - 1), (j + 1) /
    (bins - 1))`` and the last bin holds 1. Out-of-range values and NaN are clamped, never
    read: the metrics report them through a deferred check.
    """
    if scores.ndim == 1:
        scores, positives = scores.unsqueeze(1), positives.reshape(-1, 1)
    columns = scores.shape[1]
    clean = scores.nan_to_num(0.0, 1.0, 0.0).clamp(0.0, 1.0)
    bin_index = (clean * (bins - 1)).floor().long()
    column = torch.arange(columns, device=scores.device) * bins
    index = (positives.long() * (columns * bins) + column + bin_index).reshape(-1)
    histogram = torch.zeros(2 * columns * bins, dtype=torch.long, device=scores.device)
    histogram.scatter_add_(0, index, torch.ones_like(index))
    return histogram.view(2, columns, bins)


def binned_ranking_scores(
    histogram: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-column ``(auroc, average_precision, positives_count)`` from :func:`binned_counts`."""
    counts = histogram.to(torch.float64).flip(-1)  # highest scores first
    negatives, positives = counts[0], counts[1]
    cum_tp = positives.cumsum(-1)
    cum_fp = negatives.cumsum(-1)
    positives_count = cum_tp[:, -1]
    negatives_count = cum_fp[:, -1]
    area = (negatives * (2.0 * cum_tp - positives)).sum(-1)
    auroc_value = area / (2.0 * positives_count * negatives_count)
    auroc_value = torch.where((positives_count > 0) & (negatives_count > 0), auroc_value, torch.nan)
    precision_at = torch.where(positives > 0, cum_tp / (cum_tp + cum_fp).clamp_min(1.0), 0.0)
    ap = (positives * precision_at).sum(-1) / positives_count
    ap = torch.where(positives_count > 0, ap, torch.nan)
    return auroc_value, ap, positives_count


def average_ranking_scores(
    values: torch.Tensor, support: torch.Tensor, average: RankingAverage
) -> torch.Tensor:
    """Reduce per-column values ``(C,)``: ``macro`` mean, ``weighted`` by positives, or ``none``.

    Undefined (NaN) columns are left out of both averages. (``micro`` is not a reduction of
    per-column values: flatten the columns and compute one column instead.)
    """
    if average == "none":
        return values
    defined = ~values.isnan()
    if average == "weighted":
        weights = torch.where(defined, support, 0.0)
        return torch.where(defined, values * weights, 0.0).sum() / weights.sum()
    return torch.where(defined, values, 0.0).sum() / defined.sum()


def _ranking(
    index: int,
    scores: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    average: RankingAverage,
) -> torch.Tensor:
    positives = one_vs_rest(scores, targets, task)
    if scores.ndim == 1:
        scores = scores.unsqueeze(1)
    if average == "micro":
        scores, positives = scores.reshape(-1, 1), positives.reshape(-1, 1)
    result = ranking_scores(scores, positives)
    values = result[index]
    if task == "binary" or average == "micro":
        return values[0]
    return average_ranking_scores(values, result[2], average)


def auroc(
    scores: torch.Tensor, targets: torch.Tensor, task: Task, average: RankingAverage = "macro"
) -> torch.Tensor:
    """Exact area under the ROC curve (one-vs-rest for multiclass), as a float64 tensor."""
    return _ranking(0, scores, targets, task, average)


def auc_pr(
    scores: torch.Tensor, targets: torch.Tensor, task: Task, average: RankingAverage = "macro"
) -> torch.Tensor:
    """Exact average precision (area under the precision-recall curve), as a float64 tensor."""
    return _ranking(1, scores, targets, task, average)
