"""One background thread that samples the host and the GPUs for every system metric.

psutil and NVML calls take from microseconds to milliseconds, and NVML's first call far longer;
none of them belongs in a training step. A :class:`SystemSampler` calls them from its own thread
at a fixed rate (2 Hz by default) and publishes an immutable :class:`SystemSample`; a metric's
``update()`` only reads :attr:`SystemSampler.latest`, one attribute load.

The process shares one sampler (:func:`shared_sampler`), started on the first update of a
system metric and stopped when the last metric using it is closed or garbage collected. It only
queries what its metrics need (:class:`Need`): a run with only a CPU metric never loads NVML.

A missing sensor, a missing NVML, no GPU, an NVML error mid-run or a GPU that falls off the bus
make the affected values NaN (shown as n/a, with the reason: see
:attr:`SystemSample.problems`) and log one warning per problem to the ``burnish.metric.system``
logger; sampling goes on.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from burnish.metric.system.providers import (
    CpuProvider,
    GpuDeviceInfo,
    GpuProvider,
    GpuQueryError,
    GpuUnavailableError,
    NvmlProvider,
    PsutilProvider,
    TorchCudaMemory,
    TorchMemoryProvider,
    cpu_package_temperature,
    normalise_uuid,
)

__all__ = [
    "GpuSample",
    "Need",
    "SystemSample",
    "SystemSampler",
    "logger",
    "shared_sampler",
    "stop_shared_sampler",
]

logger = logging.getLogger("burnish.metric.system")

NAN = math.nan
_T = TypeVar("_T")
_GpuState = Literal["off", "on", "failed"]


class Need(enum.Enum):
    """What a metric needs sampled."""

    CPU_USE = "cpu use"
    MEMORY = "memory"
    CPU_TEMPERATURE = "cpu temperature"
    GPU = "gpu"


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU, as NVML (and torch's allocator) saw it. NaN: not available."""

    index: int
    name: str = ""
    uuid: str = ""
    present: bool = True
    utilization: float = NAN
    memory_used: float = NAN
    memory_total: float = NAN
    power: float = NAN
    temperature: float = NAN
    torch_allocated: float = NAN
    torch_reserved: float = NAN


@dataclass(frozen=True, slots=True)
class SystemSample:
    """Everything sampled in one tick. ``seq`` increases by one per tick; 0 is "nothing yet".

    ``gpus`` is ``None`` when GPUs were not sampled or NVML is unavailable, and holds one
    entry per device NVML has reported since it started (a device that disappeared stays, with
    ``present=False``). ``problems``: why a quantity is not available, the latest reason per
    need, for metrics to show beside their n/a.
    """

    seq: int = 0
    at: float = NAN
    cpu_use: float = NAN
    memory_used: float = NAN
    memory_total: float = NAN
    cpu_temperature: float = NAN
    gpus: tuple[GpuSample, ...] | None = None
    problems: tuple[tuple[Need, str], ...] = ()

    def problem(self, need: Need) -> str | None:
        """Why ``need`` is not available, or ``None`` when no problem was met."""
        return next((why for of, why in self.problems if of is need), None)


class SystemSampler:
    """Samples what its metrics need, every ``interval`` seconds, on a daemon thread.

    Metrics :meth:`acquire` the quantities they need on their first update (which starts the
    thread) and :meth:`release` them when closed or collected (the last release stops it).
    ``background=False`` never starts a thread: the owner calls :meth:`poll` (tests do).
    The providers are where psutil, NVML and torch.cuda are reached; pass fakes to test.
    """

    def __init__(
        self,
        *,
        cpu: CpuProvider | None = None,
        gpu: GpuProvider | None = None,
        torch_memory: TorchMemoryProvider | None = None,
        interval: float = 0.5,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"SystemSampler: interval must be positive, got {interval}")
        self.interval = interval
        self.background = background
        self._cpu = cpu
        self._gpu = gpu
        self._torch_memory = torch_memory
        self._clock = clock
        self._latest = SystemSample()
        self._needs: dict[Need, int] = dict.fromkeys(Need, 0)
        # Reentrant: a garbage collection during a poll may run a metric's release() here.
        self._lock = threading.RLock()  # needs, thread, warnings
        self._poll_lock = threading.Lock()  # one poll at a time, providers' state
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._warned: set[str] = set()
        self._problems: dict[Need, str] = {}
        self._cpu_primed = False
        self._gpu_state: _GpuState = "off"
        self._gpu_devices: list[GpuDeviceInfo | None] = []

    @property
    def latest(self) -> SystemSample:
        """The newest sample; ``seq == 0`` before the first one."""
        return self._latest

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def needs(self) -> frozenset[Need]:
        with self._lock:
            return frozenset(need for need, count in self._needs.items() if count > 0)

    def acquire(self, need: Need) -> None:
        """Sample ``need`` from now on; starts the thread if it is not running."""
        with self._lock:
            self._needs[need] += 1
            if self.background and (self._thread is None or not self._thread.is_alive()):
                self._start()

    def release(self, need: Need) -> None:
        """Undo one :meth:`acquire`; the thread stops when nothing is needed any more."""
        with self._lock:
            self._needs[need] = max(0, self._needs[need] - 1)
            if any(self._needs.values()):
                return
            stop, self._stop, self._thread = self._stop, None, None
        # Not joined: release may run in a garbage collection on the sampler's own thread.
        if stop is not None:
            stop.set()

    def stop(self) -> None:
        """Stop the thread now and wait for it; the next :meth:`acquire` starts it again."""
        with self._lock:
            stop, thread, self._stop, self._thread = self._stop, self._thread, None, None
        if stop is not None:
            stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if thread is None or not thread.is_alive():
            self._shutdown_gpu()

    def warn_once(self, key: str, message: str, need: Need | None = None) -> None:
        """Log ``message`` as a warning unless a warning with ``key`` was logged already; with
        ``need``, samples from now on carry ``message`` as the reason it is not available."""
        with self._lock:
            if need is not None:
                self._problems[need] = message
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(message)

    def poll(self) -> SystemSample:
        """Sample every quantity needed now, on the calling thread, and publish the sample."""
        needs = self.needs()
        with self._poll_lock:
            at = self._clock()
            cpu_use = memory_used = memory_total = cpu_temperature = NAN
            if Need.CPU_USE in needs:
                cpu_use = self._sample_cpu_use()
            if Need.MEMORY in needs:
                memory_used, memory_total = self._sample_memory()
            if Need.CPU_TEMPERATURE in needs:
                cpu_temperature = self._sample_cpu_temperature()
            gpus = self._sample_gpus() if Need.GPU in needs else None
            with self._lock:
                problems = tuple(self._problems.items())
            sample = SystemSample(
                self._latest.seq + 1,
                at,
                cpu_use,
                memory_used,
                memory_total,
                cpu_temperature,
                gpus,
                problems,
            )
            self._latest = sample
            return sample

    # The thread.

    def _start(self) -> None:
        # psutil keeps the previous CPU times per thread: a new thread primes it again.
        self._cpu_primed = False
        stop = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(stop,), name="burnish-system-sampler", daemon=True
        )
        self._stop, self._thread = stop, thread
        thread.start()

    def _run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                started = self._clock()
                primed = self._cpu_primed
                try:
                    self.poll()
                except Exception as error:  # a bug must not end sampling for the run
                    self.warn_once("sampler", f"System sampling failed: {error!r}")
                # psutil's first CPU reading is meaningless: take the second one sooner.
                just_primed = self._cpu_primed and not primed
                interval = min(self.interval, 0.1) if just_primed else self.interval
                stop.wait(max(0.0, interval - (self._clock() - started)))
        finally:
            with self._lock:
                restarted = self._thread is not None
            if not restarted:
                self._shutdown_gpu()

    # CPU.

    def _cpu_provider(self) -> CpuProvider:
        if self._cpu is None:
            self._cpu = PsutilProvider()
        return self._cpu

    def _sample_cpu_use(self) -> float:
        try:
            value = self._cpu_provider().cpu_percent()
        except Exception as error:
            self.warn_once("cpu-use", f"CPU use is not available: {error!r}", Need.CPU_USE)
            return NAN
        if not self._cpu_primed:
            self._cpu_primed = True
            return NAN
        return value

    def _sample_memory(self) -> tuple[float, float]:
        try:
            return self._cpu_provider().memory()
        except Exception as error:
            self.warn_once("memory", f"CPU memory use is not available: {error!r}", Need.MEMORY)
            return NAN, NAN

    def _sample_cpu_temperature(self) -> float:
        try:
            sensors = self._cpu_provider().temperatures()
        except NotImplementedError as error:
            self.warn_once(
                "cpu-temperature",
                f"CPU temperature is not available: {error}",
                Need.CPU_TEMPERATURE,
            )
            return NAN
        except Exception as error:
            self.warn_once(
                "cpu-temperature",
                f"CPU temperature is not available: {error!r}",
                Need.CPU_TEMPERATURE,
            )
            return NAN
        value = cpu_package_temperature(sensors)
        if value is None:
            found = ", ".join(sorted(sensors)) or "none"
            self.warn_once(
                "cpu-temperature",
                "CPU temperature is not available: no CPU package sensor among psutil's "
                f"temperature sensors (found: {found})",
                Need.CPU_TEMPERATURE,
            )
            return NAN
        return value

    # GPUs.

    def _sample_gpus(self) -> tuple[GpuSample, ...] | None:
        gpu = self._start_gpu()
        if gpu is None:
            return None
        try:
            count = gpu.device_count()
        except GpuQueryError as error:
            self.warn_once("gpu-count", f"NVML could not count the GPUs: {error}", Need.GPU)
            return tuple(self._absent(index) for index in range(len(self._gpu_devices)))
        if count == 0 and not self._gpu_devices:
            self.warn_once(
                "gpu-none", "GPU metrics are not available: NVML reports no GPU", Need.GPU
            )
        if count > len(self._gpu_devices):
            self._gpu_devices.extend([None] * (count - len(self._gpu_devices)))
        torch_memory = self._sample_torch_memory()
        return tuple(
            self._sample_gpu(gpu, index, torch_memory)
            if index < count
            else self._lost(index, "it is no longer listed by NVML")
            for index in range(len(self._gpu_devices))
        )

    def _start_gpu(self) -> GpuProvider | None:
        if self._gpu_state == "failed":
            return None
        if self._gpu is None:
            self._gpu = NvmlProvider()
        if self._gpu_state == "off":
            try:
                self._gpu.init()
            except GpuUnavailableError as error:
                self._gpu_state = "failed"
                self.warn_once("nvml", f"GPU metrics are not available: {error}", Need.GPU)
                return None
            except Exception as error:
                self._gpu_state = "failed"
                self.warn_once(
                    "nvml", f"GPU metrics are not available: NVML failed: {error!r}", Need.GPU
                )
                return None
            self._gpu_state = "on"
        return self._gpu

    def _sample_gpu(
        self, gpu: GpuProvider, index: int, torch_memory: Mapping[str, tuple[float, float]]
    ) -> GpuSample:
        info = self._gpu_devices[index]
        try:
            if info is None:
                info = self._gpu_devices[index] = gpu.info(index)
            utilization = self._gpu_query(gpu.utilization, index, "utilisation")
            memory = self._gpu_query(gpu.memory, index, "memory use")
            power = self._gpu_query(gpu.power, index, "power draw")
            temperature = self._gpu_query(gpu.temperature, index, "temperature")
        except GpuQueryError as error:
            if error.kind == "lost":
                return self._lost(index, str(error))
            self.warn_once(
                f"gpu-info-{index}", f"NVML could not identify GPU {index}: {error}", Need.GPU
            )
            return self._absent(index)
        memory_used, memory_total = memory if memory is not None else (NAN, NAN)
        allocated, reserved = torch_memory.get(normalise_uuid(info.uuid), (NAN, NAN))
        return GpuSample(
            index,
            info.name,
            info.uuid,
            present=True,
            utilization=NAN if utilization is None else utilization,
            memory_used=memory_used,
            memory_total=memory_total,
            power=NAN if power is None else power,
            temperature=NAN if temperature is None else temperature,
            torch_allocated=allocated,
            torch_reserved=reserved,
        )

    def _gpu_query(self, query: Callable[[int], _T], index: int, what: str) -> _T | None:
        """``query(index)``, or ``None`` when the device cannot tell; a lost device raises."""
        try:
            return query(index)
        except GpuQueryError as error:
            if error.kind == "lost":
                raise
            if error.kind == "unsupported":
                message = f"GPU {what} is not available: {error}"
                self.warn_once(f"gpu-unsupported-{what}", message, Need.GPU)
            else:
                message = f"NVML could not read GPU {what}: {error}"
                self.warn_once(f"gpu-error-{what}", message, Need.GPU)
            return None

    def _lost(self, index: int, why: str) -> GpuSample:
        message = f"GPU {index} is not available any more: {why}"
        self.warn_once(f"gpu-lost-{index}", message, Need.GPU)
        return self._absent(index)

    def _absent(self, index: int) -> GpuSample:
        info = self._gpu_devices[index] if index < len(self._gpu_devices) else None
        if info is None:
            return GpuSample(index, present=False)
        return GpuSample(index, info.name, info.uuid, present=False)

    def _sample_torch_memory(self) -> Mapping[str, tuple[float, float]]:
        if self._torch_memory is None:
            self._torch_memory = TorchCudaMemory()
        try:
            return {
                normalise_uuid(uuid): memory for uuid, memory in self._torch_memory.memory().items()
            }
        except Exception as error:
            self.warn_once("torch-memory", f"torch.cuda memory statistics failed: {error!r}")
            return {}

    def _shutdown_gpu(self) -> None:
        with self._poll_lock:
            if self._gpu_state == "on" and self._gpu is not None:
                try:
                    self._gpu.shutdown()
                except Exception as error:
                    self.warn_once("nvml-shutdown", f"NVML did not shut down: {error!r}")
                self._gpu_state = "off"
                self._gpu_devices = []


_shared: SystemSampler | None = None
_shared_lock = threading.Lock()


def shared_sampler() -> SystemSampler:
    """The process's sampler, created on first use with psutil, NVML and torch.cuda."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SystemSampler()
        return _shared


def stop_shared_sampler() -> None:
    """Stop and forget the shared sampler (tests; shutdown): the next use creates a new one.

    Metrics that already hold the old sampler keep it, stopped, and stop updating.
    """
    global _shared
    with _shared_lock:
        sampler, _shared = _shared, None
    if sampler is not None:
        sampler.stop()
