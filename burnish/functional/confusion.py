"""Confusion counts and the scores built on them (precision, recall, F-beta, confusion matrix).

Counts come as one ``(3, C)`` integer tensor per decision: row :data:`PREDICTED` (items the rule
assigns to the class), row :data:`SUPPORT` (items whose target is the class) and row
:data:`TRUE_POSITIVE`. False positives are ``predicted - tp`` and false negatives
``support - tp``. Counts add up over batches, so an epoch's scores come from the epoch's counts,
never from an average of per-batch ratios (Burn bug #2758).

Top-k rules follow TorchMetrics (1.6 and later): an item predicts one class, its target when the
target is among its ``k`` best classes, else its best class (:func:`top_k_predicted`). Micro
precision, recall and F-beta at ``k`` are then all the top-k accuracy.

Zero division follows scikit-learn's ``zero_division=0``: a ratio whose denominator is zero is 0.
Which classes a ``macro`` average (and the per-class vector) covers is :func:`macro_labels`:
every label for binary and multilabel counts; for multiclass counts the classes that occur among
the targets or the predictions (scikit-learn's ``unique_labels``), except for precision and
recall at ``k > 1``, which cover the classes that occur among the targets, as TorchMetrics'
do. ``none`` gives the per-class vector, with NaN for classes outside those labels.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch

try:  # numpy's argmax serves CPU scores; torch's is the fallback.
    import numpy as _np
except ImportError:  # pragma: no cover - numpy ships with most torch installs
    _np = None  # type: ignore[assignment]

__all__ = [
    "PREDICTED",
    "SUPPORT",
    "TRUE_POSITIVE",
    "Labels",
    "Reduction",
    "ScoreKind",
    "Task",
    "best_classes",
    "confusion_matrix",
    "confusion_score",
    "decide",
    "fbeta_score",
    "macro_labels",
    "matthews_corrcoef",
    "matthews_from_counts",
    "multiclass_counts",
    "precision",
    "recall",
    "threshold_counts",
    "top_k_predicted",
]

PREDICTED, SUPPORT, TRUE_POSITIVE = 0, 1, 2
# The row of the items counted, in the totals ``(4, 1)`` of a binary Matthews coefficient.
ITEMS = 3

Task = Literal["binary", "multiclass", "multilabel"]
Reduction = Literal["micro", "macro", "weighted", "none"]
ScoreKind = Literal["precision", "recall", "fbeta"]
Labels = Literal["all", "seen", "targets"]
"""The classes a macro average covers: every class, those seen among the targets or the
predictions, or those seen among the targets."""


def multiclass_counts(
    predicted: torch.Tensor,
    targets: torch.Tensor,
    num_classes: int,
    step_of_item: torch.Tensor | None = None,
    steps: int = 1,
) -> torch.Tensor:
    """Counts ``(3, C)`` from predicted classes ``(N,)`` or ``(N, k)`` and targets ``(N,)``.

    With ``k`` predicted classes per item, each of them counts as predicted, and the item is a
    true positive of its target class when the target is among them: precision at ``k`` as
    retrieval counts it (and TorchMetrics did before 1.6). The top-k rule of :func:`precision`,
    :func:`recall` and :func:`fbeta_score` passes :func:`top_k_predicted` instead. Every index
    must lie in ``[0, num_classes)``. One ``scatter_add_`` into a fixed-size tensor: no host
    synchronisation.

    With ``step_of_item`` (the step index of each item, in ``[0, steps)``), the counts of each
    step of a block ``(steps, 3, C)``, in the same one ``scatter_add_``.

    The work is ``O(N k + steps C)``, never ``C x C``: each item adds one to the predicted,
    support and true-positive rows at its classes (not a confusion matrix, as TorchMetrics
    counts for macro averages), so that thousands of classes cost what their counts weigh.
    """
    targets = targets.long()
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted.squeeze(1)
    if predicted.ndim == 1:
        # A miss counts no true positive: it goes to a spill column C that is cut off (no
        # data-dependent mask, few kernels).
        missed = predicted != targets
        index = torch.stack((predicted, targets, targets.masked_fill(missed, num_classes)))
        width = num_classes + 1
        if step_of_item is not None:
            index = index + step_of_item * width
        counts = torch.zeros(3, steps * width, dtype=torch.long, device=targets.device)
        counts.scatter_add_(1, index, _ones(index.shape, index.device))
        if step_of_item is None:
            return counts[:, :num_classes]
        return counts.view(3, steps, width)[:, :, :num_classes].transpose(0, 1)
    hits = (predicted == targets.unsqueeze(1)).any(dim=1)
    if step_of_item is not None:
        # Each step's counts are a (3, C) slab of their own.
        base = step_of_item * (3 * num_classes)
        predicted, targets = predicted + base.unsqueeze(1), targets + base
    index = torch.cat(
        (
            predicted.reshape(-1) + PREDICTED * num_classes,
            targets + SUPPORT * num_classes,
            targets + TRUE_POSITIVE * num_classes,
        )
    )
    ones = torch.ones(predicted.numel() + targets.shape[0], dtype=torch.long, device=index.device)
    source = torch.cat((ones, hits.long()))
    counts = torch.zeros(steps * 3 * num_classes, dtype=torch.long, device=index.device)
    counts.scatter_add_(0, index, source)
    if step_of_item is None:
        return counts.view(3, num_classes)
    return counts.view(steps, 3, num_classes)


def top_k_predicted(top: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The one class ``(N,)`` each item predicts under a top-k rule, from its ``k`` best classes
    ``(N, k)``, best first, and its target ``(N,)``: the target when it is among them, else the
    best class (TorchMetrics' rule since 1.6)."""
    targets = targets.long()
    among = (top == targets.unsqueeze(1)).any(dim=1)
    return torch.where(among, targets, top[:, 0])


def macro_labels(task: Task, kind: ScoreKind, top_k: int = 1) -> Labels:
    """The classes that a ``macro`` average of ``kind`` covers for a ``task`` and ``top_k``."""
    if task != "multiclass":
        return "all"
    # TorchMetrics leaves out the classes without targets from its precision and recall at
    # k > 1 (not from its F-beta): values compared with it must average the same classes.
    return "targets" if top_k > 1 and kind != "fbeta" else "seen"


@functools.lru_cache(maxsize=16)
def _ones(shape: torch.Size, device: torch.device) -> torch.Tensor:
    """A source of ones to scatter, made once per shape (batch size) and device: a contiguous
    source scatters twice as fast as an expanded scalar, and filling it costs a kernel."""
    return torch.ones(shape, dtype=torch.long, device=device)


def threshold_counts(
    predicted: torch.Tensor,
    targets: torch.Tensor,
    step_of_item: torch.Tensor | None = None,
    steps: int = 1,
) -> torch.Tensor:
    """Counts ``(3, L)`` from 0/1 decisions ``(N, L)`` and 0/1 targets ``(N, L)``; with
    ``step_of_item`` (as in :func:`multiclass_counts`), each step's ``(steps, 3, L)``."""
    decided = predicted.bool()
    actual = targets.bool()
    if step_of_item is None:
        return torch.stack((decided.sum(0), actual.sum(0), (decided & actual).sum(0)))
    per_item = torch.stack((decided, actual, decided & actual), dim=1).long()
    counts = per_item.new_zeros((steps, *per_item.shape[1:]))
    return counts.index_add_(0, step_of_item, per_item)


def best_classes(scores: torch.Tensor) -> torch.Tensor:
    """The index of the largest score along the last dimension, int64, as
    :func:`torch.argmax` gives it: the first of equal scores, NaN counting as the largest.

    On the CPU, float32 and float64 scores go through numpy's argmax, which is vectorised where
    torch's reduction with indices is not: 64 x 1000 scores take 7.5 µs against 73 (10 classes:
    about the same). Elsewhere, ``max``'s indices (on a CPU, two thirds of argmax's cost)."""
    # Scores of no class go to torch, for its error.
    if _np is not None and scores.is_cpu and scores.dtype in _NUMPY_FLOATS and scores.shape[-1]:
        values = (scores.detach() if scores.requires_grad else scores).numpy()
        found = _np.asarray(_np.argmax(values, axis=-1), dtype=_np.int64)
        return torch.from_numpy(found)
    return scores.max(dim=-1).indices


_NUMPY_FLOATS = (torch.float32, torch.float64)


def decide(
    scores: torch.Tensor,
    task: Task,
    *,
    threshold: float = 0.5,
    top_k: int = 1,
    sigmoid: bool = False,
) -> torch.Tensor:
    """The decision rule: the ``k`` best classes ``(N, k)``, best first, for multiclass scores
    ``(N, C)``, else ``score > threshold`` (after a sigmoid when ``sigmoid``) as a bool tensor.
    """
    if task == "multiclass":
        if top_k == 1:
            return best_classes(scores).unsqueeze(1)
        return scores.topk(top_k, dim=1).indices
    probabilities = scores.sigmoid() if sigmoid else scores
    return probabilities > threshold


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    # zero_division=0 for counts (never negative): x / 0 is NaN or inf, mapped to 0 in place,
    # without reading the data; two operations where a mask and a choice take three.
    return (numerator / denominator).nan_to_num_(0.0, 0.0)


def confusion_score(
    counts: torch.Tensor,
    kind: ScoreKind,
    reduction: Reduction = "micro",
    beta: float = 1.0,
    labels: Labels = "all",
) -> torch.Tensor:
    """Precision, recall or F-beta of ``counts`` ``(..., 3, C)``, reduced as ``reduction``.

    ``labels`` are the classes that macro averages (and the per-class vector) cover; see
    :func:`macro_labels`. Returns float64 values of the leading shape, with a last dimension
    ``(C,)`` for ``reduction="none"``.
    """
    counts = counts.to(torch.float64)
    # Leading dimensions are batches of counts: a reader reduces many steps' counts at once.
    rows = counts.unbind(-2)  # one operation for the three rows
    predicted, support, tp = rows[PREDICTED], rows[SUPPORT], rows[TRUE_POSITIVE]
    if kind == "precision":
        numerator, denominator = tp, predicted
    elif kind == "recall":
        numerator, denominator = tp, support
    else:
        # F = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp) = (1 + b^2) tp / (b^2 support + predicted)
        beta2 = beta * beta
        numerator, denominator = (1.0 + beta2) * tp, beta2 * support + predicted
    if reduction == "micro":
        return _ratio(numerator.sum(-1), denominator.sum(-1))
    per_class = _ratio(numerator, denominator)
    if reduction == "weighted":
        return _ratio((per_class * support).sum(-1), support.sum(-1))
    if labels == "all":
        included = torch.ones_like(support, dtype=torch.bool)
    else:
        included = (support + predicted if labels == "seen" else support) > 0
    if reduction == "none":
        return torch.where(included, per_class, torch.nan)
    return (per_class * included).sum(-1) / included.sum(-1)


def _task_counts(
    scores: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    *,
    threshold: float,
    top_k: int,
    sigmoid: bool,
) -> torch.Tensor:
    decided = decide(scores, task, threshold=threshold, top_k=top_k, sigmoid=sigmoid)
    if task == "multiclass":
        if top_k > 1:
            decided = top_k_predicted(decided, targets)
        return multiclass_counts(decided, targets, scores.shape[1])
    if task == "binary":
        return threshold_counts(decided.reshape(-1, 1), targets.reshape(-1, 1))
    return threshold_counts(decided, targets)


def _score(
    kind: ScoreKind,
    scores: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    *,
    reduction: Reduction,
    threshold: float,
    top_k: int,
    sigmoid: bool,
    beta: float = 1.0,
) -> torch.Tensor:
    counts = _task_counts(scores, targets, task, threshold=threshold, top_k=top_k, sigmoid=sigmoid)
    if task == "binary":
        reduction = "micro"
    return confusion_score(counts, kind, reduction, beta, macro_labels(task, kind, top_k))


def precision(
    scores: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    *,
    reduction: Reduction = "micro",
    threshold: float = 0.5,
    top_k: int = 1,
    sigmoid: bool = False,
) -> torch.Tensor:
    """Precision of scores against targets (shapes as :class:`~burnish.ConfusionStatsInput`)."""
    return _score(
        "precision",
        scores,
        targets,
        task,
        reduction=reduction,
        threshold=threshold,
        top_k=top_k,
        sigmoid=sigmoid,
    )


def recall(
    scores: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    *,
    reduction: Reduction = "micro",
    threshold: float = 0.5,
    top_k: int = 1,
    sigmoid: bool = False,
) -> torch.Tensor:
    """Recall of scores against targets (shapes as :class:`~burnish.ConfusionStatsInput`)."""
    return _score(
        "recall",
        scores,
        targets,
        task,
        reduction=reduction,
        threshold=threshold,
        top_k=top_k,
        sigmoid=sigmoid,
    )


def fbeta_score(
    scores: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    *,
    beta: float = 1.0,
    reduction: Reduction = "micro",
    threshold: float = 0.5,
    top_k: int = 1,
    sigmoid: bool = False,
) -> torch.Tensor:
    """F-beta score of scores against targets (shapes as :class:`~burnish.ConfusionStatsInput`)."""
    return _score(
        "fbeta",
        scores,
        targets,
        task,
        reduction=reduction,
        threshold=threshold,
        top_k=top_k,
        sigmoid=sigmoid,
        beta=beta,
    )


def confusion_matrix(
    predicted: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """The ``(C, C)`` count matrix, rows the target class and columns the predicted class.

    ``predicted`` and ``targets`` are class indices ``(N,)`` in ``[0, num_classes)``.
    """
    index = targets.long() * num_classes + predicted.long()
    matrix = torch.zeros(num_classes * num_classes, dtype=torch.long, device=index.device)
    return matrix.index_add_(0, index, torch.ones_like(index)).view(num_classes, num_classes)


def matthews_from_counts(counts: torch.Tensor, task: Task) -> torch.Tensor:
    """The Matthews correlation coefficient of float ``counts``, in float64 of the leading shape.

    Multiclass counts are ``(..., 3, C)`` (top-1 decisions): with ``c`` correct items, ``s``
    items, ``p_k`` predicted and ``t_k`` target items of class ``k``, the coefficient is
    ``(c s - sum p_k t_k) / sqrt((s^2 - sum p_k^2) (s^2 - sum t_k^2))``, the confusion
    matrix's covariance ratio (scikit-learn's ``matthews_corrcoef``), from its marginals and
    trace alone. Binary and multilabel counts are totals ``(..., 4, 1)``: rows predicted,
    support, true positives and :data:`ITEMS` (for multilabel, every label of every item, as
    TorchMetrics sums the labels' 2 x 2 matrices). A zero denominator gives 0, as
    scikit-learn does.
    """
    counts = counts.to(torch.float64)
    predicted = counts[..., PREDICTED, :]
    support = counts[..., SUPPORT, :]
    tp = counts[..., TRUE_POSITIVE, :]
    if task == "multiclass":
        items = support.sum(-1)
        numerator = tp.sum(-1) * items - (predicted * support).sum(-1)
        squared = items * items
        denominator = (squared - (predicted * predicted).sum(-1)) * (
            squared - (support * support).sum(-1)
        )
    else:
        items = counts[..., ITEMS, 0]
        predicted, support, tp = predicted[..., 0], support[..., 0], tp[..., 0]
        # The two-class form of the above, simplified: (N tp - P T) / sqrt(P (N-P) T (N-T)).
        numerator = items * tp - predicted * support
        denominator = predicted * (items - predicted) * support * (items - support)
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1.0).sqrt(), 0.0)


def matthews_totals(counts: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Binary or multilabel ``counts`` ``(..., 3, L)`` summed over the labels, with the number
    of decisions ``items`` ``(...)`` as row :data:`ITEMS`: ``(..., 4, 1)``."""
    totals = counts.sum(-1, keepdim=True)
    return torch.cat((totals, items.reshape(*totals.shape[:-2], 1, 1).to(totals.dtype)), dim=-2)


def matthews_corrcoef(
    scores: torch.Tensor,
    targets: torch.Tensor,
    task: Task,
    *,
    threshold: float = 0.5,
    sigmoid: bool = False,
) -> torch.Tensor:
    """The Matthews correlation coefficient of scores against targets (shapes as
    :class:`~burnish.ConfusionStatsInput`; multiclass decides by argmax)."""
    counts = _task_counts(scores, targets, task, threshold=threshold, top_k=1, sigmoid=sigmoid)
    if task != "multiclass":
        decisions = torch.tensor(scores.numel(), device=counts.device)
        counts = matthews_totals(counts, decisions)
    return matthews_from_counts(counts, task)
