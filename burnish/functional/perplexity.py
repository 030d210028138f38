"""Perplexity as stateless tensor functions."""

from __future__ import annotations

import torch

__all__ = ["perplexity", "token_nll"]


def token_nll(
    logits: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | int]:
    """Summed negative log-likelihood of the targets ``(N,)`` under ``logits`` ``(N, C)``, and
    the tokens counted. Targets equal to ``pad_token`` count for nothing; every other target must
    lie in ``[0, C)``. The count is an ``int`` when known without reading the data.
    """
    counted = None if pad_token is None else targets != pad_token
    safe = targets.long() if counted is None else targets.long().masked_fill(~counted, 0)
    log_norm = torch.logsumexp(logits, dim=1)
    nll = log_norm - logits.gather(1, safe.unsqueeze(1)).squeeze(1)
    if counted is None:
        return nll.sum(dtype=torch.float64), targets.shape[0]
    return (nll * counted).sum(dtype=torch.float64), counted.sum()


def perplexity(
    logits: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> torch.Tensor:
    """``exp`` of the mean token cross-entropy; NaN when no token is counted."""
    total, count = token_nll(logits, targets, pad_token)
    return torch.exp(total / count)
