"""The small objects through which the system sampler reaches psutil, NVML and torch.cuda.

Only :class:`~burnish.metric.system.sampler.SystemSampler` calls them, from its own thread. Each
is a protocol with one real implementation here, so that tests (and unusual platforms) can hand
the sampler a fake instead.
"""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "CpuProvider",
    "GpuDeviceInfo",
    "GpuProvider",
    "GpuQueryError",
    "GpuUnavailableError",
    "NvmlProvider",
    "PsutilProvider",
    "TemperatureSensor",
    "TorchCudaMemory",
    "TorchMemoryProvider",
    "cpu_package_temperature",
]


class TemperatureSensor(Protocol):
    """One reading of ``psutil.sensors_temperatures()`` (psutil's ``shwtemp``)."""

    @property
    def label(self) -> str: ...

    @property
    def current(self) -> float: ...


class CpuProvider(Protocol):
    """What the sampler asks of the host: psutil's calls, or a fake's."""

    def cpu_percent(self) -> float:
        """System-wide CPU use in % since the previous call (the first call means nothing)."""
        ...

    def memory(self) -> tuple[float, float]:
        """``(used, total)`` bytes of RAM; used is total minus available."""
        ...

    def temperatures(self) -> Mapping[str, Sequence[TemperatureSensor]]:
        """psutil's ``sensors_temperatures()``; ``NotImplementedError`` where unsupported."""
        ...


class PsutilProvider:
    """:class:`CpuProvider` backed by psutil."""

    def __init__(self) -> None:
        import psutil  # noqa: PLC0415 - imported where used, like NVML

        self._psutil: Any = psutil

    def cpu_percent(self) -> float:
        # interval=None does not block: it compares with the times of this thread's previous
        # call (psutil keeps that state per thread), which is the sampler's previous tick.
        return float(self._psutil.cpu_percent(interval=None))

    def memory(self) -> tuple[float, float]:
        memory = self._psutil.virtual_memory()
        return float(memory.total - memory.available), float(memory.total)

    def temperatures(self) -> Mapping[str, Sequence[TemperatureSensor]]:
        read = getattr(self._psutil, "sensors_temperatures", None)
        if read is None:
            raise NotImplementedError("psutil has no temperature sensors on this platform")
        sensors: Mapping[str, Sequence[TemperatureSensor]] = read()
        return sensors


# Drivers that report the CPU package, best first, with the labels to prefer within each.
# k10temp/zenpower: Tdie is the die temperature; Tctl is the fan-control value, which carries
# an offset of up to 27 °C on some Ryzen parts, so it only counts when Tdie is absent. acpitz is
# a motherboard ACPI zone, the least direct reading, so it comes last.
_CPU_SENSORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("coretemp", ("Package id",)),
    ("k10temp", ("Tdie", "Tctl")),
    ("zenpower", ("Tdie", "Tctl")),
    ("x86_pkg_temp", ()),
    ("cpu_thermal", ()),
    ("cpu-thermal", ()),
    ("soc_thermal", ()),
    ("acpitz", ()),
)


def cpu_package_temperature(sensors: Mapping[str, Sequence[TemperatureSensor]]) -> float | None:
    """The CPU package temperature in °C among psutil's sensors, or ``None`` if none is known.

    Takes the first driver of coretemp, k10temp, zenpower, x86_pkg_temp, cpu_thermal and acpitz
    that has a reading. Within a driver, the preferred labels (coretemp's ``Package id N``,
    k10temp's ``Tdie`` then ``Tctl``) are tried in order, else every reading counts; with
    several packages (sockets) the hottest is reported.
    """
    for driver, labels in _CPU_SENSORS:
        readings = [sensor for sensor in sensors.get(driver, ()) if _is_temperature(sensor.current)]
        if not readings:
            continue
        for label in labels:
            chosen = [sensor.current for sensor in readings if sensor.label.startswith(label)]
            if chosen:
                return float(max(chosen))
        # Without the preferred label (old kernels say "Physical id N"), take the hottest.
        return float(max(sensor.current for sensor in readings))
    return None


def _is_temperature(value: float) -> bool:
    # Some drivers report 0 or absurd values for sensors that are not wired up.
    return math.isfinite(value) and -40.0 < value < 150.0


class GpuUnavailableError(Exception):
    """NVML cannot be used in this process: no library, no driver, no permission."""


class GpuQueryError(Exception):
    """An NVML query failed.

    ``kind``: ``"lost"`` when the device is gone (fell off the bus, index no longer valid),
    ``"unsupported"`` when the device does not report that quantity, ``"error"`` otherwise.
    """

    def __init__(self, message: str, kind: Literal["lost", "unsupported", "error"]) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class GpuDeviceInfo:
    """What NVML tells about a device that does not change while it is present."""

    name: str
    uuid: str


class GpuProvider(Protocol):
    """What the sampler asks of NVML: each call raises :class:`GpuQueryError` on failure."""

    def init(self) -> None:
        """Load and initialise NVML; raises :class:`GpuUnavailableError`."""
        ...

    def shutdown(self) -> None: ...

    def device_count(self) -> int: ...

    def info(self, index: int) -> GpuDeviceInfo: ...

    def utilization(self, index: int) -> float:
        """GPU utilisation in % over NVML's last sample period."""
        ...

    def memory(self, index: int) -> tuple[float, float]:
        """``(used, total)`` bytes of device memory, every process included."""
        ...

    def power(self, index: int) -> float:
        """Power draw in watts."""
        ...

    def temperature(self, index: int) -> float:
        """Core temperature in °C."""
        ...


class NvmlProvider:
    """:class:`GpuProvider` backed by nvidia-ml-py (``pynvml``)."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: dict[int, object] = {}

    def init(self) -> None:
        try:
            import pynvml  # noqa: PLC0415 - optional at run time: absent on CPU-only installs
        except ImportError as error:
            raise GpuUnavailableError(f"nvidia-ml-py is not installed ({error})") from error
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            raise GpuUnavailableError(f"NVML did not initialise: {error}") from error
        except OSError as error:  # a broken libnvidia-ml
            raise GpuUnavailableError(f"NVML did not load: {error}") from error
        self._nvml = pynvml
        self._handles = {}

    def shutdown(self) -> None:
        nvml, self._nvml = self._nvml, None
        self._handles = {}
        if nvml is not None:
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def device_count(self) -> int:
        return int(self._call(None, "nvmlDeviceGetCount"))

    def info(self, index: int) -> GpuDeviceInfo:
        name = self._call(index, "nvmlDeviceGetName")
        uuid = self._call(index, "nvmlDeviceGetUUID")
        return GpuDeviceInfo(_text(name), _text(uuid))

    def utilization(self, index: int) -> float:
        return float(self._call(index, "nvmlDeviceGetUtilizationRates").gpu)

    def memory(self, index: int) -> tuple[float, float]:
        memory = self._call(index, "nvmlDeviceGetMemoryInfo")
        return float(memory.used), float(memory.total)

    def power(self, index: int) -> float:
        return float(self._call(index, "nvmlDeviceGetPowerUsage")) / 1000.0  # mW

    def temperature(self, index: int) -> float:
        sensor = self._nvml.NVML_TEMPERATURE_GPU if self._nvml is not None else 0
        return float(self._call(index, "nvmlDeviceGetTemperature", sensor))

    def _call(self, index: int | None, function: str, *args: object) -> Any:
        nvml = self._nvml
        if nvml is None:
            raise GpuQueryError("NVML is not initialised", "error")
        try:
            if index is None:
                return getattr(nvml, function)(*args)
            handle = self._handles.get(index)
            if handle is None:
                handle = self._handles[index] = nvml.nvmlDeviceGetHandleByIndex(index)
            return getattr(nvml, function)(handle, *args)
        except nvml.NVMLError as error:
            if index is not None and error.value in _lost_codes(nvml):
                self._handles.pop(index, None)
                raise GpuQueryError(f"GPU {index} is gone: {error}", "lost") from error
            if error.value == nvml.NVML_ERROR_NOT_SUPPORTED:
                raise GpuQueryError(str(error), "unsupported") from error
            raise GpuQueryError(str(error), "error") from error


def _lost_codes(nvml: Any) -> tuple[int, ...]:
    return (
        nvml.NVML_ERROR_GPU_IS_LOST,
        nvml.NVML_ERROR_NOT_FOUND,
        nvml.NVML_ERROR_INVALID_ARGUMENT,  # an index past the (new) device count
    )


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class TorchMemoryProvider(Protocol):
    """torch's own view of device memory, keyed by normalised device UUID."""

    def memory(self) -> Mapping[str, tuple[float, float]]:
        """``{uuid: (allocated, reserved)}`` bytes for each device this process uses."""
        ...


class TorchCudaMemory:
    """:class:`TorchMemoryProvider` reading torch's caching allocator statistics.

    Reading them is a host-side lookup, with no device synchronisation. Nothing is reported
    before the process has initialised CUDA itself: the sampler must not create CUDA contexts.
    Devices are matched to NVML's by UUID, because torch's indices follow
    ``CUDA_VISIBLE_DEVICES`` and NVML's do not.
    """

    def __init__(self, torch_module: types.ModuleType | None = None) -> None:
        self._torch: Any = torch_module
        self._uuids: tuple[str, ...] | None = None

    def memory(self) -> Mapping[str, tuple[float, float]]:
        if self._torch is None:
            import torch  # noqa: PLC0415 - burnish imports it anyway; kept lazy for fakes

            self._torch = torch
        cuda = self._torch.cuda
        if not cuda.is_initialized():
            return {}
        if self._uuids is None:
            self._uuids = tuple(
                normalise_uuid(str(cuda.get_device_properties(index).uuid))
                for index in range(cuda.device_count())
            )
        return {
            uuid: (float(cuda.memory_allocated(index)), float(cuda.memory_reserved(index)))
            for index, uuid in enumerate(self._uuids)
        }


def normalise_uuid(uuid: str) -> str:
    """NVML says ``GPU-5b5e...``, torch says ``5b5e...``: compare them without the prefix."""
    uuid = uuid.strip().lower()
    for prefix in ("gpu-", "mig-"):
        uuid = uuid.removeprefix(prefix)
    return uuid
