"""The Hamming score (label-based accuracy) as stateless tensor functions."""

from __future__ import annotations

import torch

__all__ = ["hamming_counts", "hamming_hits", "hamming_score"]


def hamming_hits(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Labels predicted correctly per item ``(N,)``, from 0/1 decisions and targets ``(N, L)``."""
    return (predicted.bool() == targets.bool()).sum(dim=1)


def hamming_counts(predicted: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Correctly predicted labels and labels counted, from 0/1 decisions and targets ``(N, L)``."""
    return (predicted.bool() == targets.bool()).sum(), targets.numel()


def hamming_score(
    scores: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5, sigmoid: bool = False
) -> torch.Tensor:
    """The fraction of labels ``(N, L)`` predicted correctly (``score > threshold``, after a
    sigmoid when ``sigmoid``): ``1 - hamming_loss``. NaN for no labels.
    """
    probabilities = scores.sigmoid() if sigmoid else scores
    correct, count = hamming_counts(probabilities > threshold, targets)
    return correct.to(torch.float64) / count
