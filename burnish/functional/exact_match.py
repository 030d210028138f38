"""Multilabel exact match (subset accuracy): whether every label of an item is right."""

from __future__ import annotations

import torch

__all__ = ["exact_matches"]


def exact_matches(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Whether every label of each item is predicted correctly ``(N,)``, from 0/1 decisions and
    targets ``(N, L)``."""
    return (predicted.bool() == targets.bool()).all(dim=1)
