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

from typing import Literal

import torch

from burnish.functional.confusion import Task

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


def ranking_scores(
    scores: torch.Tensor, positives: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact per-column ``(auroc, average_precision, positives_count)``, each ``(C,)``.

    Sorts each column once; tie groups are found without data-dependent shapes (a running
    maximum over group ends), so nothing here needs the host.
    """
    if scores.ndim == 1:
        scores, positives = scores.unsqueeze(1), positives.reshape(-1, 1)
    items = scores.shape[0]
    # Work column-major: one contiguous row per column makes the sort and scans run fast.
    ordered, order = torch.sort(scores.t().contiguous(), dim=1, descending=True)
    count_dtype = torch.int32 if items < 2**31 - 1 else torch.int64
    hits = positives.t().to(count_dtype).gather(1, order)
    cum_tp = hits.cumsum(1, dtype=count_dtype)
    # The last item of each run of equal scores closes a point of the curves.
    is_end = torch.ones_like(ordered, dtype=torch.bool)
    is_end[:, :-1] = ordered[:, 1:] != ordered[:, :-1]
    rank = torch.arange(1, items + 1, dtype=count_dtype, device=scores.device)
    end_tp = torch.where(is_end, cum_tp, 0)
    end_rank = torch.where(is_end, rank, 0)
    # The previous point's counts: the running maximum of point counts, shifted by one.
    prev_tp = torch.zeros_like(cum_tp)
    prev_rank = torch.zeros_like(cum_tp)
    if items > 1:
        prev_tp[:, 1:] = end_tp.cummax(1).values[:, :-1]
        prev_rank[:, 1:] = end_rank.cummax(1).values[:, :-1]
    # Positives and negatives tied at each point (0 away from points).
    tp_step = torch.where(is_end, cum_tp - prev_tp, 0).to(torch.float64)
    fp_step = torch.where(is_end, (rank - cum_tp) - (prev_rank - prev_tp), 0).to(torch.float64)
    positives_count = (
        cum_tp[:, -1].to(torch.float64)
        if items
        else torch.zeros(scores.shape[1], dtype=torch.float64, device=scores.device)
    )
    negatives_count = items - positives_count
    # Trapezoids: each negative sees the positives above it, and half of those tied with it.
    area = (fp_step * (end_tp + prev_tp).to(torch.float64)).sum(1)
    auroc_value = area / (2.0 * positives_count * negatives_count)
    auroc_value = torch.where((positives_count > 0) & (negatives_count > 0), auroc_value, torch.nan)
    precision_at = end_tp.to(torch.float64) / rank.to(torch.float64)
    ap = (tp_step * precision_at).sum(1) / positives_count
    ap = torch.where(positives_count > 0, ap, torch.nan)
    return auroc_value, ap, positives_count


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
