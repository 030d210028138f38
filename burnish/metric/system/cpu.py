"""Host metrics: CPU use, RAM use and CPU temperature (Burn's ``CpuUse``, ``CpuMemory``,
``CpuTemperature``), read from the shared :class:`~burnish.metric.system.sampler.SystemSampler`.
"""

from __future__ import annotations

import math

from burnish.metric.entry import FormatOptions, format_value
from burnish.metric.system.base import SampledMetric
from burnish.metric.system.sampler import Need, SystemSample, SystemSampler

__all__ = ["GB", "CpuMemory", "CpuTemperature", "CpuUse"]

GB = 1e9
"""Bytes in a gigabyte, as Burn shows memory."""


class CpuUse(SampledMetric):
    """System-wide CPU use in %, over the sampler's last interval."""

    need = Need.CPU_USE

    def __init__(self, sampler: SystemSampler | None = None, name: str = "CPU Usage") -> None:
        super().__init__(FormatOptions(name).unit("%").precision(2), sampler)

    def read(self, sample: SystemSample) -> float:
        return sample.cpu_use


class CpuMemory(SampledMetric):
    """RAM in use (total minus available), in GB; the batch text adds the total and the %."""

    need = Need.MEMORY

    def __init__(self, sampler: SystemSampler | None = None, name: str = "CPU Memory") -> None:
        super().__init__(FormatOptions(name).unit("GB").precision(2), sampler)

    def read(self, sample: SystemSample) -> float:
        return sample.memory_used / GB

    def format_current(self, value: float, sample: SystemSample) -> str:
        total = sample.memory_total
        if math.isnan(value) or math.isnan(total) or total <= 0:
            return self._state.options.format(value)
        percent = 100.0 * sample.memory_used / total
        return f"{format_value(value, 2)}/{format_value(total / GB, 2)} GB ({percent:.2f} %)"


class CpuTemperature(SampledMetric):
    """The CPU package temperature in °C (see
    :func:`~burnish.metric.system.providers.cpu_package_temperature`)."""

    need = Need.CPU_TEMPERATURE

    def __init__(self, sampler: SystemSampler | None = None, name: str = "CPU Temperature") -> None:
        super().__init__(FormatOptions(name).unit("°C").precision(2), sampler)

    def read(self, sample: SystemSample) -> float:
        return sample.cpu_temperature
