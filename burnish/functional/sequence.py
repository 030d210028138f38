"""Sequence metrics as stateless tensor functions: padding removal and edit distances.

Everything here runs on the tensors' device with shapes known on the host, so a metric that
calls it never waits for the device: the loops run over a sequence dimension, never over the
data.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "Smoothing",
    "bleu_counts",
    "bleu_from_counts",
    "bleu_score",
    "compact",
    "edit_distances",
    "error_rate",
    "lcs_lengths",
    "rouge_fmeasures",
]

Smoothing = Literal["none", "floor", "add-k", "exp"]
"""sacrebleu's smoothing methods of zero n-gram precisions (Chen and Cherry, 2014): none, a
floor of ``value / total`` (method 1), ``value`` added to the matches and the n-grams of every
order but the first (method 2), or ``1 / (2**k * total)`` for the ``k``-th order without a match
(method 3, mteval's)."""

SMOOTHING_DEFAULTS: dict[str, float] = {"none": 0.0, "floor": 0.1, "add-k": 1.0, "exp": 0.0}


def compact(
    tokens: torch.Tensor, pad_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The tokens ``(N, T)`` with every ``pad_token`` moved past the others (in order), and how
    many are not padding in each sequence ``(N,)`` (``None`` without ``pad_token``: all ``T``).

    Padding may sit anywhere (left, right, between tokens): it is removed as if it were never
    there, with a stable sort rather than a mask, whose shape would depend on the data.
    """
    if pad_token is None:
        return tokens, None
    is_pad = tokens == pad_token
    lengths = tokens.shape[1] - is_pad.sum(1)
    if tokens.shape[1] < 2:
        return tokens, lengths
    order = torch.sort(is_pad.to(torch.uint8), dim=1, stable=True).indices
    return tokens.gather(1, order), lengths


def _full_lengths(tokens: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is not None:
        return lengths.long()
    return torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long, device=tokens.device)


def edit_distances(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    prediction_lengths: torch.Tensor | None = None,
    target_lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """The Levenshtein distance ``(N,)`` (int64) between each predicted sequence ``(N, P)`` and
    its target ``(N, R)``: the fewest insertions, deletions and substitutions of one token that
    turn the prediction into the target. Only the first ``prediction_lengths`` /
    ``target_lengths`` tokens of each sequence count (all of them when ``None``).

    All sequences advance together, one target position at a time (``R`` rounds of six small
    device operations). Row ``i`` of the table is the previous row's deletions and
    substitutions, ``t[j] = min(d[i-1][j] + 1, d[i-1][j-1] + cost)``, followed by the insertions
    as a prefix minimum, ``d[i][j] = j + min over k <= j of (t[k] - k)``; the table is kept as
    ``d[i][j] - j``, where both steps are a single operation. Tokens past a sequence's length
    never reach the cells read, ``d[target length][prediction length]``.
    """
    if predictions.ndim != 2 or targets.ndim != 2 or predictions.shape[0] != targets.shape[0]:
        raise ValueError(
            f"edit_distances: expected predictions (N, P) and targets (N, R), received "
            f"{tuple(predictions.shape)} and {tuple(targets.shape)}"
        )
    count, columns = predictions.shape
    rows = targets.shape[1]
    device = predictions.device
    predicted = _full_lengths(predictions, prediction_lengths).unsqueeze(1)
    target = _full_lengths(targets, target_lengths).unsqueeze(1)
    # cost - 1: a substitution's cost shifted by the -1 that keeping d[i][j] - j brings.
    shifted_cost = (targets.unsqueeze(2) != predictions.unsqueeze(1)).to(torch.int32) - 1
    table = torch.zeros((count, columns + 1), dtype=torch.int32, device=device)
    # d[i][prediction length] - prediction length, for every row i.
    read = [table.gather(1, predicted)]
    step = torch.empty_like(table)
    for i in range(1, rows + 1):
        torch.minimum(table[:, :-1] + shifted_cost[:, i - 1], table[:, 1:] + 1, out=step[:, 1:])
        step[:, 0] = i
        table = torch.cummin(step, dim=1).values
        read.append(table.gather(1, predicted))
    at_target = torch.cat(read, dim=1).gather(1, target)
    return (at_target.long() + predicted).squeeze(1)


def error_rate(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    pad_token: int | None = None,
) -> torch.Tensor:
    """The corpus error rate of token sequences ``(N, P)`` against ``(N, R)``: their summed
    edit distances over the summed target lengths, padding removed (NaN without target
    tokens). Tokens are characters for a CER, words for a WER."""
    predictions, predicted = compact(predictions, pad_token)
    targets, lengths = compact(targets, pad_token)
    errors = edit_distances(predictions, targets, predicted, lengths).sum()
    total = _full_lengths(targets, lengths).sum()
    return errors.double() / total


def bleu_counts(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    prediction_lengths: torch.Tensor | None = None,
    target_lengths: torch.Tensor | None = None,
    max_n: int = 4,
) -> torch.Tensor:
    """BLEU's sufficient statistics of each sequence ``(N, 2 * max_n + 2)`` (int64): for each
    order ``n`` the predicted ``n``-grams found in the target (each counted at most as often as
    the target has it), then each order's predicted ``n``-grams, then the predicted and the
    target lengths. Only the first ``prediction_lengths`` / ``target_lengths`` tokens of each
    sequence count (all of them when ``None``).

    Counted on the device by comparing every pair of positions: an ``n``-gram is equal to
    another where the ``(n - 1)``-grams are and the tokens ``n - 1`` further on are, so each
    order is two masks ``(N, P, R)`` and ``(N, P, P)`` from the previous one. An ``n``-gram
    contributes ``min(count in the prediction, count in the target)`` at its first occurrence.
    """
    predicted = _full_lengths(predictions, prediction_lengths).unsqueeze(1)
    target = _full_lengths(targets, target_lengths).unsqueeze(1)
    columns, rows = predictions.shape[1], targets.shape[1]
    device = predictions.device
    with_target = targets.unsqueeze(1) == predictions.unsqueeze(2)  # (N, P, R)
    with_itself = predictions.unsqueeze(1) == predictions.unsqueeze(2)  # (N, P, P)
    unigram_target, unigram_itself = with_target, with_itself
    positions = torch.arange(max(columns, rows), device=device)
    earlier = positions[:columns].unsqueeze(1) > positions[:columns]  # k < j
    matched, counted = [], []
    for n in range(1, max_n + 1):
        if n > 1:
            with_target = with_target[:, :-1, :-1] & unigram_target[:, n - 1 :, n - 1 :]
            with_itself = with_itself[:, :-1, :-1] & unigram_itself[:, n - 1 :, n - 1 :]
        width, target_width = with_target.shape[1], with_target.shape[2]
        # Where an n-gram starts and ends inside its sequence.
        starts = positions[:width] <= predicted - n
        target_starts = positions[:target_width] <= target - n
        in_target = (with_target & target_starts.unsqueeze(1)).sum(2)
        same = with_itself & starts.unsqueeze(1)
        in_prediction = same.sum(2)
        seen_before = (same & earlier[:width, :width]).any(2)
        first = starts & ~seen_before
        matched.append((torch.minimum(in_prediction, in_target) * first).sum(1))
        counted.append((predicted.squeeze(1) - n + 1).clamp(min=0))
    return torch.stack([*matched, *counted, predicted.squeeze(1), target.squeeze(1)], dim=1)


def bleu_from_counts(
    counts: torch.Tensor,
    max_n: int = 4,
    smooth: Smoothing = "none",
    smooth_value: float | None = None,
) -> torch.Tensor:
    """Corpus BLEU in ``[0, 100]`` from statistics summed over sentences ``(..., 2 * max_n +
    2)`` (see :func:`bleu_counts`), for every leading index: the geometric mean of the
    ``n``-gram precisions times the brevity penalty, as sacrebleu's ``compute_bleu`` gives it
    (without effective order). An order without any predicted ``n``-gram, or without a match
    and not smoothed, gives 0."""
    value = SMOOTHING_DEFAULTS[smooth] if smooth_value is None else smooth_value
    counts = counts.to(torch.float64)
    matched, total = counts[..., :max_n], counts[..., max_n : 2 * max_n]
    length, reference = counts[..., 2 * max_n], counts[..., 2 * max_n + 1]
    any_match = (matched > 0).any(-1)
    if smooth == "add-k":
        # Every order but the first.
        shift = torch.full((max_n,), value, dtype=counts.dtype, device=counts.device)
        shift[0] = 0.0
        matched, total = matched + shift, total + shift
    # Orders from the first without any n-gram on: sacrebleu stops there, with precision 0.
    stopped = torch.cummax((total == 0).to(torch.uint8), dim=-1).values.bool()
    safe_total = total.clamp(min=1e-300)
    precision = matched / safe_total
    unmatched = matched == 0
    if smooth == "exp":
        doubling = torch.cumsum(unmatched.to(counts.dtype), dim=-1)
        precision = torch.where(unmatched, 1.0 / (torch.exp2(doubling) * safe_total), precision)
    elif smooth == "floor":
        precision = torch.where(unmatched, value / safe_total, precision)
    precision = torch.where(stopped, 0.0, precision)
    defined = (precision > 0).all(-1) & any_match
    log_mean = torch.log(precision.clamp(min=1e-300)).mean(-1)
    ratio = 1.0 - reference / length.clamp(min=1e-300)
    penalty = torch.where(length < reference, torch.exp(ratio.clamp(max=0.0)), 1.0)
    penalty = torch.where((length == 0) & (reference > 0), 0.0, penalty)
    return torch.where(defined, 100.0 * penalty * torch.exp(log_mean), 0.0)


def bleu_score(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    pad_token: int | None = None,
    *,
    max_n: int = 4,
    smooth: Smoothing = "none",
    smooth_value: float | None = None,
) -> torch.Tensor:
    """Corpus BLEU in ``[0, 100]`` of token sequences ``(N, P)`` against one target each
    ``(N, R)``, padding removed (see :func:`bleu_counts` and :func:`bleu_from_counts`)."""
    predictions, predicted = compact(predictions, pad_token)
    targets, lengths = compact(targets, pad_token)
    counts = bleu_counts(predictions, targets, predicted, lengths, max_n).sum(0)
    return bleu_from_counts(counts, max_n, smooth, smooth_value)


def lcs_lengths(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    prediction_lengths: torch.Tensor | None = None,
    target_lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """The length ``(N,)`` (int64) of the longest common subsequence of each predicted
    sequence ``(N, P)`` and its target ``(N, R)``, their first ``prediction_lengths`` /
    ``target_lengths`` tokens (all when ``None``).

    Row by row as :func:`edit_distances`: ``t[j] = max(l[i-1][j], l[i-1][j-1] + match)``, then
    ``l[i][j] = max over k <= j of t[k]``, a prefix maximum.
    """
    count, columns = predictions.shape
    predicted = _full_lengths(predictions, prediction_lengths).unsqueeze(1)
    target = _full_lengths(targets, target_lengths).unsqueeze(1)
    matches = (targets.unsqueeze(2) == predictions.unsqueeze(1)).to(torch.int32)
    table = torch.zeros((count, columns + 1), dtype=torch.int32, device=predictions.device)
    read = [table.gather(1, predicted)]
    step = torch.zeros_like(table)
    for i in range(targets.shape[1]):
        torch.maximum(table[:, 1:], table[:, :-1] + matches[:, i], out=step[:, 1:])
        table = torch.cummax(step, dim=1).values
        read.append(table.gather(1, predicted))
    return torch.cat(read, dim=1).gather(1, target).long().squeeze(1)


def rouge_fmeasures(
    overlaps: torch.Tensor, predicted: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Each sequence's ROUGE F-measure (float64, in ``[0, 1]``) from its overlap with the
    target (matched ``n``-grams, or the LCS length) and the counts in the prediction and the
    target, as the rouge-score package gives it: 0 where either is empty."""
    overlaps = overlaps.to(torch.float64)
    precision = overlaps / predicted.clamp(min=1)
    recall = overlaps / target.clamp(min=1)
    both = precision + recall
    return torch.where(both > 0, 2.0 * precision * recall / both.clamp(min=1e-300), 0.0)
