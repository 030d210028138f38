"""The learning rate metric (Burn's ``LearningRateMetric``), for every parameter group."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry
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
        self._repeat: tuple[tuple[float, ...], MetricEntry] | None = None

    def update(self, item: None, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        lrs = metadata.lrs
        value = lrs[0] if lrs else math.nan
        counted = self._state.add(value)
        if self._repeat is not None and self._repeat[0] == lrs:
            # The rates of the step before, so the same entry: most steps of most schedules,
            # and a consumer reads an entry once however many steps it stands for.
            return self._repeat[1]
        running = self._state.running_value().value
        # Host numbers: the log text now (cheap), the display text only if someone reads it.
        serialized = NumericEntry(value, int(counted), "aggregated").serialize()
        entry = MetricEntry(
            self.name, functools.partial(self._formatted, value, running, lrs), serialized
        )
        self._repeat = (lrs, entry)
        return entry

    def clear(self) -> None:
        super().clear()
        self._repeat = None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._repeat = None

    def _formatted(self, value: float, running: float, lrs: Sequence[float]) -> str:
        options = self._state.options
        formatted = f"epoch {options.format(running)} - batch {options.format(value)}"
        if len(lrs) > 1:
            rates = ", ".join(options.format(group) for group in lrs)
            formatted = f"{formatted} (groups: {rates})"
        return formatted
