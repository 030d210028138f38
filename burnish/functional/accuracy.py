"""Accuracy as stateless tensor functions."""

from __future__ import annotations

import torch

from burnish.functional.confusion import best_classes

__all__ = ["accuracy", "accuracy_counts", "accuracy_hits"]


def accuracy_counts(
    predicted: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | int]:
    """Correct predictions and items counted, given predicted and target class indices ``(N,)``.

    Targets equal to ``pad_token`` are neither correct nor counted. The count is an ``int`` when
    it is known without reading the data, so no device value has to be read to weigh a batch.
    """
    correct, counted = accuracy_hits(predicted, targets, pad_token)
    # count_nonzero sums booleans at half the cost of sum().
    return (
        torch.count_nonzero(correct),
        targets.shape[0] if counted is None else torch.count_nonzero(counted),
    )


def accuracy_hits(
    predicted: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per item ``(N,)``: whether it is correct, and whether it counts (``None``: every item
    counts, without ``pad_token``)."""
    hits = predicted == targets
    if pad_token is None:
        return hits, None
    counted = targets != pad_token
    return hits & counted, counted


def accuracy(
    outputs: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> torch.Tensor:
    """The fraction of items whose highest score ``(N, C)`` is at their target ``(N,)``.

    NaN when no item is counted (an empty batch, or padding only).
    """
    correct, count = accuracy_counts(best_classes(outputs), targets, pad_token)
    return correct.to(torch.float64) / count
