"""benches/gpu_check.py without a GPU: its table, its sync bookkeeping, its options, the run
without CUDA, and every section run on the CPU with small sizes."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import torch
from rich.console import Console
from torch.nn import functional

from burnish import Split
from burnish.metric.entry import MetricEntry

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benches" / "gpu_check.py"
SYNC = "called a synchronizing CUDA operation"
TINY = [
    "--device",
    "cpu",
    "--repeats",
    "1",
    "--samples",
    "640",
    "--epochs",
    "1",
    "--sync-epochs",
    "2",
    "--metric-steps",
    "3",
    "--auroc-sizes",
    "1000",
    "--auroc-repeats",
    "1",
]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gpu_check = _load()


def _markdown_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown table in ``text``, as cells."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


# -- the run without CUDA ----------------------------------------------------------------------


def test_without_cuda_prints_one_line_and_exits_0() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [done.stdout.strip()]
    assert "no CUDA device" in done.stdout


def test_main_without_cuda_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ran: list[str] = []
    for name in gpu_check.SECTIONS:
        monkeypatch.setitem(gpu_check.SECTION_RUNS, name, lambda *_, name=name: ran.append(name))
    assert gpu_check.main([]) == 0
    assert ran == []
    assert len(capsys.readouterr().out.splitlines()) == 1


# -- options -----------------------------------------------------------------------------------


def test_defaults_are_the_issues_sizes() -> None:
    options = gpu_check.parse_args([])
    assert options.device == "cuda"
    assert options.sections == list(gpu_check.SECTIONS)
    assert options.auroc_sizes == [10**6, 10**7]
    assert options.samples == 20_000
    assert options.epochs == 3
    assert options.budget < 8 * 60


@pytest.mark.parametrize(
    "argv",
    [["--repeats", "0"], ["--samples", "-1"], ["--auroc-sizes", "1"], ["--sections", "nvml"]],
)
def test_bad_options_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        gpu_check.parse_args(argv)
    assert raised.value.code == 2
    assert "error" in capsys.readouterr().err


# -- counting host syncs -----------------------------------------------------------------------


def _warn_from(filename: str, function: str) -> Callable[[], None]:
    """A function named ``function`` defined in ``filename`` that warns as torch does."""
    namespace: dict[str, Any] = {"warnings": warnings}
    source = f"def {function}():\n    warnings.warn({SYNC!r}, UserWarning)\n"
    exec(compile(source, filename, "exec"), namespace)
    return namespace[function]  # type: ignore[no-any-return]


def test_sync_counter_counts_each_sync_by_thread_and_place() -> None:
    counter = gpu_check.SyncCounter(torch.device("cpu"))
    at_read = _warn_from("/site/burnish/learner/guards.py", "look")
    in_step = _warn_from("/site/burnish/learner/learner.py", "_train_epoch")
    with counter:
        in_step()  # before the loop: set-up
        with counter.loop():
            in_step()
            in_step()
            at_read()
        reader = threading.Thread(target=in_step, name="burnish-logger")
        reader.start()
        reader.join()
    tally = counter.tally()
    assert tally.hot == 2
    assert tally.at_reads == 1
    assert tally.outside_loop == 1
    assert tally.other_threads == {"burnish-logger": 1}
    assert tally.hot_sites == [("learner/learner.py:2 _train_epoch", 2)]
    assert tally.per_step(4) == 0.5
    assert not counter.active  # no sync debug mode off CUDA


def test_a_sync_in_every_training_step_is_counted_per_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A step that synchronises, as `loss.item()` would on CUDA: the reference workload's step
    # computes its loss with this function, here one that warns from torch's own files, as
    # torch's warnings come from its operations.
    namespace: dict[str, Any] = {"warnings": warnings, "original": functional.cross_entropy}
    source = (
        "def cross_entropy(*args, **kwargs):\n"
        f"    warnings.warn({SYNC!r}, UserWarning)\n"
        "    return original(*args, **kwargs)\n"
    )
    exec(
        compile(source, str(Path(torch.__file__).parent / "nn" / "functional.py"), "exec"),
        namespace,
    )
    monkeypatch.setattr(functional, "cross_entropy", namespace["cross_entropy"])
    work = gpu_check.Workload.make(torch.device("cpu"), 320, host=False)
    counter = gpu_check.SyncCounter(torch.device("cpu"))
    run = gpu_check.fit_learner(work, 2, counter=counter)
    tally = counter.tally()
    assert run.steps == 10
    assert tally.hot == 10
    assert tally.per_step(run.steps) == 1.0
    assert tally.at_reads == tally.outside_loop == 0
    ((site, count),) = tally.hot_sites
    assert site.startswith("benches/learner.py:")
    assert site.endswith(" train_step")
    assert count == 10


def test_sync_counter_turns_the_debug_mode_on_for_cuda_only_while_entered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", calls.append)
    counter = gpu_check.SyncCounter(torch.device("cuda", 0))
    assert counter.active
    with counter:
        assert calls == ["sync", "warn"]
    assert calls == ["sync", "warn", "default"]


def test_sync_counter_passes_other_warnings_on_and_restores_warnings() -> None:
    shown: list[str] = []
    before = warnings.showwarning
    counter = gpu_check.SyncCounter(torch.device("cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *_: shown.append(str(message))
        with counter:
            warnings.warn("something else", UserWarning, stacklevel=1)
            warnings.warn(SYNC, UserWarning, stacklevel=1)
            warnings.warn(SYNC, UserWarning, stacklevel=1)  # "always": the same site counts again
        warnings.warn(SYNC, UserWarning, stacklevel=1)  # after exit: not counted
    assert warnings.showwarning is before
    assert shown == ["something else", SYNC]
    assert len(counter.events) == 2


def test_read_points_are_burnishs_reads() -> None:
    assert gpu_check.is_read_point([("/x/burnish/metric/host.py", "to_host")])
    assert gpu_check.is_read_point([("a.py", "fit"), ("/x/burnish/learner/guards.py", "look")])
    assert not gpu_check.is_read_point([("/x/elsewhere/host.py", "to_host")])
    assert not gpu_check.is_read_point([("/x/burnish/learner/learner.py", "_train_epoch")])


def test_call_site_is_the_innermost_frame_outside_torch() -> None:
    frames = [
        ("/x/burnish/learner/learner.py", 10, "fit"),
        ("/x/burnish/learner/guards.py", 83, "look"),
        ("/venv/torch/_tensor.py", 5, "__bool__"),
    ]
    assert gpu_check.call_site(frames, ["/venv/torch"]) == "learner/guards.py:83 look"
    assert gpu_check.call_site(frames[2:], ["/venv/torch"]) == "?"


def test_watched_loader_marks_the_step_loop() -> None:
    counter = gpu_check.SyncCounter(torch.device("cpu"))
    x = torch.arange(10.0).reshape(5, 2)
    inner = gpu_check.DeviceLoader(x, torch.arange(5), batch=2)
    loader = gpu_check.WatchedLoader(inner, counter)
    assert len(loader) == 3
    assert len(loader.dataset) == 5
    states = []
    for _ in loader:
        states.append(counter.in_loop)
    assert states == [True, True, True]
    assert not counter.in_loop
    iterator = iter(loader)
    next(iterator)
    assert counter.in_loop
    iterator.close()  # type: ignore[attr-defined] # a loop left early, by a break or an error
    assert not counter.in_loop


def test_device_loader_shuffles_every_sample_once_per_epoch() -> None:
    x = torch.arange(10.0).reshape(10, 1)
    y = torch.arange(10)
    loader = gpu_check.DeviceLoader(x, y, batch=4, seed=3)
    first = list(loader)
    second = list(loader)
    assert [len(by) for _, by in first] == [4, 4, 2]
    order = torch.cat([by for _, by in first])
    assert sorted(order.tolist()) == list(range(10))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in first)
    assert not torch.equal(order, torch.cat([by for _, by in second]))
    again = [by for _, by in gpu_check.DeviceLoader(x, y, batch=4, seed=3)]
    assert torch.equal(torch.cat(again), order)  # the same batches for every runner


# -- rows and the table ------------------------------------------------------------------------


def test_sync_row_fails_on_a_sync_between_reads() -> None:
    tally = gpu_check.SyncTally(
        hot=3, at_reads=1, outside_loop=2, other_threads={}, hot_sites=[("a.py:1 f", 3)]
    )
    (row,) = gpu_check.sync_rows("sync", tally, 300, True, "check")
    assert row.status == "FAIL"
    assert "0.010 (3 in 300 steps)" in row.result
    assert "a.py:1 f x3" in row.result
    clean = gpu_check.SyncTally(hot=0, at_reads=4, outside_loop=2, other_threads={}, hot_sites=[])
    assert gpu_check.sync_rows("sync", clean, 300, True, "check")[0].status == "ok"
    assert gpu_check.sync_rows("sync", tally, 300, False, "check")[0].status == "skip"


def _fit_run(values: dict[str, float], cuda_stats: str) -> Any:
    entries = {"CUDA Stats": MetricEntry("CUDA Stats", "table", cuda_stats)}
    result = SimpleNamespace(value=lambda split, name: values[name], metrics={Split.TRAIN: entries})
    return gpu_check.FitRun(result, steps=10)


GPU_JSON = json.dumps(
    [
        {
            "index": 0,
            "name": "NVIDIA H100",
            "utilization_percent": 35.0,
            "memory_used_gb": 1.5,
            "memory_total_gb": 80.0,
            "power_w": 120.0,
            "temperature_c": 41.0,
            "torch_allocated_gb": 0.01,
            "torch_reserved_gb": 0.02,
        }
    ]
)


def test_nvml_rows_fail_on_cuda_when_not_available() -> None:
    missing = _fit_run({"GPU Temperature": math.nan}, "null")
    row = gpu_check.gpu_value_row(missing, "GPU Temperature", "°C", True, " (NVML: no library)")
    assert (row.status, row.result) == ("FAIL", "n/a (NVML: no library)")
    assert gpu_check.cuda_metric_row(missing, True, "").status == "FAIL"
    assert gpu_check.gpu_value_row(missing, "GPU Temperature", "°C", False, "").status == "skip"
    present = _fit_run({"GPU Temperature": 41.0}, GPU_JSON)
    row = gpu_check.gpu_value_row(present, "GPU Temperature", "°C", True, "")
    assert (row.status, row.result) == ("ok", "41.0 °C (last epoch's mean)")
    row = gpu_check.cuda_metric_row(present, True, "")
    assert row.status == "ok"
    assert "NVIDIA H100" in row.result
    assert "41.0 °C" in row.result


def test_dashboard_row_reads_the_last_frame() -> None:
    frame = "│ GPU temp {} │\n"
    screen = frame.format("n/a (NVML)") + "\x1b[2J\x1b[1;32m" + frame.format("\x1b[0m42.00 °C")
    assert gpu_check.dashboard_gpu_cell(screen) == "42.00 °C"
    assert gpu_check.dashboard_row(screen, True).status == "ok"
    assert gpu_check.dashboard_row(frame.format("n/a (NVML)"), True).status == "FAIL"
    assert gpu_check.dashboard_row(frame.format("n/a (NVML)"), False).status == "skip"
    assert gpu_check.dashboard_row("no panel", False).status == "FAIL"


def test_table_has_a_line_per_row_and_fails_on_a_failed_check() -> None:
    rows = [
        gpu_check.Row("sync", "a | b", "1", "0", "ok"),
        gpu_check.Row("auroc", "c", "2", status="FAIL"),
    ]
    text = gpu_check.markdown_table(rows, {"sync": 1.0, "auroc": 2.5})
    assert _markdown_rows(text) == [
        ["sync", "a \\| b", "1", "0", "ok"],
        ["auroc", "c", "2", "", "FAIL"],
    ]
    assert "auroc 2.5 s" in text
    assert gpu_check.exit_code(rows) == 1
    assert gpu_check.exit_code(rows[:1]) == 0
    console = Console(file=io.StringIO(), width=200)
    console.print(gpu_check.rich_table(rows, {"sync": 1.0}, "title"))
    drawn = console.file.getvalue()  # type: ignore[attr-defined]
    assert "a | b" in drawn
    assert "FAIL" in drawn


def test_a_section_that_raises_fails_its_rows_and_the_others_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*_: object) -> list[Any]:
        raise RuntimeError("CUDA error: out of memory")

    def partial(options: Any, device: torch.device) -> list[Any]:
        return [gpu_check.Row("learner", gpu_check.CHECKS["learner"][0], "1 s")]

    monkeypatch.setitem(gpu_check.SECTION_RUNS, "sync", boom)
    monkeypatch.setitem(gpu_check.SECTION_RUNS, "learner", partial)
    options = gpu_check.parse_args([*TINY, "--sections", "sync", "learner"])
    rows, seconds = gpu_check.run_sections(options, torch.device("cpu"), out=io.StringIO())
    assert [row.check for row in rows] == [
        *gpu_check.CHECKS["sync"],
        *gpu_check.CHECKS["learner"],
    ]
    assert all(row.status == "FAIL" for row in rows if row.section == "sync")
    assert "RuntimeError: CUDA error: out of memory" in rows[0].result
    assert [row.status for row in rows if row.section == "learner"] == ["info", "FAIL", "FAIL"]
    assert set(seconds) == {"sync", "learner"}


def test_sections_past_the_budget_are_skipped() -> None:
    options = gpu_check.parse_args([*TINY, "--budget", "-1"])
    rows, seconds = gpu_check.run_sections(options, torch.device("cpu"), out=io.StringIO())
    assert seconds == {}
    assert {row.status for row in rows} == {"skip"}
    assert len(rows) == sum(len(gpu_check.expected_checks(s, options)) for s in gpu_check.SECTIONS)


def test_host_batches_train_as_the_device_batches_do() -> None:
    options = gpu_check.parse_args([*TINY, "--loader", "host"])
    rows = gpu_check.section_learner(options, torch.device("cpu"))
    assert [row.check for row in rows] == list(gpu_check.CHECKS["learner"])
    assert "10 steps" in rows[0].result  # 640 samples in batches of 64
    work = gpu_check.Workload.make(torch.device("cpu"), 640, host=True)
    on_host = gpu_check.fit_learner(work, 1).result.value(Split.TRAIN, "Loss")
    assert math.isfinite(on_host)


def test_bf16_says_when_the_builder_has_no_mixed_precision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gpu_check, "has_mixed_precision", lambda: False)
    rows = gpu_check.section_bf16(gpu_check.parse_args(TINY), torch.device("cpu"))
    assert [row.check for row in rows] == list(gpu_check.CHECKS["bf16"])
    assert all(row.status == "skip" for row in rows)
    assert "no mixed_precision option" in rows[0].result


# -- every section, on the CPU -----------------------------------------------------------------


def test_dry_run_on_cpu_gives_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    code = gpu_check.main([*TINY, "--markdown"])
    out = capsys.readouterr().out
    rows = _markdown_rows(out)
    options = gpu_check.parse_args(TINY)
    expected = [
        (section, check)
        for section in gpu_check.SECTIONS
        for check in gpu_check.expected_checks(section, options)
    ]
    assert [(row[0], row[1]) for row in rows] == expected
    status = {row[1]: row[4] for row in rows}
    failed = [row for row in rows if row[4] == "FAIL"]
    assert failed == []
    assert code == 0
    # What needs CUDA says so; what the CPU can check is checked.
    assert status["GPU Temperature during fit()"] == "skip"
    assert status["host syncs per step, training thread, between reads"] == "skip"
    assert status["dashboard drawn off-screen"] == "skip"  # drawn, with GPU temp n/a
    assert status["exact AUROC, binary, 10^3 samples"] == "ok"
    assert status["exact AUROC, multiclass (10 classes), 10^3 samples"] == "ok"
    assert status["Learner, six metrics (reference row)"] in {"ok", "slow"}
    bf16 = status["bf16 autocast through the Learner"]
    assert bf16 == ("ok" if gpu_check.has_mixed_precision() else "skip")
    assert "x plain loop" in {row[1]: row[2] for row in rows}["Learner, no metrics"]
