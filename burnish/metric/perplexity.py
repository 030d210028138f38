"""The perplexity metric (Burn's ``PerplexityMetric``), token-weighted over the epoch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from burnish.adaptor import PerplexityInput
from burnish.functional.perplexity import token_nlls
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion import TaskChecks
from burnish.metric.dtypes import widen
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.state import NumericMetricState, NumericStateMetric

__all__ = ["PerplexityMetric"]


def _exp(mean_nll: float) -> float:
    # exp() of a mean log-likelihood overflows to inf past ~709, as a perplexity should.
    return math.inf if mean_nll > 709.0 else math.exp(mean_nll)


class PerplexityMetric(BlockUpdateMixin[PerplexityInput], NumericStateMetric[NumericMetricState]):
    """``exp`` of the mean token cross-entropy over the epoch.

    Logits ``(N, C)`` (flatten sequences first) and integer targets ``(N,)``; targets equal to
    ``pad_token`` are not counted. Unlike Burn, which averages per-batch perplexities, the epoch
    value is ``exp(total NLL / total tokens)``, so every token weighs the same. Takes logits (or
    log-probabilities: the log-softmax is unchanged by them).
    """

    input_type = PerplexityInput
    higher_is_better = False

    def __init__(self, pad_token: int | None = None, name: str = "Perplexity") -> None:
        self.name = name
        self.pad_token = pad_token
        self._checks = TaskChecks(name, "multiclass", probabilities=False)
        self._state = NumericMetricState(
            FormatOptions(name).precision(2), self._checks, transform=_exp
        )

    def update_block(
        self, block: InputBlock[PerplexityInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        logits, targets, segments = self._checks.join_block(
            block, "outputs", "targets", self.pad_token
        )
        logits = widen(logits)
        # Out-of-range targets are clamped (the targets guard reports them) so gather never
        # fails on the device; padding keeps its value so that it is still recognised.
        safe = targets.clamp(0, logits.shape[1] - 1)
        if self.pad_token is not None:
            safe = torch.where(targets == self.pad_token, targets, safe)
        nll, counted = token_nlls(logits, safe, self.pad_token)
        counts = segments.sizes if counted is None else segments.sums(counted)
        return self._state.update_steps(segments.sums(nll, torch.float64), counts)
