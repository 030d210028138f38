"""What the input-less numeric metrics share: a host-side running mean and the sampled base.

Their values are Python floats already (a sample, a learning rate, a rate), so unlike
:class:`~burnish.metric.state.NumericMetricState` there is nothing on a device to defer.
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from typing_extensions import Self

from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry
from burnish.metric.state import NumericStateMetric
from burnish.metric.system.sampler import Need, SystemSample, SystemSampler, shared_sampler
from burnish.metric.totals import Totals

__all__ = ["HostMeanState", "SampledMetric", "SamplerClient"]


class HostMeanState:
    """The running, count-weighted mean of host values over an epoch; NaN values are skipped."""

    def __init__(self, options: FormatOptions) -> None:
        self.options = options
        self._sum = 0.0
        self._count = 0
        self._current = math.nan

    def add(self, value: float, count: int = 1) -> bool:
        """Record the latest value; ``True`` when it counted (it is not NaN)."""
        self._current = value
        if math.isnan(value) or count <= 0:
            return False
        self._sum += value * count
        self._count += count
        return True

    def value(self) -> float:
        """The latest value; NaN before the first or when it was not available."""
        return self._current

    def running_value(self) -> NumericEntry:
        """The epoch mean so far, with the number of values it averages."""
        mean = self._sum / self._count if self._count else math.nan
        return NumericEntry(mean, self._count, "aggregated")

    def totals(self) -> Totals:
        """The epoch's sum and count so far (see :class:`~burnish.metric.totals.Totals`)."""
        return Totals((self._sum, float(self._count)), _mean)

    def formatted(self, current: str | None = None) -> str:
        """``epoch <running> - batch <current>``, as Burn shows a numeric metric."""
        batch = self.options.format(self._current) if current is None else current
        return f"epoch {self.options.format(self.running_value().value)} - batch {batch}"

    def compute(self) -> MetricEntry:
        running = self.running_value()
        return MetricEntry(
            self.options.name, self.options.format(running.value), running.serialize()
        )

    def clear(self) -> None:
        self._sum = 0.0
        self._count = 0
        self._current = math.nan

    def state_dict(self) -> dict[str, Any]:
        return {"sum": self._sum, "count": self._count, "current": self._current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sum, self._count = float(state["sum"]), int(state["count"])
        self._current = float(state["current"])


def _mean(totals: Sequence[list[float]]) -> list[float]:
    (total,), (count,) = totals
    return [total / count if count else math.nan]


def _reason(problem: str) -> str:
    """A sampler's warning without its "X is not available: " lead, which the row says."""
    _, separator, reason = problem.partition(" not available: ")
    return reason if separator else problem


_NOT_COPIED = frozenset({"_sampler", "_subscribed", "_release"})


class SamplerClient:
    """A metric's use of a sampler: subscribed on its first update, released by :meth:`close`
    or when the metric is garbage collected."""

    need: ClassVar[Need]

    def __init__(self, sampler: SystemSampler | None = None) -> None:
        self._sampler = sampler
        self._subscribed: SystemSampler | None = None
        self._release: Callable[[], object] | None = None

    @property
    def sampler(self) -> SystemSampler:
        """The sampler read from: the one given, else the process's shared sampler."""
        if self._sampler is None:
            self._sampler = shared_sampler()
        return self._sampler

    def latest_sample(self) -> SystemSample:
        """The sampler's newest sample, subscribing (and so starting it) on the first call."""
        sampler = self._subscribed
        if sampler is None:
            sampler = self._subscribe()
        return sampler.latest

    def close(self) -> None:
        """Stop needing samples (also done when the metric is garbage collected)."""
        release, self._release, self._subscribed = self._release, None, None
        if release is not None:
            release()

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        # A copy shares the sampler (a process-wide resource) and subscribes on its own.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            if key not in _NOT_COPIED:
                clone.__dict__[key] = copy.deepcopy(value, memo)
        clone.__dict__.update(_sampler=self._sampler, _subscribed=None, _release=None)
        return clone

    def __getstate__(self) -> dict[str, object]:
        # A sampler stays in its process: an unpickled metric uses its process's shared one.
        state = {key: value for key, value in self.__dict__.items() if key not in _NOT_COPIED}
        return {**state, "_sampler": None, "_subscribed": None, "_release": None}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    def _subscribe(self) -> SystemSampler:
        sampler = self.sampler
        sampler.acquire(self.need)
        # The finalizer holds the sampler, not the metric: the metric stays collectable.
        self._release = weakref.finalize(self, sampler.release, self.need)
        self._subscribed = sampler
        return sampler


class SampledMetric(SamplerClient, NumericStateMetric[HostMeanState]):
    """A numeric metric read from the :class:`SystemSampler`'s latest sample.

    ``update()`` reads one attribute of the sampler and does work only when a new sample has
    arrived (at most a few times a second): the epoch value is the mean of the distinct samples
    seen during the epoch. The entry of the step that first sees a sample counts it (count 1);
    later steps showing the same sample have count 0, so that a logger's count-weighted mean of
    the step entries equals :meth:`running_value`. Subclasses say what they need and how to read
    it from a sample.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, options: FormatOptions, sampler: SystemSampler | None = None) -> None:
        super().__init__(sampler)
        self.name = options.name
        self._state = HostMeanState(options)
        self._seen = -1
        self._repeat: MetricEntry | None = None

    def read(self, sample: SystemSample) -> float:
        """This metric's value in ``sample``; NaN when it is not available."""
        raise NotImplementedError

    def format_current(self, value: float, sample: SystemSample) -> str:
        """The text after ``batch`` for ``value``: the value with its unit by default."""
        return self._state.options.format(value)

    def update(self, item: None, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        sample = self.latest_sample()
        if sample.seq == self._seen and self._repeat is not None:
            return self._repeat
        self._seen = sample.seq
        value = self.read(sample)
        counted = self._state.add(value)
        formatted = self._state.formatted(self.format_current(value, sample))
        problem = sample.problem(self.need)
        if (
            problem is not None
            and math.isnan(value)
            and math.isnan(self._state.running_value().value)
        ):
            # Shown in the dashboard's System panel: why, rather than a bare n/a.
            formatted = f"n/a ({_reason(problem)})"
        self._repeat = MetricEntry(
            self.name, formatted, NumericEntry(value, 0, "aggregated").serialize()
        )
        return MetricEntry(
            self.name, formatted, NumericEntry(value, int(counted), "aggregated").serialize()
        )

    def clear(self) -> None:
        super().clear()
        self._seen = -1
        self._repeat = None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._seen = -1
        self._repeat = None
