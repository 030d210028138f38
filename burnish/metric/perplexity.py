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
    log-probabilities: the log-softmax is unchanged by them). Logits of ``-inf`` (masked
    classes) are accepted, and a target whose logit is ``-inf`` gives an infinite perplexity,
    as :func:`torch.nn.functional.cross_entropy` does; a row wholly ``-inf`` (outside padding),
    NaN and ``+inf`` are reported as errors at the next read.
    """

    input_type = PerplexityInput
    higher_is_better = False

    def __init__(self, pad_token: int | None = None, name: str = "Perplexity") -> None:
        self.name = name
        self.pad_token = pad_token
        self._checks = TaskChecks(name, "multiclass", probabilities=False, masks="partial")
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
        # fails on the device.
        nll, _ = token_nlls(logits, targets.clamp(0, logits.shape[1] - 1))
        if self.pad_token is None:
            return self._state.update_steps(segments.sums(nll, torch.float64), segments.sizes)
        counted = targets != self.pad_token
        # Selected rather than multiplied: a masked padding row's NaN or inf times 0 is NaN.
        nll = torch.where(counted, nll, 0.0)
        return self._state.update_steps(segments.sums(nll, torch.float64), segments.sums(counted))
