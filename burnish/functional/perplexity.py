"""Perplexity as stateless tensor functions."""

from __future__ import annotations

import torch

__all__ = ["perplexity", "token_nll", "token_nlls"]


def token_nlls(
    logits: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per token ``(N,)``: the negative log-likelihood of its target under ``logits`` ``(N, C)``
    (0 for padding), and whether it counts (``None``: every token counts, without
    ``pad_token``). Every target but ``pad_token`` must lie in ``[0, C)``."""
    counted = None if pad_token is None else targets != pad_token
    safe = targets.long() if counted is None else targets.long().masked_fill(~counted, 0)
    log_norm = torch.logsumexp(logits, dim=1)
    nll = log_norm - logits.gather(1, safe.unsqueeze(1)).squeeze(1)
    return (nll, None) if counted is None else (nll * counted, counted)


def token_nll(
    logits: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | int]:
    """Summed negative log-likelihood of the targets ``(N,)`` under ``logits`` ``(N, C)``, and
    the tokens counted (as :func:`token_nlls`). The count is an ``int`` when known without
    reading the data.
    """
    nll, counted = token_nlls(logits, targets, pad_token)
    total = nll.sum(dtype=torch.float64)
    return (total, targets.shape[0]) if counted is None else (total, counted.sum())


def perplexity(
    logits: torch.Tensor, targets: torch.Tensor, pad_token: int | None = None
) -> torch.Tensor:
    """``exp`` of the mean token cross-entropy; NaN when no token is counted."""
    total, count = token_nll(logits, targets, pad_token)
    return torch.exp(total / count)
