"""Start-up and large logs: what ``import burnish`` adds to ``import torch``, and how long
``burnish summary`` takes on a long run's log.

- Import: fresh processes, each timing ``import torch`` and then, in-process
  (``time.perf_counter``), ``import burnish`` or what a training script names
  (``from burnish import LearnerBuilder, AccuracyMetric, ClassificationOutput, LossMetric``:
  the package imports a name's module when the name is first used, so ``import burnish`` alone
  loads almost nothing), interleaved with processes that import torch alone; each figure is
  the median over ``--repeats`` processes (a process's wall time also counts the interpreter's
  start and exit). The garbage collector's full pass is shown apart: ``import torch`` leaves one
  due, which the next few thousand objects that any program makes (here, burnish's classes and
  functions) set off, at the same cost whoever sets it off.
- Bytecode: with a warm cache (an installed package: a cache of the bench's own, through
  ``PYTHONPYCACHEPREFIX``), and as a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` is (its
  ``__pycache__`` if it has one; without one every module of burnish is compiled at every
  start).
- Summary: ``burnish summary`` (a fresh ``python -m burnish.cli`` process, which loads neither
  torch nor the metrics) on a generated log of ``--steps`` steps, written by the real
  ``JsonlMetricLogger`` (10 epochs, train and valid, three numeric metrics, a ``steps`` record
  per 1,000 steps as a one-second flush of a fast run writes them): wall time and peak memory
  of the process; then, in-process, its read alone (``read_run(steps=False)``) and a full read
  (``read_run()``, every step, as ``burnish view`` reads a log, and as the summary read it
  before).

Run: .venv/bin/python benches/startup.py [--repeats 5] [--steps 300000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from burnish import JsonlMetricLogger
from burnish.metric.entry import MetricEntry, NumericEntry
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    MetricUpdate,
    NumericColumn,
    Split,
    StartEvent,
    StepsEvent,
)

ROOT = Path(__file__).resolve().parent.parent

# Run in each fresh process: the in-process times and the garbage collector's full passes.
_PROBE = """
import gc, json, time
full = [0.0, 0]
def _watch(phase, info):
    global _started
    if phase == "start":
        _started = time.perf_counter()
    elif info["generation"] == 2:
        full[0] += time.perf_counter() - _started
        full[1] += 1
gc.callbacks.append(_watch)
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
torch_gc = full[0]
{second}
t2 = time.perf_counter()
print(json.dumps({{"torch": t1 - t0, "second": t2 - t1, "second_gc": full[0] - torch_gc}}))
"""

METRICS = ("Loss", "Accuracy", "Precision")

# What each import row runs after `import torch`.
IMPORTS = {
    "`import burnish`": "import burnish",
    "a script's `from burnish import ...` (4 names)": (
        "from burnish import LearnerBuilder, AccuracyMetric, ClassificationOutput, LossMetric"
    ),
}


def _env(cached: bool, prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    if cached:  # bytecode read from, and written to, a cache of this bench's own
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = prefix
    else:  # the checkout's __pycache__ (torch's site-packages one), none written
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(code: str, env: dict[str, str], *args: str) -> tuple[float, str]:
    """A fresh process running ``code``: its wall time and its output."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, out.stdout


def _median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def bench_import(repeats: int, prefix: str) -> list[tuple[str, str, str]]:
    rows = []
    checkout_cache = (ROOT / "burnish" / "__pycache__").exists()
    for cached in (True, False):
        env = _env(cached, prefix)
        if cached:  # fill the cache
            _run(_PROBE.format(second=IMPORTS[max(IMPORTS, key=len)]), env)
        probes: dict[str, list[dict[str, float]]] = {name: [] for name in IMPORTS}
        walls: dict[str, list[float]] = {name: [] for name in IMPORTS}
        torch_alone: list[float] = []
        for _ in range(repeats):  # interleaved: the machine's load moves all alike
            for name, code in IMPORTS.items():
                wall, out = _run(_PROBE.format(second=code), env)
                probes[name].append(json.loads(out.strip().splitlines()[-1]))
                walls[name].append(wall)
            torch_alone.append(_run("import torch", env)[0])
        if cached:
            label = "bytecode cached, as installed"
        else:
            label = "checkout's bytecode: "
            label += "its `__pycache__`" if checkout_cache else "none"
        first = probes[next(iter(IMPORTS))]
        rows.append(
            (
                f"`import torch` ({label})",
                f"{_median_ms([p['torch'] for p in first]):.0f} ms",
                f"whole `python -c 'import torch'`: {_median_ms(torch_alone):.0f} ms",
            )
        )
        rows += [
            (
                f"{name} after it ({label})",
                f"**{_median_ms([p['second'] for p in probes[name]]):.0f} ms**",
                f"of which the GC pass torch left due "
                f"{_median_ms([p['second_gc'] for p in probes[name]]):.0f} ms; "
                f"whole process with both: {_median_ms(walls[name]):.0f} ms",
            )
            for name in IMPORTS
        ]
    return rows


def write_log(directory: Path, steps: int, per_record: int = 1000, epochs: int = 10) -> None:
    """A run's ``metrics.jsonl`` of ``steps`` steps, written by the real logger."""
    logger = JsonlMetricLogger(directory)
    logger.consume([StartEvent(epochs, (Split.TRAIN, Split.VALID), 0.0, fresh=True)])
    per_epoch = steps // epochs
    splits = ((Split.TRAIN, per_epoch - per_epoch // 10), (Split.VALID, per_epoch // 10))
    at = 0.0
    for epoch in range(1, epochs + 1):
        for split, count in splits:
            for first in range(1, count + 1, per_record):
                iterations = list(range(first, min(first + per_record, count + 1)))
                n = len(iterations)
                numbers = {
                    name: NumericColumn(
                        [math.sin(i * (k + 1)) ** 2 / epoch for i in iterations],
                        [64] * n,
                        ["aggregated"] * n,
                    )
                    for k, name in enumerate(METRICS)
                }
                latest = tuple(
                    MetricUpdate(MetricEntry(name, f"{column.values[-1]:.3f}", ""), True)
                    for name, column in numbers.items()
                )
                times = [at + 0.001 * i for i in range(n)]
                at = times[-1]
                event = StepsEvent(
                    split,
                    epoch,
                    epochs,
                    64 * count,
                    iterations,
                    [64 * i for i in iterations],
                    [(0.01,)] * n,
                    times,
                    numbers,
                    latest,
                )
                logger.consume([event])
            values = tuple(
                MetricUpdate(
                    MetricEntry(name, f"{1 / epoch:.3f}", NumericEntry(1 / epoch, 64 * count)),
                    True,
                )
                for name in METRICS
            )
            logger.consume([EndSplitEvent(split, epoch, values, at)])
    logger.consume([EndEvent("completed", at)])
    logger.close()


def bench_summary(steps: int, prefix: str) -> list[tuple[str, str, str]]:
    from burnish.logger.jsonl import read_run  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="burnish-log-") as directory:
        write_log(Path(directory), steps)
        size = (Path(directory) / "metrics.jsonl").stat().st_size
        # The summary process alone: its wall time and peak memory, from a parent process.
        code = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run([sys.executable, '-m', 'burnish.cli', 'summary', sys.argv[1]], "
            "stdout=subprocess.DEVNULL, check=True); "
            "print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        seconds, peak_kib = _run(code, _env(True, prefix), directory)[1].split()
        loaded = "import sys, burnish.cli; print(sorted({'torch', 'rich'} & set(sys.modules)))"
        heavy = _run(loaded, _env(True, prefix))[1].strip()
        reads = {}
        for full in (False, True):
            started = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            run = read_run(directory, steps=full)
            reads[full] = (
                time.perf_counter() - started,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before,
                sum(len(column) for (_, name), column in run.steps.items() if name == METRICS[0]),
            )
    label = f"{steps:,} steps, {size / 2**20:.0f} MiB"
    return [
        (
            f"`burnish summary`, whole process ({label})",
            f"{float(seconds):.2f} s",
            f"peak RSS {int(peak_kib) / 1024:.0f} MiB; of torch and rich, it loads {heavy}",
        ),
        (
            f"its read: `read_run(steps=False)` ({label})",
            f"**{reads[False][0]:.3f} s**",
            f"RSS grew {reads[False][1] / 1024:.0f} MiB",
        ),
        (
            f"a full read: `read_run()`, every step, as `burnish view` reads ({label})",
            f"{reads[True][0]:.2f} s",
            f"{reads[True][2]:,} steps read back; RSS grew {reads[True][1] / 1024:.0f} MiB",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="burnish-pyc-") as prefix:
        rows = bench_import(args.repeats, prefix) + bench_summary(args.steps, prefix)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; medians of {args.repeats}\n")
    print("| what | time | notes |")
    print("|---|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
