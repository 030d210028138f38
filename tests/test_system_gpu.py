"""GPU temperature and the CUDA device table, with a fake NVML (and the real one, absent here)."""

from __future__ import annotations

import copy
import json
import logging
import math
import pickle
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pynvml
import pytest

from burnish.metric.base import Metric, MetricMetadata, Numeric, Progress, input_type_of
from burnish.metric.system import (
    CpuUse,
    CudaMetric,
    GpuDeviceInfo,
    GpuQueryError,
    GpuTemperature,
    GpuUnavailableError,
    GpuUtilization,
    Need,
    NvmlProvider,
    SystemSample,
    SystemSampler,
    TorchCudaMemory,
    shared_sampler,
    stop_shared_sampler,
)
from burnish.metric.system.cpu import GB

LOGGER = "burnish.metric.system"
META = MetricMetadata(Progress(0, None), epoch=1, epoch_total=1, iteration=0)


@dataclass
class FakeDevice:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-0a1b2c3d-0000-0000-0000-000000000000"
    utilization: float = 87.0
    memory: tuple[float, float] = (61.2 * GB, 79.65 * GB)
    power: float = 312.4
    temperature: float = 64.0
    unsupported: set[str] = field(default_factory=set)
    lost: bool = False


class FakeNvml:
    """A :class:`GpuProvider` over a list of fake devices; it counts calls and their threads."""

    def __init__(self, *devices: FakeDevice, init_error: Exception | None = None) -> None:
        self.devices = list(devices)
        self.init_error = init_error
        self.count_error: GpuQueryError | None = None
        self.calls: dict[str, int] = {}
        self.threads: set[int] = set()

    def _called(self, what: str) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1
        self.threads.add(threading.get_ident())

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def init(self) -> None:
        self._called("init")
        if self.init_error is not None:
            raise self.init_error

    def shutdown(self) -> None:
        self._called("shutdown")

    def device_count(self) -> int:
        self._called("count")
        if self.count_error is not None:
            raise self.count_error
        return len(self.devices)

    def _device(self, index: int, what: str) -> FakeDevice:
        self._called(what)
        if index >= len(self.devices):
            raise GpuQueryError(f"no device {index}", "lost")
        device = self.devices[index]
        if device.lost:
            raise GpuQueryError("GPU is lost", "lost")
        if what in device.unsupported:
            raise GpuQueryError("Not Supported", "unsupported")
        return device

    def info(self, index: int) -> GpuDeviceInfo:
        device = self._device(index, "info")
        return GpuDeviceInfo(device.name, device.uuid)

    def utilization(self, index: int) -> float:
        return self._device(index, "utilization").utilization

    def memory(self, index: int) -> tuple[float, float]:
        return self._device(index, "memory").memory

    def power(self, index: int) -> float:
        return self._device(index, "power").power

    def temperature(self, index: int) -> float:
        return self._device(index, "temperature").temperature


class FakeTorchMemory:
    def __init__(self, memory: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.data = dict(memory or {})

    def memory(self) -> Mapping[str, tuple[float, float]]:
        return self.data


TWO = (
    FakeDevice(),
    FakeDevice(
        uuid="GPU-ffff0000-0000-0000-0000-000000000001",
        utilization=3.0,
        memory=(0.5 * GB, 79.65 * GB),
        power=71.0,
        temperature=38.0,
    ),
)


@pytest.fixture(autouse=True)
def _stop_shared() -> Iterator[None]:
    yield
    stop_shared_sampler()


def manual(nvml: FakeNvml, torch_memory: FakeTorchMemory | None = None) -> SystemSampler:
    return SystemSampler(gpu=nvml, torch_memory=torch_memory or FakeTorchMemory(), background=False)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]


def run(sampler: SystemSampler, *metrics: Any, ticks: int = 1) -> list[Any]:
    """Subscribe ``metrics``, let the sampler tick, and return each metric's latest entry."""
    for metric in metrics:
        metric.update(None, META)
    for _ in range(ticks):
        sampler.poll()
        for metric in metrics:
            for _ in range(3):
                metric.update(None, META)
    return [metric.update(None, META) for metric in metrics]


def test_gpu_metrics_take_no_input_and_the_table_is_not_plotted() -> None:
    sampler = manual(FakeNvml())
    table, temperature = CudaMetric(sampler), GpuTemperature(sampler=sampler)
    assert input_type_of(table) is None
    assert input_type_of(temperature) is None
    assert isinstance(table, Metric)
    assert not isinstance(table, Numeric)
    assert isinstance(temperature, Numeric)
    assert temperature.higher_is_better is False


def test_one_device() -> None:
    sampler = manual(
        FakeNvml(FakeDevice()),
        FakeTorchMemory({"0a1b2c3d-0000-0000-0000-000000000000": (50.1 * GB, 58.0 * GB)}),
    )
    table, temperature = CudaMetric(sampler), GpuTemperature(0, sampler)
    table_entry, temperature_entry = run(sampler, table, temperature)
    assert table_entry.name == "CUDA Stats"
    lines = table_entry.formatted.splitlines()
    assert lines[0].split() == ["GPU", "Util", "Memory", "Power", "Temp", "Torch", "alloc/res"]
    assert lines[1].split() == [
        *("0", "87", "%", "61.20/79.65", "GB", "312", "W", "64", "°C", "50.10/58.00", "GB"),
    ]
    (device,) = json.loads(table_entry.serialized)
    assert device["name"] == "NVIDIA H100 80GB HBM3"
    assert device["utilization_percent"] == 87.0
    assert device["memory_used_gb"] == pytest.approx(61.2)
    assert device["power_w"] == pytest.approx(312.4)
    assert device["torch_reserved_gb"] == pytest.approx(58.0)
    assert temperature.name == "GPU Temperature 0"
    assert temperature_entry.formatted == "epoch 64.00 °C - batch 64.00 °C"
    assert temperature.value() == 64.0


def test_two_devices() -> None:
    sampler = manual(FakeNvml(*TWO))
    table = CudaMetric(sampler)
    hottest, first, second = (GpuTemperature(d, sampler) for d in (None, 0, 1))
    (entry, *_) = run(sampler, table, hottest, first, second)
    lines = entry.formatted.splitlines()
    assert len(lines) == 3
    assert lines[2].split()[:3] == ["1", "3", "%"]
    # Torch has not touched these devices: its columns say n/a.
    assert lines[2].split()[-1] == "n/a"
    # Columns line up.
    assert lines[1].index("GB") == lines[2].index("GB")
    assert [device["index"] for device in json.loads(entry.serialized)] == [0, 1]
    assert hottest.name == "GPU Temperature"
    assert (hottest.value(), first.value(), second.value()) == (64.0, 64.0, 38.0)


def test_gpu_utilization() -> None:
    sampler = manual(FakeNvml(*TWO))
    mean, first, second = (GpuUtilization(d, sampler) for d in (None, 0, 1))
    entry, *_ = run(sampler, mean, first, second)
    assert mean.name == "GPU Utilization"
    assert second.name == "GPU Utilization 1"
    assert entry.formatted == "epoch 45.00 % - batch 45.00 %"
    assert (first.value(), second.value()) == (87.0, 3.0)
    assert isinstance(mean, Numeric)
    assert input_type_of(mean) is None


def test_no_device_is_na_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    sampler = manual(FakeNvml())
    table, temperature = CudaMetric(sampler), GpuTemperature(sampler=sampler)
    table_entry, temperature_entry = run(sampler, table, temperature, ticks=5)
    assert table_entry.formatted == "n/a"
    assert table_entry.serialized == "[]"
    assert temperature_entry.formatted == "n/a (NVML reports no GPU)"
    assert warnings_of(caplog) == ["GPU metrics are not available: NVML reports no GPU"]


@pytest.mark.parametrize(
    "error",
    [
        GpuUnavailableError("NVML did not initialise: NVML Shared Library Not Found"),
        RuntimeError("unexpected"),
    ],
)
def test_nvml_init_failure_is_na_with_one_warning(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    nvml = FakeNvml(FakeDevice(), init_error=error)
    sampler = manual(nvml)
    table, temperature = CudaMetric(sampler), GpuTemperature(sampler=sampler)
    table_entry, temperature_entry = run(sampler, table, temperature, ticks=5)
    assert table_entry.formatted == "n/a"
    assert table_entry.serialized == "null"
    assert temperature_entry.formatted.startswith("n/a (NVML")
    assert math.isnan(temperature.running_value().value)
    assert nvml.calls == {"init": 1}  # not retried every tick
    assert len(warnings_of(caplog)) == 1
    assert "GPU metrics are not available" in warnings_of(caplog)[0]
    sampler.stop()
    assert "shutdown" not in nvml.calls


def test_real_nvml_is_missing_here(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    sampler = SystemSampler(background=False)  # the real NvmlProvider and TorchCudaMemory
    table, temperature = CudaMetric(sampler), GpuTemperature(sampler=sampler)
    try:
        nvml_works = True
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        nvml_works = False
    table_entry, _ = run(sampler, table, temperature, ticks=3)
    sampler.stop()
    if nvml_works:  # a machine with a GPU driver
        assert table_entry.formatted != "n/a" or warnings_of(caplog)
    else:
        assert table_entry.formatted == "n/a"
        assert math.isnan(temperature.value())
        assert len(warnings_of(caplog)) == 1
        assert "NVML did not initialise" in warnings_of(caplog)[0]


def test_an_nvml_error_mid_run_is_na_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    nvml = FakeNvml(*TWO)
    sampler = manual(nvml)
    table, temperature = CudaMetric(sampler), GpuTemperature(sampler=sampler)
    run(sampler, table, temperature, ticks=2)
    nvml.count_error = GpuQueryError("Unknown Error", "error")
    entry, temperature_entry = run(sampler, table, temperature, ticks=3)
    assert [line.split() for line in entry.formatted.splitlines()[1:]] == [
        ["0", "n/a"],
        ["1", "n/a"],
    ]
    assert temperature_entry.formatted == "epoch 64.00 °C - batch n/a"
    assert len(warnings_of(caplog)) == 1
    assert "Unknown Error" in warnings_of(caplog)[0]
    nvml.count_error = None
    entry, _ = run(sampler, table, temperature)
    assert entry.formatted.splitlines()[1].split()[:3] == ["0", "87", "%"]
    assert temperature.value() == 64.0
    assert len(warnings_of(caplog)) == 1


def test_a_device_that_falls_off_the_bus(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    nvml = FakeNvml(*(FakeDevice(**vars(device)) for device in TWO))
    sampler = manual(nvml)
    table = CudaMetric(sampler)
    hottest, first, second = (GpuTemperature(d, sampler) for d in (None, 0, 1))
    run(sampler, table, hottest, first, second, ticks=2)
    nvml.devices[0].lost = True
    entry, *_ = run(sampler, table, hottest, first, second, ticks=4)
    rows = [line.split() for line in entry.formatted.splitlines()[1:]]
    assert rows[0] == ["0", "n/a"]
    assert rows[1][:3] == ["1", "3", "%"]
    assert math.isnan(first.value())
    assert (hottest.value(), second.value()) == (38.0, 38.0)
    devices = json.loads(entry.serialized)
    assert devices[0]["present"] is False
    assert devices[0]["name"] == "NVIDIA H100 80GB HBM3"
    assert devices[0]["temperature_c"] is None
    assert warnings_of(caplog) == [
        "GPU 0 is not available any more: GPU is lost",
    ]


def test_a_device_that_leaves_the_device_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    nvml = FakeNvml(*TWO)
    sampler = manual(nvml)
    table, second = CudaMetric(sampler), GpuTemperature(1, sampler)
    run(sampler, table, second, ticks=2)
    nvml.devices.pop()
    entry, second_entry = run(sampler, table, second, ticks=3)
    assert entry.formatted.splitlines()[2].split() == ["1", "n/a"]
    assert second_entry.formatted == "epoch 38.00 °C - batch n/a"
    assert len(warnings_of(caplog)) == 1
    assert warnings_of(caplog)[0].startswith("GPU 1 is not available any more")


def test_an_unsupported_quantity_is_na_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    devices = [FakeDevice(unsupported={"power"}) for _ in range(2)]
    sampler = manual(FakeNvml(*devices))
    table = CudaMetric(sampler)
    (entry,) = run(sampler, table, ticks=4)
    for line in entry.formatted.splitlines()[1:]:
        assert line.split()[5:7] == ["n/a", "64"]
    assert json.loads(entry.serialized)[1]["power_w"] is None
    assert warnings_of(caplog) == ["GPU power draw is not available: Not Supported"]


def test_a_device_index_beyond_the_machines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    sampler = manual(FakeNvml(*TWO))
    metric = GpuTemperature(5, sampler)
    (entry,) = run(sampler, metric, ticks=3)
    assert entry.formatted == "n/a (NVML lists 2 GPU(s), no GPU 5)"
    assert warnings_of(caplog) == [
        "GPU Temperature 5 is not available: NVML lists 2 GPU(s), no GPU 5"
    ]
    with pytest.raises(ValueError, match="device must be >= 0"):
        GpuTemperature(-1)


def test_update_never_calls_nvml() -> None:
    nvml = FakeNvml(*TWO)
    sampler = manual(nvml)
    metrics: list[Any] = [
        CudaMetric(sampler),
        GpuTemperature(sampler=sampler),
        GpuTemperature(1, sampler),
    ]
    run(sampler, *metrics)
    calls = nvml.total_calls
    entries = {id(metric.update(None, META)) for metric in metrics for _ in range(10_000)}
    assert nvml.total_calls == calls
    # The table is formatted once per sample, not once per step.
    assert len(entries) <= 2 * len(metrics)


def test_gpu_sampling_happens_on_the_sampler_thread_and_nvml_shuts_down() -> None:
    nvml = FakeNvml(*TWO)
    sampler = SystemSampler(gpu=nvml, torch_memory=FakeTorchMemory(), interval=0.02)
    metric = GpuTemperature(sampler=sampler)
    metric.update(None, META)
    deadline = threading.Event()
    while sampler.latest.seq < 3:
        metric.update(None, META)
        deadline.wait(0.001)
    sampler.stop()
    assert nvml.calls["init"] == 1
    assert nvml.calls["shutdown"] == 1
    assert threading.get_ident() not in nvml.threads
    assert metric.update(None, META).formatted == "epoch 64.00 °C - batch 64.00 °C"


def test_cpu_metrics_never_load_nvml() -> None:
    nvml = FakeNvml(*TWO)
    sampler = SystemSampler(gpu=nvml, background=False)
    metric = CpuUse(sampler)
    run(sampler, metric, ticks=3)
    assert nvml.calls == {}


def test_compute_is_the_latest_table() -> None:
    sampler = manual(FakeNvml(FakeDevice()))
    table = CudaMetric(sampler)
    assert table.compute().formatted == "n/a"
    (entry,) = run(sampler, table)
    assert table.compute().formatted == entry.formatted
    table.clear()
    assert table.update(None, META).formatted == entry.formatted


# The real providers, with NVML's answers faked at the pynvml level.


class _Memory:
    used = 2 * GB
    total = 8 * GB


class _Utilization:
    gpu = 42


def _fake_pynvml(monkeypatch: pytest.MonkeyPatch, failing: dict[str, int]) -> None:
    def answer(name: str, value: object) -> Any:
        def call(*args: object) -> object:
            if name in failing:
                raise pynvml.NVMLError(failing[name])
            return value

        return call

    for name, value in {
        "nvmlInit": None,
        "nvmlShutdown": None,
        "nvmlDeviceGetCount": 1,
        "nvmlDeviceGetHandleByIndex": object(),
        "nvmlDeviceGetName": b"Tesla T4",
        "nvmlDeviceGetUUID": "GPU-abc",
        "nvmlDeviceGetUtilizationRates": _Utilization(),
        "nvmlDeviceGetMemoryInfo": _Memory(),
        "nvmlDeviceGetPowerUsage": 70_500,  # mW
        "nvmlDeviceGetTemperature": 51,
    }.items():
        monkeypatch.setattr(pynvml, name, answer(name, value))


def test_nvml_provider_reads_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pynvml(monkeypatch, {})
    provider = NvmlProvider()
    provider.init()
    assert provider.device_count() == 1
    assert provider.info(0) == GpuDeviceInfo("Tesla T4", "GPU-abc")
    assert provider.utilization(0) == 42.0
    assert provider.memory(0) == (2 * GB, 8 * GB)
    assert provider.power(0) == 70.5
    assert provider.temperature(0) == 51.0
    provider.shutdown()


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (pynvml.NVML_ERROR_GPU_IS_LOST, "lost"),
        (pynvml.NVML_ERROR_NOT_FOUND, "lost"),
        (pynvml.NVML_ERROR_NOT_SUPPORTED, "unsupported"),
        (pynvml.NVML_ERROR_UNKNOWN, "error"),
    ],
)
def test_nvml_provider_classifies_errors(
    monkeypatch: pytest.MonkeyPatch, code: int, kind: Literal["lost", "unsupported", "error"]
) -> None:
    _fake_pynvml(monkeypatch, {"nvmlDeviceGetPowerUsage": code})
    provider = NvmlProvider()
    provider.init()
    with pytest.raises(GpuQueryError) as raised:
        provider.power(0)
    assert raised.value.kind == kind
    provider.shutdown()


def test_nvml_provider_init_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pynvml(monkeypatch, {"nvmlInit": pynvml.NVML_ERROR_DRIVER_NOT_LOADED})
    with pytest.raises(GpuUnavailableError, match="NVML did not initialise"):
        NvmlProvider().init()


def test_nvml_provider_without_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)
    with pytest.raises(GpuUnavailableError, match="nvidia-ml-py is not installed"):
        NvmlProvider().init()


def test_torch_memory_is_empty_without_cuda() -> None:
    # CPU-only torch here; on a GPU machine nothing is reported before CUDA is initialised.
    import torch  # noqa: PLC0415

    if not torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        assert TorchCudaMemory().memory() == {}


def test_copies_share_the_sampler_and_pickles_use_their_processes() -> None:
    nvml = FakeNvml(*TWO)
    sampler = manual(nvml)
    metric = GpuTemperature(1, sampler)
    run(sampler, metric)
    clone = copy.deepcopy(metric)
    assert clone.sampler is sampler
    assert clone.device == 1
    assert clone.value() == 38.0
    clone.close()
    assert sampler.needs() == {Need.GPU}  # the original still holds its subscription
    restored = pickle.loads(pickle.dumps(metric))
    assert restored.value() == 38.0
    assert restored.sampler is shared_sampler()


def test_a_failing_poll_does_not_end_the_sampler_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)

    class Flaky(SystemSampler):
        polls = 0

        def poll(self) -> SystemSample:
            self.polls += 1
            if self.polls == 1:
                raise RuntimeError("bug")
            return super().poll()

    sampler = Flaky(gpu=FakeNvml(*TWO), torch_memory=FakeTorchMemory(), interval=0.01)
    metric = GpuTemperature(sampler=sampler)
    metric.update(None, META)
    waited = threading.Event()
    for _ in range(500):
        if sampler.latest.seq >= 2:
            break
        waited.wait(0.01)
    sampler.stop()
    assert sampler.latest.seq >= 2
    assert warnings_of(caplog) == ["System sampling failed: RuntimeError('bug')"]


@pytest.mark.parametrize(
    ("nvml", "device", "reason"),
    [
        (lambda: FakeNvml(FakeDevice(unsupported={"temperature"})), 0, "Not Supported"),
        (lambda: FakeNvml(FakeDevice()), 3, "no GPU 3"),
    ],
)
def test_a_gpu_value_that_cannot_be_read_says_why(
    nvml: Callable[[], FakeNvml], device: int, reason: str
) -> None:
    sampler = manual(nvml())
    (entry,) = run(sampler, GpuTemperature(device, sampler), ticks=2)
    assert entry.formatted.startswith("n/a (")
    assert reason in entry.formatted
