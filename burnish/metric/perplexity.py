"""The perplexity metric (Burn's ``PerplexityMetric``), token-weighted over the epoch."""

from __future__ import annotations

import math

import torch

from burnish.adaptor import PerplexityInput
from burnish.functional.perplexity import token_nll
from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.confusion import TaskChecks
from burnish.metric.dtypes import widen
from burnish.metric.entry import FormatOptions, MetricEntry
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import expect_input

__all__ = ["PerplexityMetric"]


def _exp(mean_nll: float) -> float:
    # exp() of a mean log-likelihood overflows to inf past ~709, as a perplexity should.
    return math.inf if mean_nll > 709.0 else math.exp(mean_nll)


class PerplexityMetric(NumericStateMetric[NumericMetricState]):
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

    def update(self, item: PerplexityInput, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        item = expect_input(self.name, item, PerplexityInput)
        logits, targets = widen(item.outputs), item.targets
        self._checks.watch(item, logits, targets, self.pad_token)
        # Out-of-range targets are clamped (the targets guard reports them) so gather never
        # fails on the device; padding keeps its value so that it is still recognised.
        safe = targets.clamp(0, logits.shape[1] - 1)
        if self.pad_token is not None:
            safe = torch.where(targets == self.pad_token, targets, safe)
        total, count = token_nll(logits, safe, self.pad_token)
        return self._state.update(total, count)
