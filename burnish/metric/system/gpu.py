"""GPU metrics from NVML: plotted temperature and utilisation, and Burn's ``CudaMetric`` table."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import ClassVar

from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.entry import FormatOptions, MetricEntry, format_value
from burnish.metric.system.base import SampledMetric, SamplerClient
from burnish.metric.system.cpu import GB
from burnish.metric.system.sampler import GpuSample, Need, SystemSample, SystemSampler

__all__ = ["CudaMetric", "GpuTemperature", "GpuUtilization"]


class _DeviceMetric(SampledMetric):
    """One quantity of one GPU by NVML index, or of every GPU combined (``device=None``).

    NVML indices are the machine's, not torch's (``CUDA_VISIBLE_DEVICES`` renumbers those).
    """

    need = Need.GPU
    title: ClassVar[str]
    unit: ClassVar[str]

    def __init__(
        self,
        device: int | None = None,
        sampler: SystemSampler | None = None,
        name: str | None = None,
    ) -> None:
        if device is not None and device < 0:
            raise ValueError(f"{self.title}: device must be >= 0 or None, got {device}")
        self.device = device
        if name is None:
            name = self.title if device is None else f"{self.title} {device}"
        super().__init__(FormatOptions(name).unit(self.unit).precision(2), sampler)

    def quantity(self, gpu: GpuSample) -> float:
        raise NotImplementedError

    def combine(self, values: Sequence[float]) -> float:
        """The value of ``device=None`` from every present GPU's (NaN ones left out)."""
        raise NotImplementedError

    def read(self, sample: SystemSample) -> float:
        gpus = sample.gpus
        if gpus is None:
            return math.nan
        if self.device is None:
            values = [self.quantity(gpu) for gpu in gpus if gpu.present]
            values = [value for value in values if not math.isnan(value)]
            return self.combine(values) if values else math.nan
        if self.device >= len(gpus):
            self.sampler.warn_once(
                f"gpu-missing-{self.name}",
                f"{self.name} is not available: NVML lists {len(gpus)} GPU(s), "
                f"no GPU {self.device}",
                Need.GPU,
            )
            return math.nan
        return self.quantity(gpus[self.device])


class GpuTemperature(_DeviceMetric):
    """A GPU's core temperature in °C, by NVML index; ``device=None``: the hottest GPU's."""

    title = "GPU Temperature"
    unit = "°C"

    def quantity(self, gpu: GpuSample) -> float:
        return gpu.temperature

    def combine(self, values: Sequence[float]) -> float:
        return max(values)


class GpuUtilization(_DeviceMetric):
    """A GPU's utilisation in % (time a kernel ran, as NVML reports it), by NVML index;
    ``device=None``: the mean over the GPUs."""

    title = "GPU Utilization"
    unit = "%"

    def quantity(self, gpu: GpuSample) -> float:
        return gpu.utilization

    def combine(self, values: Sequence[float]) -> float:
        return sum(values) / len(values)


class CudaMetric(SamplerClient):
    """Every GPU's utilisation, memory, power and temperature, with torch's own memory use.

    A text metric (shown, not plotted): one row per NVML device. ``Torch`` is this process's
    allocated/reserved memory in torch's caching allocator, for the devices it uses. The
    serialized entry is JSON: one object per device, ``null`` for values not available, and
    ``null`` for the whole list when NVML is not available.
    """

    need = Need.GPU

    def __init__(self, sampler: SystemSampler | None = None, name: str = "CUDA Stats") -> None:
        super().__init__(sampler)
        self.name = name
        self._seen = -1
        self._entry: MetricEntry | None = None

    def update(self, item: None, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        sample = self.latest_sample()
        if sample.seq != self._seen or self._entry is None:
            self._seen = sample.seq
            self._entry = self.entry(sample)
        return self._entry

    def compute(self) -> MetricEntry:
        """The latest sample's table: a device table has no epoch mean."""
        sample = self._subscribed.latest if self._subscribed is not None else SystemSample()
        return self.entry(sample)

    def clear(self) -> None:
        self._seen = -1
        self._entry = None

    def entry(self, sample: SystemSample) -> MetricEntry:
        """The entry for ``sample``: its device table and JSON."""
        return MetricEntry(self.name, format_table(sample.gpus), serialize(sample.gpus))


_HEADER = ("GPU", "Util", "Memory", "Power", "Temp", "Torch alloc/res")


def format_table(gpus: Sequence[GpuSample] | None) -> str:
    """One aligned row per GPU, under a header; ``n/a`` when NVML is not available."""
    if not gpus:
        return "n/a"
    rows = [_HEADER, *(_row(gpu) for gpu in gpus)]
    widths = [max(len(row[column]) for row in rows if len(row) > column) for column in range(6)]
    # The index to the left, the values to the right: units and decimal points line up.
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=False))
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _row(gpu: GpuSample) -> tuple[str, ...]:
    if not gpu.present:
        return (str(gpu.index), "n/a")
    return (
        str(gpu.index),
        _with_unit(gpu.utilization, 0, "%"),
        _pair(gpu.memory_used, gpu.memory_total),
        _with_unit(gpu.power, 0, "W"),
        _with_unit(gpu.temperature, 0, "°C"),
        _pair(gpu.torch_allocated, gpu.torch_reserved),
    )


def _with_unit(value: float, precision: int, unit: str) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{precision}f} {unit}"


def _pair(first: float, second: float) -> str:
    if math.isnan(first) or math.isnan(second):
        return "n/a"
    return f"{format_value(first / GB, 2)}/{format_value(second / GB, 2)} GB"


def serialize(gpus: Sequence[GpuSample] | None) -> str:
    """JSON for loggers: units in the keys, ``null`` for what is not available."""
    if gpus is None:
        return "null"
    return json.dumps(
        [
            {
                "index": gpu.index,
                "name": gpu.name or None,
                "uuid": gpu.uuid or None,
                "present": gpu.present,
                "utilization_percent": _number(gpu.utilization),
                "memory_used_gb": _number(gpu.memory_used / GB),
                "memory_total_gb": _number(gpu.memory_total / GB),
                "power_w": _number(gpu.power),
                "temperature_c": _number(gpu.temperature),
                "torch_allocated_gb": _number(gpu.torch_allocated / GB),
                "torch_reserved_gb": _number(gpu.torch_reserved / GB),
            }
            for gpu in gpus
        ],
        separators=(",", ":"),
    )


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value
