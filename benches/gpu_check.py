"""The CUDA path checked on a real GPU, in one run that prints one summary table.

Sections (each has a time budget in practice: well under 8 minutes on one H100 in all):

1. ``sync``: a ``fit()`` of the reference workload (``benches/learner.py``: MLP 64 -> 128 -> 10,
   batch 64, SGD) on the GPU with the six reference metrics, the system metrics (CPU use,
   memory, CPU temperature, GPU temperature, GPU utilisation, ``CudaMetric``) and the dashboard
   drawn into an off-screen 120x40 console. NVML's values must be real (not n/a). Every host
   synchronisation is counted under ``torch.cuda.set_sync_debug_mode("warn")``, by thread and
   by call site: the training thread must make none between reads.
2. ``learner``: the reference row on the GPU, the learner against a plain CUDA loop (medians of
   interleaved repeats), as in ``benches/learner.py``.
3. ``metrics``: ``benches/metrics.py``'s five-metric epoch (accuracy, macro precision, recall,
   F1, exact AUROC; batch 256) against a TorchMetrics ``MetricCollection`` on the GPU, and the
   host synchronisations each makes per update.
4. ``auroc``: exact AUROC compute at 10^6 and 10^7 samples (binary, and multiclass with 10
   classes) against TorchMetrics; the values must agree.
5. ``bf16``: bf16 autocast training through the learner, when ``LearnerBuilder`` has
   ``mixed_precision``; otherwise a row says it is not available.

Why "warn" and not "error": the logger and the dashboard read metric values on their own
threads by design (one transfer per block), and the sync debug mode is process-wide, so "error"
would stop them. Warnings are raised in the thread that synchronised, so each one is counted
for its thread. On the training thread, the loop reads losses about once a second (the
non-finite check) and everything at an epoch's end; the syncs inside those reads are counted
apart, and any other sync inside the step loop is a defect, listed by call site.

The data lives on the device and is reshuffled there each epoch (``--loader host`` uses a CPU
``DataLoader`` instead, as ``benches/learner.py`` does), so that the timings measure the loop,
not host-to-device copies.

Run on a GPU machine (torch, rich, psutil, nvidia-ml-py, torchmetrics, scikit-learn; no install):

    PYTHONPATH=. python3 benches/gpu_check.py        # or: make gpu-check [ARGS="..."]

Without CUDA it prints one line and exits 0. ``--device cpu`` runs every section on the CPU
(for tests, with small sizes; the GPU-only checks then say "skip"). It exits 1 when a check
fails (NVML n/a, a sync in the step loop, AUROC values apart, a section that raised); timing
targets missed are marked "slow" and do not fail the run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

BENCHES = Path(__file__).resolve().parent
# The sibling benches (learner.py, metrics.py) are reused; the repository root makes burnish
# importable without an install, as `PYTHONPATH=.` does.
for _path in (BENCHES, BENCHES.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

try:
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
except ImportError as _error:  # pragma: no cover - a Python without torch cannot check anything
    raise SystemExit(
        f"gpu_check: torch is not importable with {sys.executable} ({_error})"
    ) from None

Status = Literal["ok", "FAIL", "slow", "skip", "info"]
SECTIONS = ("sync", "learner", "metrics", "auroc", "bf16")

# The check names of every section, in order: a section that is skipped or raises still shows
# each of its rows, so the table always has the same shape.
CHECKS: dict[str, tuple[str, ...]] = {
    "sync": (
        "GPU Temperature during fit()",
        "GPU Utilization during fit()",
        "CudaMetric during fit()",
        "host syncs per step, training thread, between reads",
        "host syncs at reads, training thread",
        "host syncs on other threads",
        "dashboard drawn off-screen",
    ),
    "learner": (
        "plain loop, reference workload",
        "Learner, six metrics (reference row)",
        "Learner, no metrics",
    ),
    "metrics": (
        "five-metric epoch, 10 classes",
        "five-metric epoch, 100 classes",
        "host syncs per update step",
    ),
    "auroc": (),  # one row per size and task: see auroc_checks()
    "bf16": ("bf16 autocast through the Learner", "host syncs per step in bf16, between reads"),
}
AUROC_TASKS = (("binary", 1), ("multiclass", 10))

LEARNER_TARGET = 1.15  # DESIGN.md's reference rows
METRICS_TARGET = 3.0
AUROC_TOLERANCE = 1e-4


# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the summary: what was checked, what came out, what was expected."""

    section: str
    check: str
    result: str
    expected: str = ""
    status: Status = "info"


def auroc_checks(sizes: Sequence[int]) -> tuple[str, ...]:
    return tuple(
        f"exact AUROC, {task}{f' ({classes} classes)' if classes > 1 else ''}, "
        f"{_power_of_ten(size)} samples"
        for size in sizes
        for task, classes in AUROC_TASKS
    )


def expected_checks(section: str, options: argparse.Namespace) -> tuple[str, ...]:
    return auroc_checks(options.auroc_sizes) if section == "auroc" else CHECKS[section]


def skipped(section: str, options: argparse.Namespace, why: str, status: Status) -> list[Row]:
    """Every row of ``section``, each saying why it did not run."""
    return [Row(section, check, why, status=status) for check in expected_checks(section, options)]


def complete(section: str, options: argparse.Namespace, rows: list[Row]) -> list[Row]:
    """``rows`` with any expected row the section did not give marked as missing (a FAIL):
    a section must account for each of its checks."""
    given = {row.check for row in rows}
    missing = [
        Row(section, check, "the section gave no result", status="FAIL")
        for check in expected_checks(section, options)
        if check not in given
    ]
    return rows + missing


def markdown_table(rows: Sequence[Row], seconds: dict[str, float]) -> str:
    lines = ["| section | check | result | expected | status |", "|---|---|---|---|---|"]
    for row in rows:
        cells = (row.section, row.check, row.result, row.expected, row.status)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    took = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    lines.append("")
    lines.append(f"Time per section: {took}.")
    return "\n".join(lines)


def rich_table(rows: Sequence[Row], seconds: dict[str, float], title: str) -> Any:
    from rich.table import Table  # noqa: PLC0415 - only the rich output needs it

    styles = {"ok": "green", "FAIL": "bold red", "slow": "yellow", "skip": "dim", "info": ""}
    table = Table(title=title, show_lines=False)
    for column in ("section", "check", "result", "expected", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        section = f"{row.section} ({seconds[row.section]:.0f} s)" if row.section in seconds else ""
        table.add_row(
            section, row.check, row.result, row.expected, row.status, style=styles[row.status]
        )
    return table


def exit_code(rows: Sequence[Row]) -> int:
    return 1 if any(row.status == "FAIL" for row in rows) else 0


# -- counting host synchronisations ------------------------------------------------------------

SYNC_MESSAGE = re.compile(r"called a synchronizing CUDA operation")
# Where the training thread reads values on purpose: the one materialisation point of metric
# values (a block read, an epoch's compute) and the periodic non-finite loss check. A sync with
# one of these in its stack is "at a read"; any other sync inside the step loop is a defect.
READ_POINTS = frozenset({"to_host", "to_numpy", "_check_losses", "look", "_end_split"})


@dataclass(frozen=True)
class SyncEvent:
    """One host synchronisation: on which thread, where in the loop, from which call site."""

    thread: str
    training: bool
    in_loop: bool
    at_read: bool
    site: str


@dataclass(frozen=True)
class SyncTally:
    """The syncs of one counted run, split as the report needs them."""

    hot: int  # training thread, inside the step loop, not at a read: expected 0
    at_reads: int  # training thread, inside the step loop, at a read
    outside_loop: int  # training thread, before the first or after the last step of an epoch
    other_threads: dict[str, int]
    hot_sites: list[tuple[str, int]]

    def per_step(self, steps: int) -> float:
        return self.hot / steps if steps else math.nan


def is_read_point(frames: Iterable[tuple[str, str]]) -> bool:
    """Whether a stack (``(filename, function)`` pairs) passes through one of burnish's reads."""
    return any(
        function in READ_POINTS and "burnish" in Path(filename).parts
        for filename, function in frames
    )


def call_site(frames: Sequence[tuple[str, int, str]], skip: Sequence[str]) -> str:
    """The innermost frame outside ``skip`` (torch, warnings, this counter), as
    ``parent/file.py:line function``; the frames are outermost first, as traceback gives them."""
    for filename, line, function in reversed(frames):
        if not any(filename.startswith(prefix) for prefix in skip):
            path = Path(filename)
            return f"{path.parent.name}/{path.name}:{line} {function}"
    return "?"


class SyncCounter:
    """Counts host synchronisations per thread while entered.

    On CUDA it turns on ``torch.cuda.set_sync_debug_mode("warn")``, under which torch warns in
    the thread that synchronised; the warnings are caught here (printed nowhere) with their
    call stack. Elsewhere nothing warns, and the counter only does the bookkeeping (which
    tests exercise with warnings of their own). ``in_loop`` is set by :class:`WatchedLoader`:
    between an epoch's first batch and the end of its batches.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.in_loop = False
        self.events: list[SyncEvent] = []
        self._lock = threading.Lock()
        self._training = threading.get_ident()
        self._stack = contextlib.ExitStack()
        self._previous: Callable[..., None] = warnings.showwarning
        # The call site is the innermost frame of neither torch nor the warnings machinery
        # (warnings.py, or _py_warnings.py where Python 3.14 moved it).
        self._skip = (
            str(Path(torch.__file__).parent),
            str(Path(warnings.__file__).parent / "warnings.py"),
            str(Path(warnings.__file__).parent / "_py_warnings.py"),
        )

    @property
    def active(self) -> bool:
        """Whether torch reports synchronisations here (only CUDA has a sync debug mode)."""
        return self.device.type == "cuda"

    def __enter__(self) -> SyncCounter:
        self._training = threading.get_ident()
        self._stack.enter_context(warnings.catch_warnings())
        # "always": the default filter shows a warning once per call site, and every sync counts.
        warnings.filterwarnings("always", message=SYNC_MESSAGE.pattern)
        self._previous = warnings.showwarning
        warnings.showwarning = self._show
        if self.active:
            torch.cuda.synchronize(self.device)  # what came before is not this run's
            torch.cuda.set_sync_debug_mode("warn")
            self._stack.callback(torch.cuda.set_sync_debug_mode, "default")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @contextlib.contextmanager
    def loop(self) -> Iterator[None]:
        """Count what runs inside as inside the step loop."""
        self.in_loop = True
        try:
            yield
        finally:
            self.in_loop = False

    def _show(  # noqa: PLR0917 - warnings.showwarning's signature
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not SYNC_MESSAGE.search(str(message)):
            self._previous(message, category, filename, lineno, file, line)
            return
        stack = traceback.extract_stack()[:-1]  # less this method's own frame
        frames = [(frame.filename, frame.lineno or 0, frame.name) for frame in stack]
        thread = threading.current_thread()
        training = thread.ident == self._training
        event = SyncEvent(
            thread="training" if training else thread.name,
            training=training,
            in_loop=self.in_loop,
            at_read=is_read_point((name, function) for name, _, function in frames),
            site=call_site(frames, self._skip),
        )
        with self._lock:
            self.events.append(event)

    def tally(self) -> SyncTally:
        with self._lock:
            events = list(self.events)
        training = [event for event in events if event.training]
        hot = [event for event in training if event.in_loop and not event.at_read]
        return SyncTally(
            hot=len(hot),
            at_reads=sum(1 for event in training if event.in_loop and event.at_read),
            outside_loop=sum(1 for event in training if not event.in_loop),
            other_threads=dict(Counter(event.thread for event in events if not event.training)),
            hot_sites=Counter(event.site for event in hot).most_common(3),
        )


class WatchedLoader:
    """A loader that tells a :class:`SyncCounter` when the step loop runs: from the first
    batch handed out to the end of the batches (drawing the first batch is set-up)."""

    def __init__(self, inner: Any, counter: SyncCounter) -> None:
        self.inner = inner
        self.counter = counter
        # The learner counts items with len(loader.dataset).
        self.dataset = inner.dataset

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[Any]:
        try:
            for batch in self.inner:
                self.counter.in_loop = True
                yield batch
        finally:
            self.counter.in_loop = False


# -- the reference workload on a device --------------------------------------------------------


class DeviceLoader:
    """Batches of tensors already on the device, reshuffled on the device every epoch (the
    same order for every runner: each loader has its own seeded generator)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch: int, seed: int = 1) -> None:
        self.dataset = TensorDataset(x, y)
        self._x, self._y, self._batch = x, y, batch
        self._generator = torch.Generator(device=x.device).manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self._x) / self._batch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        size = len(self._x)
        order = torch.randperm(size, device=self._x.device, generator=self._generator)
        for start in range(0, size, self._batch):
            index = order[start : start + self._batch]
            yield self._x[index], self._y[index]


@dataclass(frozen=True)
class Workload:
    """The reference workload's data on ``device``, and how batches reach the loop."""

    device: torch.device
    x: torch.Tensor
    y: torch.Tensor
    host: bool = False

    @staticmethod
    def make(device: torch.device, samples: int, host: bool) -> Workload:
        import learner as reference  # noqa: PLC0415 - benches/learner.py, on sys.path above

        x, y = reference.data().tensors
        x, y = x[:samples], y[:samples]
        if host:
            return Workload(device, x, y, host=True)
        return Workload(device, x.to(device), y.to(device))

    def loader(self) -> Any:
        import learner as reference  # noqa: PLC0415

        if self.host:
            # benches/learner.py's loader: CPU batches, each copied by the loop.
            return reference.loader(TensorDataset(self.x, self.y))
        return DeviceLoader(self.x, self.y, reference.BATCH)

    def batches_per_epoch(self) -> int:
        return len(self.loader())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(work: Workload, epochs: int) -> None:
    """The plain PyTorch loop of ``benches/learner.py``, on ``work.device``."""
    import learner as reference  # noqa: PLC0415

    model = reference.mlp().to(work.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=reference.LR)
    for _ in range(epochs):
        for host_x, host_y in work.loader():
            x = host_x.to(work.device, non_blocking=True)
            y = host_y.to(work.device, non_blocking=True)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()


@dataclass
class FitRun:
    """What one learner fit gives back to the checks."""

    result: Any  # burnish.FitResult
    steps: int
    screen: str = ""
    log: list[str] = field(default_factory=list)


def fit_learner(
    work: Workload,
    epochs: int,
    *,
    metrics: bool = True,
    system: bool = False,
    dashboard: bool = False,
    precision: str | None = None,
    counter: SyncCounter | None = None,
) -> FitRun:
    """A fit of the reference workload through ``LearnerBuilder`` on ``work.device``."""
    import learner as reference  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415

    from burnish import CudaMetric, GpuTemperature, GpuUtilization, LearnerBuilder  # noqa: PLC0415
    from burnish.renderer import PlainRenderer, TuiRenderer  # noqa: PLC0415

    model = reference.Mlp().to(work.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=reference.LR)
    screen = io.StringIO()
    with tempfile.TemporaryDirectory() as directory:
        builder = LearnerBuilder(directory).devices([work.device]).num_epochs(epochs)
        for metric in reference.reference_metrics() if metrics else []:
            builder.metric_train_numeric(metric)
        if system:
            for make in (*reference.SAMPLED, GpuTemperature, GpuUtilization):
                builder.metric_train_numeric(make())
            builder.metric_train(CudaMetric())  # a table, not a number
        if dashboard:
            console = Console(
                file=screen, width=120, height=40, force_terminal=True, color_system="truecolor"
            )
            builder.renderer(TuiRenderer(console=console, input_fd=None))
        else:
            builder.renderer(PlainRenderer(stream=screen))
        if precision is not None:
            builder.mixed_precision(precision)  # type: ignore[attr-defined]
        learner = builder.build(model, optimizer)
        loader = work.loader()
        steps = len(loader) * epochs
        if counter is None:
            result = learner.fit(loader)
        else:
            with counter:
                result = learner.fit(WatchedLoader(loader, counter))
    return FitRun(result, steps, screen.getvalue())


def has_mixed_precision() -> bool:
    from burnish import LearnerBuilder  # noqa: PLC0415

    return callable(getattr(LearnerBuilder, "mixed_precision", None))


def interleaved(
    runners: dict[str, Callable[[], object]], repeats: int, device: torch.device
) -> dict[str, list[float]]:
    """Wall seconds of each runner, after one warm-up each, in interleaved repeats."""
    for run in runners.values():
        run()  # imports, kernels, the allocator's first blocks
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


# -- section 1: NVML values and host syncs during a fit ----------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def collected_warnings(name: str) -> Iterator[list[str]]:
    """The warnings a logger writes meanwhile, kept for the table rather than printed."""
    logger, handler = logging.getLogger(name), _Collect()
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def gpu_value_row(run: FitRun, name: str, unit: str, cuda: bool, why: str) -> Row:
    from burnish import Split  # noqa: PLC0415

    value = run.result.value(Split.TRAIN, name)
    check = f"{name} during fit()"
    expected = "a value, not n/a"
    if not cuda:
        return Row("sync", check, f"{_number(value)} (no CUDA device)", expected, "skip")
    if math.isnan(value):
        return Row("sync", check, f"n/a{why}", expected, "FAIL")
    return Row("sync", check, f"{value:.1f} {unit} (last epoch's mean)", expected, "ok")


def cuda_metric_row(run: FitRun, cuda: bool, why: str) -> Row:
    from burnish import Split  # noqa: PLC0415

    check, expected = "CudaMetric during fit()", "utilisation, memory, temperature per GPU"
    entry = run.result.metrics[Split.TRAIN].get("CUDA Stats")
    gpus = json.loads(entry.serialized) if entry is not None else None
    if not cuda:
        return Row("sync", check, "no CUDA device", expected, "skip")
    if not gpus:
        return Row("sync", check, f"n/a{why}", expected, "FAIL")
    keys = ("utilization_percent", "memory_used_gb", "temperature_c", "torch_allocated_gb")
    real = all(gpus[0].get(key) is not None for key in keys)
    first = gpus[0]
    summary = (
        f"{len(gpus)} GPU(s); GPU 0 {first.get('name')}: util {first.get('utilization_percent')} %,"
        f" {_gb(first.get('memory_used_gb'))}/{_gb(first.get('memory_total_gb'))} GB, "
        f"{first.get('power_w')} W, {first.get('temperature_c')} °C, torch "
        f"{_gb(first.get('torch_allocated_gb'))}/{_gb(first.get('torch_reserved_gb'))} GB"
    )
    return Row("sync", check, summary, expected, "ok" if real else "FAIL")


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def dashboard_gpu_cell(screen: str) -> str | None:
    """The text after "GPU temp" in the dashboard's System panel, in the last frame drawn
    (escape codes removed); ``None`` when no frame shows it."""
    for line in reversed(ANSI_ESCAPE.sub("", screen).splitlines()):
        _, found, after = line.partition("GPU temp")
        if found:
            return after.split("│", 1)[0].strip()
    return None


def dashboard_row(screen: str, cuda: bool) -> Row:
    check, expected = CHECKS["sync"][6], "a last frame with the GPU temperature's value"
    cell = dashboard_gpu_cell(screen)
    written = f"{len(screen) / 1024:.0f} KiB written"
    if cell is None:
        return Row("sync", check, f"{written}; no GPU temp in the System panel", expected, "FAIL")
    result = f"{written}; last frame: GPU temp {cell}"
    if not cuda:
        return Row("sync", check, result, expected, "skip")
    return Row("sync", check, result, expected, "FAIL" if cell.startswith("n/a") else "ok")


def sync_rows(
    section: str, tally: SyncTally, steps: int, active: bool, hot_check: str
) -> list[Row]:
    """The row of syncs per step between reads (expected 0), from ``tally``."""
    if not active:
        return [
            Row(
                section,
                hot_check,
                f"not counted: torch's sync debug mode needs CUDA ({steps} steps ran)",
                "0",
                "skip",
            )
        ]
    sites = "; ".join(f"{site} x{count}" for site, count in tally.hot_sites)
    result = f"{tally.per_step(steps):.3f} ({tally.hot} in {steps} steps)"
    if sites:
        result += f"; at {sites}"
    return [Row(section, hot_check, result, "0", "ok" if tally.hot == 0 else "FAIL")]


def section_sync(options: argparse.Namespace, device: torch.device) -> list[Row]:
    cuda = device.type == "cuda"
    work = Workload.make(device, options.samples, options.loader == "host")
    # CUDA's context, cuBLAS and the allocator's first blocks are set up by a run of their own,
    # so that the counted fit starts warm.
    plain_loop(work, 1)
    counter = SyncCounter(device)
    with collected_warnings("burnish.metric.system") as system_warnings:
        run = fit_learner(work, options.sync_epochs, system=True, dashboard=True, counter=counter)
    tally = counter.tally()
    gpu_warnings = [message for message in system_warnings if "CPU" not in message]
    why = f" ({'; '.join(gpu_warnings)[:300]})" if gpu_warnings else ""
    rows = [
        gpu_value_row(run, "GPU Temperature", "°C", cuda, why),
        gpu_value_row(run, "GPU Utilization", "%", cuda, why),
        cuda_metric_row(run, cuda, why),
        *sync_rows("sync", tally, run.steps, counter.active, CHECKS["sync"][3]),
    ]
    status: Status = "info" if counter.active else "skip"
    rows.append(
        Row(
            "sync",
            CHECKS["sync"][4],
            f"{tally.at_reads} inside the loop (loss checks, block reads), "
            f"{tally.outside_loop} outside it (fit start, epoch ends)",
            "about one a second, and a few an epoch",
            status,
        )
    )
    others = ", ".join(f"{name} {count}" for name, count in sorted(tally.other_threads.items()))
    rows.append(
        Row(
            "sync",
            CHECKS["sync"][5],
            others or "none",
            "reads by the logger and the dashboard",
            status,
        )
    )
    rows.append(dashboard_row(run.screen, cuda))
    return rows


# -- section 2: the learner's reference row against a plain loop -------------------------------


def section_learner(options: argparse.Namespace, device: torch.device) -> list[Row]:
    work = Workload.make(device, options.samples, options.loader == "host")
    epochs = options.epochs
    names = CHECKS["learner"]
    times = interleaved(
        {
            names[0]: lambda: plain_loop(work, epochs),
            names[1]: lambda: fit_learner(work, epochs),
            names[2]: lambda: fit_learner(work, epochs, metrics=False),
        },
        options.repeats,
        device,
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    plain = medians[names[0]]
    steps = work.batches_per_epoch() * epochs
    rows = [
        Row(
            "learner",
            names[0],
            f"{plain:.3f} s, {1e6 * plain / steps:.0f} µs/step "
            f"(median of {options.repeats}, {steps} steps)",
        )
    ]
    reference = medians[names[1]] / plain
    rows.append(
        Row(
            "learner",
            names[1],
            f"{reference:.2f}x plain loop ({medians[names[1]]:.3f} s, "
            f"{1e6 * (medians[names[1]] - plain) / steps:+.0f} µs/step)",
            f"<= {LEARNER_TARGET:.2f}x",
            "ok" if reference <= LEARNER_TARGET else "slow",
        )
    )
    rows.append(
        Row(
            "learner",
            names[2],
            f"{medians[names[2]] / plain:.2f}x plain loop ({medians[names[2]]:.3f} s)",
        )
    )
    return rows


# -- section 3: benches/metrics.py's five-metric epoch against TorchMetrics --------------------


def epoch_batches(
    classes: int, steps: int, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """benches/metrics.py's batches (batch 256, same seeds), on ``device``."""
    generator = torch.Generator().manual_seed(classes)
    return [
        (
            torch.randn(256, classes, generator=generator).to(device),
            torch.randint(0, classes, (256,), generator=generator).to(device),
        )
        for _ in range(steps)
    ]


def update_syncs(
    metrics: Sequence[Any], collection: Any, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[SyncTally, SyncTally, bool]:
    """The host syncs of the update steps alone (no compute), burnish's and TorchMetrics'."""
    from metrics import META  # noqa: PLC0415

    from burnish.adaptor import StepAdaptations  # noqa: PLC0415
    from burnish.output import ClassificationOutput  # noqa: PLC0415

    device = batches[0][0].device
    loss = torch.zeros((), device=device)
    for metric in metrics:
        metric.clear()
    collection.reset()
    kinds = [metric.input_type for metric in metrics]
    ours = SyncCounter(device)
    with ours, ours.loop():
        for scores, targets in batches:
            step = StepAdaptations(ClassificationOutput(loss, scores, targets))
            for metric, kind in zip(metrics, kinds, strict=True):
                metric.update(step.get(kind), META)
    theirs = SyncCounter(device)
    with theirs, theirs.loop():
        for scores, targets in batches:
            collection.update(scores, targets)
    return ours.tally(), theirs.tally(), ours.active


def section_metrics(options: argparse.Namespace, device: torch.device) -> list[Row]:
    import metrics as bench  # noqa: PLC0415 - benches/metrics.py

    rows: list[Row] = []
    syncs: tuple[SyncTally, SyncTally, bool] | None = None
    for classes, check in zip((10, 100), CHECKS["metrics"][:2], strict=True):
        batches = epoch_batches(classes, options.metric_steps, device)
        ours = bench.burnish_metrics(classes)
        theirs = bench.torchmetrics_collection(classes).to(device)
        totals: dict[str, float] = {"burnish": math.inf, "TorchMetrics": math.inf}
        runs: dict[str, Callable[[], tuple[float, float]]] = {
            "burnish": lambda ours=ours, batches=batches: bench.run_burnish(ours, batches),
            "TorchMetrics": lambda theirs=theirs, batches=batches: bench.run_torchmetrics(
                theirs, batches
            ),
        }
        for run in runs.values():
            run()  # warm-up
        for _ in range(options.repeats):
            for name, run in runs.items():
                synchronize(device)
                # The compute of each reads its values, which waits for the updates' kernels.
                update, compute = run()
                totals[name] = min(totals[name], update + compute)
        ratio = totals["TorchMetrics"] / totals["burnish"]
        rows.append(
            Row(
                "metrics",
                check,
                f"{ratio:.2f}x TorchMetrics' speed (burnish {1e3 * totals['burnish']:.1f} ms, "
                f"TorchMetrics {1e3 * totals['TorchMetrics']:.1f} ms, "
                f"{options.metric_steps} steps, best of {options.repeats})",
                f">= {METRICS_TARGET:.0f}x",
                "ok" if ratio >= METRICS_TARGET else "slow",
            )
        )
        if syncs is None:
            syncs = update_syncs(ours, theirs, batches)
    assert syncs is not None
    ours_tally, theirs_tally, active = syncs
    steps = options.metric_steps
    check = CHECKS["metrics"][2]
    if not active:
        rows.append(
            Row("metrics", check, "not counted: torch's sync debug mode needs CUDA", "0", "skip")
        )
    else:
        sites = "; ".join(f"{site} x{count}" for site, count in ours_tally.hot_sites)
        rows.append(
            Row(
                "metrics",
                check,
                f"burnish {ours_tally.per_step(steps):.3f}{f' (at {sites})' if sites else ''}, "
                f"TorchMetrics {theirs_tally.per_step(steps):.2f} (10 classes, five metrics)",
                "0 for burnish",
                "ok" if ours_tally.hot == 0 else "FAIL",
            )
        )
    return rows


# -- section 4: exact AUROC at 10^6 and 10^7 samples -------------------------------------------


def auroc_data(
    task: str, classes: int, samples: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """benches/metrics.py's AUROC data (probabilities), generated on ``device``."""
    generator = torch.Generator(device=device).manual_seed(0)
    if task == "binary":
        targets = torch.randint(0, 2, (samples,), generator=generator, device=device)
        return torch.sigmoid(
            torch.randn(samples, generator=generator, device=device) + targets
        ), targets
    targets = torch.randint(0, classes, (samples,), generator=generator, device=device)
    logits = torch.randn(samples, classes, generator=generator, device=device)
    logits[torch.arange(samples, device=device), targets] += 1.0
    return logits.softmax(dim=1), targets


def auroc_row(
    task: str, classes: int, samples: int, options: argparse.Namespace, device: torch.device
) -> Row:
    import torchmetrics  # noqa: PLC0415
    from metrics import META  # noqa: PLC0415

    from burnish.adaptor import AurocInput  # noqa: PLC0415
    from burnish.metric import AurocMetric  # noqa: PLC0415

    check = auroc_checks([samples])[[t for t, _ in AUROC_TASKS].index(task)]
    scores, targets = auroc_data(task, classes, samples, device)
    chunks = list(
        zip(scores.split(options.auroc_chunk), targets.split(options.auroc_chunk), strict=True)
    )
    if task == "binary":
        ours = AurocMetric.binary()
        theirs = torchmetrics.AUROC(task="binary").to(device)
    else:
        ours = AurocMetric.multiclass("macro")
        theirs = torchmetrics.AUROC(task="multiclass", num_classes=classes, average="macro").to(
            device
        )

    def ours_compute() -> tuple[float, float]:
        ours.clear()
        for batch_scores, batch_targets in chunks:
            ours.update(AurocInput(batch_scores, batch_targets), META)
        synchronize(device)
        start = time.perf_counter()
        value = ours.running_value().value  # a host float: the compute is done
        return time.perf_counter() - start, value

    def theirs_compute() -> tuple[float, float]:
        theirs.reset()
        for batch_scores, batch_targets in chunks:
            theirs.update(batch_scores, batch_targets)
        synchronize(device)
        start = time.perf_counter()
        value = float(theirs.compute())
        return time.perf_counter() - start, value

    repeats = max(1, options.auroc_repeats)
    ours_runs = [ours_compute() for _ in range(repeats + 1)][1:]  # the first one warms up
    theirs_runs = [theirs_compute() for _ in range(repeats + 1)][1:]
    ours_s, ours_value = min(ours_runs)
    theirs_s, theirs_value = min(theirs_runs)
    apart = abs(ours_value - theirs_value)
    same = apart <= AUROC_TOLERANCE
    return Row(
        "auroc",
        check,
        f"{theirs_s / ours_s:.2f}x TorchMetrics' speed (burnish {1e3 * ours_s:.1f} ms, "
        f"TorchMetrics {1e3 * theirs_s:.1f} ms); values {ours_value:.6f} / {theirs_value:.6f}",
        f"values within {AUROC_TOLERANCE:g}",
        "ok" if same else "FAIL",
    )


def section_auroc(options: argparse.Namespace, device: torch.device) -> list[Row]:
    rows = []
    for samples in options.auroc_sizes:
        for task, classes in AUROC_TASKS:
            rows.append(auroc_row(task, classes, samples, options, device))
            if device.type == "cuda":
                # 10^7 x 10 scores and their copies: give the next row its memory back.
                torch.cuda.empty_cache()
    return rows


# -- section 5: bf16 through the learner --------------------------------------------------------


def section_bf16(options: argparse.Namespace, device: torch.device) -> list[Row]:
    from burnish import Split  # noqa: PLC0415

    names = CHECKS["bf16"]
    if not has_mixed_precision():
        why = "not available: LearnerBuilder has no mixed_precision option"
        return [Row("bf16", name, why, status="skip") for name in names]
    work = Workload.make(device, options.samples, options.loader == "host")
    epochs = options.epochs
    times = interleaved(
        {
            "plain": lambda: plain_loop(work, epochs),
            "fp32": lambda: fit_learner(work, epochs),
            "bf16": lambda: fit_learner(work, epochs, precision="bf16"),
        },
        options.repeats,
        device,
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    fp32 = fit_learner(work, epochs)
    counter = SyncCounter(device)
    bf16 = fit_learner(work, epochs, precision="bf16", counter=counter)
    accuracy = {
        name: run.result.value(Split.TRAIN, "Accuracy")
        for name, run in (("fp32", fp32), ("bf16", bf16))
    }
    trains = math.isfinite(accuracy["bf16"]) and abs(accuracy["bf16"] - accuracy["fp32"]) <= 2.0
    rows = [
        Row(
            "bf16",
            names[0],
            f"{medians['bf16'] / medians['plain']:.2f}x plain loop, "
            f"{medians['bf16'] / medians['fp32']:.2f}x the fp32 Learner; train accuracy "
            f"{accuracy['bf16']:.2f} % (fp32 {accuracy['fp32']:.2f} %)",
            "accuracy within 2 points of fp32",
            "ok" if trains else "FAIL",
        )
    ]
    rows += sync_rows("bf16", counter.tally(), bf16.steps, counter.active, names[1])
    return rows


# -- running it ---------------------------------------------------------------------------------

SECTION_RUNS: dict[str, Callable[[argparse.Namespace, torch.device], list[Row]]] = {
    "sync": section_sync,
    "learner": section_learner,
    "metrics": section_metrics,
    "auroc": section_auroc,
    "bf16": section_bf16,
}


def run_sections(
    options: argparse.Namespace, device: torch.device, out: TextIO = sys.stderr
) -> tuple[list[Row], dict[str, float]]:
    """Every chosen section's rows, in order. A section that raises gives FAIL rows (and its
    traceback on ``out``) and the others still run; once ``--budget`` seconds have passed, the
    sections left are skipped: a GPU is lent for a short time, and one run must say all it can."""
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for section in options.sections:
        if time.perf_counter() - started > options.budget:
            rows += skipped(
                section, options, f"skipped: past the {options.budget:.0f} s budget", "skip"
            )
            continue
        start = time.perf_counter()
        print(f"gpu_check: {section}...", file=out, flush=True)
        try:
            section_rows = SECTION_RUNS[section](options, device)
        except Exception as error:  # reported in the table: the run goes on
            traceback.print_exc(file=out)
            message = f"raised {type(error).__name__}: {error}"[:300]
            section_rows = skipped(section, options, message, "FAIL")
        finally:
            synchronize(device)
        rows += complete(section, options, section_rows)
        seconds[section] = time.perf_counter() - start
    return rows, seconds


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Check burnish's CUDA path on a real GPU and print one summary table."
    )
    parser.add_argument(
        "--device", default="cuda", help="cuda (default), cuda:N, or cpu (a dry run)"
    )
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing repeats")
    parser.add_argument(
        "--samples", type=int, default=20_000, help="reference workload samples (at most 20,000)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the timed fits")
    parser.add_argument(
        "--sync-epochs",
        type=int,
        default=20,
        help="epochs of the counted fit: long enough for NVML to be sampled several times",
    )
    parser.add_argument("--metric-steps", type=int, default=200, help="steps of a metric epoch")
    parser.add_argument(
        "--auroc-sizes", type=int, nargs="+", default=[10**6, 10**7], help="AUROC sample counts"
    )
    parser.add_argument("--auroc-chunk", type=int, default=4096, help="samples per AUROC update")
    parser.add_argument("--auroc-repeats", type=int, default=3)
    parser.add_argument(
        "--loader",
        choices=("device", "host"),
        default="device",
        help="batches from tensors on the device (default) or a CPU DataLoader",
    )
    parser.add_argument(
        "--budget", type=float, default=420.0, help="seconds before sections are skipped"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    options = parser.parse_args(argv)
    for name in ("repeats", "samples", "epochs", "sync_epochs", "metric_steps", "auroc_chunk"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(options.auroc_sizes) < 2:
        parser.error("--auroc-sizes must be at least 2")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    device = torch.device(options.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device (torch {torch.__version__}): nothing to check.")
        return 0
    import burnish  # noqa: PLC0415

    if device.type == "cuda":
        if device.index is None:  # set_device() wants an index
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        what = f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}"
    else:
        what = "CPU (dry run: the GPU checks are skipped)"
    title = f"burnish {burnish.__version__} on {what}, torch {torch.__version__}"
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # As benches/learner.py: on a shared machine, idle intra-op threads spinning for tiny
        # operations make CPU timings meaningless.
        torch.set_num_threads(1)
    try:
        rows, seconds = run_sections(options, device)
    finally:
        torch.set_num_threads(threads)
    if options.markdown:
        print(title)
        print()
        print(markdown_table(rows, seconds))
    else:
        from rich.console import Console  # noqa: PLC0415

        console = Console(width=max(160, Console().width))
        console.print(rich_table(rows, seconds, title))
        console.print(f"total {sum(seconds.values()):.0f} s")
    return exit_code(rows)


def _power_of_ten(value: int) -> str:
    exponent = math.log10(value)
    return f"10^{exponent:.0f}" if exponent.is_integer() else f"{value:,}"


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def _gb(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float | int) else "n/a"


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The table is out. Leave without the interpreter's shutdown: a GPU is lent for minutes,
    # and once (on the CPU) a process hung there, in logging.shutdown, waiting for a handler's
    # lock that no live thread held; a lent machine must not wait on that.
    os._exit(status)
