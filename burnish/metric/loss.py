"""The loss metric (Burn's ``LossMetric``)."""

from __future__ import annotations

import math

import torch

from burnish.adaptor import LossInput
from burnish.metric.base import FormatOptions, MetricEntry, MetricMetadata
from burnish.metric.dtypes import widen
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import GuardBounds, RangeGuard, check_ndim, expect_input

__all__ = ["LossMetric"]


class LossMetric(NumericStateMetric[NumericMetricState]):
    """The mean loss, weighted by batch size over the epoch."""

    input_type = LossInput
    higher_is_better = False

    def __init__(self, name: str = "Loss") -> None:
        self.name = name
        self._finite = GuardBounds(
            [RangeGuard(name, "a loss", -math.inf, math.inf, "that is finite")]
        )
        self._state = NumericMetricState(FormatOptions(name).precision(4), self._finite)

    def update(self, item: LossInput, metadata: MetricMetadata) -> MetricEntry:
        item = expect_input(self.name, item, LossInput)
        loss = widen(item.tensor.detach())
        check_ndim(self.name, "the loss", loss, (0, 1), "() or (N,)")
        if loss.ndim == 1:
            self._finite.observe(torch.aminmax(loss))
            return self._state.update(loss.sum(), loss.shape[0])
        # A scalar needs no reduction to find its range: it is its own minimum and maximum.
        self._finite.observe((loss, loss))
        return self._state.update_mean(loss, 1 if item.batch_size is None else item.batch_size)
