"""System metrics: CPU, memory, temperatures and GPUs, sampled off the training thread.

Every metric here takes no input (``update(None, metadata)``) and reads the latest sample of one
shared background :class:`SystemSampler`; see :mod:`burnish.metric.system.sampler`.
"""

from burnish.metric.system.base import HostMeanState, SampledMetric, SamplerClient
from burnish.metric.system.cpu import CpuMemory, CpuTemperature, CpuUse
from burnish.metric.system.gpu import CudaMetric, GpuTemperature, GpuUtilization
from burnish.metric.system.providers import (
    CpuProvider,
    GpuDeviceInfo,
    GpuProvider,
    GpuQueryError,
    GpuUnavailableError,
    NvmlProvider,
    PsutilProvider,
    TemperatureSensor,
    TorchCudaMemory,
    TorchMemoryProvider,
    cpu_package_temperature,
)
from burnish.metric.system.sampler import (
    GpuSample,
    Need,
    SystemSample,
    SystemSampler,
    shared_sampler,
    stop_shared_sampler,
)

__all__ = [
    "CpuMemory",
    "CpuProvider",
    "CpuTemperature",
    "CpuUse",
    "CudaMetric",
    "GpuDeviceInfo",
    "GpuProvider",
    "GpuQueryError",
    "GpuSample",
    "GpuTemperature",
    "GpuUnavailableError",
    "GpuUtilization",
    "HostMeanState",
    "Need",
    "NvmlProvider",
    "PsutilProvider",
    "SampledMetric",
    "SamplerClient",
    "SystemSample",
    "SystemSampler",
    "TemperatureSensor",
    "TorchCudaMemory",
    "TorchMemoryProvider",
    "cpu_package_temperature",
    "shared_sampler",
    "stop_shared_sampler",
]
