"""The learning rate metric (Burn's ``LearningRateMetric``), for every parameter group."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from burnish.metric.base import FormatOptions, MetricEntry, MetricMetadata, NumericEntry
from burnish.metric.state import NumericStateMetric
from burnish.metric.system.base import HostMeanState

__all__ = ["LearningRateMetric"]


class LearningRateMetric(NumericStateMetric[HostMeanState]):
    """The learning rate of each step, from :attr:`MetricMetadata.lrs`.

    The numeric value (plotted, averaged over the epoch) is the first parameter group's rate,
    as in Burn; the text lists every group when the optimizer has more than one. A step
    without learning rates (validation) is n/a and does not count in the epoch mean.
    """

    higher_is_better = False

    def __init__(self, name: str = "Learning Rate") -> None:
        self.name = name
        self._state = HostMeanState(FormatOptions(name).precision(2))

    def update(self, item: None, metadata: MetricMetadata) -> MetricEntry:
        lrs = metadata.lrs
        value = lrs[0] if lrs else math.nan
        counted = self._state.add(value)
        running = self._state.running_value().value
        # Host numbers: the log text now (cheap), the display text only if someone reads it.
        serialized = NumericEntry(value, int(counted), "aggregated").serialize()
        return MetricEntry(
            self.name, functools.partial(self._formatted, value, running, lrs), serialized
        )

    def _formatted(self, value: float, running: float, lrs: Sequence[float]) -> str:
        options = self._state.options
        formatted = f"epoch {options.format(running)} - batch {options.format(value)}"
        if len(lrs) > 1:
            rates = ", ".join(options.format(group) for group in lrs)
            formatted = f"{formatted} (groups: {rates})"
        return formatted
