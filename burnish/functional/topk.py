"""Top-k accuracy as stateless tensor functions."""

from __future__ import annotations

import torch

__all__ = ["topk_accuracy", "topk_accuracy_counts", "topk_hits"]


def topk_hits(top_indices: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Whether each target ``(N,)`` is among its item's ``top_indices`` ``(N, k)``."""
    return (top_indices == targets.unsqueeze(1)).any(dim=1)


def topk_accuracy_counts(
    top_indices: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | int]:
    """Hits and items counted, given each item's ``k`` best classes ``(N, k)`` and targets ``(N,)``.

    Targets equal to ``pad_token`` are neither hits nor counted; the count is an ``int`` when it
    is known without reading the data.
    """
    hits = topk_hits(top_indices, targets)
    if pad_token is None:
        return hits.sum(), targets.shape[0]
    counted = targets != pad_token
    return (hits & counted).sum(), counted.sum()


def topk_accuracy(
    outputs: torch.Tensor, targets: torch.Tensor, k: int, pad_token: int | None = None
) -> torch.Tensor:
    """The fraction of items whose target ``(N,)`` is among their ``k`` highest scores ``(N, C)``.

    Ties among scores are broken as :func:`torch.topk` breaks them. NaN when no item is counted.
    """
    correct, count = topk_accuracy_counts(outputs.topk(k, dim=1).indices, targets, pad_token)
    return correct.to(torch.float64) / count
