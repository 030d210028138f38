"""Binned ranking metrics: per-class histograms of scores in a fixed number of bins, whose
AUROC and average precision equal the exact values of the scores rounded down to the bins'
thresholds ``j / (bins - 1)`` (see :mod:`burnish.functional.ranking`). Their state does not
grow with the number of samples: one ``bincount`` of each score's place counts a block.
"""

from __future__ import annotations

import torch

from burnish.functional.ranking import TILE, one_vs_rest

__all__ = ["binned_counts", "binned_ranking_scores"]


def binned_counts(scores: torch.Tensor, positives: torch.Tensor, bins: int) -> torch.Tensor:
    """Histograms ``(2, C, bins)`` of negatives (row 0) and positives (row 1) per score bin.

    Scores must lie in ``[0, 1]``; bin ``j`` holds scores in ``[j / (bins - 1), (j + 1) /
    (bins - 1))`` and the last bin holds 1 (half precision is binned as float32). Out-of-range
    values and NaN are clamped, never read: the metrics report them through a deferred check.
    ``positives``: 0/1 ``(N, C)`` (``(N,)`` for scores ``(N,)``), or the class index of each
    item ``(N,)`` for multiclass scores ``(N, C)`` (an index out of range: positive nowhere).

    On the CPU, each score's place in the histograms is computed a tile of rows at a time (in
    the cache) and, for histograms larger than the cache, laid out column by column, so that
    one ``bincount`` counts into one column's bins after another rather than into every
    column's at each row. Given class indices, every score is counted as a negative, then
    each item's score in its class's column moved to the positives: no ``(N, C)`` mask is
    made or read. Accelerators count with ``scatter_add_``, which never waits for the device.
    """
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()
    scores = scores.detach()
    if scores.ndim == 2 and positives.ndim == 1:
        if scores.device.type == "cpu" and scores.numel() >= _BY_CLASS_SCORES:
            return _binned_by_class(scores, positives.detach(), bins)
        positives = one_vs_rest(scores, positives, "multiclass")
    if scores.ndim == 1:
        scores, positives = scores.unsqueeze(1), positives.reshape(-1, 1)
    positives = positives.detach().bool()
    if scores.device.type != "cpu":
        columns = scores.shape[1]
        column = torch.arange(0, columns * bins, bins, device=scores.device)
        index = (_bins_of(scores, bins).long() + column + positives.long() * (columns * bins)).view(
            -1
        )
        histogram = torch.zeros(2 * columns * bins, dtype=torch.long, device=scores.device)
        return histogram.scatter_add_(0, index, torch.ones_like(index)).view(2, columns, bins)
    return _binned_groups(scores, positives, bins)


def _binned_by_class(scores: torch.Tensor, classes: torch.Tensor, bins: int) -> torch.Tensor:
    """:func:`binned_counts` of multiclass scores ``(N, C)`` on the CPU, given each item's
    class ``(N,)``: every score counted as a negative, then each item's score in its class's
    column moved to the positives."""
    items, columns = scores.shape
    histogram = _binned_groups(scores, None, bins)
    classes = classes.long()  # as a mask of them compares them
    valid = (classes >= 0) & (classes < columns)
    rows = torch.arange(items)[valid]
    chosen = classes[valid]
    place = chosen * bins + _bins_of(scores[rows, chosen], bins).long()
    flat = histogram.view(2, -1)
    moved = torch.ones_like(place)
    flat[0].index_add_(0, place, moved, alpha=-1)
    flat[1].index_add_(0, place, moved)
    return histogram


def _binned_groups(scores: torch.Tensor, positives: torch.Tensor | None, bins: int) -> torch.Tensor:
    """The histograms ``(2, C, bins)`` of ``(N, C)`` scores on the CPU, a group of columns at
    a time (every score a negative when ``positives`` is None)."""
    items, columns = scores.shape
    group = max(1, min(columns, _BIN_GROUP_SCORES // max(items, 1)))
    if group == columns:
        return _binned_group(scores, positives, bins).view(2, columns, bins)
    histogram = torch.empty(2, columns, bins, dtype=torch.long)
    for first in range(0, columns, group):
        last = min(first + group, columns)
        chosen = None if positives is None else positives[:, first:last]
        part = _binned_group(scores[:, first:last], chosen, bins)
        histogram[:, first:last] = part.view(2, last - first, bins)
    return histogram


_BY_CLASS_SCORES = 1 << 16
"""Scores from which multiclass scores are counted by class (:func:`_binned_by_class`): below,
a mask costs less than the moves' few operations."""

_BIN_GROUP_SCORES = 1 << 20
"""Scores counted together by :func:`binned_counts` (their places in the histograms are
kept until counted)."""

_CACHED_COUNTS = 1 << 18
"""Bytes of histograms that :func:`binned_counts` counts into in the order of the scores."""


def _binned_group(scores: torch.Tensor, positives: torch.Tensor | None, bins: int) -> torch.Tensor:
    """The flat histograms ``(2 * C * bins,)`` of ``(N, C)`` scores on the CPU (every score a
    negative when ``positives`` is None)."""
    items, columns = scores.shape
    size = 2 * columns * bins
    kind = torch.int32 if size < 2**31 else torch.long
    offsets = torch.arange(0, columns * bins, bins, dtype=kind)
    step = max(1, TILE // max(1, columns))
    # Histograms larger than the cache are counted column by column: each score's place is
    # laid out column-major (one transposing copy per tile).
    column_major = size * 8 > _CACHED_COUNTS
    if items <= step and not column_major:
        index = _places(scores, positives, bins, offsets)
    else:
        index = torch.empty((columns, items) if column_major else (items, columns), dtype=kind)
        for first in range(0, items, step):
            part = slice(first, first + step)
            chosen = None if positives is None else positives[part]
            place = _places(scores[part], chosen, bins, offsets)
            if column_major:
                index[:, part] = place.t()
            else:
                index[part] = place
    return torch.bincount(index.view(-1), minlength=size)


def _bins_of(scores: torch.Tensor, bins: int) -> torch.Tensor:
    """Each score's bin, as floats: ``floor(score * (bins - 1))``, NaN and out-of-range values
    clamped into ``[0, bins - 1]``."""
    top = float(bins - 1)
    return torch.mul(scores, top).nan_to_num_(0.0, top, 0.0).clamp_(0.0, top)


def _places(
    scores: torch.Tensor, positives: torch.Tensor | None, bins: int, offsets: torch.Tensor
) -> torch.Tensor:
    """Each score's place ``(N, C)`` in the flat histograms: its bin, after its column's
    negatives' or positives' (``offsets`` ``(C,)`` of the negatives; every score's column
    when ``positives`` is None)."""
    place = _bins_of(scores, bins).to(offsets.dtype)  # truncation: the floor of values >= 0
    if positives is None:
        return place.add_(offsets)
    extra = positives.to(offsets.dtype).mul_(offsets.shape[0] * bins).add_(offsets)
    return place.add_(extra)


def binned_ranking_scores(
    histogram: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-column ``(auroc, average_precision, positives_count)`` from :func:`binned_counts`.

    On the CPU, a group of columns at a time: their running sums stay in the cache."""
    columns, bins = histogram.shape[1], histogram.shape[2]
    step = max(1, _SCORED_BINS // max(bins, 1)) if histogram.device.type == "cpu" else columns
    if step >= columns:
        return _binned_scores(histogram)
    parts = [
        _binned_scores(histogram[:, first : first + step]) for first in range(0, columns, step)
    ]
    auroc_value, ap, positives_count = (torch.cat(values) for values in zip(*parts, strict=True))
    return auroc_value, ap, positives_count


_SCORED_BINS = 1 << 15
"""Bins per column group of :func:`binned_ranking_scores` on the CPU."""


def _binned_scores(histogram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    counts = histogram.to(torch.float64)
    # Items in each bin or above it, from running sums of the bins.
    running = counts.cumsum(-1)
    at_or_above = running[..., -1:] - running + counts
    negatives, positives = counts[0], counts[1]
    negatives_count, positives_count = running[0, :, -1], running[1, :, -1]
    # A negative ranks below the positives above its bin and half of those in it.
    area = torch.linalg.vecdot(negatives, 2.0 * at_or_above[1] - positives)
    auroc_value = area / (2.0 * positives_count * negatives_count)
    auroc_value = torch.where((positives_count > 0) & (negatives_count > 0), auroc_value, torch.nan)
    # Every positive of a bin has the precision of the items at or above it (at least itself).
    precision_at = at_or_above[1] / at_or_above.sum(0).clamp_min_(1.0)
    ap = torch.linalg.vecdot(positives, precision_at) / positives_count
    ap = torch.where(positives_count > 0, ap, torch.nan)
    return auroc_value, ap, positives_count
