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

Exact values sort each column once and look its positives up in it; binned variants
(:mod:`burnish.functional.binned`) count scores into a fixed number of bins (one ``bincount``
of each score's place), so their state does
not grow with the number of samples; they equal the exact values computed on scores rounded
down to the bin thresholds ``j / (bins - 1)``. On the CPU, both work on groups of columns at a
time: the Python work grows with the number of scores, not of classes, and each group's data
stays in the cache, so that a score costs no more with a thousand classes than with ten.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
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
    "one_vs_rest",
    "ranking_scores",
    "rows_ranking_scores",
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


def _ranking_numpy(
    by_column: _np.ndarray,
    item_of: _np.ndarray,
    column_of: _np.ndarray,
    with_auroc: bool,
    with_ap: bool,
) -> tuple[_np.ndarray, _np.ndarray, _np.ndarray]:
    """Per-column AUROC, average precision and positives, by ranks, of the columns of scores
    ``by_column`` (:func:`_column_major`), the positives being the items ``item_of`` of the
    columns ``column_of``.

    AUROC is the Mann-Whitney statistic with mid-ranks (a tie counts half, as the trapezoids of
    scikit-learn's curve); average precision is the mean over positives of the precision at
    their score (items and positives scoring at least as high). Both need each positive's
    count of items below it (and AUROC, of items tied with it) in its column: each column is
    sorted and its positives, sorted too, looked up in it (:func:`_look_up`).
    """
    columns, items = by_column.shape
    chosen, hits = _chosen(by_column, item_of, column_of)
    starts = _np.zeros(columns + 1, dtype=_np.int64)
    _np.cumsum(hits, out=starts[1:])
    below, ties = _look_up(by_column, chosen, hits, starts, with_auroc)
    positive_count = hits.astype(_np.float64)
    auroc, ap = _np.full(columns, math.nan), _np.full(columns, math.nan)
    with _np.errstate(divide="ignore", invalid="ignore"):
        if with_auroc:
            # Sum of 1-based mid-ranks, (below + 1 + not_above) / 2 over positives, where
            # not_above is below + 1 + ties: integer sums per column.
            ranks = _column_sums(below, hits, starts) + hits + ties / 2.0
            pairs = positive_count * (items - positive_count)
            auroc = (ranks - positive_count * (positive_count + 1) / 2.0) / pairs
            auroc[pairs == 0] = math.nan
        if with_ap:
            # Positives scoring at least as high: those from the first of its ties on.
            at_least_hits = _np.repeat(starts[1:], hits) - _first_of_ties(chosen)
            ap = _column_sums(at_least_hits / (items - below), hits, starts) / positive_count
    return auroc, ap, positive_count


def _chosen(
    by_column: _np.ndarray, item_of: _np.ndarray, column_of: _np.ndarray
) -> tuple[_np.ndarray, _np.ndarray]:
    """The positives' scores (their :func:`_keys` for several columns), in (column, score)
    order, and each column's count of positives."""
    columns = by_column.shape[0]
    chosen = by_column[column_of, item_of]  # a copy: the columns are sorted in place later
    hits = _np.bincount(column_of, minlength=columns)
    if columns > 1:
        chosen = _keys(chosen, column_of)
    chosen.sort()
    return chosen, hits


def _look_up(
    by_column: _np.ndarray,
    chosen: _np.ndarray,
    hits: _np.ndarray,
    starts: _np.ndarray,
    with_ties: bool,
) -> tuple[_np.ndarray, _np.ndarray]:
    """Each positive's count of items below it in its column, and each column's count of items
    tied with a positive beyond the positive itself (summed over its positives).

    ``by_column`` holds the columns' :func:`_sortable` scores as rows, and is sorted here in
    place. Short columns are sorted and looked up a group at a time (one call each for the
    group), by keys that order (column, score) pairs, so that the Python work grows with the
    number of scores, not of columns.
    """
    columns, items = by_column.shape
    below = _np.empty(chosen.shape[0], dtype=_np.int64)
    ties = _np.zeros(columns, dtype=_np.int64)
    # Long columns alone: a search in a column's own scores is quicker than in 64-bit keys.
    group = 1 if items >= _LONG_COLUMN else max(1, min(columns, _GROUP_SCORES // max(items, 1)))
    # The keys of a group of columns, made in one buffer (a new array per group costs its
    # pages anew, as much as making the keys).
    key_type = _np.uint64 if by_column.dtype == _np.uint32 else _np.complex128
    buffer = _np.empty(group * items if group > 1 else 0, dtype=key_type)
    for first in range(0, columns, group):
        last = min(first + group, columns)
        found = slice(starts[first], starts[last])
        block = by_column[first:last]
        block.sort(axis=1)
        if last - first > 1:
            into = buffer[: block.size].reshape(block.shape)
            keys = _keys(block, _np.arange(first, last).reshape(-1, 1), into).reshape(-1)
            query = chosen[found]
            # Where each positive's column starts among the keys.
            offset = _np.repeat(_np.arange(last - first) * items, hits[first:last])
        else:
            keys, query = block.reshape(-1), _unkeyed(chosen[found])
            offset = _np.zeros(1, dtype=_np.int64)
        left = _np.searchsorted(keys, query, "left")
        below[found] = left - offset
        if with_ties:
            # A look at the key after each positive's first equal: only ties are searched.
            tied = _np.flatnonzero(keys.take(left + 1, mode="clip") == query)
            if tied.shape[0]:
                extra = _np.searchsorted(keys, query[tied], "right") - left[tied] - 1
                ends = starts[first + 1 : last + 1] - starts[first]
                where = _np.searchsorted(ends, tied, "right")  # each one's column in the group
                ties[first:last] += _np.bincount(where, extra, last - first).astype(_np.int64)
    return below, ties


def _column_sums(values: _np.ndarray, hits: _np.ndarray, starts: _np.ndarray) -> _np.ndarray:
    """Per-column sums of values listed column by column (``hits`` of each, from ``starts``)."""
    sums = _np.zeros(hits.shape[0], dtype=values.dtype)
    filled = hits > 0
    if values.shape[0]:
        sums[filled] = _np.add.reduceat(values, starts[:-1][filled])
    return sums


_GROUP_SCORES = 1 << 18
"""Scores of the short columns sorted and looked up together: many columns share one pass of
Python calls, and their keys stay in the CPU's cache."""

_LONG_COLUMN = 1 << 14
"""Items of a column sorted and looked up alone."""

TILE = 1 << 16
"""Scores per tile of :func:`_column_major` (and of the binned counts' places)."""


Activation = Callable[[torch.Tensor], torch.Tensor]
"""A function of a block of rows of scores ``(n, C)`` (a softmax, a sigmoid)."""


def _column_major(rows: Sequence[torch.Tensor], activate: Activation | None) -> _np.ndarray:
    """The columns of the scores joined from ``rows`` (CPU tensors ``(n, C)``, blocks of
    consecutive rows), each activated by ``activate``, as rows of :func:`_sortable` values: a
    new ``(C, N)`` array (sorted in place later). Read, activated, mapped and transposed by
    tiles of rows, in the cache: no joined copy of the scores or of their activations is made,
    and a plain transpose of a wide matrix reads a cache line for every score. Half precision
    widens exactly to float32; other types are ranked as float64."""
    items, columns = sum(part.shape[0] for part in rows), rows[0].shape[1]
    # The activation's type, from one row: it may widen (float32 scores to float64).
    kinds = {part.dtype for part in rows} if activate is None else {activate(rows[0][:1]).dtype}
    narrow = kinds <= set(_NARROW)
    ordered = _np.uint32 if narrow else _np.float64
    result = _np.empty((columns, items), dtype=ordered)
    step = _ALIGNED * max(1, TILE // (_ALIGNED * max(1, columns)))
    tile = _np.empty((min(step, items), columns), dtype=ordered)
    first = 0
    for read in _tiles(rows, step):
        scores = activate(read) if activate is not None else read
        scores = scores.float() if narrow else scores.double()
        count = scores.shape[0]
        result[:, first : first + count] = _sortable(scores.numpy(), tile[:count]).T
        first += count
    return result


_ALIGNED = 64
"""Rows in a tile are a multiple of this: each tile starts a whole number of vector lengths
into the joined scores, so an elementwise activation (a sigmoid) takes each score through the
same vectorised or scalar path, and gives the same value, as on the joined scores (a tile's
last few values would otherwise go through the scalar path, one unit in the last place apart,
and split ties)."""


def _tiles(rows: Sequence[torch.Tensor], step: int) -> Iterator[torch.Tensor]:
    """The rows in tiles of ``step`` rows (the last one fewer): larger blocks cut, smaller
    ones joined (each tile costs a few operations: an epoch's small batches would otherwise
    cost more in them than in their scores)."""
    joined: list[torch.Tensor] = []
    count = 0
    for block in rows:
        part = block.detach()
        while part.shape[0]:
            taken = part[: step - count]
            joined.append(taken)
            count += taken.shape[0]
            part = part[taken.shape[0] :]
            if count == step:
                yield torch.cat(joined) if len(joined) > 1 else joined[0]
                joined, count = [], 0
    if joined:
        yield torch.cat(joined) if len(joined) > 1 else joined[0]


_NARROW = (torch.float16, torch.bfloat16, torch.float32)
"""Score types ranked as float32 (which holds half precision exactly)."""


def _sortable(values: _np.ndarray, out: _np.ndarray | None = None) -> _np.ndarray:
    """``values`` as values that sort as they do, in ``out`` (or a new array): float32 as
    unsigned integers (the order-preserving map of their bits, -0.0 as 0.0), others as
    float64."""
    if values.dtype != _np.float32:
        if out is None:
            return _np.array(values, dtype=_np.float64, order="C")
        out[...] = values
        return out
    if out is None:
        out = _np.empty(values.shape, dtype=_np.uint32)
    _np.add(values, _np.float32(0.0), out=out.view(_np.float32))
    # Negative numbers have every bit flipped, the others their sign bit: ordered as unsigned.
    flip = (out.view(_np.int32) >> 31).view(_np.uint32)
    flip |= _np.uint32(1 << 31)
    out ^= flip
    return out


def _keys(
    ordered: _np.ndarray, columns: _np.ndarray, out: _np.ndarray | None = None
) -> _np.ndarray:
    """Keys of :func:`_sortable` values in ``columns`` (broadcast), in ``out`` (or a new
    array), that sort as (column, score) pairs: the column above the 32 bits of a float32, or
    a complex number (column, score), which numpy orders by its real part first."""
    shape = _np.broadcast_shapes(ordered.shape, columns.shape)
    keys: _np.ndarray
    if ordered.dtype == _np.uint32:
        keys = _np.empty(shape, dtype=_np.uint64) if out is None else out
        _np.left_shift(columns.astype(_np.uint64), _np.uint64(32), out=keys)
        keys |= ordered
        return keys
    keys = _np.empty(shape, dtype=_np.complex128) if out is None else out
    keys.real, keys.imag = columns, ordered
    return keys


def _unkeyed(keys: _np.ndarray) -> _np.ndarray:
    """The :func:`_sortable` values of :func:`_keys` (of a single column: its own values)."""
    if keys.dtype == _np.uint64:
        return keys.astype(_np.uint32)
    return keys.imag.copy() if keys.dtype == _np.complex128 else keys


def _first_of_ties(ordered: _np.ndarray) -> _np.ndarray:
    """For each of the sorted values, the index of the first value equal to it."""
    index = _np.arange(ordered.shape[0])
    starts = _np.ones(ordered.shape[0], dtype=bool)
    _np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    if starts.all():
        return index
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
    if scores.device.type != "cpu" or _np is None:
        return _ranking_torch(scores, positives, with_auroc, with_ap)
    # numpy's vectorised sort serves CPU tensors.
    item_of, column_of = _np.nonzero(positives.detach().bool().numpy())
    return _from_numpy(
        _ranking_numpy(_column_major([scores], None), item_of, column_of, with_auroc, with_ap)
    )


def rows_ranking_scores(
    rows: Sequence[torch.Tensor],
    targets: torch.Tensor,
    task: Task,
    activate: Activation | None = None,
    *,
    with_auroc: bool = True,
    with_ap: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`ranking_scores` of the scores joined from ``rows`` (blocks of consecutive rows,
    as an epoch keeps its batches), each activated by ``activate`` (a softmax, a sigmoid),
    against the one-vs-rest positives of ``targets`` for ``task``.

    On the CPU, nothing of the size of the scores is made but their sorted columns: no joined
    copy, no activations, no positives mask (a multiclass item is positive in its target's
    column alone; a target out of range, in none). An epoch of 20,000 items of 1,000 classes
    holds 80 MB of scores, which each of these would copy again.
    """
    flat = [part.unsqueeze(1) if part.ndim == 1 else part for part in rows]
    if flat[0].device.type != "cpu" or _np is None:
        scores = torch.cat(flat) if len(flat) > 1 else flat[0]
        scores = activate(scores) if activate is not None else scores
        positives = one_vs_rest(scores, targets, task).reshape(scores.shape)
        return ranking_scores(scores, positives, with_auroc=with_auroc, with_ap=with_ap)
    by_column = _column_major(flat, activate)
    columns, items = by_column.shape
    if task == "multiclass":
        classes = targets.detach().long().numpy()
        valid = (classes >= 0) & (classes < columns)
        item_of = _np.flatnonzero(valid)
        column_of = classes[item_of]
    else:
        item_of, column_of = _np.nonzero(targets.detach().reshape(items, columns).numpy() != 0)
    return _from_numpy(_ranking_numpy(by_column, item_of, column_of, with_auroc, with_ap))


def _from_numpy(
    values: tuple[_np.ndarray, _np.ndarray, _np.ndarray],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    auroc, ap, hits = values
    return torch.from_numpy(auroc), torch.from_numpy(ap), torch.from_numpy(hits)


def _ranking_torch(
    scores: torch.Tensor, positives: torch.Tensor, with_auroc: bool, with_ap: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # pragma: no cover - on accelerators
    columns, chosen = scores.t().contiguous(), positives.t().bool().contiguous()
    results = [
        _column_scores_torch(columns[index], chosen[index], with_auroc, with_ap)
        for index in range(columns.shape[0])
    ]
    table = torch.tensor(results, dtype=torch.float64).reshape(-1, 3).to(scores.device)
    return table[:, 0], table[:, 1], table[:, 2]


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
