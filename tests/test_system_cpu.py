"""CPU use, memory and temperature metrics, and the sampler they share, with a fake psutil."""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import psutil
import pytest

from burnish.metric.base import MetricMetadata, Progress
from burnish.metric.entry import NumericEntry
from burnish.metric.host import transfer_count
from burnish.metric.system import (
    CpuMemory,
    CpuTemperature,
    CpuUse,
    Need,
    SystemSampler,
    cpu_package_temperature,
    shared_sampler,
    stop_shared_sampler,
)
from burnish.metric.system.cpu import GB
from tests.metric_checks import assert_input_less_numeric

LOGGER = "burnish.metric.system"
META = MetricMetadata(Progress(0, None), epoch=1, epoch_total=1, iteration=0)


class Sensor(NamedTuple):
    label: str
    current: float
    high: float | None = None
    critical: float | None = None


class FakeCpu:
    """A :class:`CpuProvider` whose answers are set by the test; it counts every call."""

    def __init__(
        self,
        cpu: Sequence[float] = (0.0, 50.0),
        used: float = 4 * GB,
        total: float = 16 * GB,
        sensors: Mapping[str, Sequence[Sensor]] | None = None,
        temperatures_error: Exception | None = None,
    ) -> None:
        self.cpu = list(cpu)
        self.used = used
        self.total = total
        self.sensors: Mapping[str, Sequence[Sensor]] = sensors or {}
        self.temperatures_error = temperatures_error
        self.calls = 0
        self.threads: set[int] = set()

    def _called(self) -> None:
        self.calls += 1
        self.threads.add(threading.get_ident())

    def cpu_percent(self) -> float:
        self._called()
        return self.cpu.pop(0) if len(self.cpu) > 1 else self.cpu[0]

    def memory(self) -> tuple[float, float]:
        self._called()
        return self.used, self.total

    def temperatures(self) -> Mapping[str, Sequence[Sensor]]:
        self._called()
        if self.temperatures_error is not None:
            raise self.temperatures_error
        return self.sensors


@pytest.fixture(autouse=True)
def _stop_shared() -> Iterator[None]:
    yield
    stop_shared_sampler()


def manual(cpu: FakeCpu) -> SystemSampler:
    """A sampler that samples only when the test calls ``poll()``."""
    return SystemSampler(cpu=cpu, background=False)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]


# Choosing the CPU package sensor.

CORETEMP = {
    "coretemp": [
        Sensor("Package id 0", 61.0),
        Sensor("Core 0", 58.0),
        Sensor("Core 1", 66.0),
    ],
    "acpitz": [Sensor("", 27.8)],
    "nvme": [Sensor("Composite", 40.0)],
}


@pytest.mark.parametrize(
    ("sensors", "expected"),
    [
        pytest.param(CORETEMP, 61.0, id="coretemp-package"),
        pytest.param(
            {"coretemp": [Sensor("Package id 0", 55.0), Sensor("Package id 1", 71.0)]},
            71.0,
            id="coretemp-two-sockets",
        ),
        pytest.param(
            {"coretemp": [Sensor("Physical id 0", 50.0), Sensor("Core 0", 48.0)]},
            50.0,
            id="coretemp-old-kernel",
        ),
        pytest.param(
            {"k10temp": [Sensor("Tctl", 72.5), Sensor("Tdie", 45.5), Sensor("Tccd1", 44.0)]},
            45.5,
            id="k10temp-tdie-over-tctl",
        ),
        pytest.param(
            {"k10temp": [Sensor("Tctl", 52.9), Sensor("Tccd1", 50.2)]}, 52.9, id="k10temp-tctl"
        ),
        pytest.param(
            {"zenpower": [Sensor("Tdie", 48.0), Sensor("Tctl", 48.0)]}, 48.0, id="zenpower"
        ),
        pytest.param({"cpu_thermal": [Sensor("", 47.2)]}, 47.2, id="cpu_thermal-raspberry-pi"),
        pytest.param({"acpitz": [Sensor("", 27.8), Sensor("", 29.8)]}, 29.8, id="acpitz-only"),
        pytest.param(
            {"acpitz": [Sensor("", 27.8)], "k10temp": [Sensor("Tctl", 60.0)]},
            60.0,
            id="driver-over-acpitz",
        ),
        pytest.param({}, None, id="none"),
        pytest.param(
            {"nvme": [Sensor("Composite", 40.0)], "amdgpu": [Sensor("edge", 50.0)]},
            None,
            id="no-cpu-sensor",
        ),
        pytest.param(
            {"k10temp": [Sensor("Tdie", math.nan), Sensor("Tctl", 55.0)]},
            55.0,
            id="unreadable-sensor-skipped",
        ),
    ],
)
def test_cpu_package_temperature(
    sensors: Mapping[str, Sequence[Sensor]], expected: float | None
) -> None:
    assert cpu_package_temperature(sensors) == expected


@pytest.mark.parametrize(
    ("sensors", "expected"),
    [
        ({"coretemp": [Sensor("Package id 0", 61.0)]}, "61.00 °C"),
        ({"k10temp": [Sensor("Tctl", 72.5), Sensor("Tdie", 45.5)]}, "45.50 °C"),
        ({"cpu_thermal": [Sensor("", 47.2)]}, "47.20 °C"),
        ({"zenpower": [Sensor("Tdie", 48.0)]}, "48.00 °C"),
        ({"acpitz": [Sensor("", 27.8)]}, "27.80 °C"),
    ],
)
def test_cpu_temperature_metric(sensors: Mapping[str, Sequence[Sensor]], expected: str) -> None:
    sampler = manual(FakeCpu(sensors=sensors))
    metric = CpuTemperature(sampler)
    metric.update(None, META)
    sampler.poll()
    entry = metric.update(None, META)
    assert entry.formatted == f"epoch {expected} - batch {expected}"
    assert metric.value() == pytest.approx(float(expected.split(maxsplit=1)[0]))


@pytest.mark.parametrize(
    "cpu",
    [
        pytest.param(FakeCpu(sensors={}), id="no-sensors"),
        pytest.param(FakeCpu(sensors={"nvme": [Sensor("Composite", 38.0)]}), id="no-cpu-sensor"),
        pytest.param(
            FakeCpu(temperatures_error=NotImplementedError("not on this platform")),
            id="platform-without-sensors",
        ),
        pytest.param(FakeCpu(temperatures_error=OSError("permission denied")), id="read-error"),
    ],
)
def test_cpu_temperature_missing_is_na_with_one_warning(
    cpu: FakeCpu, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    sampler = manual(cpu)
    metric = CpuTemperature(sampler)
    for _ in range(5):
        metric.update(None, META)
        sampler.poll()
    entry = metric.update(None, META)
    # The reason goes with the n/a, for the dashboard's System panel.
    assert entry.formatted.startswith("n/a (")
    assert math.isnan(metric.value())
    assert math.isnan(metric.running_value().value)
    assert metric.running_value().count == 0
    assert NumericEntry.deserialize(entry.serialized).count == 0
    assert metric.compute().formatted == "n/a"
    warnings = warnings_of(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith("CPU temperature is not available: ")
    assert warnings[0].endswith(entry.formatted.removeprefix("n/a (").removesuffix(")"))


# CPU use and memory.


def test_cpu_use_ignores_psutils_first_reading() -> None:
    cpu = FakeCpu(cpu=(0.0, 23.1, 25.0))
    sampler = manual(cpu)
    metric = CpuUse(sampler)
    assert metric.update(None, META).formatted == "epoch n/a - batch n/a"  # nothing sampled
    sampler.poll()  # psutil's first call primes it: its 0.0 means nothing
    assert metric.update(None, META).formatted == "epoch n/a - batch n/a"
    sampler.poll()
    assert metric.update(None, META).formatted == "epoch 23.10 % - batch 23.10 %"
    sampler.poll()
    assert metric.update(None, META).formatted == "epoch 24.05 % - batch 25.00 %"
    assert metric.value() == 25.0
    assert metric.running_value() == NumericEntry(24.05, 2, "aggregated")
    assert metric.compute().formatted == "24.05 %"


def test_cpu_memory_shows_used_total_and_percent() -> None:
    sampler = manual(FakeCpu(used=12.5 * GB, total=32 * GB))
    metric = CpuMemory(sampler)
    metric.update(None, META)
    sampler.poll()
    entry = metric.update(None, META)
    assert entry.name == "CPU Memory"
    assert entry.formatted == "epoch 12.50 GB - batch 12.50/32.00 GB (39.06 %)"
    assert metric.value() == pytest.approx(12.5)
    assert not metric.higher_is_better


def test_epoch_value_is_the_mean_of_distinct_samples() -> None:
    cpu = FakeCpu(cpu=(0.0, 10.0, 20.0, 60.0))
    sampler = manual(cpu)
    metric = CpuUse(sampler)
    entries = [metric.update(None, META)]
    for _ in range(4):  # the first poll primes psutil: no value
        sampler.poll()
        # Many steps see the same sample; it counts once.
        entries += [metric.update(None, META) for _ in range(7)]
    assert metric.running_value() == NumericEntry(30.0, 3, "aggregated")
    steps = [NumericEntry.deserialize(entry.serialized) for entry in entries]
    assert sum(step.count for step in steps) == 3
    # A logger's count-weighted mean of the step entries is the epoch value.
    assert NumericEntry.aggregate(steps).value == pytest.approx(30.0)

    metric.clear()
    assert math.isnan(metric.running_value().value)
    # The sample current at the start of the new epoch counts in it.
    assert metric.update(None, META).formatted == "epoch 60.00 % - batch 60.00 %"
    assert metric.running_value() == NumericEntry(60.0, 1, "aggregated")


def test_metrics_take_no_input_and_are_numeric() -> None:
    sampler = manual(FakeCpu())
    for metric in (CpuUse(sampler), CpuMemory(sampler), CpuTemperature(sampler)):
        assert_input_less_numeric(metric, higher_is_better=False)


def test_update_never_calls_psutil() -> None:
    cpu = FakeCpu(sensors=CORETEMP)
    sampler = manual(cpu)
    metrics = [CpuUse(sampler), CpuMemory(sampler), CpuTemperature(sampler)]
    for metric in metrics:
        metric.update(None, META)
    sampler.poll()
    calls = cpu.calls
    before = transfer_count()
    for _ in range(10_000):
        for metric in metrics:
            metric.update(None, META)
    assert cpu.calls == calls
    assert transfer_count() == before


def test_the_sampler_thread_does_the_sampling_at_its_rate() -> None:
    cpu = FakeCpu(sensors=CORETEMP)
    sampler = SystemSampler(cpu=cpu, interval=0.05)
    metrics = [CpuUse(sampler), CpuMemory(sampler), CpuTemperature(sampler)]
    try:
        assert not running(sampler)  # nothing starts before the first update
        deadline = time.monotonic() + 0.5
        updates = 0
        while time.monotonic() < deadline:
            for metric in metrics:
                metric.update(None, META)
                updates += 1
        assert running(sampler)
        assert sampler.latest.seq >= 3
        # About 3 calls per tick (CPU, memory, sensors), nowhere near one per update.
        assert cpu.calls <= 3 * (sampler.latest.seq + 1)
        assert cpu.calls < updates / 100
        assert threading.get_ident() not in cpu.threads
        assert metrics[0].value() == 50.0
        assert metrics[2].value() == 61.0
    finally:
        sampler.stop()
    assert not running(sampler)


def test_sampler_samples_only_what_is_needed() -> None:
    cpu = FakeCpu(sensors=CORETEMP)
    sampler = manual(cpu)
    metric = CpuMemory(sampler)
    metric.update(None, META)
    assert sampler.needs() == {Need.MEMORY}
    sample = sampler.poll()
    assert cpu.calls == 1
    assert math.isnan(sample.cpu_use)
    assert math.isnan(sample.cpu_temperature)
    assert sample.gpus is None
    assert sample.memory_used == 4 * GB


def test_sampler_stops_when_its_last_metric_goes() -> None:
    sampler = SystemSampler(cpu=FakeCpu(), interval=0.01)
    first, second = CpuUse(sampler), CpuMemory(sampler)
    first.update(None, META)
    second.update(None, META)
    assert running(sampler)
    first.close()
    assert running(sampler)
    assert sampler.needs() == {Need.MEMORY}
    del second
    gc.collect()
    _wait_until(lambda: not running(sampler))
    assert sampler.needs() == frozenset()
    # A new metric starts it again.
    third = CpuUse(sampler)
    third.update(None, META)
    assert running(sampler)
    third.close()
    _wait_until(lambda: not running(sampler))


def test_sampler_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        SystemSampler(interval=0)


def test_shared_sampler_starts_lazily_and_stops_for_tests() -> None:
    metric = CpuMemory()
    sampler = shared_sampler()
    assert metric.sampler is sampler
    assert not running(sampler)
    metric.update(None, META)
    assert running(sampler)
    stop_shared_sampler()
    assert not running(sampler)
    assert shared_sampler() is not sampler


def test_real_psutil_path_works_here(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    sampler = SystemSampler(interval=0.05)
    use, memory, temperature = CpuUse(sampler), CpuMemory(sampler), CpuTemperature(sampler)
    try:
        for metric in (use, memory, temperature):
            metric.update(None, META)
        _wait_until(lambda: sampler.latest.seq >= 3)
        for metric in (use, memory, temperature):
            metric.update(None, META)
    finally:
        sampler.stop()
    assert 0.0 <= use.value() <= 100.0
    assert 0.0 < memory.value() < psutil.virtual_memory().total / GB
    assert "GB (" in memory.update(None, META).formatted
    expected = cpu_package_temperature(psutil.sensors_temperatures())
    if expected is None:  # this machine: no temperature sensor
        assert math.isnan(temperature.value())
        assert temperature.update(None, META).formatted.startswith("n/a (no CPU package sensor")
        assert len(warnings_of(caplog)) == 1
    else:
        assert math.isfinite(temperature.value())
        assert warnings_of(caplog) == []


def test_a_provider_error_is_na_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(FakeCpu):
        def cpu_percent(self) -> float:
            raise RuntimeError("boom")

    caplog.set_level(logging.WARNING, LOGGER)
    sampler = manual(Broken())
    metric, memory = CpuUse(sampler), CpuMemory(sampler)
    for _ in range(4):
        sampler.poll()
        metric.update(None, META)
        memory.update(None, META)
    assert metric.update(None, META).formatted == "n/a (RuntimeError('boom'))"
    assert memory.value() == 4.0
    assert len(warnings_of(caplog)) == 1


def running(sampler: SystemSampler) -> bool:
    # A function, not the property: mypy would narrow the property after an assert.
    return sampler.running


def _wait_until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
